//! The rmap length histogram, in the exact text of KVM's debugfs `mmu_rmaps_stat`
//! (`kvm_mmu_rmaps_stat_show`, Peter Xu 2021) and as a true log2 histogram.
//!
//! The kernel's column is `ffs(count)` — the position of the *lowest* set bit — clamped to
//! `RMAP_LOG_SIZE - 1`, so only powers of two land where the column label says: 3 entries count
//! in column "1", 6 in "2-3", 1000 in "8-15".

use crate::trace::Memslot;
use serde::{Deserialize, Serialize};

/// `RMAP_LOG_SIZE`: columns of `mmu_rmaps_stat`.
pub const RMAP_LOG_SIZE: usize = 11;
/// `KVM_NR_PAGE_SIZES` on x86: 4K, 2M, 1G.
pub const KVM_NR_PAGE_SIZES: usize = 3;
/// `kvm_lpage_str`.
pub const KVM_LPAGE_STR: [&str; KVM_NR_PAGE_SIZES] = ["4K", "2M", "1G"];
/// `KVM_HPAGE_GFN_SHIFT(level)` per level step: 9 bits.
pub const PT64_LEVEL_BITS: u32 = 9;

/// `ffs()` as in the kernel: 1-based index of the lowest set bit, 0 for 0.
pub fn ffs(x: u64) -> usize {
    if x == 0 {
        0
    } else {
        x.trailing_zeros() as usize + 1
    }
}

/// The `mmu_rmaps_stat` column for an rmap of `count` entries.
pub fn kernel_column(count: u64) -> usize {
    ffs(count).min(RMAP_LOG_SIZE - 1)
}

/// `kvm_mmu_slot_lpages(slot, level)`: rmap heads a memslot has at `level` (1 = 4K).
pub fn slot_lpages(slot: &Memslot, level: u8) -> u64 {
    if slot.pages == 0 {
        return 0;
    }
    let shift = PT64_LEVEL_BITS * u32::from(level.saturating_sub(1));
    let last = slot.base_gfn.saturating_add(slot.pages - 1);
    (last >> shift) - (slot.base_gfn >> shift) + 1
}

/// Both histograms for one moment of a VM.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RmapHistogram {
    /// `[level][column]` as `mmu_rmaps_stat` counts it (column 0 from memslots).
    pub kernel: [[u64; RMAP_LOG_SIZE]; KVM_NR_PAGE_SIZES],
    /// True log2 buckets per level: `[0]` = 1 entry, `[k]` = `2^k ..= 2^(k+1)-1` entries.
    pub log2: [[u64; RMAP_LOG_SIZE]; KVM_NR_PAGE_SIZES],
    /// Whether column "0" is known (the trace named its memslots).
    pub zero_column_known: bool,
}

/// Accumulates rmap sizes into an [`RmapHistogram`].
#[derive(Debug, Clone, Default)]
pub struct HistogramBuilder {
    h: RmapHistogram,
    nonempty_in_slots: [u64; KVM_NR_PAGE_SIZES],
}

