//! The hand-made SVG charts' shared parts: each chart is drawn at its on-screen width (one
//! view-box unit is one CSS pixel, so chart text keeps its CSS size on a phone), with margins
//! sized to its tick labels, round ticks (binary steps for bytes), colours, and a keyboard-
//! reachable table of the values each chart draws.

use rmaplab_core::replay::ConfigReport;
use rmaplab_core::Era;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// Width a chart is drawn at before its figure has been measured.
pub const DEFAULT_W: f64 = 720.0;
/// Narrowest a chart is drawn (below this its figure scrolls rather than squeezes).
pub const MIN_W: f64 = 300.0;
/// Size of the charts' text in CSS pixels (`.chart svg` in style.css).
pub const FONT_PX: f64 = 12.0;
/// Size of the charts' small text (`.chart .small`).
pub const SMALL_PX: f64 = 11.0;
/// Width of one character of chart text, in ems: a generous average for digits and lower-case
/// letters in the page's sans-serif, so estimated boxes never undershoot the drawn ones.
const CHAR_EM: f64 = 0.62;
/// Room for the y axis title, turned along the left edge.
const Y_TITLE: f64 = 22.0;
/// Gap between a tick label and the plot.
const TICK_GAP: f64 = 6.0;
/// Room under the plot: the x tick labels, then the x axis title.
const X_AXIS: f64 = 44.0;
/// Space above the plot.
const TOP: f64 = 10.0;

/// How wide `s` is when drawn at `px`, estimated generously (0.62 em per character), so an estimated box never undershoots the drawn one.
pub fn text_w(s: &str, px: f64) -> f64 {
    s.chars().count() as f64 * px * CHAR_EM
}

/// A chart's geometry: its view box (`w` × `h`, in CSS pixels) and the plot inside it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// View-box width.
    pub w: f64,
    /// View-box height.
    pub h: f64,
    /// Left edge of the plot (after the y title and the widest y tick label).
    pub left: f64,
    /// Right edge of the plot.
    pub right: f64,
    /// Top of the plot.
    pub top: f64,
    /// Bottom of the plot (the x axis).
    pub bottom: f64,
}

impl Frame {
    /// A chart `w` wide (at least [`MIN_W`]) and `h` high whose y tick labels are `y_labels`
    /// and whose last x tick label, centred on the right edge, is `last_x_label`.
    pub fn new(w: f64, h: f64, y_labels: &[String], last_x_label: &str) -> Self {
        let w = w.max(MIN_W);
        let widest = y_labels
            .iter()
            .map(|l| text_w(l, FONT_PX))
            .fold(0.0, f64::max);
        Frame {
            w,
            h,
            left: Y_TITLE + widest + TICK_GAP,
            right: w - (text_w(last_x_label, FONT_PX) / 2.0).max(10.0),
            top: TOP,
            bottom: h - X_AXIS,
        }
    }

    /// The view box attribute.
    pub fn view_box(&self) -> String {
        format!("0 0 {:.0} {:.0}", self.w, self.h)
    }

    /// x of `v` on an axis from 0 to `max`.
    pub fn x(&self, v: f64, max: f64) -> f64 {
        self.left + v / max.max(f64::MIN_POSITIVE) * (self.right - self.left)
    }

    /// y of `v` on an axis from 0 to `max`.
    pub fn y(&self, v: f64, max: f64) -> f64 {
        self.bottom - v / max.max(f64::MIN_POSITIVE) * (self.bottom - self.top)
    }

    /// How many x ticks fit when the widest label is `label_w` wide (at least 2).
    pub fn x_tick_count(&self, label_w: f64) -> usize {
        (((self.right - self.left) / (label_w + 2.0 * FONT_PX)).floor() as usize).max(2)
    }

    /// The y grid lines and their labels, right-aligned against the plot.
    pub fn y_axis(&self, ticks: &[f64], top: f64, label: impl Fn(f64) -> String) -> Html {
        html! { <>{ for ticks.iter().map(|t| { let y = self.y(*t, top); html! { <g>
            <line x1={self.left.to_string()} x2={self.right.to_string()} y1={y.to_string()} y2={y.to_string()} class="grid" />
            <text x={(self.left - TICK_GAP).to_string()} y={(y + 4.0).to_string()} text-anchor="end">{ label(*t) }</text>
        </g> } }) }</> }
    }

    /// Baseline of the x tick labels: clear of the lowest y tick label beside the origin.
    pub fn x_label_y(&self) -> f64 {
        self.bottom + FONT_PX + 8.0
    }

    /// The x tick labels at `ticks` on an axis from 0 to `max`.
    pub fn x_axis(&self, ticks: &[f64], max: f64, label: impl Fn(f64) -> String) -> Html {
        let y = self.x_label_y().to_string();
        html! { <>{ for ticks.iter().map(|t| html! {
            <text x={self.x(*t, max).to_string()} y={y.clone()} text-anchor="middle">{ label(*t) }</text>
        }) }</> }
    }

