//! Where descriptors live: the index arena that doubles as the slab model (objects packed in
//! 4 KiB pages, reused last-in first-out), the per-vCPU memory caches that hand them out, and
//! the per-operation cost record (descriptors visited, cache lines touched).

use super::{DescIndex, PteListDesc, RmapError, EMPTY_DESC, NIL};
use crate::config::{ModelConfig, CACHE_LINE_SIZE, SLAB_PAGE_SIZE, SPTE_PTR_SIZE};

/// Ranges beyond which [`OpCost::distinct_lines`] counts with line stamps instead of sorting.
const SORTED_UNION_MAX: usize = 16;

/// What one list operation cost: descriptors visited and distinct 64-byte lines touched.
///
/// Touches are kept as inclusive ranges of line numbers (a descriptor's entries are contiguous,
/// so a scan of `k` entries is one range); a touch that overlaps or adjoins the open range
/// extends it. The open range lives inline, so an operation on one descriptor touches no
/// vector at all. An operation that leaves a few ranges has their union counted by sorting
/// them; one that walks a long chain (hundreds of ranges) is counted with a stamp per line of
/// the slab model instead — a line counts when its stamp is not this count's, and takes it —
/// which costs a compare per line rather than a sort, and touches the stamps (4 bytes per
/// 64-byte line) only for such long operations.
#[derive(Debug, Clone, Default)]
pub struct OpCost {
    /// Descriptors whose memory the operation read or wrote.
    pub descs: u32,
    /// Whether `open` holds a range.
    has_open: bool,
    /// The range the next touch may extend.
    open: (u64, u64),
    /// Earlier ranges of this operation.
    closed: Vec<(u64, u64)>,
    /// The stamp of the last count made with stamps (never 0 once one was made).
    stamp: u32,
    /// The stamp each line last took.
    seen: Vec<u32>,
}

impl OpCost {
    /// Start a new operation.
    #[inline]
    pub(super) fn reset(&mut self) {
        self.descs = 0;
        self.has_open = false;
        if !self.closed.is_empty() {
            self.closed.clear();
        }
    }

    /// Lines `first..=last` were read or written.
    #[inline]
    pub(super) fn touch(&mut self, first: u64, last: u64) {
        let l = &mut self.open;
        if self.has_open && first <= l.1.saturating_add(1) && last.saturating_add(1) >= l.0 {
            l.0 = l.0.min(first);
            l.1 = l.1.max(last);
            return;
        }
        if self.has_open {
            self.closed.push(*l);
        }
        self.has_open = true;
        *l = (first, last);
    }

    /// Distinct cache lines touched: the size of the union of the recorded ranges.
    #[inline]
    pub fn distinct_lines(&mut self) -> u32 {
        if !self.has_open {
            return 0;
        }
        let (a, b) = self.open;
        let lines = match self.closed[..] {
            [] => b - a + 1,
            // Two ranges (the common case: a header line and an entry line): their sizes less
            // their overlap, no sort.
            [(c, d)] => (b - a + 1) + (d - c + 1) - (b.min(d) + 1).saturating_sub(a.max(c)),
            _ if self.closed.len() < SORTED_UNION_MAX => return self.sorted_union(),
            _ => return self.stamped_union(),
        };
        u32::try_from(lines).unwrap_or(u32::MAX)
    }

    /// The union of a few ranges, by sorting them.
    #[cold]
    fn sorted_union(&mut self) -> u32 {
        let open = self.open;
        let spans = &mut self.closed;
        spans.push(open);
        spans.sort_unstable();
        let mut total = 0;
        let (mut lo, mut hi) = spans[0];
        for &(a, b) in &spans[1..] {
            if a > hi {
                total += hi - lo + 1;
                (lo, hi) = (a, b);
            } else {
                hi = hi.max(b);
            }
        }
        // Leave the ranges as they were (sorted), the open one inline again.
        if let Some(p) = spans.iter().position(|s| *s == open) {
            spans.remove(p);
        }
        u32::try_from(total + hi - lo + 1).unwrap_or(u32::MAX)
    }

