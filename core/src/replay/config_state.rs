//! One configuration's lists and the measurements taken on them during a replay.

use super::membership::Membership;
use super::report::{ConfigReport, OpTally, StatCheck, MAX_STAT_CHECKS};
use crate::config::ModelConfig;
use crate::metrics::Series;
use crate::rmap::{RmapError, RmapIndex, RmapSet};
use crate::trace::{RmapId, SpteId, VcpuId};

/// A configuration's lists and running measurements.
#[derive(Debug, Clone)]
pub(super) struct ConfigState {
    pub(super) set: RmapSet,
    desc_bytes: u64,
    add: OpTally,
    remove: OpTally,
    zap: OpTally,
    walk: OpTally,
    desc_event_sum: u128,
    /// The first event not closed yet (see [`ConfigState::after_event`]).
    next_event: u64,
    /// Descriptors in lists after the last event closed.
    live_descs: u64,
    idle_peak_objs: usize,
    series: Series,
    /// KVM's `max_mmu_rmap_size` under this configuration's `pte_list_add` counts.
    pub(super) max_rmap_size: u64,
    pub(super) recycles: u64,
    pub(super) checks: Vec<StatCheck>,
    pub(super) checks_dropped: u64,
    /// With several VMs in the trace: each VM's descriptors in lists now and at its peak.
    per_vm: Option<PerVm>,
}

/// Descriptors in lists per VM (the VM index an imported trace's rmap ids carry).
#[derive(Debug, Clone, Default)]
struct PerVm {
    live: Vec<u64>,
    peak: Vec<u64>,
}

impl ConfigState {
    /// Keep each of `vms` VMs' descriptors apart (a trace imported with several VMs).
    pub(super) fn per_vm(&mut self, vms: usize) {
        self.per_vm = Some(PerVm {
            live: vec![0; vms],
            peak: vec![0; vms],
        });
    }

    pub(super) fn new(cfg: ModelConfig) -> Self {
        ConfigState {
            desc_bytes: cfg.desc_bytes() as u64,
            set: RmapSet::new(cfg),
            add: OpTally::default(),
            remove: OpTally::default(),
            zap: OpTally::default(),
            walk: OpTally::default(),
            desc_event_sum: 0,
            next_event: 0,
            live_descs: 0,
            idle_peak_objs: 0,
            series: Series::default(),
            max_rmap_size: 0,
            recycles: 0,
            checks: Vec::new(),
            checks_dropped: 0,
            per_vm: None,
        }
    }

    /// `mmu_topup_memory_caches` on `vcpu`.
    #[inline]
    pub(super) fn topup(&mut self, vcpu: VcpuId) -> Result<(), RmapError> {
        // Idle objects only grow at a top-up, so their peak is taken here.
        if self.set.topup(vcpu.0)? > 0 {
            self.idle_peak_objs = self.idle_peak_objs.max(self.set.cached_objects());
        }
        Ok(())
    }

    /// Add `spte` to rmap `d`: `__rmap_add` for gfn rmaps (stat and recycle rule),
    /// `pte_list_add` alone for parent lists. Returns whether the rmap was recycled.
    #[inline]
    pub(super) fn add(
        &mut self,
        vcpu: VcpuId,
        d: u32,
        spte: SpteId,
        gfn_rmap: bool,
    ) -> Result<bool, RmapError> {
        // The model's lists hold the SPTE ids' numbers and index caches by vCPU number.
        let (vcpu, spte) = (vcpu.0, spte.0);
        if !self.set.rmaps_used() && self.set.use_rmaps(vcpu)? > 0 {
            self.idle_peak_objs = self.idle_peak_objs.max(self.set.cached_objects());
        }
        let recycled = if gfn_rmap {
            let out = self.set.rmap_add(vcpu, RmapIndex(d), spte)?;
            self.max_rmap_size = self.max_rmap_size.max(out.count as u64);
            self.recycles += u64::from(out.recycled);
            out.recycled
        } else {
            self.set.pte_list_add(vcpu, RmapIndex(d), spte)?;
            false
        };
        self.add.record(&mut self.set);
        Ok(recycled)
    }

    /// `pte_list_remove` of `spte` from rmap `d`.
    #[inline]
    pub(super) fn remove(&mut self, d: u32, spte: SpteId) -> Result<(), RmapError> {
        self.set.pte_list_remove(RmapIndex(d), spte.0)?;
        self.remove.record(&mut self.set);
        Ok(())
    }

    /// Zap rmap `d` (`None`: the rmap is empty, a zap that visits nothing).
    pub(super) fn zap(&mut self, d: Option<u32>) {
        self.zap
            .record_op(&mut self.set, d, RmapSet::kvm_zap_all_rmap_sptes);
    }

    /// Walk rmap `d` (`None`: the rmap is empty).
    pub(super) fn walk(&mut self, d: Option<u32>) {
        self.walk.record_op(&mut self.set, d, RmapSet::walk);
    }

