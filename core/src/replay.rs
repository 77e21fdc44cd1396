//! Replay one trace through many configurations in a single streaming pass.
//!
//! Configurations agree on which SPTEs are in which rmap unless they disagree on a recycle
//! decision: array size, era and caches change only the lists' shape. (The head-insert era's
//! `pte_list_add` returns the exact count; the older eras return `N × full descriptors walked +
//! entries of the target descriptor`, which misses holes left by removals, so in principle they
//! could recycle at a different moment.) Configurations with the same recycle threshold
//! therefore share one *group*: one membership index — a map from SPTE id to a dense rmap
//! index, reused when an rmap empties — so memory is bounded by the live rmap state, never by
//! the trace length. Should the configurations of a group ever disagree on a recycle, the group
//! is split at that event and each part goes on with its own membership.

use crate::config::{ModelConfig, RMAP_RECYCLE_THRESHOLD};
use crate::histogram::{HistogramBuilder, RmapHistogram};
use crate::metrics::{Distribution, Series};
use crate::rmap::{RmapError, RmapSet, RmapSnapshot};
use crate::trace::{Event, EventKind, Memslot, RmapKind, TraceMeta};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Marks kept in the summary (later ones are counted, not kept).
pub const MAX_MARKS: usize = 10_000;
/// Stat checks kept per group (later matches are counted, mismatches still kept up to twice this).
pub const MAX_STAT_CHECKS: usize = 10_000;

/// Errors from replay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// No configuration was given.
    #[error("no configurations to replay")]
    NoConfigs,
    /// A configuration is invalid.
    #[error("configuration {label}: {source}")]
    Config {
        /// Its label.
        label: String,
        /// Why.
        source: crate::ConfigError,
    },
    /// `--strict`: an event that cannot happen in the kernel.
    #[error("event {index}: {what} (strict mode stops at the first anomaly)")]
    Anomaly {
        /// 0-based event index.
        index: u64,
        /// What was wrong.
        what: String,
    },
    /// The model's own invariant broke (a bug in rmaplab).
    #[error("event {index}: internal model error: {source}")]
    Model {
        /// 0-based event index.
        index: u64,
        /// The error.
        source: RmapError,
    },
}

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

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// Events that cannot happen in the kernel, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomalies {
    /// `remove` of an SPTE that is in no rmap.
    pub remove_unknown: u64,
    /// `remove` naming a different rmap than the one holding the SPTE.
    pub remove_wrong_rmap: u64,
    /// `add` of an SPTE already in this rmap.
    pub add_duplicate: u64,
    /// `add` of an SPTE that is still in another rmap (a sptep maps one gfn at a time).
    pub add_in_other_rmap: u64,
    /// First few anomalies, described.
    pub examples: Vec<String>,
}

impl Anomalies {
    /// Total anomalies.
    pub fn total(&self) -> u64 {
        self.remove_unknown + self.remove_wrong_rmap + self.add_duplicate + self.add_in_other_rmap
    }
}

/// KVM's counter compared with the model's at one point of the trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatCheck {
    /// 0-based index of the `stat` event.
    pub event: u64,
    /// The stat.
    pub name: String,
    /// What KVM said.
    pub kvm: u64,
    /// What the replay computes.
    pub model: u64,
    /// `kvm == model`.
    pub matches: bool,
}

/// How the replay treated vCPU cache top-ups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultMode {
    /// No `fault` event seen yet: every add is treated as following a fault on its vCPU.
    Implicit,
    /// The trace has `fault` events: caches are topped up only at them.
    Explicit,
}

#[derive(Debug, Clone)]
struct RmapInfo {
    id: u64,
    count: u64,
    gfn: Option<u64>,
    level: u8,
    kind: RmapKind,
    /// Whether the gfn lies in one of the trace's memslots (for the histogram's "0" column).
    in_slot: bool,
}

fn in_memslots(memslots: &[Memslot], gfn: Option<u64>, level: u8) -> bool {
    let Some(g) = gfn else { return false };
    let shift = crate::histogram::PT64_LEVEL_BITS * u32::from(level.saturating_sub(1));
    memslots.iter().any(|s| {
        let first = s.base_gfn >> shift;
        let last = s.base_gfn.saturating_add(s.pages.saturating_sub(1)) >> shift;
        s.pages > 0 && (first..=last).contains(&(g >> shift))
    })
}

/// Per-operation cost distributions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpCosts {
    /// Descriptors visited per operation.
    pub descs: Distribution,
    /// Distinct 64-byte cache lines touched per operation.
    pub lines: Distribution,
}

impl OpCosts {
    fn record(&mut self, set: &mut RmapSet) {
        self.descs.record(u64::from(set.cost.descs));
        self.lines.record(u64::from(set.cost.distinct_lines()));
    }
}

