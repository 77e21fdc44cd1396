//! The replay worker's logic (pure, tested natively) and its web-worker glue.
//!
//! The worker reads the trace itself: the embedded default trace arrives as bytes, a user's file
//! arrives as a `File` handle and is read by offset in slices (`FileReaderSync`), so a
//! multi-gigabyte upload never has to fit in memory — only the live rmap state does (a capture
//! is read in several passes, each by offset, as core's reader asks).

use crate::protocol::{
    FocusEvent, LongRmap, Part, Phase, ProgressReport, ReplayJob, Request, Response, Split,
};
use crate::share::{self, SharedTrace};
use rmaplab_core::config::{rmap_size_after_add, ConfigError};
use rmaplab_core::import::ImportOptions;
use rmaplab_core::input::reader::{ReadError, TraceReader, BATCH};
use rmaplab_core::input::source::{Progress, ReadSeek};
use rmaplab_core::input::Encoding;
use rmaplab_core::recommend;
use rmaplab_core::replay::{IdHasher, ReplayError, ReplayOptions, ReplayPart, Replayer};
use rmaplab_core::sha256::Sha256;
use rmaplab_core::trace::writer::{OutputEncoding, TraceEncoder};
use rmaplab_core::trace::RmapId;
use rmaplab_core::{Event, EventKind, ModelConfig};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::io::Read;

/// Bytes read (and decoded) between progress reports.
pub const CHUNK: usize = rmaplab_core::input::reader::CHUNK;
/// Longest rmaps reported.
pub const LONGEST: usize = 12;

/// Opens a fresh reader of the worker's trace.
pub type Open<'o, 'a> = dyn FnMut() -> Box<dyn ReadSeek + 'a> + 'o;

/// Progress as the page shows it: (done, of) in bytes of one pass's worth, all passes counted.
pub const PROGRESS_SCALE: u64 = 1 << 20;

/// Most bytes of a kept copy (rmaplab binary, ~2 B per event: ~130 M events); a longer trace
/// is read from the original each time.
pub const KEEP_MAX: usize = 256 << 20;

/// The worker's trace as it was imported, kept in rmaplab's binary format after the first pass
/// that read it whole: later replays, the recommendation's pass, steps and exports read it
/// instead of importing the capture again.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    /// The VM choice it was imported with (it holds that VM's events only).
    pub vm: Option<u64>,
    /// The original's encoding.
    pub encoding: Encoding,
    /// The events, with the header the import built.
    pub bytes: std::rc::Rc<[u8]>,
}

impl Kept {
    /// Its VM choice and encoding, as they travel beside its bytes.
    pub fn meta(&self) -> crate::protocol::KeptMeta {
        crate::protocol::KeptMeta {
            vm: self.vm,
            encoding: self.encoding,
        }
    }

    /// The copy the leader sent, as `meta` and `bytes`.
    pub fn from_parts(meta: crate::protocol::KeptMeta, bytes: std::rc::Rc<[u8]>) -> Self {
        Kept {
            vm: meta.vm,
            encoding: meta.encoding,
            bytes,
        }
    }
}

/// Builds a [`Kept`] copy while a pass reads the original.
struct Keeper {
    enc: TraceEncoder,
    out: Vec<u8>,
}

impl Keeper {
    /// A copy of a trace read with `vm`, when its encoding is worth keeping (everything but
    /// rmaplab's own binary, which is read as fast as a copy would be).
    fn start(encoding: Option<Encoding>, meta: &rmaplab_core::TraceMeta) -> Option<Self> {
        match encoding {
            Some(Encoding::Binary) | None => None,
            Some(_) => {
                let mut k = Keeper {
                    enc: TraceEncoder::new(OutputEncoding::Binary),
                    out: Vec::new(),
                };
                k.enc.header(meta, &mut k.out);
                Some(k)
            }
        }
    }

    /// Add `batch`; `false` once the copy passed [`KEEP_MAX`] (it is then dropped).
    fn add(&mut self, batch: &[Event]) -> bool {
        for ev in batch {
            self.enc.event(ev, &mut self.out);
        }
        self.out.len() <= KEEP_MAX
    }

    fn finish(mut self, vm: Option<u64>, encoding: Encoding) -> Kept {
        self.enc.finish(&mut self.out);
        Kept {
            vm,
            encoding,
            bytes: self.out.into(),
        }
    }
}

