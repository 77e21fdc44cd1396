//! Small helpers for the hand-made SVG charts: colours, nice ticks, number formatting.

use rmaplab_core::replay::ConfigReport;
use rmaplab_core::Era;
use yew::prelude::*;

/// Width of every chart's view box.
pub const W: f64 = 720.0;
/// Height of the line and scatter charts' view box.
pub const H: f64 = 300.0;
/// Left margin (y tick labels and the y axis title).
pub const L: f64 = 80.0;
/// Bottom margin (x tick labels and the x axis title).
pub const B: f64 = 50.0;

/// The axis titles of a chart `h` high: `x` under the plot, `y` turned along its left side.
pub fn axis_titles(h: f64, x: &str, y: &str) -> Html {
    html! {
        <>
            <text class="axis-title" x={((L + W) / 2.0).to_string()} y={(h - 8.0).to_string()} text-anchor="middle">{ x.to_string() }</text>
            <text class="axis-title" transform={format!("translate(16,{}) rotate(-90)", (h - B) / 2.0)} text-anchor="middle">{ y.to_string() }</text>
        </>
    }
}

/// Fourteen colours that stay apart on white (Okabe–Ito, with Tol's dark additions), cycled.
pub const PALETTE: &[&str] = &[
    "#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#8c6d00", "#000000",
    "#999999", "#882255", "#44aa99", "#117733", "#332288", "#aa4499",
];

/// A colour per series, cycled.
pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// The stroke dash of an era: head-insert solid, tail-append dashed, null-terminated dotted.
pub fn dash(era: Era) -> &'static str {
    match era {
        Era::HeadInsert => "none",
        Era::TailAppend => "7 3",
        Era::NullTerminated => "2 2",
    }
}

/// Colour and dash per configuration: one colour per array size (and top-up policy), so
/// the eras of one size share it and differ by dash.
pub fn styles(configs: &[ConfigReport]) -> Vec<(&'static str, &'static str)> {
    let mut keys: Vec<(usize, bool, rmaplab_core::config::TopupPolicy)> = configs
        .iter()
        .map(|c| (c.entries, c.seed_rule, c.topup))
        .collect();
    keys.sort();
    keys.dedup();
    configs
        .iter()
        .map(|c| {
            let k = keys
                .iter()
                .position(|k| *k == (c.entries, c.seed_rule, c.topup))
                .unwrap_or(0);
            (color(k), dash(c.era))
        })
        .collect()
}

/// About `n` round tick values covering `0..=max`.
pub fn ticks(max: f64, n: usize) -> Vec<f64> {
    if max <= 0.0 || !max.is_finite() {
        return vec![0.0];
    }
    let raw = max / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    (0..=((max / step).ceil() as usize))
        .map(|i| i as f64 * step)
        .collect()
}

/// Bytes with a binary unit.
pub fn bytes(v: f64) -> String {
    if v >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", v / 1024.0 / 1024.0)
    } else if v >= 1024.0 {
        format!("{:.1} KiB", v / 1024.0)
    } else {
        format!("{v:.0} B")
    }
}

/// A count with k/M suffixes.
pub fn count(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_max() {
        assert_eq!(ticks(95.0, 4), vec![0.0, 50.0, 100.0]);
        assert!(ticks(12345.0, 5).last().is_some_and(|&t| t >= 12345.0));
        assert_eq!(ticks(0.0, 5), vec![0.0]);
        assert_eq!(bytes(2048.0), "2.0 KiB");
        let distinct: std::collections::HashSet<_> = PALETTE.iter().collect();
        assert_eq!(distinct.len(), 14);
    }
}