impl HistogramBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Count one non-empty gfn rmap of `count` entries at `level` (1..=3); `in_slot` says
    /// whether its gfn lies inside one of the memslots given to [`HistogramBuilder::finish`].
    pub fn add(&mut self, level: u8, count: u64, in_slot: bool) {
        self.change(level, count, in_slot, 1);
    }

    /// Count `n` non-empty gfn rmaps of `count` entries at `level` at once.
    pub fn add_many(&mut self, level: u8, count: u64, in_slot: bool, n: u64) {
        self.change(level, count, in_slot, n as i64);
    }

    /// Undo an earlier [`HistogramBuilder::add`] with the same arguments (an rmap's size
    /// changed or it emptied), so the histogram can be kept up to date incrementally.
    pub fn remove(&mut self, level: u8, count: u64, in_slot: bool) {
        self.change(level, count, in_slot, -1);
    }

    fn change(&mut self, level: u8, count: u64, in_slot: bool, delta: i64) {
        if count == 0 || !(1..=3).contains(&level) {
            return;
        }
        let l = usize::from(level - 1);
        let bump = |v: &mut u64| *v = v.wrapping_add_signed(delta);
        bump(&mut self.h.kernel[l][kernel_column(count)]);
        let log = (63 - count.leading_zeros()) as usize;
        bump(&mut self.h.log2[l][log.min(RMAP_LOG_SIZE - 1)]);
        if in_slot {
            bump(&mut self.nonempty_in_slots[l]);
        }
    }

    /// The histogram as it stands, with column "0" filled from the memslots.
    pub fn snapshot(&self, memslots: &[Memslot]) -> RmapHistogram {
        self.clone().finish(memslots)
    }

    /// Fill column "0" from the memslots (when given) and return the histogram.
    pub fn finish(mut self, memslots: &[Memslot]) -> RmapHistogram {
        if !memslots.is_empty() {
            self.h.zero_column_known = true;
            for l in 0..KVM_NR_PAGE_SIZES {
                let heads: u64 = memslots.iter().map(|s| slot_lpages(s, l as u8 + 1)).sum();
                self.h.kernel[l][0] = heads.saturating_sub(self.nonempty_in_slots[l]);
            }
        }
        self.h
    }
}

impl RmapHistogram {
    /// The exact text of debugfs `kvm/<pid>-<fd>/mmu_rmaps_stat`.
    pub fn kernel_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::from("Rmap_Count:\t0\t1\t");
        for i in 2..RMAP_LOG_SIZE {
            let _ = write!(s, "{}-{}\t", 1u64 << (i - 1), (1u64 << i) - 1);
        }
        s.push('\n');
        for (l, row) in self.kernel.iter().enumerate() {
            let _ = write!(s, "Level={}:\t", KVM_LPAGE_STR[l]);
            for v in row {
                let _ = write!(s, "{v}\t");
            }
            s.push('\n');
        }
        s
    }

    /// Labels of the log2 buckets.
    pub fn log2_labels() -> Vec<String> {
        (0..RMAP_LOG_SIZE)
            .map(|k| {
                if k == RMAP_LOG_SIZE - 1 {
                    format!("{}+", 1u64 << k)
                } else if k == 0 {
                    "1".to_string()
                } else {
                    format!("{}-{}", 1u64 << k, (1u64 << (k + 1)) - 1)
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffs_quirk_puts_3_6_1000_in_columns_1_2_4() {
        assert_eq!(kernel_column(3), 1);
        assert_eq!(kernel_column(6), 2);
        assert_eq!(kernel_column(1000), 4);
        assert_eq!(kernel_column(1024), 10);
        assert_eq!(kernel_column(0), 0);
        let mut b = HistogramBuilder::new();
        b.add(1, 3, true);
        b.add(1, 6, true);
        b.add(1, 1000, true);
        let h = b.finish(&[Memslot {
            base_gfn: 0,
            pages: 512,
        }]);
        let text = h.kernel_text();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("Rmap_Count:\t0\t1\t2-3\t4-7\t8-15\t16-31\t32-63\t64-127\t128-255\t256-511\t512-1023\t")
        );
        assert_eq!(
            lines.next(),
            Some("Level=4K:\t509\t1\t1\t0\t1\t0\t0\t0\t0\t0\t0\t")
        );
        assert_eq!(
            lines.next(),
            Some("Level=2M:\t1\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t")
        );
        assert_eq!(
            lines.next(),
            Some("Level=1G:\t1\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t")
        );
        // The true log2 histogram puts them where their size says.
        assert_eq!(h.log2[0][1], 1); // 3 -> 2-3
        assert_eq!(h.log2[0][2], 1); // 6 -> 4-7
        assert_eq!(h.log2[0][9], 1); // 1000 -> 512-1023
    }

    #[test]
    fn lpages_match_kvm_mmu_slot_lpages() {
        let s = Memslot {
            base_gfn: 0x3ff,
            pages: 2,
        };
        assert_eq!(slot_lpages(&s, 1), 2);
        assert_eq!(slot_lpages(&s, 2), 2); // straddles a 2M boundary
        assert_eq!(slot_lpages(&s, 3), 1);
    }
}
