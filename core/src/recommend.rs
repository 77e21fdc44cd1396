//! An answer that weighs both sides: memory (slab pages per VM at the trace's vCPU count) against
//! work (descriptors walked per list operation), over a fixed set of candidate array sizes, so
//! the answer never depends on which other sizes a user typed.

use crate::config::{Era, ModelConfig, TopupPolicy, PTE_LIST_EXT};
use crate::memory::{Footprint, HostShape};
use crate::replay::ConfigReport;
use serde::{Deserialize, Serialize};

/// The array sizes the recommendation always compares (the replay adds them to whatever was
/// asked for): every size from the seed's 2 to today's 14, and 16 above it.
pub const RECOMMENDATION_ENTRIES: [usize; 11] = [2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16];

/// Default tolerance: a candidate may walk this many percent more descriptors per operation
/// than KVM's 14 entries.
pub const DEFAULT_WITHIN_PCT: u32 = 10;

/// Descriptors visited per list operation (adds, removes, zaps, walks together).
pub fn work_per_op(c: &ConfigReport) -> f64 {
    let ops = c.add_cost.descs.count
        + c.remove_cost.descs.count
        + c.zap_cost.descs.count
        + c.walk_cost.descs.count;
    let total = c.add_cost.descs.total
        + c.remove_cost.descs.total
        + c.zap_cost.descs.total
        + c.walk_cost.descs.total;
    if ops == 0 {
        0.0
    } else {
        total as f64 / ops as f64
    }
}

/// The configurations the recommendation needs: [`RECOMMENDATION_ENTRIES`] at `era`, with the
/// cache and recycle settings of `like` and KVM's top-up policy.
pub fn recommendation_configs(era: Era, like: &ModelConfig) -> Vec<ModelConfig> {
    RECOMMENDATION_ENTRIES
        .iter()
        .map(|&entries| ModelConfig {
            entries,
            era,
            topup: TopupPolicy::Always,
            seed_rule: false,
            ..*like
        })
        .collect()
}

/// KVM today at `era`: `PTE_LIST_EXT` (14) entries, the cache topped up before every fault,
/// not the seed's rule — the row every comparison is against — with `like`'s cache and
/// recycle settings. The one definition both front-ends use ([`is_kvm_today`] finds it).
pub fn kvm_today_like(era: Era, like: &ModelConfig) -> ModelConfig {
    ModelConfig {
        entries: PTE_LIST_EXT,
        era,
        topup: TopupPolicy::Always,
        seed_rule: false,
        ..*like
    }
}

/// Whether `c` is KVM today at `era` ([`kvm_today_like`], any cache and recycle settings).
pub fn is_kvm_today(c: &ConfigReport, era: Era) -> bool {
    c.entries == PTE_LIST_EXT && c.era == era && c.topup == TopupPolicy::Always && !c.seed_rule
}

/// KVM today among `configs` at head-insert (today's kernels), the reference of the tables'
/// peak ratio.
pub fn kvm_today_row(configs: &[ConfigReport]) -> Option<&ConfigReport> {
    configs.iter().find(|c| is_kvm_today(c, Era::HeadInsert))
}

/// `configs` plus the recommendation's candidates that are missing from it (appended).
pub fn with_recommendation_configs(configs: &[ModelConfig], era: Era) -> Vec<ModelConfig> {
    let like = configs
        .first()
        .copied()
        .unwrap_or_else(ModelConfig::kvm_today);
    let mut v = configs.to_vec();
    for c in recommendation_configs(era, &like) {
        if !v.contains(&c) {
            v.push(c);
        }
    }
    v
}