#[derive(Debug, Clone)]
struct ConfigState {
    set: RmapSet,
    add: OpCosts,
    remove: OpCosts,
    zap: OpCosts,
    walk: OpCosts,
    peak_descs: u64,
    peak_entries: u64,
    many_at_peak: u64,
    unused_at_peak: u64,
    desc_event_sum: u128,
    idle_peak_objs: usize,
    series: Series,
    /// KVM's `max_mmu_rmap_size` under this configuration's `pte_list_add` counts.
    max_rmap_size: u64,
    recycles: u64,
    checks: Vec<StatCheck>,
    checks_dropped: u64,
}

impl ConfigState {
    fn new(cfg: ModelConfig) -> Self {
        ConfigState {
            set: RmapSet::new(cfg),
            add: OpCosts::default(),
            remove: OpCosts::default(),
            zap: OpCosts::default(),
            walk: OpCosts::default(),
            peak_descs: 0,
            peak_entries: 0,
            many_at_peak: 0,
            unused_at_peak: 0,
            desc_event_sum: 0,
            idle_peak_objs: 0,
            series: Series::default(),
            max_rmap_size: 0,
            recycles: 0,
            checks: Vec::new(),
            checks_dropped: 0,
        }
    }

    fn unused_slots(&self) -> u64 {
        let c = &self.set.counters;
        (c.live_descs * self.set.config().entries as u64).saturating_sub(c.entries_in_descs())
    }

    fn after_event(&mut self, index: u64) {
        let live = self.set.counters.live_descs;
        if live > self.peak_descs {
            self.peak_descs = live;
            self.peak_entries = self.set.counters.entries_in_descs();
            self.many_at_peak = self.set.counters.many_rmaps;
            self.unused_at_peak = self.unused_slots();
        }
        self.desc_event_sum += u128::from(live);
        self.series
            .record(index, live * self.set.config().desc_bytes() as u64);
    }

    fn note_idle(&mut self) {
        self.idle_peak_objs = self.idle_peak_objs.max(self.set.cached_objects());
    }
}

#[derive(Debug, Clone)]
struct Group {
    recycle_threshold: Option<u64>,
    ids: IdMap<u32>,
    infos: Vec<Option<RmapInfo>>,
    free: Vec<u32>,
    sptes: IdMap<u32>,
    /// Present SPTEs in gfn rmaps per level (KVM's `pages_4k`, `pages_2m`, `pages_1g`).
    pages: [u64; 3],
    anomalies: Anomalies,
    configs: Vec<(usize, ConfigState)>,
    memslots: Vec<Memslot>,
    /// Histogram of the live gfn rmaps, kept up to date at every size change.
    hist: HistogramBuilder,
    /// Entries in all rmaps now, and at their peak, with the histogram at that peak.
    live_entries: u64,
    peak_entries: u64,
    peak_hist: HistogramBuilder,
    /// `hist` is the peak's histogram but has not been copied to `peak_hist` yet (copied
    /// lazily, before the first decrease, so growth phases do not copy on every add).
    peak_dirty: bool,
}

const MAX_ANOMALY_EXAMPLES: usize = 8;

impl Group {
    fn new(recycle_threshold: Option<u64>, memslots: &[Memslot]) -> Self {
        Group {
            memslots: memslots.to_vec(),
            hist: HistogramBuilder::new(),
            live_entries: 0,
            peak_entries: 0,
            peak_hist: HistogramBuilder::new(),
            peak_dirty: false,
            recycle_threshold,
            ids: IdMap::default(),
            infos: Vec::new(),
            free: Vec::new(),
            sptes: IdMap::default(),
            pages: [0; 3],
            anomalies: Anomalies::default(),
            configs: Vec::new(),
        }
    }

    fn anomaly(&mut self, index: u64, what: String, strict: bool) -> Result<(), ReplayError> {
        if strict {
            return Err(ReplayError::Anomaly { index, what });
        }
        if self.anomalies.examples.len() < MAX_ANOMALY_EXAMPLES {
            self.anomalies
                .examples
                .push(format!("event {index}: {what}"));
        }
        Ok(())
    }

