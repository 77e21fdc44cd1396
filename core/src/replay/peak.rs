//! The sizes of the live gfn rmaps, kept up to date at every size change, and the sizes at the
//! moment the rmaps held the most entries; both become [`RmapHistogram`]s at the end.
//!
//! Sizes are kept as counts of rmaps per (level, in a memslot, size): two counter bumps per
//! change, the histogram columns derived only when asked for. Copying the counts at every new
//! peak would cost far more than the change itself on a trace whose size rises and dips by
//! turns. Instead every new peak starts a new *epoch*, and the first time a counter changes
//! after the peak it saves the value it had at the peak, stamped with the epoch. The peak's
//! counts are then the saved values stamped with the current epoch, and the live counts
//! elsewhere: no copy, no log, one comparison per change.

use crate::histogram::{HistogramBuilder, RmapHistogram, KVM_NR_PAGE_SIZES};
use crate::trace::Memslot;

/// Largest rmap size counted in the dense array; larger sizes (only with the recycle rule off
/// or above 1024) are counted in a short list.
const SIZE_CAP: u64 = 1024;

/// Counters per (level, in-slot) row.
const ROW: usize = SIZE_CAP as usize + 1;

/// Rmaps per size above [`SIZE_CAP`]: `((level, in_slot, size), rmaps)`.
type BigSizes = Vec<((u8, bool, u64), u64)>;

/// Live sizes, entry total, and the sizes at the entry total's peak.
#[derive(Debug, Clone)]
pub(super) struct HistogramTracker {
    /// Rmaps per (level, in a memslot, size ≤ [`SIZE_CAP`]).
    cells: Vec<u64>,
    /// Per counter: `(epoch, value at that epoch's peak)`, valid when the epoch is current.
    saved: Vec<(u64, u64)>,
    big: BigSizes,
    /// `big` at the current peak, when it changed since.
    big_saved: Option<(u64, BigSizes)>,
    epoch: u64,
    /// Whether the live counts still are the peak's (no decrease since it).
    at_peak: bool,
    live_entries: u64,
    peak_entries: u64,
}

impl HistogramTracker {
    pub(super) fn new() -> Self {
        HistogramTracker {
            cells: vec![0; KVM_NR_PAGE_SIZES * 2 * ROW],
            saved: vec![(u64::MAX, 0); KVM_NR_PAGE_SIZES * 2 * ROW],
            big: Vec::new(),
            big_saved: None,
            epoch: 0,
            at_peak: false,
            live_entries: 0,
            peak_entries: 0,
        }
    }

    /// An rmap at `level` (gfn rmaps of a known size only; `None` for the others) went from
    /// `old` to `new` entries.
    #[inline(always)] // once per event on the hot path; a call costs more than the body
    pub(super) fn changed(&mut self, level: Option<u8>, in_slot: bool, old: u64, new: u64) {
        if new < old {
            self.at_peak = false;
        }
        if let Some(level) = level {
            let row = (usize::from(level - 1) * 2 + usize::from(in_slot)) * ROW;
            self.bump(row, (level, in_slot), old, false);
            self.bump(row, (level, in_slot), new, true);
        }
        self.live_entries = self.live_entries.wrapping_add(new).wrapping_sub(old);
        if self.live_entries > self.peak_entries {
            self.peak_entries = self.live_entries;
            self.epoch = self.epoch.wrapping_add(1);
            self.at_peak = true;
        }
    }

    #[inline(always)] // twice per event, on the hot path
    fn bump(&mut self, row: usize, key: (u8, bool), size: u64, added: bool) {
        if size == 0 {
            return;
        }
        if size > SIZE_CAP {
            return self.bump_big((key.0, key.1, size), added);
        }
        let i = row + size as usize;
        let (Some(c), Some(saved)) = (self.cells.get_mut(i), self.saved.get_mut(i)) else {
            return;
        };
        if !self.at_peak && saved.0 != self.epoch {
            *saved = (self.epoch, *c);
        }
        *c = if added {
            c.wrapping_add(1)
        } else {
            c.wrapping_sub(1)
        };
    }