/// What a request reads: the kept copy when it was imported with the same VM choice (no VM is
/// applied to it again), else the original. Returns the reader, its size, the VM to apply and
/// the kept copy read (if any).
fn pick<'a, 'k>(
    open: &mut Open<'_, 'a>,
    total: u64,
    kept: Option<&'k Kept>,
    vm: Option<u64>,
) -> (Box<dyn ReadSeek + 'a>, u64, Option<u64>, Option<&'k Kept>) {
    match kept {
        Some(k) if k.vm == vm => (
            Box::new(std::io::Cursor::new(std::rc::Rc::clone(&k.bytes))),
            k.bytes.len() as u64,
            None,
            Some(k),
        ),
        _ => (open(), total, vm, None),
    }
}

/// Where a pass reports its progress: what it is for, the events it replayed so far (its loop
/// counts them), and where the reports go.
struct Reporting<'p> {
    phase: Phase,
    kept: bool,
    events: std::rc::Rc<std::cell::Cell<u64>>,
    to: &'p mut dyn FnMut(&ProgressReport),
}

/// A core [`TraceReader`] over `reader` (`total` bytes, when known), reporting progress: the
/// stage, the pass, bytes and events, and the share of all its passes done.
fn open_trace<'a>(
    reader: Box<dyn ReadSeek + 'a>,
    total: u64,
    vm: Option<u64>,
    report: Reporting<'a>,
) -> TraceReader<'a> {
    let import = ImportOptions {
        vm,
        ..ImportOptions::default()
    };
    let len = (total > 0).then_some(total);
    let Reporting {
        phase,
        kept,
        events,
        to,
    } = report;
    TraceReader::seekable(reader, len, import).on_progress(move |p: &Progress| {
        if let Some(f) = p.fraction() {
            to(&ProgressReport {
                phase,
                stage: p.stage.to_string(),
                pass: p.pass,
                passes: p.passes,
                bytes: p.bytes,
                of_bytes: p.total,
                events: events.get(),
                kept,
                done: (f * PROGRESS_SCALE as f64) as u64,
                total: PROGRESS_SCALE,
            });
        }
        true
    })
}

/// The reader of a pass over the trace ([`pick`]: the kept import when it fits, else the
/// original), reporting progress as `phase`; with the counter the pass adds the events it
/// replayed to, and the kept copy read, if any.
fn open_pass<'a: 'p, 'p, 'k>(
    open: &mut Open<'_, 'a>,
    total: u64,
    kept: Option<&'k Kept>,
    vm: Option<u64>,
    phase: Phase,
    progress: &'p mut dyn FnMut(&ProgressReport),
) -> (
    TraceReader<'p>,
    std::rc::Rc<std::cell::Cell<u64>>,
    Option<&'k Kept>,
) {
    let (reader, size, vm, from_kept) = pick(open, total, kept, vm);
    let events = std::rc::Rc::new(std::cell::Cell::new(0));
    let report = Reporting {
        phase,
        kept: from_kept.is_some(),
        events: std::rc::Rc::clone(&events),
        to: progress,
    };
    (open_trace(reader, size, vm, report), events, from_kept)
}

/// KVM's counters the user typed, as the `stat` events that follow the trace's last.
fn stat_events(stats: &[(String, u64)]) -> Vec<Event> {
    stats
        .iter()
        .map(|(name, value)| {
            Event::new(EventKind::Stat {
                name: name.clone(),
                value: *value,
            })
        })
        .collect()
}

/// Reports that go nowhere.
fn quiet(_: &ProgressReport) {}

impl<'p> Reporting<'p> {
    /// Progress no one watches (steps, exports).
    fn none(to: &'p mut dyn FnMut(&ProgressReport)) -> Self {
        Reporting {
            phase: Phase::Replay,
            kept: false,
            events: std::rc::Rc::default(),
            to,
        }
    }
}

/// Per rmap id: (current size, peak, events, gfn).
type RmapSizes = HashMap<RmapId, (u64, u64, u64, Option<u64>), BuildHasherDefault<IdHasher>>;

/// A settings error in the page's words: where to say whether TDP was on.
fn settings_text(e: &ConfigError) -> String {
    match e {
        ConfigError::SeedNeedsTdp => format!("{e}: choose it in the TDP setting"),
        e => e.to_string(),
    }
}

/// What stops a worker's pass over the trace; the page shows it as text.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Reading or decoding the trace failed (or the capture was refused).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The settings cannot apply to this trace (the seed's rule needs to know about TDP).
    #[error("{}", settings_text(.0))]
    Settings(#[from] ConfigError),
    /// The replay refused the configurations or an event.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// Reading the rest of the trace for its hash failed.
    #[error("{0}")]
    Hash(std::io::Error),
}

