//! Which SPTE is in which rmap, shared by every configuration of a group: rmap ids map to dense
//! indices (reused when an rmap empties, so memory follows the live state, never the trace),
//! SPTE ids to the index holding them. Also the per-level page counts KVM reports and the rmap
//! size histogram.

use super::peak::HistogramTracker;
use super::report::Anomalies;
use crate::histogram::PT64_LEVEL_BITS;
use crate::rmap::RmapIndex;
use crate::trace::{EventCtx, Memslot, RmapId, RmapKind, SpteId};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A multiplicative hasher for u64 ids (ids are not attacker-chosen in this tool).
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (v ^ (v >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        self.0 ^= self.0 >> 32;
    }
}

type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// What the replay knows about one live rmap.
#[derive(Debug, Clone)]
pub(super) struct RmapInfo {
    /// The trace's rmap id.
    pub(super) id: RmapId,
    /// Entries now.
    pub(super) count: u64,
    pub(super) gfn: Option<u64>,
    pub(super) level: u8,
    pub(super) kind: RmapKind,
    /// Whether the gfn lies in one of the trace's memslots (for the histogram's "0" column).
    pub(super) in_slot: bool,
}

impl RmapInfo {
    /// The level as an index into KVM's per-size counters, for gfn rmaps of a known size.
    pub(super) fn page_level(&self) -> Option<usize> {
        (self.kind == RmapKind::Gfn && (1..=3).contains(&self.level))
            .then(|| usize::from(self.level - 1))
    }
}

fn in_memslots(memslots: &[Memslot], gfn: Option<u64>, level: u8) -> bool {
    let Some(g) = gfn else { return false };
    let shift = PT64_LEVEL_BITS * u32::from(level.saturating_sub(1));
    memslots.iter().any(|s| {
        let first = s.base_gfn >> shift;
        let last = s.base_gfn.saturating_add(s.pages.saturating_sub(1)) >> shift;
        s.pages > 0 && (first..=last).contains(&(g >> shift))
    })
}

/// Why an add could not claim its SPTE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Claimed {
    /// The SPTE is already in this rmap.
    InThisRmap,
    /// The SPTE is still in another rmap.
    InOtherRmap,
}

/// Why a remove names an SPTE it cannot remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NotHeld {
    /// The SPTE is in no rmap.
    Unknown,
    /// The SPTE is in another rmap.
    WrongRmap,
}

/// The shared membership state of a group.
#[derive(Debug, Clone)]
pub(super) struct Membership {
    ids: IdMap<RmapId, u32>,
    infos: Vec<Option<RmapInfo>>,
    free: Vec<u32>,
    sptes: IdMap<SpteId, u32>,
    /// Present SPTEs in gfn rmaps per level (KVM's `pages_4k`, `pages_2m`, `pages_1g`).
    pub(super) pages: [u64; 3],
    pub(super) anomalies: Anomalies,
    pub(super) memslots: Vec<Memslot>,
    pub(super) hist: HistogramTracker,
}

impl Membership {
    pub(super) fn new(memslots: &[Memslot]) -> Self {
        Membership {
            ids: IdMap::default(),
            infos: Vec::new(),
            free: Vec::new(),
            sptes: IdMap::default(),
            pages: [0; 3],
            anomalies: Anomalies::default(),
            memslots: memslots.to_vec(),
            hist: HistogramTracker::new(),
        }
    }

    /// The dense index of live rmap `id`.
    pub(super) fn rmap(&self, id: RmapId) -> Option<u32> {
        self.ids.get(&id).copied()
    }

    /// The live rmaps as (dense index, info).
    pub(super) fn live(&self) -> impl Iterator<Item = (RmapIndex, &RmapInfo)> + '_ {
        self.infos
            .iter()
            .zip(0u32..)
            .filter_map(|(i, d)| i.as_ref().map(|i| (RmapIndex(d), i)))
    }

    /// Dense indices handed out so far (live or free).
    pub(super) fn capacity(&self) -> usize {
        self.infos.len()
    }

    /// The info of live dense index `d`.
    pub(super) fn info(&self, d: u32) -> &RmapInfo {
        // Dense indices handed out by `claim` always have an info until released.
        match self.infos.get(d as usize).and_then(Option::as_ref) {
            Some(i) => i,
            None => unreachable_info(),
        }
    }

    /// An add of `spte` to rmap `rmap`: record the SPTE as held by the rmap (created if new) and
    /// return its dense index, or say why the add cannot happen.
    pub(super) fn claim(
        &mut self,
        spte: SpteId,
        rmap: RmapId,
        ctx: &EventCtx,
    ) -> Result<u32, Claimed> {
        match self.sptes.entry(spte) {
            Entry::Occupied(o) => Err(if self.ids.get(&rmap) == Some(o.get()) {
                Claimed::InThisRmap
            } else {
                Claimed::InOtherRmap
            }),
            Entry::Vacant(v) => {
                let d = match self.ids.entry(rmap) {
                    Entry::Occupied(o) => *o.get(),
                    Entry::Vacant(slot) => {
                        let level = ctx.level.unwrap_or(1);
                        let info = RmapInfo {
                            id: rmap,
                            count: 0,
                            gfn: ctx.gfn,
                            level,
                            kind: ctx.kind.unwrap_or(RmapKind::Gfn),
                            in_slot: in_memslots(&self.memslots, ctx.gfn, level),
                        };
                        let d = match self.free.pop() {
                            Some(d) => {
                                self.infos[d as usize] = Some(info);
                                d
                            }
                            None => {
                                self.infos.push(Some(info));
                                (self.infos.len() - 1) as u32
                            }
                        };
                        *slot.insert(d)
                    }
                };
                v.insert(d);
                Ok(d)
            }
        }
    }

    /// A remove of `spte` from rmap `rmap`: forget the SPTE and return the rmap's dense index, or
    /// say why it cannot be removed (then nothing changes).
    pub(super) fn release(&mut self, spte: SpteId, rmap: RmapId) -> Result<u32, NotHeld> {
        let held = self.sptes.remove(&spte).ok_or(NotHeld::Unknown)?;
        // The holder's own id says whether the event names it (no second lookup).
        if self.info(held).id == rmap {
            Ok(held)
        } else {
            self.sptes.insert(spte, held);
            Err(NotHeld::WrongRmap)
        }
    }

    /// Forget `spte` (its rmap was zapped).
    pub(super) fn forget(&mut self, spte: SpteId) {
        self.sptes.remove(&spte);
    }

    /// Rmap `d` gained (`delta` > 0) or lost entries; an emptied rmap's index is released.
    pub(super) fn entries_changed(&mut self, d: u32, delta: i64) {
        let Some(info) = self.infos.get_mut(d as usize).and_then(Option::as_mut) else {
            unreachable_info()
        };
        let old = info.count;
        info.count = info.count.wrapping_add_signed(delta);
        let (count, page_level, id) = (info.count, info.page_level(), info.id);
        let level = page_level.map(|_| info.level);
        self.hist.changed(level, info.in_slot, old, count);
        if let Some(l) = page_level {
            self.pages[l] = self.pages[l].wrapping_add_signed(delta);
        }
        if count == 0 {
            self.ids.remove(&id);
            self.infos[d as usize] = None;
            self.free.push(d);
        }
    }
}

#[cold]
fn unreachable_info() -> ! {
    // A dense index is only used while its rmap holds entries; reaching here is a bug.
    panic!("rmaplab internal error: rmap index used after release")
}
