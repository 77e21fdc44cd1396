//! Application state as a [`Reducible`], plus the pure functions the page derives from it:
//! configuration parsing, the share-link hash, best values, the recommendation, the seed check.

use crate::protocol::{FocusEvent, LongRmap};
use rmaplab_core::config::{
    parse_entries_list, KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE, PTE_LIST_DESC_CACHE_MIN, PTE_LIST_EXT,
    RMAP_RECYCLE_THRESHOLD,
};
use rmaplab_core::replay::{config_matrix, ConfigReport, ReplaySummary};
use rmaplab_core::{Era, ModelConfig};
use std::rc::Rc;
use yew::Reducible;

/// The trace the playground opens with (provenance in `web/assets/README.md`).
pub const DEFAULT_TRACE: &[u8] = include_bytes!("../assets/default.rmap");
/// Its display name.
pub const DEFAULT_TRACE_NAME: &str = "default.rmap (captured with rmaplab collect)";
/// Array sizes compared by default.
pub const DEFAULT_ENTRIES: &str = "2,3,4,6,8,14,16";

/// What to compare.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Array sizes as typed.
    pub entries: String,
    /// Eras compared.
    pub eras: Vec<Era>,
    /// Per-vCPU cache capacity.
    pub cache_capacity: usize,
    /// Per-vCPU cache top-up minimum.
    pub cache_min: usize,
    /// vCPUs for the cache cost.
    pub vcpus: usize,
    /// Recycle threshold (`None` = off).
    pub recycle: Option<u64>,
    /// Recommendation tolerance, percent of the best walk cost.
    pub within_pct: u32,
    /// The VM kept from a capture holding several (its VMM's pid or a thread id); `None` =
    /// all. Reset whenever a new trace is loaded.
    pub vm: Option<u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            entries: DEFAULT_ENTRIES.into(),
            eras: vec![Era::HeadInsert, Era::TailAppend],
            cache_capacity: KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE,
            cache_min: PTE_LIST_DESC_CACHE_MIN,
            vcpus: 8,
            recycle: Some(RMAP_RECYCLE_THRESHOLD),
            within_pct: 10,
            vm: None,
        }
    }
}

impl Settings {
    /// The configurations to replay, or why not.
    pub fn configs(&self) -> Result<Vec<ModelConfig>, String> {
        let sizes = parse_entries_list(&self.entries).map_err(|e| format!("array sizes: {e}"))?;
        if sizes.is_empty() {
            return Err("give at least one array size (2..64)".into());
        }
        if self.eras.is_empty() {
            return Err("choose at least one era".into());
        }
        if self.cache_min > self.cache_capacity {
            return Err(format!(
                "cache top-up minimum {} exceeds capacity {}",
                self.cache_min, self.cache_capacity
            ));
        }
        let mut v = config_matrix(
            &sizes,
            &self.eras,
            self.cache_capacity,
            self.cache_min,
            self.recycle,
        );
        // Always include the baseline, KVM today, so ratios have a reference.
        let base = ModelConfig {
            cache_capacity: self.cache_capacity,
            cache_min: self.cache_min,
            recycle_threshold: self.recycle,
            ..ModelConfig::kvm_today()
        };
        if !v.contains(&base) {
            v.push(base);
        }
        Ok(v)
    }

    /// The share-link fragment, e.g. `n=2,3,14&era=head-insert&cache=40/14&vcpus=8&recycle=1000&within=10`.
    pub fn to_hash(&self) -> String {
        let eras: Vec<&str> = self.eras.iter().map(|e| e.name()).collect();
        format!(
            "n={}&era={}&cache={}/{}&vcpus={}&recycle={}&within={}",
            self.entries.replace(' ', ""),
            eras.join(","),
            self.cache_capacity,
            self.cache_min,
            self.vcpus,
            self.recycle
                .map_or_else(|| "off".to_string(), |r| r.to_string()),
            self.within_pct
        ) + &self.vm.map(|v| format!("&vm={v}")).unwrap_or_default()
    }

