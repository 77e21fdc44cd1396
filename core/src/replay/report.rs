//! What a replay reports: per configuration, per run, and how the parts of a replay split over
//! threads are put back together.

use super::FaultMode;
use crate::config::ModelConfig;
use crate::exactness::Exactness;
use crate::histogram::RmapHistogram;
use crate::metrics::{Distribution, Series, Tally};
use crate::rmap::{RmapIndex, RmapSet, RmapSnapshot};
use crate::trace::{RmapId, RmapKind, TraceMeta};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Marks kept in the summary (later ones are counted, not kept).
pub const MAX_MARKS: usize = 10_000;
/// Stat checks kept per configuration (later matches are counted, mismatches still kept up to
/// twice this).
pub const MAX_STAT_CHECKS: usize = 10_000;

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
    /// Anomalies of every kind together (the `anomalies` column).
    pub fn total(&self) -> u64 {
        self.remove_unknown + self.remove_wrong_rmap + self.add_duplicate + self.add_in_other_rmap
    }
}

/// KVM's counter compared with the model's at one point of the trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatCheck {
    /// 0-based index of the `stat` event.
    pub event: u64,
    /// The stat's name as in `KVM_GET_STATS_FD` (`max_mmu_rmap_size`, `pages_4k`, …).
    pub name: String,
    /// KVM's value at that event.
    pub kvm: u64,
    /// What the replay computes.
    pub model: u64,
    /// `kvm == model`.
    pub matches: bool,
}

/// Per-operation cost distributions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpCosts {
    /// Descriptors visited per operation.
    pub descs: Distribution,
    /// Distinct 64-byte cache lines touched per operation.
    pub lines: Distribution,
}

/// [`OpCosts`] while they are being recorded: one [`Tally`] per quantity.
#[derive(Debug, Clone, Default)]
pub(super) struct OpTally {
    descs: Tally,
    lines: Tally,
}

impl OpTally {
    /// Record the cost of the operation `set` just did.
    #[inline(always)] // after every add and remove of every configuration
    pub(super) fn record(&mut self, set: &mut RmapSet) {
        self.descs.record(u64::from(set.cost.descs));
        self.lines.record(u64::from(set.cost.distinct_lines()));
    }

    /// Run `op` on rmap `d` of `set` and record its cost; `None` (an empty rmap) records an
    /// operation that visited nothing.
    pub(super) fn record_op<T>(
        &mut self,
        set: &mut RmapSet,
        d: Option<u32>,
        op: impl FnOnce(&mut RmapSet, RmapIndex) -> T,
    ) {
        match d {
            Some(d) => {
                op(set, RmapIndex(d));
                self.record(set);
            }
            None => {
                self.descs.record(0);
                self.lines.record(0);
            }
        }
    }

    /// The distributions recorded so far.
    pub(super) fn costs(&self) -> OpCosts {
        OpCosts {
            descs: self.descs.distribution(),
            lines: self.lines.distribution(),
        }
    }
}

