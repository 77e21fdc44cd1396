//! The histogram of the live gfn rmaps, kept up to date at every size change, and the histogram
//! at the moment the rmaps held the most entries.
//!
//! Copying the whole histogram at every new peak (or at the first decrease after one) costs a
//! few hundred bytes per event on a trace whose size rises and dips by turns. Instead, the
//! changes made since the peak are logged; the peak's histogram is the current one with the log
//! undone. Only when the log outgrows [`MAX_LOG`] is the peak's histogram materialised, so the
//! copy is paid at most once per `MAX_LOG` changes and memory stays bounded.

use crate::histogram::{HistogramBuilder, RmapHistogram};
use crate::trace::Memslot;

/// Histogram changes logged before the peak's histogram is materialised.
const MAX_LOG: usize = 64;

/// One [`HistogramBuilder::add`] (`true`) or [`HistogramBuilder::remove`] (`false`).
#[derive(Debug, Clone, Copy)]
struct Change {
    level: u8,
    count: u64,
    in_slot: bool,
    added: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PeakState {
    /// The current histogram is the peak's.
    AtPeak,
    /// The peak's histogram is the current one with `log` undone.
    Logged,
    /// The peak's histogram is `peak_hist`.
    Frozen,
}

/// Live histogram, entry total, and the histogram at the entry total's peak.
#[derive(Debug, Clone)]
pub(super) struct HistogramTracker {
    hist: HistogramBuilder,
    live_entries: u64,
    peak_entries: u64,
    state: PeakState,
    log: Vec<Change>,
    peak_hist: HistogramBuilder,
}

impl HistogramTracker {
    pub(super) fn new() -> Self {
        HistogramTracker {
            hist: HistogramBuilder::new(),
            live_entries: 0,
            peak_entries: 0,
            state: PeakState::Frozen,
            log: Vec::new(),
            peak_hist: HistogramBuilder::new(),
        }
    }

    /// An rmap at `level` (gfn rmaps only; `None` for parent lists) went from `old` to `new`
    /// entries; `delta` = `new - old` for the entry total.
    #[inline]
    pub(super) fn changed(&mut self, level: Option<u8>, in_slot: bool, old: u64, new: u64) {
        let delta = new.wrapping_sub(old) as i64;
        if delta < 0 && self.state == PeakState::AtPeak {
            self.state = PeakState::Logged;
            self.log.clear();
        }
        if let Some(level) = level {
            self.apply(level, old, in_slot, false);
            self.apply(level, new, in_slot, true);
        }
        self.live_entries = self.live_entries.wrapping_add_signed(delta);
        if self.live_entries > self.peak_entries {
            self.peak_entries = self.live_entries;
            self.state = PeakState::AtPeak;
            self.log.clear();
        }
    }

    fn apply(&mut self, level: u8, count: u64, in_slot: bool, added: bool) {
        if added {
            self.hist.add(level, count, in_slot);
        } else {
            self.hist.remove(level, count, in_slot);
        }
        if self.state == PeakState::Logged {
            if self.log.len() == MAX_LOG {
                self.peak_hist = self.peak();
                self.state = PeakState::Frozen;
                self.log.clear();
                // This change came after the peak: undo it in the frozen copy too.
                undo(&mut self.peak_hist, level, count, in_slot, added);
            } else {
                self.log.push(Change {
                    level,
                    count,
                    in_slot,
                    added,
                });
            }
        }
    }

    /// The peak's histogram builder.
    fn peak(&self) -> HistogramBuilder {
        match self.state {
            PeakState::AtPeak => self.hist.clone(),
            PeakState::Frozen => self.peak_hist.clone(),
            PeakState::Logged => {
                let mut h = self.hist.clone();
                for c in self.log.iter().rev() {
                    undo(&mut h, c.level, c.count, c.in_slot, c.added);
                }
                h
            }
        }
    }

    /// The live histogram.
    pub(super) fn live(&self) -> &HistogramBuilder {
        &self.hist
    }

    /// Entries in all rmaps at their peak.
    pub(super) fn peak_entries(&self) -> u64 {
        self.peak_entries
    }

    /// The live histogram and the peak's, with column "0" from `memslots`.
    pub(super) fn snapshots(&self, memslots: &[Memslot]) -> (RmapHistogram, RmapHistogram) {
        (self.hist.snapshot(memslots), self.peak().finish(memslots))
    }
}

fn undo(h: &mut HistogramBuilder, level: u8, count: u64, in_slot: bool, added: bool) {
    if added {
        h.remove(level, count, in_slot);
    } else {
        h.add(level, count, in_slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tracker's peak equals a histogram copied at every new peak, through long dips (past
    /// the log's length) and short ones.
    #[test]
    fn the_peak_histogram_equals_a_copy_taken_at_the_peak() {
        let mut t = HistogramTracker::new();
        let mut sizes = [0u64; 8];
        let mut live = HistogramBuilder::new();
        let (mut total, mut best, mut at_best) = (0u64, 0u64, HistogramBuilder::new());
        let mut x = 12345u64;
        for step in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let r = (x % 8) as usize;
            // Phases of growth and of long decline.
            let grow = (step / 500) % 3 != 2;
            let old = sizes[r];
            let new = if grow || old == 0 {
                old + 1 + x % 3
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
            assert_eq!(
                t.peak().finish(&[]),
                at_best.clone().finish(&[]),
                "step {step}"
            );
        }
    }
}
