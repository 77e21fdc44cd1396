//! A group: the configurations that share one recycle threshold, and the membership they share.
//!
//! # Why configurations of one group never disagree on a recycle
//!
//! The recycle rule zaps a gfn rmap when `pte_list_add` returns a count above the threshold.
//! The head-insert era returns the exact size. The older eras return `N` per full descriptor
//! walked past plus the entries of the descriptor stored into, which is short by the entries
//! behind a *hole* (a non-full descriptor that is not the last one). So the eras could only
//! disagree if an add found a hole while the list held more than the threshold `t`. It cannot:
//!
//! - In those eras an add stores into the first non-full descriptor, so while a hole exists
//!   every add fills one; a remove makes at most one hole and takes one entry away.
//! - Take the last moment the list had no hole, with `T0` entries. Without a hole every count is
//!   exact, so the list could not grow past `t + 1` there (the add at `t + 1` entries recycles
//!   in every configuration): `T0 ≤ t + 1`.
//! - Since then, with `r` removes and `a` adds, at least one hole stayed open, so the removes
//!   made more holes than the adds filled: `r ≥ a + 1`, and the list holds
//!   `T0 - r + a ≤ t` entries. An exact count would not recycle either.
//!
//! So every configuration of a group recycles at the same adds, whatever its era or size, and
//! one membership serves them all. The replay still checks it on every add and reports
//! [`ReplayError::RecycleDisagreement`] rather than go on with wrong numbers.

use super::config_state::ConfigState;
use super::membership::{Claimed, Membership, NotHeld};
use super::{Anomaly, ReplayError};
use crate::rmap::RmapIndex;
use crate::trace::{EventCtx, RmapId, RmapKind, SpteId, VcpuId};

/// Why the membership refused an add or a remove.
#[derive(Debug, Clone, Copy)]
enum EventAnomaly {
    /// The SPTE is already in a list.
    Add(Claimed),
    /// The SPTE is not in this rmap's list.
    Remove(NotHeld),
}

const MAX_ANOMALY_EXAMPLES: usize = 8;

/// The configurations sharing one recycle threshold.
#[derive(Debug, Clone)]
pub(super) struct RecycleGroup {
    pub(super) recycle_threshold: Option<u64>,
    pub(super) members: Membership,
    /// `(position in the configurations given, state)`.
    pub(super) configs: Vec<(usize, ConfigState)>,
}

impl RecycleGroup {
    pub(super) fn new(recycle_threshold: Option<u64>, members: Membership) -> Self {
        RecycleGroup {
            recycle_threshold,
            members,
            configs: Vec::new(),
        }
    }

    fn anomaly(&mut self, index: u64, anomaly: Anomaly, strict: bool) -> Result<(), ReplayError> {
        if strict {
            return Err(ReplayError::Anomaly { index, anomaly });
        }
        let examples = &mut self.members.anomalies.examples;
        if examples.len() < MAX_ANOMALY_EXAMPLES {
            examples.push(format!("event {index}: {anomaly}"));
        }
        Ok(())
    }

    /// An event that changes no list in this group: top up `topup`'s cache if given (a fault).
    /// The configurations close it with the next event that changes a list, or at the end.
    pub(super) fn idle(&mut self, index: u64, topup: Option<VcpuId>) -> Result<(), ReplayError> {
        if let Some(vcpu) = topup {
            for (_, c) in &mut self.configs {
                c.topup(vcpu)
                    .map_err(|source| ReplayError::Model { index, source })?;
            }
        }
        Ok(())
    }