    /// The axis titles: `x` centred under the tick labels, `y` turned along the left edge.
    pub fn titles(&self, x: &str, y: &str) -> Html {
        html! {
            <>
                <text class="axis-title" x={((self.left + self.right) / 2.0).to_string()} y={(self.h - 5.0).to_string()} text-anchor="middle">{ x.to_string() }</text>
                <text class="axis-title" transform={format!("translate(15,{}) rotate(-90)", (self.top + self.bottom) / 2.0)} text-anchor="middle">{ y.to_string() }</text>
            </>
        }
    }
}

/// The width of the element `node` refers to, kept up to date as the window is resized
/// ([`DEFAULT_W`] until it is first measured).
#[hook]
pub fn use_width(node: NodeRef) -> f64 {
    let width = use_state(|| DEFAULT_W);
    {
        let width = width.clone();
        use_effect_with(node, move |node| {
            let node = node.clone();
            let measure = move || {
                if let Some(el) = node.cast::<web_sys::Element>() {
                    let w = f64::from(el.client_width());
                    if w > 0.0 && (w - *width).abs() >= 1.0 {
                        width.set(w);
                    }
                }
            };
            measure();
            let cb = Closure::<dyn FnMut()>::new(measure);
            let window = web_sys::window();
            if let Some(w) = &window {
                let _ = w.add_event_listener_with_callback("resize", cb.as_ref().unchecked_ref());
            }
            move || {
                if let Some(w) = window {
                    let _ = w
                        .remove_event_listener_with_callback("resize", cb.as_ref().unchecked_ref());
                }
            }
        });
    }
    *width
}

/// The values a chart draws as a table behind a disclosure: reachable by keyboard, readable
/// without a mouse or sight of the chart.
pub fn values_table(what: &str, head: &[&str], rows: Vec<Vec<String>>) -> Html {
    html! {
        <details class="chart-values">
            <summary>{ format!("{what} as a table") }</summary>
            <table>
                <thead><tr>{ for head.iter().map(|h| html! { <th scope="col">{ h.to_string() }</th> }) }</tr></thead>
                <tbody>{ for rows.into_iter().map(|r| html! {
                    <tr>{ for r.into_iter().enumerate().map(|(i, v)| if i == 0 { html! { <th scope="row">{ v }</th> } } else { html! { <td>{ v }</td> } }) }</tr>
                }) }</tbody>
            </table>
        </details>
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

/// What a configuration is to the reader: the recommended size, KVM today, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The recommendation's configuration.
    Recommended,
    /// KVM today (14 entries, head-insert).
    Today,
    /// Any other.
    Other,
}

impl Role {
    /// `c`'s role, given the recommended configuration's label.
    pub fn of(c: &ConfigReport, recommended: Option<&str>) -> Self {
        if recommended == Some(c.label.as_str()) {
            Role::Recommended
        } else if rmaplab_core::recommend::is_kvm_today(c, Era::HeadInsert) {
            Role::Today
        } else {
            Role::Other
        }
    }

    /// What the legend adds to the configuration's label.
    pub fn suffix(self) -> &'static str {
        match self {
            Role::Recommended => " (recommended)",
            Role::Today => " (KVM today)",
            Role::Other => "",
        }
    }

    /// What a point's label on a chart adds (shorter than the legend's).
    pub fn short_suffix(self) -> &'static str {
        match self {
            Role::Recommended => " (recommended)",
            Role::Today => " (today)",
            Role::Other => "",
        }
    }

    /// A line's stroke width: the recommended and today's drawn heavier.
    pub fn stroke(self) -> &'static str {
        match self {
            Role::Recommended => "3.5",
            Role::Today => "2.6",
            Role::Other => "1.6",
        }
    }
}

/// Each configuration's [`Role`], given the recommended configuration's label.
pub fn roles(configs: &[ConfigReport], recommended: Option<&str>) -> Vec<Role> {
    configs.iter().map(|c| Role::of(c, recommended)).collect()
}

/// The order to draw configurations in, so the recommended is on top and KVM today next.
pub fn draw_order(roles: &[Role]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..roles.len()).collect();
    order.sort_by_key(|&i| match roles[i] {
        Role::Other => 0,
        Role::Today => 1,
        Role::Recommended => 2,
    });
    order
}

/// About `n` round tick values covering `0..=max` (steps of 1, 2 or 5 × 10^k).
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

/// Tick values no further apart than `n` of them need, at most `max`: for an axis whose end
/// is the data's end (events into the trace), not a round number.
pub fn ticks_within(max: f64, n: usize) -> Vec<f64> {
    ticks(max, n).into_iter().filter(|t| *t <= max).collect()
}

/// Round tick values inside `from..=to`, about `n` of them (a zoomed axis: multiples of a
/// 1, 2 or 5 × 10^k step, not offsets from `from`).
pub fn ticks_between(from: f64, to: f64, n: usize) -> Vec<f64> {
    let t = ticks(to - from, n);
    let Some(step) = t.get(1).copied().filter(|s| *s > 0.0) else {
        return vec![from];
    };
    let first = (from / step).ceil() as u64;
    (first..)
        .map(|k| k as f64 * step)
        .take_while(|v| *v <= to)
        .collect()
}