    #[cold]
    fn bump_big(&mut self, key: (u8, bool, u64), added: bool) {
        if !self.at_peak
            && self
                .big_saved
                .as_ref()
                .is_none_or(|(e, _)| *e != self.epoch)
        {
            self.big_saved = Some((self.epoch, self.big.clone()));
        }
        match self.big.iter().position(|(k, _)| *k == key) {
            Some(p) => {
                let c = &mut self.big[p].1;
                *c = if added {
                    c.wrapping_add(1)
                } else {
                    c.wrapping_sub(1)
                };
                if *c == 0 {
                    self.big.swap_remove(p);
                }
            }
            None => self.big.push((key, if added { 1 } else { u64::MAX })),
        }
    }

    fn builder(cells: impl Iterator<Item = u64>, big: &BigSizes) -> HistogramBuilder {
        let mut h = HistogramBuilder::new();
        for (i, n) in cells.enumerate() {
            if n != 0 {
                let (row, size) = (i / ROW, (i % ROW) as u64);
                h.add_many((row / 2) as u8 + 1, size, row % 2 == 1, n);
            }
        }
        for &((level, in_slot, size), n) in big {
            h.add_many(level, size, in_slot, n);
        }
        h
    }

    /// The live sizes as a histogram builder.
    pub(super) fn live(&self) -> HistogramBuilder {
        Self::builder(self.cells.iter().copied(), &self.big)
    }

    /// The sizes at the peak as a histogram builder.
    fn peak(&self) -> HistogramBuilder {
        let current = |saved: &(u64, u64)| !self.at_peak && saved.0 == self.epoch;
        let cells = self
            .cells
            .iter()
            .zip(&self.saved)
            .map(|(&c, s)| if current(s) { s.1 } else { c });
        let big = match &self.big_saved {
            Some((e, b)) if !self.at_peak && *e == self.epoch => b,
            _ => &self.big,
        };
        Self::builder(cells, big)
    }

    /// Entries in all rmaps at their peak.
    pub(super) fn peak_entries(&self) -> u64 {
        self.peak_entries
    }

    /// The live histogram and the peak's, with column "0" from `memslots`.
    pub(super) fn snapshots(&self, memslots: &[Memslot]) -> (RmapHistogram, RmapHistogram) {
        (self.live().finish(memslots), self.peak().finish(memslots))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tracker's histograms equal a builder kept by hand and copied at every new peak,
    /// through long dips (past the log's length), short ones, and sizes past the dense range.
    #[test]
    fn the_peak_histogram_equals_a_copy_taken_at_the_peak() {
        let mut t = HistogramTracker::new();
        let mut sizes = [0u64; 8];
        let mut live = HistogramBuilder::new();
        let (mut total, mut best, mut at_best) = (0u64, 0u64, HistogramBuilder::new());
        let mut x = 12345u64;
        for step in 0..40_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let r = (x % 8) as usize;
            // Phases of growth (one rmap grows past the dense range) and of long decline.
            let grow = (step / 5_000) % 3 != 2;
            let old = sizes[r];
            let new = if grow || old == 0 {
                old + 1 + x % if r == 0 { 7 } else { 2 }
            } else {
                old - 1
            };
            sizes[r] = new;
            let level = 1 + (r % 3) as u8;
            let in_slot = r % 2 == 0;
            t.changed(Some(level), in_slot, old, new);
            live.remove(level, old, in_slot);
            live.add(level, new, in_slot);
            total = total + new - old;
            if total > best {
                best = total;
                at_best = live.clone();
            }
            assert_eq!(t.peak_entries(), best);
            if step % 97 == 0 || step % 5_000 < 3 {
                let (now, peak) = t.snapshots(&[]);
                assert_eq!(now, live.clone().finish(&[]), "step {step}");
                assert_eq!(peak, at_best.clone().finish(&[]), "step {step}");
            }
        }
        assert!(sizes[0] > SIZE_CAP, "an rmap grew past the dense range");
    }
}