/// Everything the replay measured for one configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigReport {
    /// `entries/era`.
    pub label: String,
    /// Entries per descriptor (`PTE_LIST_EXT`; 14 in KVM today).
    pub entries: usize,
    /// The kernel era whose list code was replayed.
    pub era: crate::Era,
    /// Objects each vCPU's `kvm_mmu_memory_cache` holds when full (40 in KVM today).
    pub cache_capacity: usize,
    /// Per-vCPU cache top-up minimum.
    pub cache_min: usize,
    /// Recycle threshold (`null` = off).
    pub recycle_threshold: Option<u64>,
    /// When vCPU caches were topped up.
    #[serde(default)]
    pub topup: crate::config::TopupPolicy,
    /// The array size was chosen by the seed's rule (2 with TDP, 14 without).
    #[serde(default)]
    pub seed_rule: bool,
    /// The trace used rmaps at all (it has an add); under the `when-rmaps-used` top-up policy
    /// a VM that never does holds nothing in its vCPU caches.
    #[serde(default)]
    pub rmaps_used: bool,
    /// `sizeof(struct pte_list_desc)`.
    pub desc_bytes: usize,
    /// Objects per 4 KiB slab page.
    pub objs_per_slab_page: usize,
    /// Descriptors the list code took from vCPU caches.
    pub allocations: u64,
    /// Of those, taken with the cache empty (`cache_dry_allocs`: KVM WARNs and falls back to
    /// an atomic allocation) — what a small cache capacity risks.
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
    /// The anomalies by kind, with the first few described.
    pub anomaly_detail: Anomalies,
    /// Cost of adds (a recycle zap counts into the add that triggered it).
    pub add_cost: OpCosts,
    /// Descriptors and cache lines each remove visited.
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
    /// Whether the figures are exact: the trace's, the same for every configuration (set when
    /// the replay's parts are assembled).
    #[serde(default)]
    pub exactness: Exactness,
    /// With several VMs in the trace: each VM's descriptors in lists at its own peak, by VM
    /// index (the import report's); empty for one VM. The per-VM memory figures are the worst
    /// VM's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vm_peak_descs: Vec<u64>,
    /// With several VMs in the trace: each VM's vCPUs (the threads that installed SPTEs), by
    /// VM index, from the import report; empty for one VM. The host figures count each VM's
    /// own caches ([`crate::memory::HostShape::traced_vms`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vm_vcpus: Vec<u64>,
}

/// Results of a replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplaySummary {
    /// The trace's metadata (a capture's import report among it).
    pub meta: TraceMeta,
    /// Events replayed, of every kind.
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
    /// Whether the figures are exact, and which removals the trace may miss.
    pub exactness: Exactness,
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

/// Why a trace without a single SPTE add is no result, in the words both front-ends show.
pub const NO_SPTES: &str = "no SPTEs: the trace holds no SPTE add, so the recorded VM never mapped a page through the shadow MMU (a guest still in its firmware or in ring-0 code, which KVM emulates under PVM without SPTEs; a TDP host; the wrong process), and every figure here, counters \"reproduced\" included, describes empty rmaps; record the guest's whole run, until its workload has run";

impl ReplaySummary {
    /// True when every checked stat matched.
    pub fn stats_match(&self) -> bool {
        self.stat_checks.iter().all(|c| c.matches)
    }

    /// True when the trace holds no SPTE add: nothing was recorded that an rmap could hold, so
    /// matching counters prove nothing ([`NO_SPTES`] says why).
    pub fn made_no_sptes(&self) -> bool {
        self.counts.add == 0
    }

    /// How far these figures can be trusted: the verdict both front-ends show first.
    pub fn trust(&self) -> crate::exactness::Trust {
        let bad = self.stat_checks.iter().filter(|c| !c.matches).count();
        crate::exactness::Trust::assess(
            &self.exactness,
            (self.stat_checks.len(), bad),
            !self.made_no_sptes(),
        )
    }
}

/// Counts of events by type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCounts {
    /// SPTE adds (`pte_list_add`).
    pub add: u64,
    /// SPTE removes (`pte_list_remove`).
    pub remove: u64,
    /// Whole-list zaps (`kvm_zap_all_rmap_sptes`).
    pub zap: u64,
    /// Read-only walks (`for_each_rmap_spte`).
    pub walk: u64,
    /// vCPU faults (cache top-ups).
    pub fault: u64,
    /// KVM counter readings.
    pub stat: u64,
    /// Phase marks.
    pub mark: u64,
}

/// One rmap in a `--dump-lists` listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RmapDump {
    /// The trace's rmap id.
    pub rmap: RmapId,
    /// Its gfn, when the trace said.
    pub gfn: Option<u64>,
    /// Its page-table level: 1 for 4 KiB, 2 for 2 MiB, 3 for 1 GiB mappings.
    pub level: u8,
    /// Gfn rmap or parent list.
    pub kind: RmapKind,
    /// SPTEs in the list at the end of the trace.
    pub count: u64,
    /// Head word and chain.
    pub list: RmapSnapshot,
}