    /// The union of many ranges, with a stamp per line.
    #[cold]
    fn stamped_union(&mut self) -> u32 {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            // After 2^32 counts: forget every stamp rather than confuse an old one.
            self.seen.fill(0);
            self.stamp = 1;
        }
        let (stamp, seen) = (self.stamp, &mut self.seen);
        let mut lines = 0u32;
        for &(a, b) in self.closed.iter().chain(std::iter::once(&self.open)) {
            let (Ok(a), Ok(b)) = (usize::try_from(a), usize::try_from(b)) else {
                continue;
            };
            if b >= seen.len() {
                seen.resize(b + 1, 0);
            }
            for s in seen.iter_mut().take(b + 1).skip(a) {
                if *s != stamp {
                    *s = stamp;
                    lines += 1;
                }
            }
        }
        lines
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
    free: Vec<DescIndex>,
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
    next: DescIndex,
}

impl Iterator for Chain<'_> {
    type Item = DescIndex;

    fn next(&mut self) -> Option<DescIndex> {
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
    pub fn chain(&self, first: DescIndex) -> Chain<'_> {
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
    pub(super) fn slab_alloc(&mut self) -> Result<DescIndex, RmapError> {
        self.slab_allocs += 1;
        self.slab_live += 1;
        self.slab_peak = self.slab_peak.max(self.slab_live);
        if let Some(i) = self.free.pop() {
            return Ok(i);
        }
        let i = u32::try_from(self.descs.len())
            .ok()
            .map(DescIndex)
            .filter(|i| !i.is_nil())
            .ok_or(RmapError::ArenaFull(self.descs.len()))?;
        self.descs.push(EMPTY_DESC);
        self.sptes.resize(self.sptes.len() + self.n, 0);
        let k = i.slot();
        self.addrs
            .push((k / self.per_page) * SLAB_PAGE_SIZE + (k % self.per_page) * self.obj_size);
        Ok(i)
    }

    /// `mmu_free_pte_list_desc` → `kmem_cache_free`.
    pub(super) fn slab_free(&mut self, d: DescIndex) {
        self.slab_frees += 1;
        self.slab_live -= 1;
        self.descs[d.slot()] = EMPTY_DESC;
        self.free.push(d);
    }

    /// The header of descriptor `d`.
    pub fn desc(&self, d: DescIndex) -> &PteListDesc {
        &self.descs[d.slot()]
    }

    pub(super) fn desc_mut(&mut self, d: DescIndex) -> &mut PteListDesc {
        &mut self.descs[d.slot()]
    }

    /// `d->sptes[i]`.
    pub fn spte(&self, d: DescIndex, i: usize) -> u64 {
        self.sptes[d.slot() * self.n + i]
    }

    pub(super) fn set_spte(&mut self, d: DescIndex, i: usize, v: u64) {
        self.sptes[d.slot() * self.n + i] = v;
    }

    /// The valid entries of descriptor `d`.
    pub fn entries(&self, d: DescIndex) -> &[u64] {
        let base = d.slot() * self.n;
        &self.sptes[base..base + self.descs[d.slot()].spte_count as usize]
    }

    #[inline(always)] // several times per list operation; a call costs more than the body
    pub(super) fn line(&self, d: DescIndex, offset: usize) -> u64 {
        ((self.addrs[d.slot()] + offset) / CACHE_LINE_SIZE) as u64
    }

    /// Byte offset of `sptes[i]` (what `Era::entry_offset` gives, without the era match).
    #[inline(always)] // see `line`
    fn entry_offset(&self, i: usize) -> usize {
        self.entry_base + SPTE_PTR_SIZE * i
    }

    #[inline]
    pub(super) fn touch_header(&self, cost: &mut OpCost, d: DescIndex) {
        let l = self.line(d, self.header_offset);
        cost.touch(l, l);
    }

    #[inline]
    pub(super) fn touch_entry(&self, cost: &mut OpCost, d: DescIndex, i: usize) {
        let l = self.line(d, self.entry_offset(i));
        cost.touch(l, l);
    }

    /// The header of descriptor `d` and its entries `0..upto`, as a list walk reads them. Where
    /// the entries follow the header (v5.15+: `more` and the counts, then `sptes[]`), the two
    /// are one range of lines; where the header follows the entries (NULL-terminated era) and
    /// the walk stops short of the last slot, they may be two.
    #[inline]
    pub(super) fn touch_header_and_entries(&self, cost: &mut OpCost, d: DescIndex, upto: usize) {
        if self.header_offset < self.entry_base && upto > 0 {
            let base = self.addrs[d.slot()];
            cost.touch(
                ((base + self.header_offset) / CACHE_LINE_SIZE) as u64,
                ((base + self.entry_offset(upto) - 1) / CACHE_LINE_SIZE) as u64,
            );
        } else {
            self.touch_header(cost, d);
            self.touch_entries(cost, d, upto);
        }
    }

    /// Entries `from..to` of descriptor `d` (contiguous, so one range of lines).
    #[inline]
    pub(super) fn touch_entry_range(
        &self,
        cost: &mut OpCost,
        d: DescIndex,
        from: usize,
        to: usize,
    ) {
        if from < to {
            let base = self.addrs[d.slot()];
            cost.touch(
                ((base + self.entry_offset(from)) / CACHE_LINE_SIZE) as u64,
                ((base + self.entry_offset(to - 1)) / CACHE_LINE_SIZE) as u64,
            );
        }
    }

    #[inline]
    pub(super) fn touch_entries(&self, cost: &mut OpCost, d: DescIndex, upto: usize) {
        self.touch_entry_range(cost, d, 0, upto);
    }
}

