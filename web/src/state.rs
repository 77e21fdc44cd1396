//! Application state as a [`Reducible`], plus the pure functions the page derives from it:
//! configuration parsing, the share-link hash, best values, the recommendation, the seed check.

use crate::protocol::{FocusEvent, LongRmap, Phase, ProgressReport};
pub use crate::settings::{Settings, DEFAULT_ENTRIES, MAX_VCPUS, MAX_VMS};
use crate::share::{self, SharedTrace, TraceRef};
use rmaplab_core::config::{rmap_size_after_add, MAX_ENTRIES, MIN_ENTRIES, PTE_LIST_EXT};
use rmaplab_core::input::Encoding;
use rmaplab_core::replay::{ConfigReport, ReplaySummary};
use rmaplab_core::sha256::sha256_hex;
use rmaplab_core::trace::RmapId;
use std::rc::Rc;
use yew::Reducible;

/// The trace the playground opens with (provenance in `web/assets/README.md`).
pub const DEFAULT_TRACE: &[u8] = include_bytes!("../assets/default.rmap");
/// Its display name.
pub const DEFAULT_TRACE_NAME: &str = "default.rmap (captured with rmaplab collect)";

/// Where the replay stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Nothing running.
    Idle,
    /// The worker is replaying: bytes done of total.
    Running {
        /// Bytes read so far.
        done: u64,
        /// Bytes of the trace in all (of one pass), for the bar's scale.
        total: u64,
    },
    /// The user cancelled.
    Cancelled,
}

/// Results pinned as trace A, to compare the traces opened after against.
#[derive(Debug, Clone, PartialEq)]
pub struct Pinned {
    /// The trace's name.
    pub name: String,
    /// The configurations asked for, as replayed from it.
    pub configs: Rc<Vec<ConfigReport>>,
    /// The settings they were replayed with (the link's settings part), so a comparison under
    /// other settings says so.
    pub settings: String,
}

/// The rmap being stepped through.
#[derive(Debug, Clone, PartialEq)]
pub struct SteppedRmap {
    /// The rmap's id in the trace (a 4K gfn rmap's id is its gfn).
    pub rmap: RmapId,
    /// Its adds, removes and zaps in trace order, at most `FOCUS_LIMIT`.
    pub events: Rc<Vec<FocusEvent>>,
    /// Events were cut at the limit.
    pub truncated: bool,
    /// Events applied so far.
    pub step: usize,
    /// Entries per descriptor the stepper replays the list with (2..=64; 14 at first).
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
    pub encoding: Option<Encoding>,
}

/// A share link named its trace by hash: the page waits for the user to choose that file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// The file name the link gives.
    pub name: String,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// A file was chosen and is replaying (its hash is checked when it finishes).
    pub chosen: bool,
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
    /// Whether a replay runs, and how far it is.
    pub status: Status,
    /// The results on screen (of `shown`'s trace); kept, dimmed, while new ones are computed.
    pub summary: Option<Rc<ReplaySummary>>,
    /// How many of the results' first configurations were asked for (plus KVM today); the
    /// others are the recommendation's candidates.
    pub asked: usize,
    /// Encoding of the loaded trace (`None` until a worker has read it).
    pub encoding: Option<Encoding>,
    /// The stepper's candidates: the rmaps with the largest peaks under the recycle rule.
    pub longest: Vec<LongRmap>,
    /// Latest error, shown in the page.
    pub error: Option<String>,
    /// The rmap being stepped through.
    pub focus: Option<SteppedRmap>,
    /// The last trace that replayed; a newly loaded trace that fails or is cancelled gives way
    /// to it again, so the name, the results and later settings changes all refer to one trace.
    pub shown: Option<Shown>,
    /// The example being shown or loaded (`default` for the built-in trace), if it is one.
    pub example: Option<String>,
    /// The fragment part naming the trace on screen (see [`crate::share`]).
    pub link_trace: String,
    /// A link's trace the page is waiting for.
    pub wanted: Option<Wanted>,
    /// SHA-256 of the trace on screen.
    pub link_sha: Option<String>,
    /// The recommendation's candidates, replayed after the results.
    pub candidates: Rc<Vec<ConfigReport>>,
    /// The worker is replaying the candidates.
    pub recommending: bool,
    /// The latest progress report of the pass running (the replay's, then the
    /// recommendation's), when its worker sent one.
    pub report: Option<Rc<ProgressReport>>,
    /// When the pass reported first (ms, the page's clock), for the estimate of what is left.
    pub report_started: Option<(Phase, f64)>,
    /// Seconds the pass running has left, estimated from its pace so far.
    pub eta_s: Option<f64>,
    /// Settings typed with errors (not taken): `field: message`.
    pub field_errors: Vec<String>,
    /// Results pinned as trace A, to compare against.
    pub pinned: Option<Pinned>,
    /// The stepper's rmap and step a link named, until the rmap's events arrive.
    pub wanted_focus: Option<share::FocusRef>,
    /// Captures imported by the workers since the page opened (each worker's pass that read a
    /// capture rather than rmaplab's binary or its kept copy): shown on the page as
    /// `data-imports`, so a test can tell that a settings change imported nothing.
    pub imports: u64,
}