    fn dense_for_add(&mut self, ev: &Event, rmap: u64) -> u32 {
        if let Some(&d) = self.ids.get(&rmap) {
            return d;
        }
        let level = ev.ctx.level.unwrap_or(1);
        let info = RmapInfo {
            id: rmap,
            count: 0,
            gfn: ev.ctx.gfn,
            level,
            kind: ev.ctx.kind.unwrap_or(RmapKind::Gfn),
            in_slot: in_memslots(&self.memslots, ev.ctx.gfn, level),
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
        self.ids.insert(rmap, d);
        d
    }

    fn info(&mut self, d: u32) -> &mut RmapInfo {
        // Dense indices handed out by `dense_for_add` always have an info until released.
        match self.infos[d as usize].as_mut() {
            Some(i) => i,
            None => unreachable_info(),
        }
    }

    fn page_level(info: &RmapInfo) -> Option<usize> {
        (info.kind == RmapKind::Gfn && (1..=3).contains(&info.level))
            .then(|| usize::from(info.level - 1))
    }

    fn entries_changed(&mut self, d: u32, delta: i64) {
        if delta < 0 && self.peak_dirty {
            self.peak_hist.clone_from(&self.hist);
            self.peak_dirty = false;
        }
        let info = self.info(d);
        let old = info.count;
        info.count = info.count.wrapping_add_signed(delta);
        let (count, level, id) = (info.count, Self::page_level(info), info.id);
        if level.is_some() {
            let (lvl, in_slot) = (info.level, info.in_slot);
            self.hist.remove(lvl, old, in_slot);
            self.hist.add(lvl, count, in_slot);
        }
        self.live_entries = self.live_entries.wrapping_add_signed(delta);
        if self.live_entries > self.peak_entries {
            self.peak_entries = self.live_entries;
            self.peak_dirty = true;
        }
        if let Some(l) = level {
            self.pages[l] = self.pages[l].wrapping_add_signed(delta);
        }
        if count == 0 {
            self.ids.remove(&id);
            self.infos[d as usize] = None;
            self.free.push(d);
        }
    }

    fn add(
        &mut self,
        index: u64,
        ev: &Event,
        vcpu: u32,
        rmap: u64,
        spte: u64,
        strict: bool,
    ) -> Result<Option<Group>, ReplayError> {
        if let Some(&held) = self.sptes.get(&spte) {
            let same = self.ids.get(&rmap) == Some(&held);
            if same {
                self.anomalies.add_duplicate += 1;
                return self
                    .anomaly(
                        index,
                        format!("add of spte {spte:#x} already in rmap {rmap:#x}"),
                        strict,
                    )
                    .map(|()| None);
            }
            self.anomalies.add_in_other_rmap += 1;
            return self
                .anomaly(
                    index,
                    format!(
                        "add of spte {spte:#x} to rmap {rmap:#x} while it is still in another rmap"
                    ),
                    strict,
                )
                .map(|()| None);
        }
        let d = self.dense_for_add(ev, rmap);
        let info = self.info(d);
        let (is_gfn, true_count) = (info.kind == RmapKind::Gfn, info.count);
        // Only gfn rmaps go through __rmap_add (the stat and the recycle rule); parent-PTE
        // lists use pte_list_add directly (mmu_page_add_parent_pte). A configuration's count
        // never exceeds the true size, so only a true size above the threshold can recycle.
        let may_recycle = is_gfn && self.recycle_threshold.is_some_and(|t| true_count > t);
        let mut victims = if may_recycle {
            self.configs
                .first()
                .map(|(_, c)| c.set.entries(d as usize))
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        victims.push(spte);
        let mut decisions = Vec::with_capacity(self.configs.len());
        for (_, c) in &mut self.configs {
            let (count, recycled) = if is_gfn {
                let out = c
                    .set
                    .rmap_add(vcpu, d as usize, spte)
                    .map_err(|source| ReplayError::Model { index, source })?;
                (out.count as u64, out.recycled)
            } else {
                let n = c
                    .set
                    .pte_list_add(vcpu, d as usize, spte)
                    .map_err(|source| ReplayError::Model { index, source })?;
                (n as u64, false)
            };
            if is_gfn {
                c.max_rmap_size = c.max_rmap_size.max(count);
            }
            if recycled {
                c.recycles += 1;
            }
            c.add.record(&mut c.set);
            decisions.push(recycled);
        }
        self.sptes.insert(spte, d);
        self.entries_changed(d, 1);
        let recycling = decisions.iter().filter(|r| **r).count();
        if recycling == 0 {
            return Ok(None);
        }
        let split = if recycling < decisions.len() {
            // The configurations disagree: those that recycled go on with their own copy of
            // the membership (before the recycle), the others keep this one.
            let mut other = self.clone_membership();
            let configs = std::mem::take(&mut self.configs);
            for ((i, c), r) in configs.into_iter().zip(decisions) {
                if r {
                    other.configs.push((i, c));
                } else {
                    self.configs.push((i, c));
                }
            }
            other.drop_members(d, &victims);
            Some(other)
        } else {
            self.drop_members(d, &victims);
            None
        };
        Ok(split)
    }

    /// The recycle zap emptied rmap `d`: forget its members.
    fn drop_members(&mut self, d: u32, victims: &[u64]) {
        for s in victims {
            self.sptes.remove(s);
        }
        self.entries_changed(d, -(victims.len() as i64));
    }

    /// A copy of the membership state without configurations.
    fn clone_membership(&self) -> Group {
        Group {
            recycle_threshold: self.recycle_threshold,
            ids: self.ids.clone(),
            infos: self.infos.clone(),
            free: self.free.clone(),
            sptes: self.sptes.clone(),
            pages: self.pages,
            anomalies: self.anomalies.clone(),
            configs: Vec::new(),
            memslots: self.memslots.clone(),
            hist: self.hist.clone(),
            live_entries: self.live_entries,
            peak_entries: self.peak_entries,
            peak_hist: self.peak_hist.clone(),
            peak_dirty: self.peak_dirty,
        }
    }

    fn remove(
        &mut self,
        index: u64,
        rmap: u64,
        spte: u64,
        strict: bool,
    ) -> Result<(), ReplayError> {
        let d = match (self.sptes.get(&spte), self.ids.get(&rmap)) {
            (Some(&held), Some(&d)) if held == d => d,
            (Some(_), _) => {
                self.anomalies.remove_wrong_rmap += 1;
                return self.anomaly(
                    index,
                    format!(
                        "remove of spte {spte:#x} from rmap {rmap:#x}, but it is in another rmap"
                    ),
                    strict,
                );
            }
            (None, _) => {
                self.anomalies.remove_unknown += 1;
                return self.anomaly(
                    index,
                    format!("remove of spte {spte:#x} that is in no rmap (rmap {rmap:#x})"),
                    strict,
                );
            }
        };
        for (_, c) in &mut self.configs {
            c.set
                .pte_list_remove(d as usize, spte)
                .map_err(|source| ReplayError::Model { index, source })?;
            c.remove.record(&mut c.set);
        }
        self.sptes.remove(&spte);
        self.entries_changed(d, -1);
        Ok(())
    }

    fn zap(&mut self, rmap: u64) {
        let Some(&d) = self.ids.get(&rmap) else {
            for (_, c) in &mut self.configs {
                c.zap.descs.record(0);
                c.zap.lines.record(0);
            }
            return;
        };
        let victims = self
            .configs
            .first()
            .map(|(_, c)| c.set.entries(d as usize))
            .unwrap_or_default();
        for (_, c) in &mut self.configs {
            c.set.kvm_zap_all_rmap_sptes(d as usize);
            c.zap.record(&mut c.set);
        }
        for s in &victims {
            self.sptes.remove(s);
        }
        self.entries_changed(d, -(victims.len() as i64));
    }

    fn walk(&mut self, rmap: u64) {
        let d = self.ids.get(&rmap).copied();
        for (_, c) in &mut self.configs {
            match d {
                Some(d) => {
                    c.set.walk(d as usize);
                    c.walk.record(&mut c.set);
                }
                None => {
                    c.walk.descs.record(0);
                    c.walk.lines.record(0);
                }
            }
        }
    }

    fn stat(&mut self, index: u64, name: &str, value: u64) {
        let pages = self.pages;
        for (_, c) in &mut self.configs {
            let model = match name {
                "max_mmu_rmap_size" => c.max_rmap_size,
                "pages_4k" => pages[0],
                "pages_2m" => pages[1],
                "pages_1g" => pages[2],
                _ => return,
            };
            let matches = model == value;
            if c.checks.len() < MAX_STAT_CHECKS
                || (!matches && c.checks.len() < 2 * MAX_STAT_CHECKS)
            {
                c.checks.push(StatCheck {
                    event: index,
                    name: name.to_string(),
                    kvm: value,
                    model,
                    matches,
                });
            } else {
                c.checks_dropped += 1;
            }
        }
    }
}

#[cold]
fn unreachable_info() -> ! {
    // A dense index is only used while its rmap holds entries; reaching here is a bug.
    panic!("rmaplab internal error: rmap index used after release")
}

/// Everything the replay measured for one configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigReport {
    /// `entries/era`.
    pub label: String,
    /// Entries per descriptor.
    pub entries: usize,
    /// Kernel era.
    pub era: crate::Era,
    /// Per-vCPU cache capacity.
    pub cache_capacity: usize,
    /// Per-vCPU cache top-up minimum.
    pub cache_min: usize,
    /// Recycle threshold (`null` = off).
    pub recycle_threshold: Option<u64>,
    /// `sizeof(struct pte_list_desc)`.
    pub desc_bytes: usize,
    /// Objects per 4 KiB slab page.
    pub objs_per_slab_page: usize,
    /// Descriptors the list code took from vCPU caches.
    pub allocations: u64,
    /// Of those, taken with the cache empty (direct allocation; KVM WARNs).
    pub empty_cache_allocations: u64,
    /// Objects the caches (and empty-cache allocations) pulled from the slab.
    pub slab_allocations: u64,
    /// Descriptors freed to the slab.
    pub frees: u64,
    /// Descriptors in lists at the end.
    pub live_descs: u64,
    /// Bytes of descriptors in lists at the end.
    pub live_bytes: u64,
    /// Peak descriptors in lists.
    pub peak_descs: u64,
    /// Peak descriptor bytes in lists.
    pub peak_bytes: u64,
    /// Mean descriptor bytes in lists over all events.
    pub avg_desc_bytes: f64,
    /// Empty entry slots in live descriptors at the end.
    pub unused_slots: u64,
    /// Empty entry slots when descriptors peaked.
    pub unused_slots_at_peak: u64,
    /// Entries held in descriptors when descriptors peaked.
    pub entries_at_peak: u64,
    /// Peak objects allocated from the slab (in lists plus idle in caches).
    pub slab_objects_peak: u64,
    /// 4 KiB slab pages ever carved (LIFO reuse, pages never returned).
    pub slab_pages: u64,
    /// Bytes idle in vCPU caches at the end.
    pub cache_idle_bytes: u64,
    /// Peak bytes idle in vCPU caches.
    pub cache_idle_bytes_peak: u64,
    /// vCPUs whose caches the trace exercised.
    pub vcpus_seen: usize,
    /// What one full cache holds: capacity × object size.
    pub cache_bytes_per_vcpu: u64,
    /// KVM's `max_mmu_rmap_size` semantics: the peak of `pte_list_add`'s return value.
    pub max_rmap_size: u64,
    /// KVM stats this configuration was compared against.
    pub stat_checks: u64,
    /// Of those, how many it did not reproduce.
    pub stat_mismatches: u64,
    /// Rmaps zapped by the recycle rule.
    pub recycles: u64,
    /// Events that cannot happen in the kernel (skipped).
    pub anomalies: u64,
    /// Their breakdown.
    pub anomaly_detail: Anomalies,
    /// Cost of adds (a recycle zap counts into the add that triggered it).
    pub add_cost: OpCosts,
    /// Cost of removes.
    pub remove_cost: OpCosts,
    /// Cost of whole-list zaps.
    pub zap_cost: OpCosts,
    /// Cost of walk events.
    pub walk_cost: OpCosts,
    /// Cost of a full walk of every rmap live at the end (descriptors per walk).
    pub end_walk_cost: OpCosts,
    /// Descriptors per chain (multi-entry rmap) when descriptors peaked: what a full walk of a
    /// typical multi-entry rmap visits.
    pub descs_per_chain_at_peak: f64,
    /// Descriptor bytes in lists over the trace (window maxima).
    pub memory_series: Series,
}

/// Results of a replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplaySummary {
    /// The trace's metadata.
    pub meta: TraceMeta,
    /// Events replayed.
    pub events: u64,
    /// Adds, removes, zaps, walks, faults, stats, marks.
    pub counts: EventCounts,
    /// Adds that were treated as following an implicit fault (no `fault` events before them).
    pub implicit_faults: u64,
    /// How top-ups were driven at the end of the trace.
    pub fault_mode: FaultMode,
    /// Plain-language notes about assumptions the replay made.
    pub notes: Vec<String>,
    /// KVM's counters against the model, per recycle-threshold group (configs share them).
    pub stat_checks: Vec<StatCheck>,
    /// Stat checks not kept (beyond the limit).
    pub stat_checks_dropped: u64,
    /// The rmap length histogram at the end.
    pub histogram: RmapHistogram,
    /// The histogram when the rmaps held the most entries.
    pub histogram_at_peak: RmapHistogram,
    /// Entries in all rmaps at that peak.
    pub peak_entries: u64,
    /// `(event index, label)` of mark events.
    pub marks: Vec<(u64, String)>,
    /// One report per configuration, in the order given.
    pub configs: Vec<ConfigReport>,
}