    /// Settings from a fragment; unknown or bad parts keep their defaults.
    pub fn from_hash(hash: &str) -> Self {
        let mut s = Settings::default();
        for part in hash.trim_start_matches('#').split('&') {
            let Some((k, v)) = part.split_once('=') else {
                continue;
            };
            match k {
                "n" if parse_entries_list(v).is_ok_and(|l| !l.is_empty()) => {
                    s.entries = v.to_string()
                }
                "era" => {
                    let eras: Vec<Era> = v.split(',').filter_map(|e| e.parse().ok()).collect();
                    if !eras.is_empty() {
                        s.eras = eras;
                    }
                }
                "cache" => {
                    if let Ok((c, m)) = rmaplab_core::config::parse_cache_spec(v) {
                        s.cache_capacity = c;
                        s.cache_min = m;
                    }
                }
                "vcpus" => s.vcpus = v.parse().unwrap_or(s.vcpus).clamp(1, 4096),
                "recycle" => {
                    s.recycle = if v == "off" {
                        None
                    } else {
                        v.parse().ok().or(s.recycle)
                    }
                }
                "within" => s.within_pct = v.parse().unwrap_or(s.within_pct).min(1000),
                "vm" => s.vm = v.parse().ok(),
                _ => {}
            }
        }
        s
    }
}

/// Where the replay stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Nothing running.
    Idle,
    /// The worker is replaying: bytes done of total.
    Running(u64, u64),
    /// The user cancelled.
    Cancelled,
}

/// The rmap being stepped through.
#[derive(Debug, Clone, PartialEq)]
pub struct Focus {
    /// Its id.
    pub rmap: u64,
    /// Its events.
    pub events: Rc<Vec<FocusEvent>>,
    /// Events were cut at the limit.
    pub truncated: bool,
    /// Events applied so far.
    pub step: usize,
    /// Array size shown.
    pub entries: usize,
}

/// Where the loaded trace's bytes are. A user's file stays a `File` handle: the worker reads it
/// in slices, so its size is bounded by the disk, not by the page's memory.
#[derive(Debug, Clone)]
pub enum TraceSource {
    /// Bytes in memory (the embedded default trace).
    Bytes(Rc<Vec<u8>>),
    /// A file the user chose or dropped.
    File(Rc<web_sys::File>),
}

impl TraceSource {
    /// Size in bytes (for progress).
    pub fn len(&self) -> u64 {
        match self {
            TraceSource::Bytes(b) => b.len() as u64,
            // A File's size is an exact integer below 2^53.
            TraceSource::File(f) => f.size() as u64,
        }
    }