    /// `__rmap_add` (or `pte_list_add` for a parent-PTE list) of `spte` in every configuration,
    /// after a top-up of `vcpu`'s cache when `topup` (an add with no fault event before it).
    /// It closes the event in every configuration, as remove and zap do (see
    /// `ConfigState::after_event`).
    #[inline]
    #[allow(clippy::too_many_arguments)] // the event's fields, passed apart to stay in registers
    pub(super) fn add(
        &mut self,
        index: u64,
        ctx: &EventCtx,
        vcpu: VcpuId,
        rmap: RmapId,
        spte: SpteId,
        strict: bool,
        topup: bool,
    ) -> Result<(), ReplayError> {
        let d = match self.members.claim(spte, rmap, ctx) {
            Ok(d) => d,
            Err(why) => {
                self.idle(index, topup.then_some(vcpu))?;
                return self.event_anomaly(index, EventAnomaly::Add(why), rmap, spte, strict);
            }
        };
        let info = self.members.info(d);
        let (gfn_rmap, true_count) = (info.kind == RmapKind::Gfn, info.count);
        // Only gfn rmaps go through __rmap_add (the stat and the recycle rule); parent-PTE
        // lists use pte_list_add directly (mmu_page_add_parent_pte). A configuration's count
        // never exceeds the true size, so only a true size above the threshold can recycle.
        let may_recycle = gfn_rmap && self.recycle_threshold.is_some_and(|t| true_count > t);
        let victims = match (may_recycle, self.configs.first()) {
            (true, Some((_, c))) => c.set.entries(RmapIndex(d)),
            _ => Vec::new(),
        };
        let mut recycled = None;
        for (_, c) in &mut self.configs {
            if topup {
                c.topup(vcpu)
                    .map_err(|source| ReplayError::Model { index, source })?;
            }
            let r = c
                .add(vcpu, d, spte, gfn_rmap)
                .map_err(|source| ReplayError::Model { index, source })?;
            c.after_event(index, rmap);
            if *recycled.get_or_insert(r) != r {
                return Err(ReplayError::RecycleDisagreement { index });
            }
        }
        self.members.entries_changed(d, 1);
        if recycled == Some(true) {
            // The recycle zap emptied the rmap: forget its members, the new SPTE included.
            for &s in &victims {
                self.members.forget(SpteId(s));
            }
            self.members.forget(spte);
            self.members.entries_changed(d, -(victims.len() as i64 + 1));
        }
        Ok(())
    }

    /// An add or remove the lists cannot apply: counted, and reported (or fatal under
    /// `strict`).
    #[cold]
    fn event_anomaly(
        &mut self,
        index: u64,
        why: EventAnomaly,
        rmap: RmapId,
        spte: SpteId,
        strict: bool,
    ) -> Result<(), ReplayError> {
        let counts = &mut self.members.anomalies;
        let (count, anomaly) = match why {
            EventAnomaly::Add(Claimed::InThisRmap) => (
                &mut counts.add_duplicate,
                Anomaly::AddDuplicate { rmap, spte },
            ),
            EventAnomaly::Add(Claimed::InOtherRmap) => (
                &mut counts.add_in_other_rmap,
                Anomaly::AddInOtherRmap { rmap, spte },
            ),
            EventAnomaly::Remove(NotHeld::WrongRmap) => (
                &mut counts.remove_wrong_rmap,
                Anomaly::RemoveWrongRmap { rmap, spte },
            ),
            EventAnomaly::Remove(NotHeld::Unknown) => (
                &mut counts.remove_unknown,
                Anomaly::RemoveUnknown { rmap, spte },
            ),
        };
        *count += 1;
        self.anomaly(index, anomaly, strict)
    }

    #[inline]
    pub(super) fn remove(
        &mut self,
        index: u64,
        rmap: RmapId,
        spte: SpteId,
        strict: bool,
    ) -> Result<(), ReplayError> {
        let d = match self.members.release(spte, rmap) {
            Ok(d) => d,
            Err(why) => {
                return self.event_anomaly(index, EventAnomaly::Remove(why), rmap, spte, strict)
            }
        };
        for (_, c) in &mut self.configs {
            c.remove(d, spte)
                .map_err(|source| ReplayError::Model { index, source })?;
            c.after_event(index, rmap);
        }
        self.members.entries_changed(d, -1);
        Ok(())
    }

    pub(super) fn zap(&mut self, index: u64, rmap: RmapId) {
        let d = self.members.rmap(rmap);
        let victims = match (d, self.configs.first()) {
            (Some(d), Some((_, c))) => c.set.entries(RmapIndex(d)),
            _ => Vec::new(),
        };
        for (_, c) in &mut self.configs {
            c.zap(d);
            c.after_event(index, rmap);
        }
        if let Some(d) = d {
            for &s in &victims {
                self.members.forget(SpteId(s));
            }
            self.members.entries_changed(d, -(victims.len() as i64));
        }
    }

    pub(super) fn walk(&mut self, rmap: RmapId) {
        let d = self.members.rmap(rmap);
        for (_, c) in &mut self.configs {
            c.walk(d);
        }
    }

    pub(super) fn stat(&mut self, index: u64, name: &str, value: u64) {
        let pages = self.members.pages;
        for (_, c) in &mut self.configs {
            let model = match name {
                "max_mmu_rmap_size" => c.max_rmap_size,
                "pages_4k" => pages[0],
                "pages_2m" => pages[1],
                "pages_1g" => pages[2],
                _ => return,
            };
            c.check_stat(index, name, value, model);
        }
    }
}