impl AppState {
    /// Every configuration replayed: the results and the recommendation's candidates.
    pub fn all_configs(&self) -> Vec<ConfigReport> {
        let mut v = self
            .summary
            .as_ref()
            .map(|s| s.configs.clone())
            .unwrap_or_default();
        v.extend(self.candidates.iter().cloned());
        v
    }

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
    /// The state the page opens with: settings and trace from the URL fragment.
    pub fn initial(hash: &str) -> Self {
        let mut s = AppState {
            settings: Settings::from_hash(hash),
            trace_name: DEFAULT_TRACE_NAME.into(),
            trace: TraceSource::Bytes(Rc::new(DEFAULT_TRACE.to_vec())),
            trace_gen: 0,
            status: Status::Idle,
            summary: None,
            asked: 0,
            encoding: None,
            longest: Vec::new(),
            error: None,
            focus: None,
            shown: None,
            example: Some(DEFAULT_EXAMPLE.into()),
            link_trace: String::new(),
            wanted: None,
            link_sha: None,
            candidates: Rc::new(Vec::new()),
            recommending: false,
            report: None,
            report_started: None,
            eta_s: None,
            field_errors: Vec::new(),
            imports: 0,
            wanted_focus: share::focus_ref(hash),
            pinned: None,
        };
        s.follow_link_trace(hash);
        s
    }

    /// Load the trace a fragment names, unless it is already the one on screen. Returns true
    /// when the trace changed (or is now awaited).
    fn follow_link_trace(&mut self, hash: &str) -> bool {
        let shown_sha = self
            .shown
            .as_ref()
            .and(self.summary.as_ref())
            .and(self.link_sha.clone());
        match share::trace_ref(hash) {
            Err(e) => {
                self.error = Some(format!("share link: {e}"));
                false
            }
            Ok(None) => {
                if self.example.as_deref() == Some(DEFAULT_EXAMPLE) {
                    return false;
                }
                self.load(
                    DEFAULT_TRACE_NAME.into(),
                    TraceSource::Bytes(Rc::new(DEFAULT_TRACE.to_vec())),
                    Some(DEFAULT_EXAMPLE.into()),
                );
                true
            }
            Ok(Some(TraceRef::Example(k))) => {
                if self.example.as_deref() == Some(k.as_str()) {
                    return false;
                }
                match crate::examples::example(&k) {
                    Some((name, bytes)) => {
                        self.load(name, TraceSource::Bytes(Rc::new(bytes)), Some(k));
                        true
                    }
                    None => {
                        self.error = Some(format!("share link: there is no example {k:?}"));
                        false
                    }
                }
            }
            Ok(Some(TraceRef::Inline { name, bytes })) => {
                if shown_sha.as_deref() == Some(sha256_hex(&bytes).as_str()) {
                    return false;
                }
                self.load(name, TraceSource::Bytes(Rc::new(bytes)), None);
                true
            }
            Ok(Some(TraceRef::Hashed { name, sha256 })) => {
                if shown_sha.as_deref() == Some(sha256.as_str()) {
                    return false;
                }
                self.link_trace = share::hash_part(
                    &name,
                    None,
                    Some(&SharedTrace {
                        sha256: sha256.clone(),
                        inline: None,
                    }),
                );
                self.wanted = Some(Wanted {
                    name,
                    sha256,
                    chosen: false,
                });
                true
            }
        }
    }