/// `struct kvm_mmu_memory_cache`: one vCPU's stash of preallocated descriptors.
#[derive(Debug, Clone, Default)]
pub struct KvmMmuMemoryCache {
    /// `objects[0..nobjs]`; the last element is handed out first.
    pub objects: Vec<DescIndex>,
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
    pub fn alloc(&mut self, arena: &mut DescArena) -> Result<(DescIndex, bool), RmapError> {
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

    /// Two ranges, apart, adjacent, overlapping and nested (the open one grown over the
    /// closed one): each line counts once.
    #[test]
    fn two_ranges_count_each_line_once() {
        for (touches, want) in [
            (&[(10, 11), (20, 20)][..], 3),
            (&[(10, 11), (13, 14), (12, 12)][..], 5),
            (&[(10, 12), (20, 21), (13, 19)][..], 12),
            (&[(10, 12), (14, 14), (13, 13), (8, 9)][..], 7),
            (&[(5, 6), (20, 21), (4, 30)][..], 27),
        ] {
            let mut cost = OpCost::default();
            cost.reset();
            for &(a, b) in touches {
                cost.touch(a, b);
            }
            assert_eq!(cost.distinct_lines(), want, "{touches:?}");
        }
    }

    proptest! {
        /// Both unions (sorted for a few ranges, stamped for many) count each line once,
        /// whatever the order of the touches; counting again after more touches still counts
        /// them all; operations one after another do not see each other's lines.
        #[test]
        fn distinct_lines_is_the_size_of_the_set_of_lines_touched(
            ops in proptest::collection::vec(
                (proptest::collection::vec((0u64..400, 0u64..4), 0..80), 0usize..80),
                1..4,
            ),
        ) {
            let mut cost = OpCost::default();
            for (touches, split) in &ops {
                cost.reset();
                prop_assert_eq!(cost.distinct_lines(), 0);
                let mut reference = BTreeSet::new();
                for (k, &(first, len)) in touches.iter().enumerate() {
                    if k == *split {
                        prop_assert_eq!(cost.distinct_lines() as usize, reference.len());
                    }
                    cost.touch(first, first + len);
                    reference.extend(first..=first + len);
                }
                prop_assert_eq!(cost.distinct_lines() as usize, reference.len());
            }
        }
    }
}
