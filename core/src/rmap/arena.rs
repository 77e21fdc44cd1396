//! Where descriptors live: the index arena that doubles as the slab model (objects packed in
//! 4 KiB pages, reused last-in first-out), the per-vCPU memory caches that hand them out, and
//! the per-operation cost record (descriptors visited, cache lines touched).

use super::{PteListDesc, RmapError, EMPTY_DESC, NIL};
use crate::config::{ModelConfig, CACHE_LINE_SIZE, SLAB_PAGE_SIZE, SPTE_PTR_SIZE};

/// What one list operation cost: descriptors visited and distinct 64-byte lines touched.
///
/// Lines are counted once each with a stamp per line of the slab model: a line counts when its
/// stamp is not the current operation's, and takes that stamp. That is exact whatever the order
/// of the touches (a chain's descriptors lie anywhere in the slab, and two small objects may
/// share a line) and costs a compare per line touched — no list of ranges to sort. The stamps
/// take 4 bytes per 64-byte line the slab model has used.
#[derive(Debug, Clone, Default)]
pub struct OpCost {
    /// Descriptors whose memory the operation read or wrote.
    pub descs: u32,
    /// Distinct lines touched so far.
    lines: u32,
    /// The current operation's stamp (never 0 once an operation started).
    stamp: u32,
    /// The stamp each line last took.
    seen: Vec<u32>,
}

impl OpCost {
    /// Start a new operation.
    #[inline]
    pub(super) fn reset(&mut self) {
        self.descs = 0;
        self.lines = 0;
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            // After 2^32 operations: forget every stamp rather than confuse an old one.
            self.seen.fill(0);
            self.stamp = 1;
        }
    }

    /// Lines `first..=last` were read or written.
    #[inline]
    pub(super) fn touch(&mut self, first: u64, last: u64) {
        if self.stamp == 0 {
            self.stamp = 1;
        }
        let (Ok(first), Ok(last)) = (usize::try_from(first), usize::try_from(last)) else {
            return;
        };
        if last >= self.seen.len() {
            self.seen.resize(last + 1, 0);
        }
        for l in first..=last {
            if let Some(s) = self.seen.get_mut(l) {
                if *s != self.stamp {
                    *s = self.stamp;
                    self.lines += 1;
                }
            }
        }
    }

    /// Distinct cache lines touched by the operation.
    #[inline]
    pub fn distinct_lines(&mut self) -> u32 {
        self.lines
    }
}

/// Descriptor storage and slab model for one configuration.
#[derive(Debug, Clone)]
pub struct DescArena {
    n: usize,
    obj_size: usize,
    per_page: usize,
    /// `era.header_offset(n)`, computed once (it is read on every descriptor visit).
    header_offset: usize,
    /// `era.entry_offset(0)`; entry `i` is `SPTE_PTR_SIZE * i` after it.
    entry_base: usize,
    descs: Vec<PteListDesc>,
    sptes: Vec<u64>,
    /// Byte address of each object in the slab model (computed once, when it is carved).
    addrs: Vec<usize>,
    /// LIFO free list of slab objects.
    free: Vec<u32>,
    /// Objects currently allocated from the slab (in lists or idle in vCPU caches).
    pub slab_live: usize,
    /// Peak of `slab_live`.
    pub slab_peak: usize,
    /// `kmem_cache_alloc` calls.
    pub slab_allocs: u64,
    /// `kmem_cache_free` calls (`mmu_free_pte_list_desc`).
    pub slab_frees: u64,
}

/// The descriptors of a chain, head first, following `more` — the order of
/// `for_each_rmap_spte`. (Loops that free or relink descriptors as they go read `more`
/// themselves.)
#[derive(Debug, Clone)]
pub struct Chain<'a> {
    arena: &'a DescArena,
    next: u32,
}

impl Iterator for Chain<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.next == NIL {
            return None;
        }
        let d = self.next;
        self.next = self.arena.desc(d).more;
        Some(d)
    }
}