    /// True when there is nothing to read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Two sources are equal when they are the same object (files are compared by identity).
impl PartialEq for TraceSource {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (TraceSource::Bytes(a), TraceSource::Bytes(b)) => Rc::ptr_eq(a, b),
            (TraceSource::File(a), TraceSource::File(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// The trace whose results are on screen.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    /// Its name.
    pub name: String,
    /// Where its bytes are.
    pub source: TraceSource,
    /// Its encoding.
    pub encoding: String,
}

/// Everything the page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct AppState {
    /// What to compare.
    pub settings: Settings,
    /// The loaded trace's name.
    pub trace_name: String,
    /// Where its bytes are.
    pub trace: TraceSource,
    /// Bumped on every new trace (effects key on it).
    pub trace_gen: u32,
    /// Replay status.
    pub status: Status,
    /// Latest results.
    pub summary: Option<Rc<ReplaySummary>>,
    /// Encoding of the loaded trace.
    pub encoding: String,
    /// Longest rmaps.
    pub longest: Vec<LongRmap>,
    /// Latest error, shown in the page.
    pub error: Option<String>,
    /// The rmap being stepped through.
    pub focus: Option<Focus>,
    /// The last trace that replayed; a newly loaded trace that fails or is cancelled gives way
    /// to it again, so the name, the results and later settings changes all refer to one trace.
    pub shown: Option<Shown>,
}

impl AppState {
    /// A newly loaded trace failed or was cancelled: go back to the one whose results are shown
    /// (without a new replay). Returns true if there was such a trace to go back to.
    fn back_to_shown(&mut self) -> bool {
        match self.shown.clone() {
            Some(g) if g.source != self.trace => {
                self.trace_name = g.name;
                self.trace = g.source;
                self.encoding = g.encoding;
                true
            }
            _ => false,
        }
    }
}

impl AppState {
    /// The state the page opens with (settings from the URL fragment).
    pub fn initial(hash: &str) -> Self {
        AppState {
            settings: Settings::from_hash(hash),
            trace_name: DEFAULT_TRACE_NAME.into(),
            trace: TraceSource::Bytes(Rc::new(DEFAULT_TRACE.to_vec())),
            trace_gen: 0,
            status: Status::Idle,
            summary: None,
            encoding: String::new(),
            longest: Vec::new(),
            error: None,
            focus: None,
            shown: None,
        }
    }
}

/// State transitions.
#[derive(Debug, Clone)]
pub enum Action {
    /// New settings.
    Settings(Settings),
    /// A trace was loaded.
    Load {
        /// File name.
        name: String,
        /// Where its bytes are.
        source: TraceSource,
    },
    /// Replay progress.
    Progress(u64, u64),
    /// Replay done.
    Done {
        /// Results.
        summary: Rc<ReplaySummary>,
        /// Longest rmaps.
        longest: Vec<LongRmap>,
        /// Encoding.
        encoding: String,
    },
    /// The events of the stepped rmap arrived.
    Focused {
        /// rmap.
        rmap: u64,
        /// Events.
        events: Rc<Vec<FocusEvent>>,
        /// Cut at the limit.
        truncated: bool,
    },
    /// Step slider moved.
    Step(usize),
    /// Stepper array size changed.
    FocusEntries(usize),
    /// The user cancelled the replay.
    Cancel,
    /// Something failed.
    Failed(String),
}

impl Reducible for AppState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            Action::Settings(settings) => {
                s.settings = settings;
                s.error = None;
            }
            Action::Load { name, source } => {
                // A VM choice belongs to the capture it was made in.
                s.settings.vm = None;
                s.trace_name = name;
                s.trace = source;
                s.trace_gen += 1;
                s.focus = None;
                s.error = None;
                s.encoding = String::new();
            }
            Action::Progress(done, total) => s.status = Status::Running(done, total),
            Action::Done {
                summary,
                longest,
                encoding,
            } => {
                s.summary = Some(summary);
                s.longest = longest;
                s.shown = Some(Shown {
                    name: s.trace_name.clone(),
                    source: s.trace.clone(),
                    encoding: encoding.clone(),
                });
                s.encoding = encoding;
                s.status = Status::Idle;
                s.error = None;
            }
            Action::Focused {
                rmap,
                events,
                truncated,
            } => {
                let entries = s.focus.as_ref().map_or(PTE_LIST_EXT, |f| f.entries);
                let step = events.len();
                s.focus = Some(Focus {
                    rmap,
                    events,
                    truncated,
                    step,
                    entries,
                });
            }
            Action::Step(k) => {
                if let Some(f) = s.focus.as_mut() {
                    f.step = k.min(f.events.len());
                }
            }
            Action::FocusEntries(n) => {
                if let Some(f) = s.focus.as_mut() {
                    f.entries = n.clamp(2, 64);
                }
            }
            Action::Cancel => {
                s.back_to_shown();
                s.status = Status::Cancelled;
            }
            Action::Failed(e) => {
                let name = s.trace_name.clone();
                s.error = Some(if s.back_to_shown() {
                    format!("{name}: {e}")
                } else {
                    e
                });
                s.status = Status::Idle;
            }
        }
        Rc::new(s)
    }
}

/// The baseline row: 14 entries, head-insert.
pub fn baseline(configs: &[ConfigReport]) -> Option<&ConfigReport> {
    configs
        .iter()
        .find(|c| c.entries == PTE_LIST_EXT && c.era == Era::HeadInsert)
}

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

/// The recommendation: the smallest N whose work per op is within `within_pct` of the best.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    /// The configuration.
    pub label: String,
    /// Its array size.
    pub entries: usize,
    /// Its work per op, and the best.
    pub work: f64,
    /// Best work per op.
    pub best_work: f64,
    /// Bytes per vCPU saved against 14 entries (full caches).
    pub saved_per_vcpu: i64,
    /// For the whole VM (`vcpus` caches).
    pub saved_per_vm: i64,
    /// Peak descriptor bytes saved against the baseline (negative = costs more).
    pub saved_peak: i64,
}

