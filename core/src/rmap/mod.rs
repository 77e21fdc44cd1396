//! The rmap model: `struct kvm_rmap_head`, `struct pte_list_desc`, the per-vCPU memory cache and
//! the list operations of `arch/x86/kvm/mmu/mmu.c`, operation for operation.
//!
//! Descriptors live in a [`DescArena`] addressed by [`DescIndex`]es. The arena doubles as the slab
//! model: objects are packed back to back in 4 KiB pages in index order and freed objects are
//! reused last-in first-out, so an index is also an object address for the cache-line metric.
//!
//! Every function named after a kernel function does what that function does in the era the
//! configuration selects; the era-specific paths say which kernel code they mirror.

mod arena;
mod head_insert;
mod snapshot;
mod tail_append;
#[cfg(test)]
mod worked_examples;

pub use arena::{Chain, DescArena, KvmMmuMemoryCache, OpCost};
pub use snapshot::{DescSnapshot, HeadKind, RmapSnapshot};

use crate::config::{Era, ModelConfig, TopupPolicy};
use serde::{Deserialize, Serialize};

/// Which `struct pte_list_desc`: an index into the [`DescArena`], standing for the kernel's
/// pointer to the object (all eras). Distinct from rmap indices, SPTE ids and vCPU numbers, which
/// are plain integers that a descriptor index must never be mistaken for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DescIndex(u32);

impl DescIndex {
    /// The arena's `NULL`.
    pub const NIL: DescIndex = DescIndex(u32::MAX);

    /// Whether this is [`DescIndex::NIL`].
    pub fn is_nil(self) -> bool {
        self == DescIndex::NIL
    }

    /// Its number (the object's position in the slab model).
    pub fn get(self) -> u32 {
        self.0
    }
}

/// What the model's two dense indices share: the slot they name in a vector, and their
/// display as a plain number.
macro_rules! dense_index {
    ($index:ident, $vector:literal) => {
        impl $index {
            #[doc = concat!("Its position in ", $vector, ".")]
            #[inline(always)] // on every list operation and descriptor access
            fn slot(self) -> usize {
                self.0 as usize
            }
        }

        impl std::fmt::Display for $index {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

dense_index!(DescIndex, "the arena's vectors");
dense_index!(RmapIndex, "the set's head vector");

/// Which rmap of an [`RmapSet`]: the dense index the caller chose for a `struct kvm_rmap_head`
/// (the kernel finds the head by gfn and level; rmaplab's replay hands out dense indices, reused
/// when an rmap empties). All eras. Distinct from descriptor indices, rmap ids of a trace, SPTE
/// ids and vCPU numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RmapIndex(pub u32);

/// The arena's "NULL" ([`DescIndex::NIL`]).
pub const NIL: DescIndex = DescIndex::NIL;

/// Errors from list operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RmapError {
    /// `pte_list_remove` did not find the SPTE (the kernel calls this corruption and BUG()s).
    #[error("spte {spte:#x} is not in this rmap (pte_list_remove would report data corruption)")]
    SpteNotFound {
        /// The SPTE id that was looked for.
        spte: u64,
    },
    /// The arena ran out of descriptor indices (`u32`).
    #[error("descriptor arena exhausted ({0} objects)")]
    ArenaFull(usize),
}

/// `struct kvm_rmap_head`, decoded: the `val` word is 0, a bare SPTE pointer, or a descriptor
/// pointer tagged with `KVM_RMAP_MANY` (bit 0). All eras.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RmapHead {
    /// `val == 0`.
    #[default]
    Empty,
    /// `val` is the only SPTE pointer.
    Single(u64),
    /// `val == desc | KVM_RMAP_MANY`; the arena index of the first descriptor.
    Many(DescIndex),
}

/// The header of `struct pte_list_desc`. `spte_count` is explicit since v5.15; in the
/// NULL-terminated era it stands for the position of the first NULL entry, which the kernel
/// finds by scanning. `tail_count` exists only in the head-insert era (v6.4+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PteListDesc {
    /// `more`: the next descriptor, or [`NIL`].
    pub more: DescIndex,
    /// `spte_count`: valid entries in `sptes[]`.
    pub spte_count: u32,
    /// `tail_count`: entries in all descriptors after this one (head-insert era).
    pub tail_count: u32,
}

const EMPTY_DESC: PteListDesc = PteListDesc {
    more: NIL,
    spte_count: 0,
    tail_count: 0,
};