/// What one worker's replay answers.
#[derive(Debug)]
pub struct Replayed {
    /// Its share of the configurations.
    pub part: Part,
    /// Its part of the results (none for an empty share).
    pub results: Option<ReplayPart>,
    /// How many configurations were asked for (plus KVM today).
    pub shown: usize,
    /// The longest rmaps (worker 0 only).
    pub longest: Vec<LongRmap>,
    /// The encoding detected.
    pub encoding: Option<Encoding>,
    /// The trace's hash (and bytes, when small) for links, when taken in this pass (worker 0
    /// only).
    pub shared: Option<SharedTrace>,
    /// The recommendation's candidates, still to replay.
    pub candidates: Vec<ModelConfig>,
    /// The trace as imported, when this pass read a capture whole (for the next requests).
    pub kept: Option<Kept>,
    /// Whether this pass imported a capture (not rmaplab's binary, not a kept copy).
    pub imported: bool,
}

/// The trace's hash and, when small, its bytes for an inline share link, read in order from
/// `reader`. Past [`share::INLINE_MAX_RAW`] bytes it hashes on only when `hash_all`; else it
/// stops there and answers `None` (a large trace's hash is taken in the second pass, after the
/// results are shown).
fn take_share(reader: &mut dyn Read, hash_all: bool) -> Result<Option<SharedTrace>, WorkerError> {
    let mut sha = Sha256::new();
    let mut kept = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    let mut overflow = false;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(WorkerError::Hash(e)),
        };
        let got = &buf[..n];
        sha.update(got);
        if !overflow {
            if kept.len() + n <= share::INLINE_MAX_RAW {
                kept.extend_from_slice(got);
            } else {
                overflow = true;
                kept = Vec::new();
                if !hash_all {
                    return Ok(None);
                }
            }
        }
    }
    let inline = if overflow { None } else { share::inline(&kept) };
    Ok(Some(SharedTrace {
        sha256: sha.finish_hex(),
        inline,
    }))
}

/// Count `ev` into the per-rmap sizes: (live entries, peak, events, gfn), with KVM's recycle
/// rule at `recycle`.
fn tally(sizes: &mut RmapSizes, ev: &Event, recycle: Option<u64>) {
    if let Some(rmap) = ev.rmap() {
        let e = sizes.entry(rmap).or_insert((0, 0, 0, ev.ctx.gfn));
        e.2 += 1;
        match ev.kind {
            EventKind::Add { .. } => {
                // Peaks as KVM's lists reach them: the recycle rule empties a long list.
                e.0 = rmap_size_after_add(e.0, recycle);
                e.1 = e.1.max(e.0);
            }
            EventKind::Remove { .. } => e.0 = e.0.saturating_sub(1),
            EventKind::Zap { .. } => e.0 = 0,
            _ => {}
        }
    }
}