impl DescArena {
    /// The chain that starts at descriptor `first`.
    pub fn chain(&self, first: u32) -> Chain<'_> {
        Chain {
            arena: self,
            next: first,
        }
    }

    /// An empty arena for `cfg`.
    pub fn new(cfg: &ModelConfig) -> Self {
        let obj_size = cfg.desc_bytes();
        DescArena {
            n: cfg.entries,
            obj_size,
            per_page: (SLAB_PAGE_SIZE / obj_size).max(1),
            header_offset: cfg.era.header_offset(cfg.entries),
            entry_base: cfg.era.entry_offset(0),
            descs: Vec::new(),
            sptes: Vec::new(),
            addrs: Vec::new(),
            free: Vec::new(),
            slab_live: 0,
            slab_peak: 0,
            slab_allocs: 0,
            slab_frees: 0,
        }
    }

    /// Objects ever carved out of slab pages (the high-water mark of object indices).
    pub fn objects_carved(&self) -> usize {
        self.descs.len()
    }

    /// Slab pages needed for every object ever carved (pages are never returned in this model).
    pub fn slab_pages(&self) -> usize {
        self.descs.len().div_ceil(self.per_page)
    }

    /// `kmem_cache_alloc(pte_list_desc_cache)`: reuse the most recently freed object, or carve
    /// a new one at the end of the last page.
    pub(super) fn slab_alloc(&mut self) -> Result<u32, RmapError> {
        self.slab_allocs += 1;
        self.slab_live += 1;
        self.slab_peak = self.slab_peak.max(self.slab_live);
        if let Some(i) = self.free.pop() {
            return Ok(i);
        }
        let i = u32::try_from(self.descs.len())
            .ok()
            .filter(|&i| i != NIL)
            .ok_or(RmapError::ArenaFull(self.descs.len()))?;
        self.descs.push(EMPTY_DESC);
        self.sptes.resize(self.sptes.len() + self.n, 0);
        let k = i as usize;
        self.addrs
            .push((k / self.per_page) * SLAB_PAGE_SIZE + (k % self.per_page) * self.obj_size);
        Ok(i)
    }

    /// `mmu_free_pte_list_desc` → `kmem_cache_free`.
    pub(super) fn slab_free(&mut self, d: u32) {
        self.slab_frees += 1;
        self.slab_live -= 1;
        self.descs[d as usize] = EMPTY_DESC;
        self.free.push(d);
    }

    /// The header of descriptor `d`.
    pub fn desc(&self, d: u32) -> &PteListDesc {
        &self.descs[d as usize]
    }

    pub(super) fn desc_mut(&mut self, d: u32) -> &mut PteListDesc {
        &mut self.descs[d as usize]
    }

    /// `d->sptes[i]`.
    pub fn spte(&self, d: u32, i: usize) -> u64 {
        self.sptes[d as usize * self.n + i]
    }

    pub(super) fn set_spte(&mut self, d: u32, i: usize, v: u64) {
        self.sptes[d as usize * self.n + i] = v;
    }

    /// The valid entries of descriptor `d`.
    pub fn entries(&self, d: u32) -> &[u64] {
        let base = d as usize * self.n;
        &self.sptes[base..base + self.descs[d as usize].spte_count as usize]
    }

    #[inline(always)] // several times per list operation; a call costs more than the body
    pub(super) fn line(&self, d: u32, offset: usize) -> u64 {
        ((self.addrs[d as usize] + offset) / CACHE_LINE_SIZE) as u64
    }

    /// Byte offset of `sptes[i]` (what `Era::entry_offset` gives, without the era match).
    #[inline(always)] // see `line`
    fn entry_offset(&self, i: usize) -> usize {
        self.entry_base + SPTE_PTR_SIZE * i
    }

    #[inline]
    pub(super) fn touch_header(&self, cost: &mut OpCost, d: u32) {
        let l = self.line(d, self.header_offset);
        cost.touch(l, l);
    }

    #[inline]
    pub(super) fn touch_entry(&self, cost: &mut OpCost, d: u32, i: usize) {
        let l = self.line(d, self.entry_offset(i));
        cost.touch(l, l);
    }

    /// Entries `from..to` of descriptor `d` (contiguous, so one range of lines).
    #[inline]
    pub(super) fn touch_entry_range(&self, cost: &mut OpCost, d: u32, from: usize, to: usize) {
        if from < to {
            let base = self.addrs[d as usize];
            cost.touch(
                ((base + self.entry_offset(from)) / CACHE_LINE_SIZE) as u64,
                ((base + self.entry_offset(to - 1)) / CACHE_LINE_SIZE) as u64,
            );
        }
    }

    #[inline]
    pub(super) fn touch_entries(&self, cost: &mut OpCost, d: u32, upto: usize) {
        self.touch_entry_range(cost, d, 0, upto);
    }
}

/// `struct kvm_mmu_memory_cache`: one vCPU's stash of preallocated descriptors.
#[derive(Debug, Clone, Default)]
pub struct KvmMmuMemoryCache {
    /// `objects[0..nobjs]`; the last element is handed out first.
    pub objects: Vec<u32>,
}

impl KvmMmuMemoryCache {
    /// `kvm_mmu_topup_memory_cache(mc, min)`: if fewer than `min` objects remain, fill to
    /// `capacity` from the slab. Returns the number of slab allocations made.
    pub fn topup(
        &mut self,
        arena: &mut DescArena,
        capacity: usize,
        min: usize,
    ) -> Result<usize, RmapError> {
        if self.objects.len() >= min {
            return Ok(0);
        }
        let mut made = 0;
        while self.objects.len() < capacity {
            self.objects.push(arena.slab_alloc()?);
            made += 1;
        }
        Ok(made)
    }

    /// `kvm_mmu_memory_cache_alloc`: `objects[--nobjs]`, or (with a WARN in the kernel) a
    /// direct `GFP_ATOMIC` slab allocation when the cache is empty. The flag says which.
    pub fn alloc(&mut self, arena: &mut DescArena) -> Result<(u32, bool), RmapError> {
        match self.objects.pop() {
            Some(d) => Ok((d, false)),
            None => Ok((arena.slab_alloc()?, true)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OpCost;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        /// The inline open range and the sorted union count each line once, whatever the
        /// order of the touches; counting again after more touches still counts them all.
        #[test]
        fn distinct_lines_is_the_size_of_the_set_of_lines_touched(
            touches in proptest::collection::vec((0u64..40, 0u64..4), 0..24),
            split in 0usize..24,
        ) {
            let mut cost = OpCost::default();
            let mut reference = BTreeSet::new();
            for (k, &(first, len)) in touches.iter().enumerate() {
                if k == split {
                    prop_assert_eq!(cost.distinct_lines() as usize, reference.len());
                }
                cost.touch(first, first + len);
                reference.extend(first..=first + len);
            }
            prop_assert_eq!(cost.distinct_lines() as usize, reference.len());
            cost.reset();
            prop_assert_eq!(cost.distinct_lines(), 0);
        }
    }
}