    /// A new trace to replay.
    fn load(&mut self, name: String, source: TraceSource, example: Option<String>) {
        // A VM choice belongs to the capture it was made in.
        self.settings.vm = None;
        self.trace_name = name;
        self.trace = source;
        self.trace_gen += 1;
        self.focus = None;
        self.error = None;
        self.encoding = None;
        self.example = example;
        if let Some(w) = self.wanted.as_mut() {
            w.chosen = true;
        }
    }

    /// Whether the share link is complete (a large trace's hash comes after its results).
    pub fn link_ready(&self) -> bool {
        !self.link_trace.contains(share::PENDING)
    }

    /// Whether the page should replay now: not while a link's trace is awaited.
    pub fn may_replay(&self) -> bool {
        self.wanted.as_ref().is_none_or(|w| w.chosen)
    }

    /// The whole fragment for the page as it stands: settings, and the trace on screen.
    pub fn fragment(&self) -> String {
        let focus = match (&self.focus, &self.wanted_focus) {
            (Some(f), _) => share::focus_part(f.rmap, Some(f.step)),
            (None, Some(w)) => share::focus_part(w.rmap, w.step),
            (None, None) => String::new(),
        };
        format!("#{}{}{focus}", self.settings.to_hash(), self.link_trace)
    }
}

/// The example key of the built-in trace (never written into links: it is the default).
pub const DEFAULT_EXAMPLE: &str = "default";

/// The first step at which the list of `events` is largest under the recycle rule at
/// `recycle` (0 for a list that never holds an entry).
pub fn peak_step(events: &[FocusEvent], recycle: Option<u64>) -> usize {
    let (mut size, mut peak, mut at) = (0u64, 0u64, 0usize);
    for (k, e) in events.iter().enumerate() {
        size = match e {
            FocusEvent::Add(_) => rmap_size_after_add(size, recycle),
            FocusEvent::Remove(_) => size.saturating_sub(1),
            FocusEvent::Zap => 0,
        };
        if size > peak {
            (peak, at) = (size, k + 1);
        }
    }
    at
}

/// Seconds left of a pass `fraction` done after `elapsed_s` seconds, at the pace so far; `None`
/// until the pace means something (a few percent and half a second in).
pub fn eta(fraction: f64, elapsed_s: f64) -> Option<f64> {
    (fraction >= ETA_MIN_FRACTION && elapsed_s >= ETA_MIN_SECONDS && fraction < 1.0)
        .then(|| elapsed_s * (1.0 - fraction) / fraction)
}

/// Share of a pass done before the page estimates what is left.
pub const ETA_MIN_FRACTION: f64 = 0.03;
/// Seconds of a pass before the page estimates what is left.
pub const ETA_MIN_SECONDS: f64 = 0.5;

