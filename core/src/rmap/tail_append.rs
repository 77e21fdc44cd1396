//! The tail-append list code of v5.15–v6.3 (Peter Xu's counted descriptors) and, scanning for
//! NULL instead of reading counts, of v5.14 and earlier: adds walk from the head to the first
//! non-full descriptor and append a new one at the tail; a removal fills its hole from the same
//! descriptor, so holes stay scattered along the chain.

use super::{DescIndex, RmapError, RmapIndex, RmapSet, NIL};
use crate::config::Era;

impl RmapSet {
    /// v5.15–v6.3 (and, with NULL scans instead of counts, ≤ v5.14): walk from the head while
    /// the descriptor is full, appending a new descriptor at the tail if the last one is full;
    /// store in the first non-full descriptor. Returns the total before the add.
    pub(super) fn add_tail_append(
        &mut self,
        vcpu: u32,
        first: DescIndex,
        spte: u64,
        n: usize,
    ) -> Result<usize, RmapError> {
        let null_terminated = self.cfg.era == Era::NullTerminated;
        let mut count = 0usize;
        let mut d = first;
        loop {
            self.cost.descs += 1;
            if null_terminated {
                // `desc->sptes[PTE_LIST_EXT-1]` and `desc->more` are read.
                self.arena.touch_entry(&mut self.cost, d, n - 1);
            }
            self.arena.touch_header(&mut self.cost, d);
            let h = *self.arena.desc(d);
            if h.spte_count as usize != n {
                break;
            }
            count += n;
            if h.more == NIL {
                let nd = self.alloc_desc(vcpu)?;
                self.arena.desc_mut(d).more = nd;
                self.cost.descs += 1;
                self.arena.touch_header(&mut self.cost, nd);
                d = nd;
                break;
            }
            d = h.more;
        }
        let i = self.arena.desc(d).spte_count as usize;
        if null_terminated {
            // `for (i = 0; desc->sptes[i]; ++i)` reads every entry up to the NULL.
            self.arena.touch_entries(&mut self.cost, d, (i + 1).min(n));
        }
        count += i;
        self.arena.set_spte(d, i, spte);
        self.arena.desc_mut(d).spte_count += 1;
        self.arena.touch_entry(&mut self.cost, d, i);
        Ok(count)
    }

    /// v5.15–v6.3 `pte_list_desc_remove_entry` (and ≤ v5.14's, which finds the last entry by
    /// scanning for NULL): fill the hole at `d[i]` with the last entry of the *same*
    /// descriptor; unlink (`prev` → `more`) and free it when it empties.
    pub(super) fn remove_entry_tail_append(
        &mut self,
        r: RmapIndex,
        d: DescIndex,
        i: usize,
        prev: DescIndex,
    ) {
        // Fill the hole with the last entry of the *same* descriptor; unlink and free
        // that descriptor when it empties.
        let j = self.arena.desc(d).spte_count as usize - 1;
        if self.cfg.era == Era::NullTerminated {
            // `for (j = PTE_LIST_EXT - 1; !desc->sptes[j] && j > i; --j)`.
            self.arena
                .touch_entry_range(&mut self.cost, d, j, self.cfg.entries);
        }
        let Some(more) = self.move_last_entry(d, j, d, i) else {
            return;
        };
        if prev == NIL {
            self.unlink_first_desc(r, more);
        } else {
            self.arena.desc_mut(prev).more = more;
            self.arena.touch_header(&mut self.cost, prev);
        }
        self.free_desc(d);
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Era, ModelConfig};
    use crate::rmap::worked_examples::{chain, R0};
    use crate::rmap::RmapSet;

    fn filled(era: Era, n: usize, sptes: std::ops::RangeInclusive<u64>) -> RmapSet {
        let mut s = RmapSet::new(ModelConfig::new(n, era).unwrap());
        for spte in sptes {
            s.topup(0).unwrap();
            s.pte_list_add(0, R0, spte).unwrap();
        }
        s
    }

    /// Five adds at N=2: descriptors fill in chain order and the last add walks the whole chain.
    #[test]
    fn adds_append_at_the_tail_after_a_walk() {
        let s = filled(Era::TailAppend, 2, 1..=5);
        assert_eq!(chain(&s.snapshot(R0)), [vec![1, 2], vec![3, 4], vec![5]]);
        // Two full descriptors walked past, then the new tail.
        assert_eq!(s.cost.descs, 3);
        s.check_invariants(R0).unwrap();
    }

    /// A removal moves the last entry of the *same* descriptor into the hole; the hole it
    /// leaves is not refilled, and the older eras' count misses it.
    #[test]
    fn a_removal_fills_its_hole_from_the_same_descriptor() {
        let mut s = filled(Era::TailAppend, 2, 1..=5);
        s.pte_list_remove(R0, 1).unwrap();
        assert_eq!(chain(&s.snapshot(R0)), [vec![2], vec![3, 4], vec![5]]);
        s.topup(0).unwrap();
        // The add stores into the first non-full descriptor, the head, and counts only what
        // it walked past: 0 + 1, though the list held 4.
        assert_eq!(s.pte_list_add(0, R0, 6).unwrap(), 1);
        assert_eq!(chain(&s.snapshot(R0)), [vec![2, 6], vec![3, 4], vec![5]]);
        s.check_invariants(R0).unwrap();
    }

    /// Removing a descriptor's only entry unlinks it from the middle of the chain.
    #[test]
    fn an_emptied_descriptor_is_unlinked() {
        let mut s = filled(Era::NullTerminated, 3, 1..=7);
        assert_eq!(
            chain(&s.snapshot(R0)),
            [vec![1, 2, 3], vec![4, 5, 6], vec![7]]
        );
        for spte in [4, 5, 6] {
            s.pte_list_remove(R0, spte).unwrap();
        }
        assert_eq!(chain(&s.snapshot(R0)), [vec![1, 2, 3], vec![7]]);
        assert_eq!(s.counters.live_descs, 2);
        s.check_invariants(R0).unwrap();
    }
}