/// Counters kept by [`RmapSet`] across operations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListCounters {
    /// Descriptors the list code took (`kvm_mmu_memory_cache_alloc` calls).
    pub allocations: u64,
    /// Of those, taken with the vCPU cache empty (a direct slab allocation; KVM WARNs).
    pub empty_cache_allocations: u64,
    /// Descriptors freed back to the slab.
    pub frees: u64,
    /// Descriptors currently in lists.
    pub live_descs: u64,
    /// Entries currently in lists (all rmaps).
    pub live_entries: u64,
    /// Rmaps whose list is currently a chain (`KVM_RMAP_MANY`).
    pub many_rmaps: u64,
    /// Rmaps whose head word holds their only SPTE.
    pub single_rmaps: u64,
}

impl ListCounters {
    /// Entries stored in descriptors (all entries minus those held directly in head words).
    pub fn entries_in_descs(&self) -> u64 {
        self.live_entries - self.single_rmaps
    }
}

/// The lists when they held the most descriptors, taken the moment the count rose: at the end of
/// the `pte_list_add` that allocated the descriptor, before a recycle zap that may follow it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListPeak {
    /// Descriptors in lists.
    pub descs: u64,
    /// Entries stored in descriptors then.
    pub entries_in_descs: u64,
    /// Chains (`KVM_RMAP_MANY` heads) then.
    pub many_rmaps: u64,
    /// Empty entry slots in the live descriptors then.
    pub unused_slots: u64,
}

/// The rmaps of one VM under one configuration: heads indexed by a dense rmap index chosen by the
/// caller, descriptors in an arena, one memory cache per vCPU.
#[derive(Debug, Clone)]
pub struct RmapSet {
    cfg: ModelConfig,
    /// The descriptor arena / slab.
    pub arena: DescArena,
    caches: Vec<KvmMmuMemoryCache>,
    heads: Vec<RmapHead>,
    /// Objects idle in all vCPU caches.
    cached: usize,
    /// The VM has used rmaps (its first `pte_list_add` happened); under
    /// [`TopupPolicy::WhenRmapsUsed`] caches are topped up only from then on.
    rmaps_used: bool,
    /// Counters.
    pub counters: ListCounters,
    /// The lists at their peak.
    pub peak: ListPeak,
    /// Cost of the last operation.
    pub cost: OpCost,
}

/// What `__rmap_add` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RmapAddOutcome {
    /// `pte_list_add`'s return value: the list's size before the add.
    pub count: usize,
    /// The count exceeded the recycle threshold and the whole rmap was zapped.
    pub recycled: bool,
}