/// State transitions.
#[derive(Debug, Clone)]
pub enum Action {
    /// The form's settings changed (valid ones; invalid fields come as `FieldErrors`).
    Settings(Settings),
    /// A trace was loaded.
    Load {
        /// File name.
        name: String,
        /// Where its bytes are.
        source: TraceSource,
        /// The example it is, if it is one.
        example: Option<String>,
    },
    /// The URL fragment changed (a pasted or edited link).
    Hash(String),
    /// A replay starts (or progresses): bytes done of total.
    Progress(u64, u64),
    /// A worker's progress report, received at `at_ms` on the page's clock.
    Report {
        /// What it says.
        report: ProgressReport,
        /// When it arrived (ms).
        at_ms: f64,
    },
    /// The user cancelled the recommendation's pass (the results shown stay).
    CancelRecommendation,
    /// Pin the results on screen as trace A, to compare the next traces against.
    Pin,
    /// Drop the pinned results.
    Unpin,
    /// The settings typed with errors changed (empty: none left).
    FieldErrors(Vec<String>),
    /// Replay done.
    Done {
        /// Results.
        summary: Rc<ReplaySummary>,
        /// How many configurations were asked for (plus KVM today).
        asked: usize,
        /// Longest rmaps.
        longest: Vec<LongRmap>,
        /// Encoding.
        encoding: Option<Encoding>,
        /// The trace's hash (and bytes, when small) for the share link, when taken.
        shared: Option<SharedTrace>,
        /// The recommendation's candidates follow.
        candidates_pending: bool,
        /// Workers that imported a capture for these results (0 when they read rmaplab's
        /// binary or their kept copy).
        imports: usize,
    },
    /// The second pass finished: the recommendation's candidates, and a large trace's hash.
    Candidates {
        /// The candidates' reports.
        configs: Rc<Vec<ConfigReport>>,
        /// The trace's SHA-256, when the first pass did not take it.
        sha256: Option<String>,
    },
    /// The events of the stepped rmap arrived.
    Focused {
        /// rmap.
        rmap: RmapId,
        /// Events.
        events: Rc<Vec<FocusEvent>>,
        /// Cut at the limit.
        truncated: bool,
    },
    /// The stepper's slider moved: events applied (clamped to the rmap's events).
    Step(usize),
    /// Stepper array size changed.
    FocusEntries(usize),
    /// The user cancelled the replay.
    Cancel,
    /// A load, replay or request failed: the message, in words that say what to do.
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
            Action::Load {
                name,
                source,
                example,
            } => s.load(name, source, example),
            Action::Hash(h) => {
                if h.trim_start_matches('#') != s.fragment().trim_start_matches('#') {
                    let vm = s.settings.vm;
                    s.settings = Settings::from_hash(&h);
                    s.error = None;
                    s.wanted_focus = share::focus_ref(&h);
                    s.focus = None;
                    if !s.follow_link_trace(&h) {
                        // Same trace: the VM choice still applies unless the link says.
                        s.settings.vm = s.settings.vm.or(vm);
                    }
                }
            }
            Action::Progress(done, total) => {
                s.status = Status::Running { done, total };
                s.report = None;
                s.report_started = None;
                s.eta_s = None;
            }
            Action::Report { report, at_ms } => {
                let running = matches!(s.status, Status::Running { .. });
                let wanted = match report.phase {
                    Phase::Replay => running,
                    Phase::Recommendation => s.recommending && !running,
                };
                if wanted {
                    let started = match s.report_started {
                        Some((phase, t)) if phase == report.phase => t,
                        _ => at_ms,
                    };
                    s.report_started = Some((report.phase, started));
                    s.eta_s = eta(report.fraction(), (at_ms - started) / 1000.0);
                    if report.phase == Phase::Replay {
                        s.status = Status::Running {
                            done: report.done,
                            total: report.total,
                        };
                    }
                    s.report = Some(Rc::new(report));
                }
            }
            Action::FieldErrors(errors) => s.field_errors = errors,
            Action::Pin => {
                if let Some(summary) = &s.summary {
                    let name = s
                        .shown
                        .as_ref()
                        .map_or(s.trace_name.clone(), |g| g.name.clone());
                    s.pinned = Some(Pinned {
                        name,
                        configs: Rc::new(
                            summary.configs[..s.asked.min(summary.configs.len())].to_vec(),
                        ),
                        settings: s.settings.to_hash(),
                    });
                }
            }
            Action::Unpin => s.pinned = None,
            Action::CancelRecommendation => {
                s.recommending = false;
                s.report = None;
                s.report_started = None;
                s.eta_s = None;
            }
            Action::Done {
                summary,
                asked,
                longest,
                encoding,
                shared,
                candidates_pending,
                imports,
            } => {
                s.imports += imports as u64;
                s.candidates = Rc::new(Vec::new());
                s.recommending = candidates_pending;
                s.report = None;
                s.report_started = None;
                s.eta_s = None;
                if let Some(w) = s.wanted.clone() {
                    // The page asked the worker to hash the whole trace in this pass.
                    let sha = shared.as_ref().map_or("", |t| t.sha256.as_str());
                    if w.sha256 != sha {
                        let name = s.trace_name.clone();
                        s.back_to_shown();
                        s.wanted = Some(Wanted {
                            chosen: false,
                            ..w.clone()
                        });
                        s.status = Status::Idle;
                        s.error = Some(format!(
                            "{name} is not the trace the link names: its SHA-256 is {}…, the link's {} is {}…; choose that file",
                            &sha[..12.min(sha.len())],
                            w.name,
                            &w.sha256[..12.min(w.sha256.len())]
                        ));
                        return Rc::new(s);
                    }
                    s.wanted = None;
                }
                s.link_sha = shared.as_ref().map(|t| t.sha256.clone());
                s.link_trace = if s.example.as_deref() == Some(DEFAULT_EXAMPLE) {
                    String::new()
                } else if s.example.is_some() || shared.is_some() {
                    share::hash_part(&s.trace_name, s.example.as_deref(), shared.as_ref())
                } else {
                    // A large trace is hashed in the second pass; until then the link says so.
                    share::pending_part(&s.trace_name)
                };
                s.asked = asked.min(summary.configs.len());
                s.summary = Some(summary);
                s.longest = longest;
                s.shown = Some(Shown {
                    name: s.trace_name.clone(),
                    source: s.trace.clone(),
                    encoding,
                });
                s.encoding = encoding;
                s.status = Status::Idle;
                s.error = None;
            }
            Action::Candidates { configs, sha256 } => {
                s.candidates = configs;
                s.recommending = false;
                s.report = None;
                s.report_started = None;
                s.eta_s = None;
                if let Some(sha) = sha256 {
                    if s.example.is_none() {
                        s.link_trace = share::hash_part(
                            &s.trace_name,
                            None,
                            Some(&SharedTrace {
                                sha256: sha.clone(),
                                inline: None,
                            }),
                        );
                    }
                    s.link_sha = Some(sha);
                }
            }
            Action::Focused {
                rmap,
                events,
                truncated,
            } => {
                let entries = s.focus.as_ref().map_or(PTE_LIST_EXT, |f| f.entries);
                // Open where the link says, else where the story is: the list at its largest.
                let linked = s
                    .wanted_focus
                    .take()
                    .filter(|w| w.rmap == rmap)
                    .and_then(|w| w.step);
                let step = linked.map_or_else(
                    || peak_step(&events, s.settings.recycle),
                    |k| k.min(events.len()),
                );
                s.focus = Some(SteppedRmap {
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
                    f.entries = n.clamp(MIN_ENTRIES, MAX_ENTRIES);
                }
            }
            Action::Cancel => {
                s.recommending = false;
                s.back_to_shown();
                if let Some(w) = s.wanted.as_mut() {
                    w.chosen = false;
                }
                s.status = Status::Cancelled;
            }
            Action::Failed(e) => {
                s.recommending = false;
                if let Some(w) = s.wanted.as_mut() {
                    w.chosen = false;
                }
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

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
