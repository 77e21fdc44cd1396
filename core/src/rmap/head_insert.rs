//! The head-insert list code of v6.4 and later (Lai Jiangshan, commit 141705b78381): new
//! descriptors are linked at the head, every non-head descriptor is full, the head's
//! `tail_count` says how many entries follow it — so `pte_list_add` is O(1) and a removal fills
//! its hole from the head.

use super::{DescIndex, RmapError, RmapHead, RmapIndex, RmapSet};

impl RmapSet {
    /// v6.4+: `count = head.tail_count + head.spte_count`; a full head gets a new descriptor
    /// linked in front of it (`more` = old head, `tail_count` = count). O(1).
    pub(super) fn add_head_insert(
        &mut self,
        vcpu: u32,
        r: RmapIndex,
        first: DescIndex,
        spte: u64,
        n: usize,
    ) -> Result<usize, RmapError> {
        let h = *self.arena.desc(first);
        self.cost.descs += 1;
        self.arena.touch_header(&mut self.cost, first);
        let count = (h.tail_count + h.spte_count) as usize;
        let mut d = first;
        if h.spte_count as usize == n {
            d = self.alloc_desc(vcpu)?;
            let nd = self.arena.desc_mut(d);
            nd.more = first;
            nd.spte_count = 0;
            nd.tail_count = u32::try_from(count).unwrap_or(u32::MAX);
            self.cost.descs += 1;
            self.arena.touch_header(&mut self.cost, d);
            *self.head_slot(r) = RmapHead::Many(d);
        }
        let i = self.arena.desc(d).spte_count as usize;
        self.arena.set_spte(d, i, spte);
        self.arena.desc_mut(d).spte_count += 1;
        self.arena.touch_entry(&mut self.cost, d, i);
        Ok(count)
    }

    /// v6.4+ `pte_list_desc_remove_entry`: fill the hole at `d[i]` with the last entry of the
    /// *head* descriptor, keeping every tail descriptor full; free the head when it empties.
    pub(super) fn remove_entry_head_insert(&mut self, r: RmapIndex, d: DescIndex, i: usize) {
        // Fill the hole with the last entry of the *head* descriptor, keeping every
        // tail descriptor full; free the head when it empties.
        let RmapHead::Many(head) = self.head(r) else {
            return;
        };
        if head != d {
            self.cost.descs += 1;
            self.arena.touch_header(&mut self.cost, head);
        }
        let j = self.arena.desc(head).spte_count as usize - 1;
        let Some(more) = self.move_last_entry(head, j, d, i) else {
            return;
        };
        self.unlink_first_desc(r, more);
        self.free_desc(head);
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Era, ModelConfig};
    use crate::rmap::worked_examples::{chain, R0};
    use crate::rmap::RmapSet;

    fn set(n: usize) -> RmapSet {
        RmapSet::new(ModelConfig::new(n, Era::HeadInsert).unwrap())
    }

    /// Five adds at N=2: the head is always the newest descriptor, the older ones stay full,
    /// and `pte_list_add` returns head `tail_count` + `spte_count` without walking the chain.
    #[test]
    fn adds_link_new_descriptors_at_the_head() {
        let mut s = set(2);
        let counts: Vec<usize> = (1..=5)
            .map(|spte| {
                s.topup(0).unwrap();
                s.pte_list_add(0, R0, spte).unwrap()
            })
            .collect();
        assert_eq!(counts, [0, 1, 2, 3, 4]);
        let snap = s.snapshot(R0);
        assert_eq!(chain(&snap), [vec![5], vec![3, 4], vec![1, 2]]);
        assert_eq!(snap.descs()[0].tail_count, Some(4));
        // The fifth add visited the full head and the new one: two descriptors.
        assert_eq!(s.cost.descs, 2);
        s.check_invariants(R0).unwrap();
    }

    /// Removing from a tail descriptor takes the head's last entry into the hole; the head
    /// empties and is freed, so every remaining descriptor is full.
    #[test]
    fn a_removal_fills_its_hole_from_the_head() {
        let mut s = set(2);
        for spte in 1..=5 {
            s.topup(0).unwrap();
            s.pte_list_add(0, R0, spte).unwrap();
        }
        s.pte_list_remove(R0, 1).unwrap();
        assert_eq!(chain(&s.snapshot(R0)), [vec![3, 4], vec![5, 2]]);
        assert_eq!(s.counters.live_descs, 2);
        s.check_invariants(R0).unwrap();
    }
}