impl RmapSet {
    /// An empty VM under `cfg` (validate `cfg` first).
    pub fn new(cfg: ModelConfig) -> Self {
        RmapSet {
            arena: DescArena::new(&cfg),
            cfg,
            caches: Vec::new(),
            heads: Vec::new(),
            cached: 0,
            rmaps_used: false,
            counters: ListCounters::default(),
            peak: ListPeak::default(),
            cost: OpCost::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// The head of rmap `r`.
    pub fn head(&self, r: RmapIndex) -> RmapHead {
        self.heads.get(r.slot()).copied().unwrap_or_default()
    }

    /// Fill the hole at entry `i` of descriptor `d` with entry `j`, the last, of descriptor
    /// `src` (which may be `d`), and drop `src`'s count. Returns `src`'s `more` when that left
    /// `src` empty: unlinking and freeing it is the era's part.
    #[inline(always)] // on every remove; as cheap as when each era wrote it out
    fn move_last_entry(
        &mut self,
        src: DescIndex,
        j: usize,
        d: DescIndex,
        i: usize,
    ) -> Option<DescIndex> {
        let moved = self.arena.spte(src, j);
        self.arena.touch_entry(&mut self.cost, src, j);
        self.arena.set_spte(d, i, moved);
        self.arena.set_spte(src, j, 0);
        let sd = self.arena.desc_mut(src);
        sd.spte_count -= 1;
        (sd.spte_count == 0).then_some(sd.more)
    }

    /// Rmap `r`'s first descriptor has left its chain: the head now points at `more`, the rest
    /// of the chain, or is empty when nothing is left.
    #[inline]
    fn unlink_first_desc(&mut self, r: RmapIndex, more: DescIndex) {
        *self.head_slot(r) = if more == NIL {
            self.counters.many_rmaps -= 1;
            RmapHead::Empty
        } else {
            RmapHead::Many(more)
        };
    }

    fn head_slot(&mut self, r: RmapIndex) -> &mut RmapHead {
        let r = r.slot();
        if r >= self.heads.len() {
            self.heads.resize(r + 1, RmapHead::Empty);
        }
        &mut self.heads[r]
    }

    /// The vCPU caches (`kvm_mmu_memory_cache`) created so far, indexed by vCPU.
    pub fn vcpu_caches(&self) -> &[KvmMmuMemoryCache] {
        &self.caches
    }

    /// Objects idle in all vCPU caches.
    pub fn cached_objects(&self) -> usize {
        self.cached
    }

    /// Empty entry slots in the live descriptors.
    pub fn unused_slots(&self) -> u64 {
        let c = &self.counters;
        (c.live_descs * self.cfg.entries as u64).saturating_sub(c.entries_in_descs())
    }

    fn cache(&mut self, vcpu: u32) -> &mut KvmMmuMemoryCache {
        let v = vcpu as usize;
        if v >= self.caches.len() {
            self.caches.resize_with(v + 1, KvmMmuMemoryCache::default);
        }
        &mut self.caches[v]
    }

    /// Whether the VM has used rmaps yet (see [`RmapSet::use_rmaps`]).
    pub fn rmaps_used(&self) -> bool {
        self.rmaps_used
    }

    /// The VM starts using rmaps, on `vcpu` (call before each add; only the first counts).
    /// Under [`TopupPolicy::WhenRmapsUsed`] (the seed's patch 4) this is the fault that first
    /// finds `kvm_memslots_have_rmaps` true, so `vcpu`'s cache is topped up now; under
    /// [`TopupPolicy::Always`] caches were topped up all along and nothing happens. Returns the
    /// slab allocations made.
    #[inline]
    pub fn use_rmaps(&mut self, vcpu: u32) -> Result<usize, RmapError> {
        if self.rmaps_used {
            return Ok(0);
        }
        self.rmaps_used = true;
        match self.cfg.topup {
            TopupPolicy::Always => Ok(0),
            TopupPolicy::WhenRmapsUsed => self.topup(vcpu),
        }
    }

    /// `mmu_topup_memory_caches` for `vcpu`'s `mmu_pte_list_desc_cache` (done before every
    /// fault; under [`TopupPolicy::WhenRmapsUsed`] only once the VM uses rmaps). Returns the
    /// slab allocations made.
    #[inline] // before every add of an implicit-fault trace; the common case is one compare
    pub fn topup(&mut self, vcpu: u32) -> Result<usize, RmapError> {
        let min = self.cfg.cache_min;
        if self
            .caches
            .get(vcpu as usize)
            .is_some_and(|c| c.objects.len() >= min)
        {
            return Ok(0);
        }
        self.topup_slow(vcpu)
    }

    /// [`RmapSet::topup`] when the cache is below its minimum (or not created yet).
    #[inline(never)]
    fn topup_slow(&mut self, vcpu: u32) -> Result<usize, RmapError> {
        if self.cfg.topup == TopupPolicy::WhenRmapsUsed && !self.rmaps_used {
            return Ok(0);
        }
        let cap = self.cfg.cache_capacity;
        let v = vcpu as usize;
        self.cache(vcpu);
        let (caches, arena) = (&mut self.caches, &mut self.arena);
        let made = caches[v].topup(arena, cap, self.cfg.cache_min)?;
        self.cached += made;
        Ok(made)
    }

    fn alloc_desc(&mut self, vcpu: u32) -> Result<DescIndex, RmapError> {
        let v = vcpu as usize;
        self.cache(vcpu);
        let (d, empty) = self.caches[v].alloc(&mut self.arena)?;
        self.counters.allocations += 1;
        self.counters.live_descs += 1;
        if empty {
            self.counters.empty_cache_allocations += 1;
        } else {
            self.cached -= 1;
        }
        *self.arena.desc_mut(d) = EMPTY_DESC;
        Ok(d)
    }

    fn free_desc(&mut self, d: DescIndex) {
        self.counters.frees += 1;
        self.counters.live_descs -= 1;
        self.arena.slab_free(d);
    }

    /// `__rmap_add` minus the stat: `pte_list_add`, then the recycle rule. The caller keeps
    /// `max_mmu_rmap_size` from the returned count. The cost of a recycle zap counts into this
    /// add.
    pub fn rmap_add(
        &mut self,
        vcpu: u32,
        r: RmapIndex,
        spte: u64,
    ) -> Result<RmapAddOutcome, RmapError> {
        let count = self.pte_list_add(vcpu, r, spte)?;
        let recycled = self.cfg.recycle_threshold.is_some_and(|t| count as u64 > t);
        if recycled {
            self.zap_list(r);
        }
        Ok(RmapAddOutcome { count, recycled })
    }

    /// `pte_list_add(cache, spte, rmap_head)`: returns the list's size before the add — in the
    /// older eras, as the kernel computes it: `N` per full descriptor walked past plus the
    /// entries of the descriptor stored into, which misses holes left by earlier removals.
    pub fn pte_list_add(&mut self, vcpu: u32, r: RmapIndex, spte: u64) -> Result<usize, RmapError> {
        if !self.rmaps_used {
            self.use_rmaps(vcpu)?;
        }
        self.cost.reset();
        let n = self.cfg.entries;
        let head = *self.head_slot(r);
        let count = match head {
            RmapHead::Empty => {
                *self.head_slot(r) = RmapHead::Single(spte);
                self.counters.single_rmaps += 1;
                0
            }
            RmapHead::Single(old) => {
                // 1 -> many: a fresh descriptor holds the old and the new SPTE.
                let d = self.alloc_desc(vcpu)?;
                self.arena.set_spte(d, 0, old);
                self.arena.set_spte(d, 1, spte);
                let desc = self.arena.desc_mut(d);
                desc.spte_count = 2;
                desc.tail_count = 0;
                self.cost.descs += 1;
                self.arena.touch_header_and_entries(&mut self.cost, d, 2);
                *self.head_slot(r) = RmapHead::Many(d);
                self.counters.many_rmaps += 1;
                self.counters.single_rmaps -= 1;
                1
            }
            RmapHead::Many(first) => match self.cfg.era {
                Era::HeadInsert => self.add_head_insert(vcpu, r, first, spte, n)?,
                Era::TailAppend | Era::NullTerminated => {
                    self.add_tail_append(vcpu, first, spte, n)?
                }
            },
        };
        self.counters.live_entries += 1;
        if self.counters.live_descs > self.peak.descs {
            self.peak = ListPeak {
                descs: self.counters.live_descs,
                entries_in_descs: self.counters.entries_in_descs(),
                many_rmaps: self.counters.many_rmaps,
                unused_slots: self.unused_slots(),
            };
        }
        Ok(count)
    }

    /// `pte_list_remove(spte, rmap_head)`: scan from the head, entries in index order; then
    /// `pte_list_desc_remove_entry` with the era's replacement rule.
    pub fn pte_list_remove(&mut self, r: RmapIndex, spte: u64) -> Result<(), RmapError> {
        self.cost.reset();
        match self.head(r) {
            RmapHead::Empty => Err(RmapError::SpteNotFound { spte }),
            RmapHead::Single(s) => {
                if s != spte {
                    return Err(RmapError::SpteNotFound { spte });
                }
                *self.head_slot(r) = RmapHead::Empty;
                self.counters.live_entries -= 1;
                self.counters.single_rmaps -= 1;
                Ok(())
            }
            RmapHead::Many(first) => {
                let (arena, cost) = (&self.arena, &mut self.cost);
                let mut prev = NIL;
                let found = arena.chain(first).find_map(|d| {
                    cost.descs += 1;
                    let pos = arena.entries(d).iter().position(|&s| s == spte);
                    let scanned = pos.map_or(arena.desc(d).spte_count as usize, |p| p + 1);
                    arena.touch_header_and_entries(cost, d, scanned);
                    let at = pos.map(|i| (prev, d, i));
                    prev = d;
                    at
                });
                let (prev, d, i) = found.ok_or(RmapError::SpteNotFound { spte })?;
                self.pte_list_desc_remove_entry(r, d, i, prev);
                self.counters.live_entries -= 1;
                Ok(())
            }
        }
    }

    /// `pte_list_desc_remove_entry`, in the era's form.
    fn pte_list_desc_remove_entry(
        &mut self,
        r: RmapIndex,
        d: DescIndex,
        i: usize,
        prev: DescIndex,
    ) {
        match self.cfg.era {
            Era::HeadInsert => self.remove_entry_head_insert(r, d, i),
            Era::TailAppend | Era::NullTerminated => self.remove_entry_tail_append(r, d, i, prev),
        }
    }

    /// Whole-list zap: clear every SPTE of the rmap and free all its descriptors, head first.
    /// v5.15+ (tail-append and head-insert eras): one walk, `pte_list_destroy` (v5.15, Peter
    /// Xu's "Optimize zapping rmap"), renamed `kvm_zap_all_rmap_sptes` later. ≤ v5.14
    /// (null-terminated era): `kvm_zap_rmapp`'s loop of `rmap_get_first` + `pte_list_remove`,
    /// which frees the same descriptors in the same order but rescans the head each time.
    /// Returns the entries cleared.
    pub fn kvm_zap_all_rmap_sptes(&mut self, r: RmapIndex) -> usize {
        self.cost.reset();
        self.zap_list(r)
    }

    /// [`RmapSet::kvm_zap_all_rmap_sptes`] adding to the current cost.
    fn zap_list(&mut self, r: RmapIndex) -> usize {
        let n = self.cfg.entries;
        match self.head(r) {
            RmapHead::Empty => 0,
            RmapHead::Single(_) => {
                *self.head_slot(r) = RmapHead::Empty;
                self.counters.live_entries -= 1;
                self.counters.single_rmaps -= 1;
                1
            }
            RmapHead::Many(first) => {
                let mut cleared = 0;
                let mut d = first;
                // Not a `Chain`: the walk frees each descriptor after reading its `more`.
                while d != NIL {
                    let h = *self.arena.desc(d);
                    let c = h.spte_count as usize;
                    match self.cfg.era {
                        Era::HeadInsert | Era::TailAppend => {
                            // `spte_count`, every entry and `more`, once per descriptor.
                            self.cost.descs += 1;
                            self.arena.touch_header_and_entries(&mut self.cost, d, c);
                        }
                        Era::NullTerminated => {
                            // Each pte_list_remove of sptes[0] visits the head, reads entry 0
                            // and scans down from the last slot for the last non-NULL entry.
                            for left in (1..=c).rev() {
                                self.cost.descs += 1;
                                self.arena.touch_header(&mut self.cost, d);
                                self.arena.touch_entry(&mut self.cost, d, 0);
                                self.arena.touch_entry_range(&mut self.cost, d, left - 1, n);
                            }
                        }
                    }
                    cleared += c;
                    self.free_desc(d);
                    d = h.more;
                }
                *self.head_slot(r) = RmapHead::Empty;
                self.counters.many_rmaps -= 1;
                self.counters.live_entries -= cleared as u64;
                cleared
            }
        }
    }

    /// `for_each_rmap_spte`: visit every entry (head descriptor first, index 0 upward, then
    /// `more`), recording the cost. Returns the entries visited.
    pub fn walk(&mut self, r: RmapIndex) -> usize {
        self.cost.reset();
        let mut seen = 0;
        match self.head(r) {
            RmapHead::Empty => {}
            RmapHead::Single(_) => seen = 1,
            RmapHead::Many(first) => {
                let n = self.cfg.entries;
                let null_terminated = self.cfg.era == Era::NullTerminated;
                for d in self.arena.chain(first) {
                    let c = self.arena.desc(d).spte_count as usize;
                    self.cost.descs += 1;
                    // The NULL-terminated iterator also reads the terminating NULL.
                    let read = if null_terminated { (c + 1).min(n) } else { c };
                    self.arena.touch_header_and_entries(&mut self.cost, d, read);
                    seen += c;
                }
            }
        }
        seen
    }

    /// The entries of rmap `r` in kernel iteration order (no cost recorded).
    pub fn entries(&self, r: RmapIndex) -> Vec<u64> {
        let mut out = Vec::new();
        match self.head(r) {
            RmapHead::Empty => {}
            RmapHead::Single(s) => out.push(s),
            RmapHead::Many(first) => {
                for d in self.arena.chain(first) {
                    out.extend_from_slice(self.arena.entries(d));
                }
            }
        }
        out
    }

    /// `pte_list_count`.
    pub fn pte_list_count(&self, r: RmapIndex) -> usize {
        match self.head(r) {
            RmapHead::Empty => 0,
            RmapHead::Single(_) => 1,
            RmapHead::Many(first) => self
                .arena
                .chain(first)
                .map(|d| self.arena.desc(d).spte_count as usize)
                .sum(),
        }
    }
}