impl ReplaySummary {
    /// True when every checked stat matched.
    pub fn stats_match(&self) -> bool {
        self.stat_checks.iter().all(|c| c.matches)
    }
}

/// Counts of events by type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCounts {
    /// `add`.
    pub add: u64,
    /// `remove`.
    pub remove: u64,
    /// `zap`.
    pub zap: u64,
    /// `walk`.
    pub walk: u64,
    /// `fault`.
    pub fault: u64,
    /// `stat`.
    pub stat: u64,
    /// `mark`.
    pub mark: u64,
}

/// Replay options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Stop at the first anomaly instead of counting it.
    pub strict: bool,
}

/// Streams events through every configuration.
#[derive(Debug, Clone)]
pub struct Replayer {
    meta: TraceMeta,
    opts: ReplayOptions,
    groups: Vec<Group>,
    n_configs: usize,
    events: u64,
    counts: EventCounts,
    fault_mode: FaultMode,
    current_vcpu: u32,
    implicit_faults: u64,
    /// Times a group split because its configurations disagreed on a recycle.
    splits: u64,
    marks: Vec<(u64, String)>,
}

impl Replayer {
    /// Prepare a replay of a trace with `meta` through `configs`.
    pub fn new(
        meta: TraceMeta,
        configs: &[ModelConfig],
        opts: ReplayOptions,
    ) -> Result<Self, ReplayError> {
        if configs.is_empty() {
            return Err(ReplayError::NoConfigs);
        }
        let mut groups: Vec<Group> = Vec::new();
        for (i, cfg) in configs.iter().enumerate() {
            cfg.validate().map_err(|source| ReplayError::Config {
                label: cfg.label(),
                source,
            })?;
            let g = match groups
                .iter()
                .position(|g| g.recycle_threshold == cfg.recycle_threshold)
            {
                Some(g) => g,
                None => {
                    groups.push(Group::new(cfg.recycle_threshold, &meta.memslots));
                    groups.len() - 1
                }
            };
            groups[g].configs.push((i, ConfigState::new(*cfg)));
        }
        let fault_mode = if meta.fault_events == Some(true) {
            FaultMode::Explicit
        } else {
            FaultMode::Implicit
        };
        Ok(Replayer {
            meta,
            opts,
            groups,
            n_configs: configs.len(),
            events: 0,
            counts: EventCounts::default(),
            fault_mode,
            current_vcpu: 0,
            implicit_faults: 0,
            splits: 0,
            marks: Vec::new(),
        })
    }