    /// Compare KVM's stat `name` (one the model computes) with this configuration's value.
    pub(super) fn check_stat(&mut self, index: u64, name: &str, value: u64, model: u64) {
        let matches = model == value;
        if self.checks.len() < MAX_STAT_CHECKS
            || (!matches && self.checks.len() < 2 * MAX_STAT_CHECKS)
        {
            self.checks.push(StatCheck {
                event: index,
                name: name.to_string(),
                kvm: value,
                model,
                matches,
            });
        } else {
            self.checks_dropped += 1;
        }
    }

    /// Close event `index`, which may have changed the lists' memory. The events since the last
    /// one closed did not change it (faults, stats, marks, walks, and adds and removes that
    /// kept every descriptor), so they are closed here too, at the value the lists kept
    /// meanwhile — in one step, not one per event. An event that changed nothing is left open
    /// for the next change or the report to close with its run.
    #[inline]
    pub(super) fn after_event(&mut self, index: u64, rmap: RmapId) {
        let live = self.set.counters.live_descs;
        if live == self.live_descs {
            return;
        }
        if let Some(pv) = &mut self.per_vm {
            // The event changed one rmap (a recycle zaps the rmap being added to): its VM's.
            let vm = crate::import::infer::rmap_vm_gfn_level(rmap).0 as usize;
            if let (Some(n), Some(p)) = (pv.live.get_mut(vm), pv.peak.get_mut(vm)) {
                *n = (*n + live).saturating_sub(self.live_descs);
                *p = (*p).max(*n);
            }
        }
        if index > self.next_event {
            self.catch_up(index);
        }
        self.live_descs = live;
        self.desc_event_sum += u128::from(live);
        self.series.record(index, live * self.desc_bytes);
        self.next_event = index + 1;
    }

    /// Close events `next_event..upto`, none of which changed the lists.
    fn catch_up(&mut self, upto: u64) {
        let gap = upto - self.next_event;
        self.desc_event_sum += u128::from(self.live_descs) * u128::from(gap);
        self.series
            .fill(self.next_event, upto - 1, self.live_descs * self.desc_bytes);
        self.next_event = upto;
    }

    /// The report at the end of a replay of `events` events; `members` is the group's
    /// membership (the live rmaps are walked once more for the end-of-trace walk cost).
    pub(super) fn report(&mut self, events: u64, members: &Membership) -> ConfigReport {
        let mut end_walk = OpTally::default();
        for (d, _) in members.live() {
            self.set.walk(d);
            end_walk.record(&mut self.set);
        }
        if events > self.next_event {
            self.catch_up(events);
        }
        self.series.finish();
        let cfg = *self.set.config();
        let db = self.desc_bytes;
        let counters = &self.set.counters;
        let peak = self.set.peak;
        ConfigReport {
            label: cfg.label(),
            entries: cfg.entries,
            era: cfg.era,
            cache_capacity: cfg.cache_capacity,
            cache_min: cfg.cache_min,
            recycle_threshold: cfg.recycle_threshold,
            topup: cfg.topup,
            seed_rule: cfg.seed_rule,
            rmaps_used: self.set.rmaps_used(),
            desc_bytes: cfg.desc_bytes(),
            objs_per_slab_page: cfg.objs_per_slab_page(),
            allocations: counters.allocations,
            empty_cache_allocations: counters.empty_cache_allocations,
            slab_allocations: self.set.arena.slab_allocs,
            frees: counters.frees,
            live_descs: counters.live_descs,
            live_bytes: counters.live_descs * db,
            peak_descs: peak.descs,
            peak_bytes: peak.descs * db,
            avg_desc_bytes: if events == 0 {
                0.0
            } else {
                (self.desc_event_sum as f64 / events as f64) * db as f64
            },
            unused_slots: self.set.unused_slots(),
            unused_slots_at_peak: peak.unused_slots,
            entries_at_peak: peak.entries_in_descs,
            slab_objects_peak: self.set.arena.slab_peak as u64,
            slab_pages: self.set.arena.slab_pages() as u64,
            cache_idle_bytes: self.set.cached_objects() as u64 * db,
            cache_idle_bytes_peak: self.idle_peak_objs as u64 * db,
            vcpus_seen: self.set.vcpu_caches().len(),
            cache_bytes_per_vcpu: cfg.cache_capacity as u64 * db,
            max_rmap_size: self.max_rmap_size,
            stat_checks: self.checks.len() as u64,
            stat_mismatches: self.checks.iter().filter(|c| !c.matches).count() as u64,
            recycles: self.recycles,
            anomalies: members.anomalies.total(),
            anomaly_detail: members.anomalies.clone(),
            add_cost: self.add.costs(),
            remove_cost: self.remove.costs(),
            zap_cost: self.zap.costs(),
            walk_cost: self.walk.costs(),
            end_walk_cost: end_walk.costs(),
            descs_per_chain_at_peak: if peak.many_rmaps == 0 {
                0.0
            } else {
                peak.descs as f64 / peak.many_rmaps as f64
            },
            memory_series: self.series.clone(),
            exactness: crate::exactness::Exactness::default(),
            vm_peak_descs: self
                .per_vm
                .as_ref()
                .map(|p| p.peak.clone())
                .unwrap_or_default(),
            vm_vcpus: Vec::new(),
        }
    }
}