/// Compute the recommendation among the head-insert configurations (today's algorithm).
pub fn recommend(
    configs: &[ConfigReport],
    within_pct: u32,
    vcpus: usize,
) -> Option<Recommendation> {
    let cands: Vec<&ConfigReport> = configs
        .iter()
        .filter(|c| c.era == Era::HeadInsert)
        .collect();
    let best = cands
        .iter()
        .map(|c| work_per_op(c))
        .fold(f64::INFINITY, f64::min);
    if !best.is_finite() {
        return None;
    }
    let limit = best * (1.0 + f64::from(within_pct) / 100.0) + 1e-9;
    let pick = cands
        .iter()
        .filter(|c| work_per_op(c) <= limit)
        .min_by_key(|c| c.entries)?;
    let base_obj = Era::HeadInsert.desc_bytes(PTE_LIST_EXT) as i64;
    let per_vcpu = (base_obj - pick.desc_bytes as i64) * pick.cache_capacity as i64;
    let saved_peak = baseline(configs).map_or(0, |b| b.peak_bytes as i64 - pick.peak_bytes as i64);
    Some(Recommendation {
        label: pick.label.clone(),
        entries: pick.entries,
        work: work_per_op(pick),
        best_work: best,
        saved_per_vcpu: per_vcpu,
        saved_per_vm: per_vcpu * vcpus as i64,
        saved_peak,
    })
}

/// What the trace says about "aliasing is rare".
#[derive(Debug, Clone, PartialEq)]
pub struct AliasFacts {
    /// Non-empty gfn rmaps at the entries peak.
    pub rmaps: u64,
    /// Of those, with more than one entry (these need descriptors).
    pub aliased: u64,
    /// Largest rmap (KVM's stat semantics).
    pub max_rmap: u64,
}

/// Alias facts from the log2 histogram at the peak (all levels).
pub fn alias_facts(s: &ReplaySummary) -> AliasFacts {
    let h = &s.histogram_at_peak.log2;
    let rmaps: u64 = h.iter().flatten().sum();
    let single: u64 = h.iter().map(|row| row[0]).sum();
    AliasFacts {
        rmaps,
        aliased: rmaps - single,
        max_rmap: s.configs.first().map_or(0, |c| c.max_rmap_size),
    }
}

/// CSV of the results (same columns as `rmaplab replay --format csv`, a subset).
pub fn to_csv(s: &ReplaySummary) -> String {
    let mut out = String::from("label,entries,era,desc_bytes,allocations,slab_allocations,frees,peak_descs,peak_bytes,avg_desc_bytes,unused_slots_at_peak,cache_idle_bytes,cache_bytes_per_vcpu,max_rmap_size,recycles,anomalies,add_descs_mean,remove_descs_mean,add_lines_mean,remove_lines_mean,work_per_op\n");
    for c in &s.configs {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{:.2},{},{},{},{},{},{},{:.4},{:.4},{:.4},{:.4},{:.4}\n",
            c.label,
            c.entries,
            c.era,
            c.desc_bytes,
            c.allocations,
            c.slab_allocations,
            c.frees,
            c.peak_descs,
            c.peak_bytes,
            c.avg_desc_bytes,
            c.unused_slots_at_peak,
            c.cache_idle_bytes,
            c.cache_bytes_per_vcpu,
            c.max_rmap_size,
            c.recycles,
            c.anomalies,
            c.add_cost.descs.mean(),
            c.remove_cost.descs.mean(),
            c.add_cost.lines.mean(),
            c.remove_cost.lines.mean(),
            work_per_op(c)
        ));
    }
    out
}

/// Indices of the Pareto-optimal configurations for (peak bytes, work per op), both minimised.
pub fn pareto(configs: &[ConfigReport]) -> Vec<usize> {
    (0..configs.len())
        .filter(|&i| {
            let (a, wa) = (configs[i].peak_bytes, work_per_op(&configs[i]));
            !configs.iter().enumerate().any(|(j, c)| {
                let (b, wb) = (c.peak_bytes, work_per_op(c));
                j != i && b <= a && wb <= wa && (b < a || wb < wa)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_round_trips_and_bad_parts_keep_defaults() {
        let s = Settings {
            entries: "2,4".into(),
            eras: vec![Era::TailAppend],
            cache_capacity: 20,
            cache_min: 5,
            vcpus: 3,
            recycle: None,
            within_pct: 7,
            vm: Some(4394),
        };
        assert_eq!(Settings::from_hash(&format!("#{}", s.to_hash())), s);
        let d = Settings::from_hash("n=1,2&era=sideways&cache=5/9&vcpus=x");
        assert_eq!(d, Settings::default());
    }

    #[test]
    fn configs_always_include_the_baseline() {
        let s = Settings {
            entries: "2".into(),
            eras: vec![Era::TailAppend],
            ..Settings::default()
        };
        let c = s.configs().unwrap();
        assert!(c
            .iter()
            .any(|c| c.entries == 14 && c.era == Era::HeadInsert));
        assert!(Settings {
            entries: "1".into(),
            ..Settings::default()
        }
        .configs()
        .is_err());
    }
}
