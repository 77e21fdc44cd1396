//! Placing point labels on a scatter chart so that none overlaps another, a marker, or the
//! chart's edge: each label takes the first free spot around its point, in the order given
//! (the caller puts what matters first); a label with no free spot is left out, its point keeps
//! its tooltip and its row in the chart's legend and values table.

use super::chart::text_w;

/// A box in view-box pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub x0: f64,
    /// Top edge.
    pub y0: f64,
    /// Right edge.
    pub x1: f64,
    /// Bottom edge.
    pub y1: f64,
}

impl Rect {
    /// The square around a marker of radius `r` at `(x, y)`.
    pub fn around(x: f64, y: f64, r: f64) -> Self {
        Rect {
            x0: x - r,
            y0: y - r,
            x1: x + r,
            y1: y + r,
        }
    }

    /// Whether the two boxes share any area.
    pub fn overlaps(&self, o: &Rect) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }

    /// Whether this box lies inside `area`.
    pub fn inside(&self, area: &Rect) -> bool {
        self.x0 >= area.x0 && self.x1 <= area.x1 && self.y0 >= area.y0 && self.y1 <= area.y1
    }
}

/// How a label's text is aligned on its x (SVG `text-anchor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The text starts at x.
    Start,
    /// The text is centred on x.
    Middle,
    /// The text ends at x.
    End,
}

impl Anchor {
    /// The `text-anchor` value.
    pub fn attr(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

/// A placed label: where its text goes and the box it covers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placed {
    /// x of the text.
    pub x: f64,
    /// Baseline of the text.
    pub y: f64,
    /// Its alignment on x.
    pub anchor: Anchor,
    /// The box it covers.
    pub rect: Rect,
    /// Where a leader line from the point meets the label, when the label sits away from
    /// its point.
    pub leader: Option<(f64, f64)>,
}

/// Gap between a point and its label.
const GAP: f64 = 8.0;

/// The spots tried around a point, in order: right, left, above, below, the diagonals, then
/// further out (drawn with a leader line to the point). Each is (dx in pixels, dy of the
/// baseline in font sizes, anchor).
const SPOTS: [(f64, f64, Anchor); 26] = [
    (GAP, 0.35, Anchor::Start),
    (-GAP, 0.35, Anchor::End),
    (0.0, -0.75, Anchor::Middle),
    (0.0, 1.45, Anchor::Middle),
    (GAP * 0.6, -0.6, Anchor::Start),
    (GAP * 0.6, 1.3, Anchor::Start),
    (-GAP * 0.6, -0.6, Anchor::End),
    (-GAP * 0.6, 1.3, Anchor::End),
    (0.0, -2.0, Anchor::Middle),
    (0.0, 2.7, Anchor::Middle),
    (GAP, -1.8, Anchor::Start),
    (GAP, 2.5, Anchor::Start),
    (-GAP, -1.8, Anchor::End),
    (-GAP, 2.5, Anchor::End),
    (0.0, -3.2, Anchor::Middle),
    (0.0, 3.9, Anchor::Middle),
    (GAP, -3.0, Anchor::Start),
    (GAP, 3.7, Anchor::Start),
    (-GAP, -3.0, Anchor::End),
    (-GAP, 3.7, Anchor::End),
    (5.0 * GAP, -2.0, Anchor::Middle),
    (-5.0 * GAP, -2.0, Anchor::Middle),
    (5.0 * GAP, 2.7, Anchor::Middle),
    (-5.0 * GAP, 2.7, Anchor::Middle),
    (0.0, -4.4, Anchor::Middle),
    (0.0, 5.1, Anchor::Middle),
];

/// Spots from this one on are far from their point and drawn with a leader line.
const FAR_FROM: usize = 8;

/// The box of `text` at `px` whose baseline starts (per `anchor`) at `(x, y)`.
fn text_box(text: &str, x: f64, y: f64, anchor: Anchor, px: f64) -> Rect {
    let w = text_w(text, px);
    let x0 = match anchor {
        Anchor::Start => x,
        Anchor::Middle => x - w / 2.0,
        Anchor::End => x - w,
    };
    Rect {
        x0,
        y0: y - px * 0.85,
        x1: x0 + w,
        y1: y + px * 0.25,
    }
}

/// Labels for `points` (`x`, `y`, text), placed in the order given at `px`: each at the first
/// spot around its point whose box is inside `area` and clear of `obstacles` (the markers) and
/// of every label placed before it; `None` where no spot is free.
pub fn place(
    points: &[(f64, f64, String)],
    area: Rect,
    obstacles: &[Rect],
    px: f64,
) -> Vec<Option<Placed>> {
    let mut taken: Vec<Rect> = Vec::new();
    points
        .iter()
        .map(|(x, y, text)| {
            let spot = SPOTS.iter().enumerate().find_map(|(k, &(dx, dy, anchor))| {
                let (tx, ty) = (x + dx, y + dy * px);
                let rect = text_box(text, tx, ty, anchor, px);
                let free = rect.inside(&area)
                    && !obstacles.iter().any(|o| o.overlaps(&rect))
                    && !taken.iter().any(|t| t.overlaps(&rect));
                let leader = (k >= FAR_FROM).then(|| {
                    (
                        x.clamp(rect.x0, rect.x1),
                        y.clamp(rect.y0 - 1.0, rect.y1 + 1.0),
                    )
                });
                free.then_some(Placed {
                    x: tx,
                    y: ty,
                    anchor,
                    rect,
                    leader,
                })
            });
            if let Some(p) = &spot {
                taken.push(p.rect);
            }
            spot
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clustered points (the trade-off chart's sizes 12, 14 and 16 sit together): whatever is
    /// placed is inside the area and clear of markers and of each other, and a lone point is
    /// always labelled.
    #[test]
    fn placed_labels_never_overlap_or_leave_the_area() {
        let area = Rect {
            x0: 60.0,
            y0: 10.0,
            x1: 700.0,
            y1: 250.0,
        };
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as f64 / (1u64 << 31) as f64
        };
        for round in 0..50 {
            let n = 2 + round % 20;
            let points: Vec<(f64, f64, String)> = (0..n)
                .map(|i| {
                    (
                        area.x0 + next() * (area.x1 - area.x0),
                        area.y0 + next() * (area.y1 - area.y0),
                        format!("{}/tail-append", 2 + i),
                    )
                })
                .collect();
            let markers: Vec<Rect> = points
                .iter()
                .map(|(x, y, _)| Rect::around(*x, *y, 5.0))
                .collect();
            let placed = place(&points, area, &markers, 12.0);
            let boxes: Vec<Rect> = placed.iter().flatten().map(|p| p.rect).collect();
            for (i, b) in boxes.iter().enumerate() {
                assert!(b.inside(&area), "round {round}: {b:?}");
                assert!(!markers.iter().any(|m| m.overlaps(b)), "round {round}");
                assert!(
                    !boxes[i + 1..].iter().any(|o| o.overlaps(b)),
                    "round {round}"
                );
            }
        }
        let lone = place(&[(300.0, 100.0, "14/head-insert".into())], area, &[], 12.0);
        assert!(lone[0].is_some());
        // At the right edge the label goes to the left of its point.
        let edge = place(&[(695.0, 100.0, "14/head-insert".into())], area, &[], 12.0);
        assert_eq!(edge[0].map(|p| p.anchor), Some(Anchor::End));
    }
}