/// Decode and replay the trace `reader` yields (any encoding core reads; `total` is its size for
/// progress) through `job`'s request resolved against its header (`job.tdp` overrides the
/// header's) and KVM today, reporting progress per chunk. A leader ([`Split::Lead`]) decides how
/// many workers share the replay once it knows the configurations and replays the first share;
/// it tells `on_plan` at once when it reads rmaplab's binary or its kept copy (handing the copy
/// on), and only once its import is done when it imports a capture (handing on the copy it just
/// made, so the other workers never import the capture themselves; at once, without a copy, if
/// the copy outgrows [`KEEP_MAX`]). It also hashes the trace on the way when it is small, or whatever its size
/// with `hash_all` (a share link that names a file by hash must check it before its results are
/// shown), and finds the longest rmaps.
pub fn replay<'a>(
    open: &mut Open<'_, 'a>,
    total: u64,
    job: &ReplayJob,
    kept: Option<&Kept>,
    progress: &mut dyn FnMut(&ProgressReport),
    on_plan: &mut dyn FnMut(usize, Option<&Kept>),
) -> Result<Replayed, WorkerError> {
    let lead = matches!(job.split, Split::Lead { .. });
    let shared = if lead {
        take_share(&mut open(), job.hash_all)?
    } else {
        None
    };
    let (mut t, events, from_kept) = open_pass(open, total, kept, job.vm, Phase::Replay, progress);
    let meta = t.meta()?;
    let asked = job.request.resolve(job.tdp.or(meta.tdp))?;
    let (configs, candidates) = recommend::plan(&asked, &meta);
    let shown = configs.len();
    let part = job.split.part(shown);
    let mut keeper = if from_kept.is_none() {
        Keeper::start(t.encoding(), &meta)
    } else {
        None
    };
    // Whether the plan waits for the copy this pass makes.
    let mut plan_waits = lead && part.of > 1 && keeper.is_some();
    if lead && !plan_waits {
        // The copy goes out only when someone shares the replay.
        on_plan(part.of, from_kept.filter(|_| part.of > 1));
    }
    let encoding = |t: &TraceReader<'_>| from_kept.map(|k| k.encoding).or(t.encoding());
    let mut out = Replayed {
        part,
        results: None,
        shown,
        longest: Vec::new(),
        encoding: None,
        shared: None,
        candidates,
        kept: None,
        imported: false,
    };
    let positions = part.positions(shown);
    if positions.is_empty() {
        out.encoding = encoding(&t);
        return Ok(out);
    }
    let mut r = Replayer::new_part(meta, &configs, &positions, ReplayOptions::default())?;
    let mut sizes: RmapSizes = HashMap::default();
    let mut batch = Vec::with_capacity(BATCH);
    while t.next_batch(&mut batch)? {
        if lead {
            for ev in &batch {
                tally(&mut sizes, ev, job.request.recycle_threshold);
            }
        }
        if keeper.as_mut().is_some_and(|k| !k.add(&batch)) {
            keeper = None;
            if std::mem::take(&mut plan_waits) {
                on_plan(part.of, None);
            }
        }
        r.feed_all(&batch)?;
        events.set(events.get() + batch.len() as u64);
    }
    out.encoding = encoding(&t);
    out.imported = from_kept.is_none() && t.encoding().is_some_and(|e| e != Encoding::Binary);
    if let (Some(k), Some(enc)) = (keeper, t.encoding()) {
        out.kept = Some(k.finish(job.vm, enc));
    }
    if plan_waits {
        on_plan(part.of, out.kept.as_ref());
    }
    out.longest = sizes
        .into_iter()
        .map(|(rmap, (_, peak, events, gfn))| LongRmap {
            rmap,
            gfn,
            peak,
            events,
        })
        .collect();
    out.longest
        .sort_by(|a, b| b.peak.cmp(&a.peak).then(a.rmap.cmp(&b.rmap)));
    out.longest.truncate(LONGEST);
    drop(t);
    r.feed_all(&stat_events(&job.kvm_stats))?;
    out.shared = shared;
    out.results = Some(r.finish_part());
    Ok(out)
}

/// The second pass: the trace through `part`'s share of `configs` alone (the recommendation's
/// candidates; `None` for an empty share), and its SHA-256 when `hash` (the first pass did not
/// take it; worker 0 only).
pub fn second_pass<'a>(
    open: &mut Open<'_, 'a>,
    configs: &[ModelConfig],
    job: &ReplayJob,
    hash: bool,
    part: Part,
    kept: Option<&Kept>,
    progress: &mut dyn FnMut(&ProgressReport),
) -> Result<(Option<ReplayPart>, Option<String>), WorkerError> {
    let hash = hash && part.is_first();
    let positions = part.positions(configs.len());
    let sha = if hash {
        take_share(&mut open(), true)?.map(|s| s.sha256)
    } else {
        None
    };
    let reports = if positions.is_empty() {
        None
    } else {
        let (mut t, events, _) = open_pass(open, 0, kept, job.vm, Phase::Recommendation, progress);
        let meta = t.meta()?;
        let mut r = Replayer::new_part(meta, configs, &positions, ReplayOptions::default())?;
        let mut batch = Vec::with_capacity(BATCH);
        while t.next_batch(&mut batch)? {
            r.feed_all(&batch)?;
            events.set(events.get() + batch.len() as u64);
        }
        r.feed_all(&stat_events(&job.kvm_stats))?;
        Some(r.finish_part())
    };
    Ok((reports, sha))
}

/// The events of `rmap`, at most `limit` (streamed: stops reading once the limit is passed).
pub fn focus(
    reader: Box<dyn ReadSeek + '_>,
    rmap: RmapId,
    limit: usize,
    vm: Option<u64>,
) -> Result<(Vec<FocusEvent>, bool), WorkerError> {
    let mut out = Vec::new();
    let mut truncated = false;
    let mut q = quiet;
    let mut t = open_trace(reader, 0, vm, Reporting::none(&mut q));
    t.meta()?;
    // In batches, as the replay reads: the stepper's pick should answer as fast as a replay
    // of one configuration would.
    let mut batch = Vec::with_capacity(BATCH);
    'read: while t.next_batch(&mut batch)? {
        for ev in &batch {
            if let Some(f) = FocusEvent::of(ev, rmap) {
                if out.len() == limit {
                    truncated = true;
                    break 'read;
                }
                out.push(f);
            }
        }
    }
    Ok((out, truncated))
}