/// What a front-end replays for a trace with `meta`, in two passes: first the configurations
/// asked for (`asked`, already resolved against the trace) plus KVM today (14 entries at the
/// trace's era, with the asked cache and recycle settings) when missing — the results shown;
/// then the recommendation's candidates not among them, so the results need not wait for the
/// recommendation. Returns (shown, candidates).
pub fn plan(
    asked: &[ModelConfig],
    meta: &crate::TraceMeta,
) -> (Vec<ModelConfig>, Vec<ModelConfig>) {
    let era = recommendation_era(meta);
    let like = asked
        .first()
        .copied()
        .unwrap_or_else(ModelConfig::kvm_today);
    let today = kvm_today_like(era, &like);
    let mut shown = asked.to_vec();
    if !shown.contains(&today) {
        shown.push(today);
    }
    let all = with_recommendation_configs(&shown, era);
    let candidates = all[shown.len()..].to_vec();
    (shown, candidates)
}

/// The era a trace's recommendation is for: its kernel's, else today's.
pub fn recommendation_era(meta: &crate::TraceMeta) -> Era {
    meta.kvm
        .as_ref()
        .and_then(|k| k.era)
        .unwrap_or(Era::HeadInsert)
}

/// One candidate: its memory and its work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Array size.
    pub entries: usize,
    /// Configuration label.
    pub label: String,
    /// Slab bytes per VM at its worst (pages × 4 KiB).
    pub vm_slab_bytes: u64,
    /// Descriptors visited per list operation.
    pub work: f64,
    /// On the Pareto front of (memory, work).
    pub pareto: bool,
}

/// The recommendation and the trade-off it makes against KVM's 14 entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// The era compared.
    pub era: Era,
    /// The host the memory figures are for.
    pub host: HostShape,
    /// Tolerance, percent more work than 14 entries.
    pub within_pct: u32,
    /// The recommended array size.
    pub entries: usize,
    /// Its label.
    pub label: String,
    /// Every candidate, in [`RECOMMENDATION_ENTRIES`] order.
    pub candidates: Vec<Candidate>,
    /// Bytes saved per vCPU in full caches against 14 entries (negative: costs more).
    pub saved_per_vcpu: i64,
    /// Bytes saved per VM at its worst (lists at the peak, caches, split cache).
    pub saved_per_vm: i64,
    /// Slab pages saved per VM.
    pub saved_pages_per_vm: i64,
    /// Bytes saved per host.
    pub saved_per_host: i64,
    /// Descriptors walked per add: the recommendation, and 14 entries.
    pub descs_per_add: (f64, f64),
    /// Descriptors walked per remove: the recommendation, and 14 entries.
    pub descs_per_remove: (f64, f64),
    /// Work per operation: the recommendation, and 14 entries.
    pub work: (f64, f64),
    /// The answer in one sentence.
    pub sentence: String,
}

impl Recommendation {
    /// The answer in a few words, for a headline: "Use N = 12: saves 34.0 KiB per VM, +6% work
    /// per list operation", or "Keep 14 entries: …".
    pub fn headline(&self) -> String {
        if self.entries == PTE_LIST_EXT {
            return format!(
                "Keep {PTE_LIST_EXT} entries: no smaller array stays within {}% of today's work per list operation while saving slab memory",
                self.within_pct
            );
        }
        let (w, base) = self.work;
        let work = if base > 0.0 {
            format!("{:+.0}% work per list operation", (w / base - 1.0) * 100.0)
        } else {
            "no list work on this trace".to_string()
        };
        let vms = if self.host.vcpus == 1 {
            "1-vCPU VM".to_string()
        } else {
            format!("{}-vCPU VM", self.host.vcpus)
        };
        format!(
            "Use N = {}: {} {} per {vms}, {work}",
            self.entries,
            if self.saved_per_vm >= 0 {
                "saves"
            } else {
                "costs"
            },
            bytes_text(self.saved_per_vm),
        )
    }
}

fn is_candidate(c: &ConfigReport, era: Era, like: &ConfigReport) -> bool {
    c.era == era
        && c.topup == TopupPolicy::Always
        && !c.seed_rule
        && c.cache_capacity == like.cache_capacity
        && c.cache_min == like.cache_min
        && c.recycle_threshold == like.recycle_threshold
        && RECOMMENDATION_ENTRIES.contains(&c.entries)
}