    /// Events replayed so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    fn topup_all(&mut self, vcpu: u32, index: u64) -> Result<(), ReplayError> {
        for g in &mut self.groups {
            for (_, c) in &mut g.configs {
                c.set
                    .topup(vcpu)
                    .map_err(|source| ReplayError::Model { index, source })?;
                c.note_idle();
            }
        }
        Ok(())
    }

    /// Replay one event.
    pub fn feed(&mut self, ev: &Event) -> Result<(), ReplayError> {
        let index = self.events;
        let strict = self.opts.strict;
        match &ev.kind {
            EventKind::Add { rmap, spte } => {
                self.counts.add += 1;
                let vcpu = ev.ctx.vcpu.unwrap_or(self.current_vcpu);
                if self.fault_mode == FaultMode::Implicit {
                    self.implicit_faults += 1;
                    self.topup_all(vcpu, index)?;
                }
                let mut splits = Vec::new();
                for g in &mut self.groups {
                    if let Some(part) = g.add(index, ev, vcpu, *rmap, *spte, strict)? {
                        splits.push(part);
                    }
                }
                self.splits += splits.len() as u64;
                self.groups.extend(splits);
            }
            EventKind::Remove { rmap, spte } => {
                self.counts.remove += 1;
                for g in &mut self.groups {
                    g.remove(index, *rmap, *spte, strict)?;
                }
            }
            EventKind::Zap { rmap } => {
                self.counts.zap += 1;
                for g in &mut self.groups {
                    g.zap(*rmap);
                }
            }
            EventKind::Walk { rmap } => {
                self.counts.walk += 1;
                for g in &mut self.groups {
                    g.walk(*rmap);
                }
            }
            EventKind::Fault { vcpu } => {
                self.counts.fault += 1;
                self.fault_mode = FaultMode::Explicit;
                self.current_vcpu = *vcpu;
                self.topup_all(*vcpu, index)?;
            }
            EventKind::Stat { name, value } => {
                self.counts.stat += 1;
                for g in &mut self.groups {
                    g.stat(index, name, *value);
                }
            }
            EventKind::Mark { label } => {
                self.counts.mark += 1;
                if self.marks.len() < MAX_MARKS {
                    self.marks.push((index, label.clone()));
                }
            }
        }
        for g in &mut self.groups {
            for (_, c) in &mut g.configs {
                c.after_event(index);
            }
        }
        self.events += 1;
        Ok(())
    }

    /// Replay many events.
    pub fn feed_all<'a>(
        &mut self,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Result<(), ReplayError> {
        for e in events {
            self.feed(e)?;
        }
        Ok(())
    }

    /// The configurations, in the order given.
    pub fn configs(&self) -> Vec<ModelConfig> {
        let mut v: Vec<(usize, ModelConfig)> = self
            .groups
            .iter()
            .flat_map(|g| g.configs.iter().map(|(i, c)| (*i, *c.set.config())))
            .collect();
        v.sort_by_key(|(i, _)| *i);
        v.into_iter().map(|(_, c)| c).collect()
    }

    /// For configuration `index` (in the order given): every non-empty rmap at this point with
    /// its head word and descriptor chain in kernel iteration order, sorted by rmap id.
    pub fn dump_lists(&self, index: usize) -> Vec<RmapDump> {
        let mut out = Vec::new();
        for g in &self.groups {
            for (i, c) in &g.configs {
                if *i != index {
                    continue;
                }
                for (d, info) in g.infos.iter().enumerate() {
                    if let Some(info) = info {
                        out.push(RmapDump {
                            rmap: info.id,
                            gfn: info.gfn,
                            level: info.level,
                            kind: info.kind,
                            count: info.count,
                            list: c.set.snapshot(d),
                        });
                    }
                }
            }
        }
        out.sort_by_key(|d| d.rmap);
        out
    }

    /// Check every live rmap of every configuration against the kernel's invariants, and the
    /// incremental histogram against one recomputed from scratch.
    pub fn check_invariants(&self) -> Result<(), String> {
        for g in &self.groups {
            let mut fresh = HistogramBuilder::new();
            for i in g.infos.iter().flatten() {
                if Group::page_level(i).is_some() {
                    fresh.add(i.level, i.count, i.in_slot);
                }
            }
            if fresh.snapshot(&g.memslots) != g.hist.snapshot(&g.memslots) {
                return Err("incremental histogram drifted from the rmaps".into());
            }
            for (_, c) in &g.configs {
                for (d, info) in g.infos.iter().enumerate() {
                    c.set.check_invariants(d).map_err(|e| {
                        format!(
                            "{}: rmap {:#x}: {e}",
                            c.set.config().label(),
                            info.as_ref().map_or(0, |i| i.id)
                        )
                    })?;
                    let n = c.set.pte_list_count(d) as u64;
                    let want = info.as_ref().map_or(0, |i| i.count);
                    if n != want {
                        return Err(format!(
                            "{}: rmap index {d}: list holds {n}, index says {want}",
                            c.set.config().label()
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The configuration whose stats are compared with KVM's in the summary, as (group,
    /// position): the trace's own kernel configuration, else 14/head-insert, else any
    /// head-insert, else the first.
    fn reference(&self) -> (usize, usize) {
        let kvm = self.meta.kvm.as_ref();
        let want_era = kvm.and_then(|k| k.era).unwrap_or(crate::Era::HeadInsert);
        let want_n = kvm
            .and_then(|k| k.pte_list_ext)
            .unwrap_or(crate::config::PTE_LIST_EXT);
        let find = |f: &dyn Fn(&ModelConfig) -> bool| {
            self.groups.iter().enumerate().find_map(|(gi, g)| {
                g.configs
                    .iter()
                    .position(|(_, c)| f(c.set.config()))
                    .map(|ci| (gi, ci))
            })
        };
        find(&|c| c.era == want_era && c.entries == want_n)
            .or_else(|| find(&|c| c.era == crate::Era::HeadInsert))
            .unwrap_or((0, 0))
    }

    /// Finish and report.
    pub fn finish(mut self) -> ReplaySummary {
        let mut notes = Vec::new();
        if self.implicit_faults > 0 {
            notes.push(format!(
                "{} adds had no fault event before them: each was treated as following a fault on its vCPU (vCPU 0 when the event names none), which tops up that vCPU's cache",
                self.implicit_faults
            ));
        }
        if self.meta.memslots.is_empty() {
            notes.push("the trace names no memslots, so the histogram's \"0\" column (empty rmaps) is unknown and shown as 0".into());
        }
        let (reference, ref_cfg) = self.reference();
        if let Some(g) = self.groups.get(reference) {
            let a = &g.anomalies;
            if a.total() > 0 {
                notes.push(format!(
                    "{} events could not happen in the kernel and were skipped ({} removes of an SPTE in no rmap, {} removes naming the wrong rmap, {} duplicate adds, {} adds of an SPTE still in another rmap); first: {}",
                    a.total(),
                    a.remove_unknown,
                    a.remove_wrong_rmap,
                    a.add_duplicate,
                    a.add_in_other_rmap,
                    a.examples.first().map_or("", String::as_str)
                ));
            }
        }
        let outcomes: std::collections::BTreeSet<(u64, u64)> = self
            .groups
            .iter()
            .flat_map(|g| g.configs.iter().map(|(_, c)| (c.max_rmap_size, c.recycles)))
            .collect();
        if outcomes.len() > 1 || self.splits > 0 {
            if let Some((_, c)) = self
                .groups
                .get(reference)
                .and_then(|g| g.configs.get(ref_cfg))
            {
                notes.push(format!(
                    "configurations disagree on max_rmap_size or recycles (different recycle thresholds, or older eras' counts skipping holes{}); the stat checks and histogram shown are those of {}",
                    if self.splits > 0 { format!("; they diverged {} times", self.splits) } else { String::new() },
                    c.set.config().label()
                ));
            }
        }
        let (histogram, histogram_at_peak, peak_entries) = self
            .groups
            .get(reference)
            .map(|g| {
                (
                    g.hist.snapshot(&g.memslots),
                    if g.peak_dirty { &g.hist } else { &g.peak_hist }.snapshot(&g.memslots),
                    g.peak_entries,
                )
            })
            .unwrap_or_default();
        let (stat_checks, stat_checks_dropped) = self
            .groups
            .get(reference)
            .and_then(|g| g.configs.get(ref_cfg))
            .map(|(_, c)| (c.checks.clone(), c.checks_dropped))
            .unwrap_or_default();
        let mut reports: Vec<(usize, ConfigReport)> = Vec::with_capacity(self.n_configs);
        for g in &mut self.groups {
            let live: Vec<usize> = g
                .infos
                .iter()
                .enumerate()
                .filter_map(|(d, i)| i.as_ref().map(|_| d))
                .collect();
            for (i, c) in &mut g.configs {
                let mut end_walk = OpCosts::default();
                for &d in &live {
                    c.set.walk(d);
                    end_walk.record(&mut c.set);
                }
                c.series.finish();
                let cfg = *c.set.config();
                let db = cfg.desc_bytes() as u64;
                let counters = &c.set.counters;
                let vcpus_seen = c.set.vcpu_caches().len();
                reports.push((
                    *i,
                    ConfigReport {
                        label: cfg.label(),
                        entries: cfg.entries,
                        era: cfg.era,
                        cache_capacity: cfg.cache_capacity,
                        cache_min: cfg.cache_min,
                        recycle_threshold: cfg.recycle_threshold,
                        desc_bytes: cfg.desc_bytes(),
                        objs_per_slab_page: cfg.objs_per_slab_page(),
                        allocations: counters.allocations,
                        empty_cache_allocations: counters.empty_cache_allocations,
                        slab_allocations: c.set.arena.slab_allocs,
                        frees: counters.frees,
                        live_descs: counters.live_descs,
                        live_bytes: counters.live_descs * db,
                        peak_descs: c.peak_descs,
                        peak_bytes: c.peak_descs * db,
                        avg_desc_bytes: if self.events == 0 {
                            0.0
                        } else {
                            (c.desc_event_sum as f64 / self.events as f64) * db as f64
                        },
                        unused_slots: c.unused_slots(),
                        unused_slots_at_peak: c.unused_at_peak,
                        entries_at_peak: c.peak_entries,
                        slab_objects_peak: c.set.arena.slab_peak as u64,
                        slab_pages: c.set.arena.slab_pages() as u64,
                        cache_idle_bytes: c.set.cached_objects() as u64 * db,
                        cache_idle_bytes_peak: c.idle_peak_objs as u64 * db,
                        vcpus_seen,
                        cache_bytes_per_vcpu: cfg.cache_capacity as u64 * db,
                        max_rmap_size: c.max_rmap_size,
                        stat_checks: c.checks.len() as u64,
                        stat_mismatches: c.checks.iter().filter(|c| !c.matches).count() as u64,
                        recycles: c.recycles,
                        anomalies: g.anomalies.total(),
                        anomaly_detail: g.anomalies.clone(),
                        add_cost: c.add.clone(),
                        remove_cost: c.remove.clone(),
                        zap_cost: c.zap.clone(),
                        walk_cost: c.walk.clone(),
                        end_walk_cost: end_walk,
                        descs_per_chain_at_peak: if c.many_at_peak == 0 {
                            0.0
                        } else {
                            c.peak_descs as f64 / c.many_at_peak as f64
                        },
                        memory_series: c.series.clone(),
                    },
                ));
            }
        }
        reports.sort_by_key(|(i, _)| *i);
        ReplaySummary {
            meta: self.meta,
            events: self.events,
            counts: self.counts,
            implicit_faults: self.implicit_faults,
            fault_mode: self.fault_mode,
            notes,
            stat_checks,
            stat_checks_dropped,
            histogram,
            histogram_at_peak,
            peak_entries,
            marks: self.marks,
            configs: reports.into_iter().map(|(_, r)| r).collect(),
        }
    }
}

/// One rmap in a `--dump-lists` listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RmapDump {
    /// The trace's rmap id.
    pub rmap: u64,
    /// Its gfn, when the trace said.
    pub gfn: Option<u64>,
    /// Its level.
    pub level: u8,
    /// Gfn rmap or parent list.
    pub kind: RmapKind,
    /// Entries.
    pub count: u64,
    /// Head word and chain.
    pub list: RmapSnapshot,
}

/// Build the cross product of sizes × eras with shared cache and recycle settings.
pub fn config_matrix(
    entries: &[usize],
    eras: &[crate::Era],
    cache_capacity: usize,
    cache_min: usize,
    recycle_threshold: Option<u64>,
) -> Vec<ModelConfig> {
    let mut v = Vec::new();
    for &era in eras {
        for &n in entries {
            v.push(ModelConfig {
                entries: n,
                era,
                cache_capacity,
                cache_min,
                recycle_threshold,
            });
        }
    }
    v
}

/// The default recycle threshold as an option.
pub fn default_recycle() -> Option<u64> {
    Some(RMAP_RECYCLE_THRESHOLD)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Era;

    #[test]
    fn a_group_splits_when_its_configurations_disagree_on_a_recycle() {
        // Force a disagreement: one group (threshold 3) whose second configuration's own
        // threshold is 100, so it does not recycle when the first does.
        let strict = ModelConfig {
            recycle_threshold: Some(3),
            ..ModelConfig::new(2, Era::HeadInsert).unwrap()
        };
        let lax = ModelConfig {
            recycle_threshold: Some(100),
            ..ModelConfig::new(2, Era::TailAppend).unwrap()
        };
        let mut r =
            Replayer::new(TraceMeta::default(), &[strict], ReplayOptions::default()).unwrap();
        r.groups[0].configs.push((1, ConfigState::new(lax)));
        r.n_configs = 2;
        for s in 0..6 {
            r.feed(&Event::add(9, s)).unwrap();
        }
        assert_eq!(r.groups.len(), 2, "the group split at the recycle");
        r.check_invariants().unwrap();
        // The strict part recycled at the 5th add (count 4 > 3) and holds only the 6th SPTE;
        // the lax part holds all six.
        r.feed(&Event::remove(9, 5)).unwrap();
        r.feed(&Event::remove(9, 0)).unwrap();
        r.check_invariants().unwrap();
        let s = r.finish();
        assert_eq!(s.configs[0].recycles, 1);
        assert_eq!(s.configs[1].recycles, 0);
        assert_eq!(
            s.configs[0].anomalies, 1,
            "SPTE 0 was gone from the strict part"
        );
        assert_eq!(s.configs[1].anomalies, 0);
        assert!(s.notes.iter().any(|n| n.contains("diverged 1 times")));
    }
}