/// The eight configurations the benchmarks compare: 2, 3, 4 and 14 entries × tail-append and
/// head-insert, with KVM's cache settings and recycle threshold.
pub fn benchmark_configs() -> Vec<ModelConfig> {
    kvm_cache_matrix(
        &[2, 3, 4, 14],
        &[crate::Era::TailAppend, crate::Era::HeadInsert],
    )
}

/// The eight sizes the benchmarks also compare in one era: 2, 3, 4, 6, 8, 14, 16 and 32 entries
/// at head-insert, with KVM's cache settings and recycle threshold.
pub fn benchmark_sizes_head_insert() -> Vec<ModelConfig> {
    kvm_cache_matrix(&[2, 3, 4, 6, 8, 14, 16, 32], &[crate::Era::HeadInsert])
}

/// Sizes × eras with KVM's cache settings and recycle threshold.
fn kvm_cache_matrix(entries: &[usize], eras: &[crate::Era]) -> Vec<ModelConfig> {
    config_matrix(
        entries,
        eras,
        crate::config::KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE,
        crate::config::PTE_LIST_DESC_CACHE_MIN,
        Some(crate::config::RMAP_RECYCLE_THRESHOLD),
    )
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
                ..ModelConfig::kvm_today()
            });
        }
    }
    v
}

/// What one [`super::Replayer`] measured, before it is put together with the other parts of
/// a replay whose configurations were split over threads or workers
/// ([`ReplaySummary::assemble`]). Serde-able, so a part can travel between web workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayPart {
    pub(super) meta: TraceMeta,
    /// KVM's last reading of each stat recorded in the trace.
    pub(super) last_stats: BTreeMap<String, u64>,
    pub(super) events: u64,
    pub(super) counts: EventCounts,
    pub(super) implicit_faults: u64,
    pub(super) fault_mode: FaultMode,
    pub(super) marks: Vec<(u64, String)>,
    pub(super) configs: Vec<PartConfig>,
}

impl ReplayPart {
    /// Whether the replay's figures are exact (the same for every part of a replay): a
    /// worker skips the recommendation's candidates when they are not, since no size is
    /// recommended from bounds.
    pub fn exactness(&self) -> Exactness {
        Exactness::assess(&self.meta.unseen_removals, &self.last_stats)
    }
}

/// One configuration of a [`ReplayPart`], with what its group measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct PartConfig {
    /// Its position in the configurations given.
    pub(super) index: usize,
    pub(super) report: ConfigReport,
    pub(super) checks: Vec<StatCheck>,
    pub(super) checks_dropped: u64,
    pub(super) histogram: RmapHistogram,
    pub(super) histogram_at_peak: RmapHistogram,
    pub(super) peak_entries: u64,
}

/// The configuration whose stats are compared with KVM's in the summary: the trace's own
/// kernel configuration, else 14/head-insert, else any head-insert, else the first — the first
/// such in the order given.
fn reference(meta: &TraceMeta, configs: &[PartConfig]) -> usize {
    let kvm = meta.kvm.as_ref();
    let want_era = kvm.and_then(|k| k.era).unwrap_or(crate::Era::HeadInsert);
    let want_n = kvm
        .and_then(|k| k.pte_list_ext)
        .unwrap_or(crate::config::PTE_LIST_EXT);
    configs
        .iter()
        .position(|c| c.report.era == want_era && c.report.entries == want_n)
        .or_else(|| {
            configs
                .iter()
                .position(|c| c.report.era == crate::Era::HeadInsert)
        })
        .unwrap_or(0)
}