/// Indices of the points not dominated in (memory, work), both minimised.
pub fn pareto_front(points: &[(f64, f64)]) -> Vec<usize> {
    (0..points.len())
        .filter(|&i| {
            let (a, wa) = points[i];
            !points
                .iter()
                .enumerate()
                .any(|(j, &(b, wb))| j != i && b <= a && wb <= wa && (b < a || wb < wa))
        })
        .collect()
}

fn bytes_text(b: i64) -> String {
    let a = b.unsigned_abs();
    if a >= 10 * 1024 * 1024 {
        format!("{:.1} MiB", a as f64 / (1024.0 * 1024.0))
    } else if a >= 10 * 1024 {
        format!("{:.1} KiB", a as f64 / 1024.0)
    } else {
        format!("{a} B")
    }
}

fn saves(b: i64) -> String {
    if b >= 0 {
        format!("saves {}", bytes_text(b))
    } else {
        format!("costs {} more", bytes_text(b))
    }
}

/// Recommend an array size from `configs` (a replay that included
/// [`recommendation_configs`]): among the Pareto front of slab memory per VM against work per
/// operation, the least memory whose work stays within `within_pct` of 14 entries'. `None` when
/// the candidates were not replayed, or when the figures are not exact (a trace that may miss
/// removals: its bounds are no ground for choosing a size).
pub fn recommend(
    configs: &[ConfigReport],
    era: Era,
    host: HostShape,
    within_pct: u32,
) -> Option<Recommendation> {
    // Bounds and unknowns are no ground for choosing a size (crate::exactness).
    if configs.iter().any(|c| !c.exactness.is_exact()) {
        return None;
    }
    let base = configs.iter().find(|c| is_kvm_today(c, era))?;
    let cands: Vec<&ConfigReport> = RECOMMENDATION_ENTRIES
        .iter()
        .filter_map(|&n| {
            configs
                .iter()
                .find(|c| c.entries == n && is_candidate(c, era, base))
        })
        .collect();
    if cands.len() != RECOMMENDATION_ENTRIES.len() {
        return None;
    }
    let fps: Vec<Footprint> = cands.iter().map(|c| Footprint::of(c, host)).collect();
    let points: Vec<(f64, f64)> = cands
        .iter()
        .zip(&fps)
        .map(|(c, f)| (f.vm_slab_bytes as f64, work_per_op(c)))
        .collect();
    let front = pareto_front(&points);
    let base_fp = Footprint::of(base, host);
    let base_work = work_per_op(base);
    let limit = base_work * (1.0 + f64::from(within_pct) / 100.0) + 1e-9;
    let pick = front
        .iter()
        .copied()
        .filter(|&i| points[i].1 <= limit)
        .min_by(|&a, &b| {
            points[a]
                .0
                .total_cmp(&points[b].0)
                .then(points[a].1.total_cmp(&points[b].1))
                .then(cands[a].entries.cmp(&cands[b].entries))
        })?;
    let (c, f) = (cands[pick], fps[pick]);
    let diff = |a: u64, b: u64| a as i64 - b as i64;
    let saved_per_vcpu = diff(base_fp.cache_bytes_per_vcpu, f.cache_bytes_per_vcpu);
    let saved_per_vm = diff(base_fp.vm_bytes, f.vm_bytes);
    let saved_pages_per_vm = diff(base_fp.vm_slab_pages, f.vm_slab_pages);
    let saved_per_host = diff(base_fp.host_bytes, f.host_bytes);
    let add = (c.add_cost.descs.mean(), base.add_cost.descs.mean());
    let remove = (c.remove_cost.descs.mean(), base.remove_cost.descs.mean());
    let work = (work_per_op(c), base_work);
    let sentence = if c.entries == PTE_LIST_EXT {
        format!(
            "N = 14 ({era}, {}): keep today's size; no smaller array stays within {within_pct}% of its work per list operation ({:.2} descriptors) on this trace while saving slab memory.",
            era.kernels(),
            work.1
        )
    } else {
        let per_vm = format!(
            "{} per {}-vCPU VM ({} instead of {} slab pages)",
            bytes_text(saved_per_vm),
            host.vcpus,
            f.vm_slab_pages,
            base_fp.vm_slab_pages
        );
        let vms = if host.vms == 1 { "VM" } else { "VMs" };
        let memory = if saved_per_vcpu >= 0 && saved_per_vm >= 0 && saved_per_host >= 0 {
            format!(
                "saves {} per vCPU, {per_vm} and {} per host of {} {vms}",
                bytes_text(saved_per_vcpu),
                bytes_text(saved_per_host),
                host.vms
            )
        } else {
            format!(
                "{} per vCPU, {} {per_vm} and {} per host of {} {vms}",
                saves(saved_per_vcpu),
                if saved_per_vm >= 0 { "saves" } else { "costs" },
                saves(saved_per_host),
                host.vms
            )
        };
        // A trace without removes (or without adds) has no walk of that kind to compare.
        let walked = |what: &str, (a, b): (f64, f64), count: u64| {
            if count == 0 {
                format!("no {what} on this trace")
            } else if format!("{a:.2}") == format!("{b:.2}") {
                format!("the same {a:.2} descriptors walked per {what}")
            } else {
                format!("{a:.2} instead of {b:.2} descriptors walked per {what}")
            }
        };
        format!(
            "N = {} ({era}, {}): against today's 14 it {memory}, for {} and {} (work per list operation {:.2} vs {:.2}, within {within_pct}%).",
            c.entries,
            era.kernels(),
            walked("add", add, c.add_cost.descs.count),
            walked("remove", remove, c.remove_cost.descs.count),
            work.0,
            work.1
        )
    };
    Some(Recommendation {
        era,
        host,
        within_pct,
        entries: c.entries,
        label: c.label.clone(),
        candidates: cands
            .iter()
            .zip(&points)
            .enumerate()
            .map(|(i, (c, p))| Candidate {
                entries: c.entries,
                label: c.label.clone(),
                vm_slab_bytes: p.0 as u64,
                work: p.1,
                pareto: front.contains(&i),
            })
            .collect(),
        saved_per_vcpu,
        saved_per_vm,
        saved_pages_per_vm,
        saved_per_host,
        descs_per_add: add,
        descs_per_remove: remove,
        work,
        sentence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{generate_vec, GenOptions, Workload};
    use crate::replay::test_reports as replay;
    use crate::trace::{RmapId, SpteId};
    use crate::{Event, TraceMeta};

    fn events(w: &Workload) -> Vec<Event> {
        generate_vec(w, &GenOptions::default())
    }

    #[test]
    fn the_answer_does_not_depend_on_the_sizes_typed() {
        let evs = events(&Workload::Fork {
            procs: 16,
            pages: 64,
            private: 4,
        });
        let host = HostShape {
            vcpus: 4,
            vms: 8,
            traced_vms: false,
        };
        let typed: [&[usize]; 4] = [&[2], &[2, 3, 4, 6, 8, 14, 16], &[64], &[14, 9, 33]];
        let mut answers = Vec::new();
        for t in typed {
            let asked: Vec<ModelConfig> = t
                .iter()
                .map(|&n| ModelConfig::new(n, Era::HeadInsert).unwrap())
                .collect();
            let all = with_recommendation_configs(&asked, Era::HeadInsert);
            let r = replay(&all, &evs);
            answers.push(recommend(&r, Era::HeadInsert, host, 10).unwrap());
        }
        for a in &answers[1..] {
            assert_eq!(a, &answers[0]);
        }
        // Without the candidates there is no answer rather than a partial one.
        let r = replay(&[ModelConfig::kvm_today()], &evs);
        assert!(recommend(&r, Era::HeadInsert, host, 10).is_none());
    }

    #[test]
    fn the_pick_is_on_the_front_within_tolerance_and_least_memory() {
        let evs = events(&Workload::Alias { aliases: 1500 });
        let host = HostShape {
            vcpus: 2,
            vms: 1,
            traced_vms: false,
        };
        let all = with_recommendation_configs(&[], Era::HeadInsert);
        let r = replay(&all, &evs);
        let rec = recommend(&r, Era::HeadInsert, host, 10).unwrap();
        let base_work = rec.work.1;
        let pick = rec
            .candidates
            .iter()
            .find(|c| c.entries == rec.entries)
            .unwrap();
        assert!(pick.pareto);
        assert!(pick.work <= base_work * 1.1 + 1e-9);
        for c in &rec.candidates {
            if c.work <= base_work * 1.1 + 1e-9 {
                assert!(
                    c.vm_slab_bytes >= pick.vm_slab_bytes,
                    "{c:?} beats {pick:?}"
                );
            }
        }
        assert!(rec.sentence.contains(&format!("N = {}", rec.entries)));
        let h = rec.headline();
        assert!(
            h.starts_with(&format!("Use N = {}: ", rec.entries))
                || h.starts_with("Keep 14 entries"),
            "{h}"
        );
    }

    #[test]
    fn a_vm_without_aliases_gets_the_smallest_array() {
        // Every gfn mapped once: no descriptor is ever needed, so work is 0 everywhere and
        // only the caches' memory differs.
        let evs: Vec<Event> = (0..100)
            .map(|g| Event::add(RmapId(g), SpteId(1000 + g)))
            .collect();
        let host = HostShape {
            vcpus: 8,
            vms: 1,
            traced_vms: false,
        };
        let r = replay(&with_recommendation_configs(&[], Era::HeadInsert), &evs);
        let rec = recommend(&r, Era::HeadInsert, host, 10).unwrap();
        assert_eq!(rec.entries, 2);
        // The seed's 5120 B -> 1280 B per vCPU.
        assert_eq!(rec.saved_per_vcpu, 5120 - 1280);
        assert!(
            rec.sentence.contains("saves 3840 B per vCPU"),
            "{}",
            rec.sentence
        );
        // Adds only: no "0.00 instead of 0.00 per remove", and a short headline.
        assert!(
            rec.sentence.contains("no remove on this trace"),
            "{}",
            rec.sentence
        );
        assert!(
            !rec.sentence.contains("0.00 instead of 0.00"),
            "{}",
            rec.sentence
        );
        assert_eq!(
            rec.headline(),
            format!(
                "Use N = 2: saves {} per 8-vCPU VM, no list work on this trace",
                bytes_text(rec.saved_per_vm)
            )
        );
    }

    #[test]
    fn the_plan_shows_what_was_asked_and_kvm_today_then_the_candidates() {
        let asked = [ModelConfig::new(3, Era::TailAppend).unwrap()];
        let (shown, cands) = plan(&asked, &TraceMeta::default());
        assert_eq!(shown, vec![asked[0], ModelConfig::kvm_today()]);
        assert_eq!(cands.len(), RECOMMENDATION_ENTRIES.len() - 1);
        assert!(cands
            .iter()
            .all(|c| c.era == Era::HeadInsert && c.entries != 14));
        let (shown, cands) = plan(&[ModelConfig::kvm_today()], &TraceMeta::default());
        assert_eq!(shown.len(), 1);
        assert_eq!(cands.len(), RECOMMENDATION_ENTRIES.len() - 1);
    }

    #[test]
    fn pareto_front_drops_dominated_points() {
        let pts = [(1.0, 5.0), (2.0, 2.0), (3.0, 3.0), (4.0, 1.0), (1.0, 6.0)];
        assert_eq!(pareto_front(&pts), vec![0, 1, 3]);
    }
}
