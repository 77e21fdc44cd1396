//! Small helpers for the hand-made SVG charts: colours, nice ticks, number formatting.

/// A colour per series (colour-blind friendly palette, cycled).
pub fn color(i: usize) -> &'static str {
    const P: [&str; 10] = [
        "#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#f0e442", "#000000",
        "#999999", "#882255",
    ];
    P[i % P.len()]
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
    }
}