impl ReplaySummary {
    /// Put together the parts of one replay (the same trace, disjoint configurations).
    pub fn assemble(parts: Vec<ReplayPart>) -> ReplaySummary {
        let mut parts = parts.into_iter();
        let Some(first) = parts.next() else {
            return ReplaySummary {
                meta: TraceMeta::default(),
                events: 0,
                counts: EventCounts::default(),
                implicit_faults: 0,
                fault_mode: FaultMode::Implicit,
                notes: Vec::new(),
                stat_checks: Vec::new(),
                exactness: Exactness::default(),
                stat_checks_dropped: 0,
                histogram: RmapHistogram::default(),
                histogram_at_peak: RmapHistogram::default(),
                peak_entries: 0,
                marks: Vec::new(),
                configs: Vec::new(),
            };
        };
        let mut configs = first.configs;
        for p in parts {
            configs.extend(p.configs);
        }
        let exactness = Exactness::assess(&first.meta.unseen_removals, &first.last_stats);
        // Each VM's vCPUs, by VM index, where the import found several VMs.
        let vm_vcpus: Vec<u64> = crate::import::ImportReport::from_meta(&first.meta)
            .filter(|r| r.vms.len() > 1 && r.kept_vm.is_none())
            .map(|r| {
                let mut vms = r.vms.clone();
                vms.sort_by_key(|v| v.index);
                vms.iter().map(|v| u64::from(v.vcpus)).collect()
            })
            .unwrap_or_default();
        for c in &mut configs {
            c.report.exactness = exactness.clone();
            if c.report.vm_peak_descs.len() == vm_vcpus.len() {
                c.report.vm_vcpus.clone_from(&vm_vcpus);
            }
        }
        configs.sort_by_key(|c| c.index);
        let meta = first.meta;
        let mut notes = Vec::new();
        if let Some(w) = exactness.warning() {
            notes.push(w);
        }
        if first.counts.add == 0 {
            notes.push(NO_SPTES.to_string());
        }
        if first.implicit_faults > 0 {
            notes.push(format!(
                "{} adds had no fault event before them: each was treated as following a fault on its vCPU (vCPU 0 when the event names none), which tops up that vCPU's cache",
                first.implicit_faults
            ));
        }
        if meta.memslots.is_empty() {
            notes.push("the trace names no memslots, so the histogram's \"0\" column (empty rmaps) is unknown and shown as 0".into());
        }
        let r = reference(&meta, &configs);
        let mut summary = ReplaySummary {
            meta,
            events: first.events,
            counts: first.counts,
            implicit_faults: first.implicit_faults,
            fault_mode: first.fault_mode,
            notes,
            stat_checks: Vec::new(),
            exactness,
            stat_checks_dropped: 0,
            histogram: RmapHistogram::default(),
            histogram_at_peak: RmapHistogram::default(),
            peak_entries: 0,
            marks: first.marks,
            configs: Vec::new(),
        };
        if let Some(c) = configs.get_mut(r) {
            let a = &c.report.anomaly_detail;
            if a.total() > 0 {
                summary.notes.push(format!(
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
        let outcomes: std::collections::BTreeSet<(u64, u64)> = configs
            .iter()
            .map(|c| (c.report.max_rmap_size, c.report.recycles))
            .collect();
        if let Some(c) = configs.get_mut(r) {
            if outcomes.len() > 1 {
                summary.notes.push(format!(
                    "configurations disagree on max_rmap_size or recycles (different recycle thresholds, or older eras' counts skipping holes); the stat checks and histogram shown are those of {}",
                    c.report.label
                ));
            }
            summary.stat_checks = std::mem::take(&mut c.checks);
            summary.stat_checks_dropped = c.checks_dropped;
            summary.histogram = std::mem::take(&mut c.histogram);
            summary.histogram_at_peak = std::mem::take(&mut c.histogram_at_peak);
            summary.peak_entries = c.peak_entries;
        }
        summary.configs = configs.into_iter().map(|c| c.report).collect();
        summary
    }
}
