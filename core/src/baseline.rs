//! The floor the benchmarks compare the model against: the v6.4+ (head-insert) list code and
//! nothing else — no cost recording, no counters, no vCPU caches, no recycle rule. Descriptors
//! are slots of one `Vec`, freed ones reused last-in first-out (as `calloc`/`free` of one size
//! would). It is as close to the kernel's own `pte_list_add` / `pte_list_remove` /
//! `kvm_zap_all_rmap_sptes` as safe Rust gets, and it is only ever used to time the model
//! against (`examples/opcost.rs`, the benchmark report).

/// `struct kvm_rmap_head.val`, tagged: 0 = empty, an SPTE, or a descriptor index with bit 0 set
/// (`KVM_RMAP_MANY`). SPTE ids must be even and non-zero (sptep addresses are 8-byte aligned).
const KVM_RMAP_MANY: u64 = 1;
/// The baseline's own "NULL" descriptor index (it keeps plain `u32` indices, as a minimal
/// implementation would).
const NIL: u32 = u32::MAX;

/// The head-insert rmaps of one VM: heads indexed by the caller's rmap index.
#[derive(Debug, Clone)]
pub struct MinimalRmaps {
    n: usize,
    heads: Vec<u64>,
    /// Per descriptor: `more`, `spte_count`, `tail_count`.
    descs: Vec<(u32, u32, u32)>,
    sptes: Vec<u64>,
    free: Vec<u32>,
}

impl MinimalRmaps {
    /// Empty rmaps with `n` entries per descriptor.
    pub fn new(n: usize) -> Self {
        MinimalRmaps {
            n,
            heads: Vec::new(),
            descs: Vec::new(),
            sptes: Vec::new(),
            free: Vec::new(),
        }
    }

    /// Descriptors in lists.
    pub fn live_descs(&self) -> usize {
        self.descs.len() - self.free.len()
    }

    fn alloc(&mut self) -> u32 {
        if let Some(d) = self.free.pop() {
            return d;
        }
        self.descs.push((NIL, 0, 0));
        self.sptes.resize(self.sptes.len() + self.n, 0);
        (self.descs.len() - 1) as u32
    }

    fn encode(spte: u64) -> u64 {
        // Ids become "addresses": shifted so bit 0 stays free for the tag and 0 means empty.
        (spte + 1) << 1
    }

    /// `pte_list_add`: returns the count before the add.
    pub fn add(&mut self, r: usize, spte: u64) -> usize {
        if r >= self.heads.len() {
            self.heads.resize(r + 1, 0);
        }
        let val = self.heads[r];
        let s = Self::encode(spte);
        if val == 0 {
            self.heads[r] = s;
            return 0;
        }
        if val & KVM_RMAP_MANY == 0 {
            let d = self.alloc();
            let base = d as usize * self.n;
            self.sptes[base] = val;
            self.sptes[base + 1] = s;
            self.descs[d as usize] = (NIL, 2, 0);
            self.heads[r] = (u64::from(d) << 1) | KVM_RMAP_MANY;
            return 1;
        }
        let mut d = (val >> 1) as u32;
        let (_, count, tail) = self.descs[d as usize];
        let total = (count + tail) as usize;
        if count as usize == self.n {
            let nd = self.alloc();
            self.descs[nd as usize] = (d, 0, total as u32);
            self.heads[r] = (u64::from(nd) << 1) | KVM_RMAP_MANY;
            d = nd;
        }
        let desc = &mut self.descs[d as usize];
        self.sptes[d as usize * self.n + desc.1 as usize] = s;
        desc.1 += 1;
        total
    }

    /// `pte_list_remove`: `None` when the SPTE is not in the rmap.
    pub fn remove(&mut self, r: usize, spte: u64) -> Option<()> {
        let val = *self.heads.get(r)?;
        let s = Self::encode(spte);
        if val & KVM_RMAP_MANY == 0 {
            if val != s {
                return None;
            }
            self.heads[r] = 0;
            return Some(());
        }
        let head = (val >> 1) as u32;
        let mut d = head;
        while d != NIL {
            let (more, count, _) = self.descs[d as usize];
            let base = d as usize * self.n;
            if let Some(i) = self.sptes[base..base + count as usize]
                .iter()
                .position(|&x| x == s)
            {
                // Fill the hole with the head descriptor's last entry.
                let (hmore, hcount, _) = self.descs[head as usize];
                let hbase = head as usize * self.n;
                self.sptes[base + i] = self.sptes[hbase + hcount as usize - 1];
                self.descs[head as usize].1 -= 1;
                if hcount == 1 {
                    self.free.push(head);
                    self.heads[r] = if hmore == NIL {
                        0
                    } else {
                        (u64::from(hmore) << 1) | KVM_RMAP_MANY
                    };
                }
                return Some(());
            }
            d = more;
        }
        None
    }

    /// `kvm_zap_all_rmap_sptes`: returns the entries cleared.
    pub fn zap(&mut self, r: usize) -> usize {
        let Some(&val) = self.heads.get(r) else {
            return 0;
        };
        self.heads[r] = 0;
        if val == 0 {
            return 0;
        }
        if val & KVM_RMAP_MANY == 0 {
            return 1;
        }
        let mut cleared = 0;
        let mut d = (val >> 1) as u32;
        while d != NIL {
            let (more, count, _) = self.descs[d as usize];
            cleared += count as usize;
            self.free.push(d);
            d = more;
        }
        cleared
    }

    /// The entries of rmap `r` in iteration order, as the ids given to `add`.
    pub fn entries(&self, r: usize) -> Vec<u64> {
        let val = self.heads.get(r).copied().unwrap_or(0);
        if val == 0 {
            return Vec::new();
        }
        if val & KVM_RMAP_MANY == 0 {
            return vec![(val >> 1) - 1];
        }
        let mut out = Vec::new();
        let mut d = (val >> 1) as u32;
        while d != NIL {
            let (more, count, _) = self.descs[d as usize];
            let base = d as usize * self.n;
            out.extend(
                self.sptes[base..base + count as usize]
                    .iter()
                    .map(|&x| (x >> 1) - 1),
            );
            d = more;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rmap::{RmapIndex, RmapSet};
    use crate::{Era, ModelConfig};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_baseline_keeps_the_models_lists(
            n in 2usize..17,
            ops in proptest::collection::vec((0u8..10, 0usize..4, 0u64..40), 0..400),
        ) {
            let mut model = RmapSet::new(ModelConfig::new(n, Era::HeadInsert).unwrap());
            let mut base = MinimalRmaps::new(n);
            for (op, r, s) in ops {
                let spte = s * 4 + r as u64; // one rmap per spte, as in the kernel
                let ri = RmapIndex(r as u32);
                let present = model.entries(ri).contains(&spte);
                match op {
                    0..=5 if !present => {
                        let want = model.pte_list_add(0, ri, spte).unwrap();
                        prop_assert_eq!(base.add(r, spte), want);
                    }
                    0..=8 if present => {
                        model.pte_list_remove(ri, spte).unwrap();
                        prop_assert!(base.remove(r, spte).is_some());
                    }
                    9 => {
                        prop_assert_eq!(base.zap(r), model.kvm_zap_all_rmap_sptes(ri));
                    }
                    _ => prop_assert!(present || base.remove(r, spte).is_none()),
                }
                prop_assert_eq!(base.entries(r), model.entries(ri));
                prop_assert_eq!(base.live_descs() as u64, model.counters.live_descs);
            }
        }
    }
}