/// The trace re-encoded as rmaplab binary (streamed decode; the output is built in memory).
pub fn export_binary(
    reader: Box<dyn ReadSeek + '_>,
    vm: Option<u64>,
) -> Result<Vec<u8>, WorkerError> {
    let mut enc = TraceEncoder::new(OutputEncoding::Binary);
    let mut out = Vec::new();
    let mut q = quiet;
    let mut t = open_trace(reader, 0, vm, Reporting::none(&mut q));
    enc.header(&t.meta()?, &mut out);
    while let Some(ev) = t.next_event()? {
        enc.event(&ev, &mut out);
    }
    enc.finish(&mut out);
    Ok(out)
}

/// Handle one request against the worker's current trace (`open` yields a fresh reader of it;
/// `kept` is its imported copy, which a replay that reads a capture whole replaces).
pub fn handle<'a>(
    req: Request,
    total: u64,
    open: &mut Open<'_, 'a>,
    kept: &mut Option<Kept>,
    post: &mut dyn FnMut(Response),
) {
    match req {
        Request::Replay(job) => {
            let lead = matches!(job.split, Split::Lead { .. });
            let r = {
                // Progress goes out as it comes (the leader's only); the plan right away too.
                let post = std::cell::RefCell::new(&mut *post);
                let mut progress = |r: &ProgressReport| {
                    if lead {
                        (post.borrow_mut())(Response::Progress(r.clone()));
                    }
                };
                let mut on_plan = |of, kept: Option<&Kept>| {
                    (post.borrow_mut())(Response::Plan {
                        of,
                        kept: kept.cloned(),
                    })
                };
                replay(
                    open,
                    total,
                    &job,
                    kept.as_ref(),
                    &mut progress,
                    &mut on_plan,
                )
            };
            match r {
                Ok(mut done) => {
                    if let Some(k) = done.kept.take() {
                        *kept = Some(k);
                    }
                    // The leader hashes a large trace in the second pass unless asked first. No
                    // size is recommended from figures that are not exact, so then the
                    // candidates are not replayed at all.
                    let hash = lead && done.shared.is_none();
                    let exact = done
                        .results
                        .as_ref()
                        .is_none_or(|p| p.exactness().is_exact());
                    if !exact {
                        done.candidates.clear();
                    }
                    let second_part = done.part.second_pass();
                    let second = hash
                        || second_part
                            .is_some_and(|p| !p.positions(done.candidates.len()).is_empty());
                    post(Response::Done {
                        part: done.results.map(Box::new),
                        shown: done.shown,
                        shared: done.shared,
                        longest: done.longest,
                        encoding: done.encoding,
                        candidates_pending: second,
                        imported: done.imported,
                    });
                    // A second pass always has a share: the leader's is never empty.
                    if let (true, Some(part)) = (second, second_part) {
                        let r = {
                            let mut progress = |r: &ProgressReport| {
                                if lead {
                                    post(Response::Progress(r.clone()));
                                }
                            };
                            second_pass(
                                open,
                                &done.candidates,
                                &job,
                                hash,
                                part,
                                kept.as_ref(),
                                &mut progress,
                            )
                        };
                        post(match r {
                            Ok((part, sha256)) => Response::Candidates {
                                part: part.map(Box::new),
                                sha256,
                            },
                            Err(e) => Response::Failed(format!("the recommendation's replay: {e}")),
                        });
                    }
                }
                Err(e) => post(Response::Failed(e.to_string())),
            }
        }
        Request::Focus { rmap, limit, vm } => {
            let (reader, _, vm, _) = pick(open, total, kept.as_ref(), vm);
            post(match focus(reader, rmap, limit, vm) {
                Ok((events, truncated)) => Response::Focused {
                    rmap,
                    events,
                    truncated,
                },
                Err(e) => Response::Failed(e.to_string()),
            })
        }
        Request::Export { vm } => {
            let (reader, _, vm, _) = pick(open, total, kept.as_ref(), vm);
            post(match export_binary(reader, vm) {
                Ok(bytes) => Response::Exported(bytes),
                Err(e) => Response::Failed(format!("cannot export the trace: {e}")),
            })
        }
    }
}

/// Install the worker's message handler (wasm only; [`crate::worker_glue`]).
#[cfg(target_arch = "wasm32")]
pub fn run_worker() {
    crate::worker_glue::run();
}

/// Native builds have no worker.
#[cfg(not(target_arch = "wasm32"))]
pub fn run_worker() {}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