/// About `n` tick values covering `0..=max` bytes at a power-of-two step (64 KiB, 128 KiB…),
/// so the labels are round in binary units.
pub fn byte_ticks(max: f64, n: usize) -> Vec<f64> {
    if max <= 0.0 || !max.is_finite() {
        return vec![0.0];
    }
    let raw = (max / n.max(1) as f64).max(1.0);
    let step = 2f64.powf(raw.log2().ceil());
    (0..=((max / step).ceil() as usize))
        .map(|i| i as f64 * step)
        .collect()
}

/// `v` with at most `decimals` decimals, trailing zeros dropped.
pub fn trimmed(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Bytes with a binary unit (`768 KiB`, `1.25 MiB`).
pub fn bytes(v: f64) -> String {
    const KIB: f64 = 1024.0;
    const MIB: f64 = KIB * KIB;
    if v >= MIB {
        format!("{} MiB", trimmed(v / MIB, 2))
    } else if v >= KIB {
        format!("{} KiB", trimmed(v / KIB, 1))
    } else {
        format!("{v:.0} B")
    }
}

/// A count with k/M suffixes (`250k`, `1.5M`).
pub fn count(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trimmed(v / 1e6, 2))
    } else if v >= 1e3 {
        format!("{}k", trimmed(v / 1e3, 1))
    } else {
        trimmed(v, 2)
    }
}

/// A count with thousands separators (`41,781,216`).
pub use rmaplab_core::columns::group_thousands as thousands;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_max() {
        assert_eq!(ticks(95.0, 4), vec![0.0, 50.0, 100.0]);
        assert!(ticks(12345.0, 5).last().is_some_and(|&t| t >= 12345.0));
        assert_eq!(ticks(0.0, 5), vec![0.0]);
        assert_eq!(ticks_within(95.0, 4), vec![0.0, 50.0]);
        assert_eq!(ticks_between(1234.0, 2100.0, 4), vec![1500.0, 2000.0]);
        assert_eq!(
            ticks_between(1234.0, 2100.0, 8),
            vec![1400.0, 1600.0, 1800.0, 2000.0]
        );
        assert_eq!(ticks_between(0.0, 95.0, 4), vec![0.0, 50.0]);
        assert_eq!(bytes(2048.0), "2 KiB");
        assert_eq!(bytes(1.25 * 1024.0 * 1024.0), "1.25 MiB");
        assert_eq!(count(250_000.0), "250k");
        assert_eq!(count(1_500_000.0), "1.5M");
        assert_eq!(thousands(41_781_216), "41,781,216");
        assert_eq!(thousands(999), "999");
        let distinct: std::collections::HashSet<_> = PALETTE.iter().collect();
        assert_eq!(distinct.len(), 14);
    }

    /// Byte ticks step by powers of two and label as whole binary units: the issue's
    /// 97.7 / 195.3 / 293.0 KiB became 0 / 256 / 512 / 768 KiB.
    #[test]
    fn byte_ticks_are_binary_and_round() {
        let t = byte_ticks(600_000.0, 4);
        assert_eq!(
            t.iter().map(|&v| bytes(v)).collect::<Vec<_>>(),
            ["0 B", "256 KiB", "512 KiB", "768 KiB"]
        );
        for max in [1.0, 1000.0, 65_536.0, 3e6, 1e9] {
            let t = byte_ticks(max, 5);
            assert!(t.last().is_some_and(|&v| v >= max), "{max}: {t:?}");
            assert!(t.len() <= 7, "{max}: {t:?}");
            let step = t[1] - t[0];
            assert_eq!(step.log2().fract(), 0.0, "{max}: step {step}");
            for v in &t {
                assert!(!bytes(*v).contains('.'), "{max}: {}", bytes(*v));
            }
        }
    }

    /// The plot leaves room for the widest y label and half the last x label, and a narrow
    /// chart asks for fewer x ticks.
    #[test]
    fn frames_fit_their_labels() {
        let labels = vec!["0 B".to_string(), "768 KiB".to_string()];
        let f = Frame::new(720.0, 300.0, &labels, "1.5M");
        assert!(f.left >= Y_TITLE + text_w("768 KiB", FONT_PX));
        assert!(f.right <= 720.0 - text_w("1.5M", FONT_PX) / 2.0);
        assert_eq!(f.x(0.0, 10.0), f.left);
        assert_eq!(f.y(10.0, 10.0), f.top);
        let narrow = Frame::new(340.0, 300.0, &labels, "1.5M");
        assert!(narrow.x_tick_count(40.0) < f.x_tick_count(40.0));
        assert!(narrow.x_tick_count(40.0) >= 2);
        assert_eq!(Frame::new(100.0, 300.0, &labels, "").w, MIN_W);
    }
}
