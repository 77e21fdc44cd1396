//! Reading and replaying a trace as `replay` and `report` do, and what they say about figures
//! that cannot stand as results.

use super::capture_args::check_import;
use crate::input::{InputError, InputSummary, TraceInput};
use crate::parallel::ParallelReplay;
use anyhow::{Context, Result};
use rmaplab_core::import::ImportOptions;
use rmaplab_core::input::reader::BATCH;
use rmaplab_core::replay::{ReplayOptions, ReplaySummary, NO_SPTES};
use rmaplab_core::trace::{Event, TraceMeta};
use rmaplab_core::ModelConfig;
use std::path::Path;
use std::process::ExitCode;

/// How to read and replay a trace.
pub struct RunOptions<'a> {
    /// The trace.
    pub trace: &'a Path,
    /// Import options for kvmmmu captures.
    pub import: ImportOptions,
    /// `--strict`.
    pub strict: bool,
    /// No progress.
    pub quiet: bool,
    /// Replay threads (`None`: one per CPU).
    pub threads: Option<u16>,
}

/// A trace opened for a replay: its reader, header, name and the configurations built from it.
pub struct Opened {
    /// The reader, at the first event.
    pub input: TraceInput,
    /// The trace's header (a capture's import report among its metadata).
    pub meta: TraceMeta,
    /// The name errors are reported under.
    pub name: String,
    /// The configurations `configs` built from the header.
    pub configs: Vec<ModelConfig>,
}

/// Open `o.trace`, read its header, check a capture's import as `--strict` asks, and build the
/// configurations from the header: how every replay begins.
pub fn open(
    o: &RunOptions<'_>,
    configs: &dyn Fn(&TraceMeta) -> Result<Vec<ModelConfig>>,
) -> Result<Opened> {
    let mut input = TraceInput::open(o.trace, !o.quiet, &o.import)?;
    let meta = input.meta()?;
    let name = input.name().to_string();
    check_import(&meta, o.strict, o.quiet).context(name.clone())?;
    let configs = configs(&meta).context(name.clone())?;
    Ok(Opened {
        input,
        meta,
        name,
        configs,
    })
}

/// Read `o.trace` once and replay it through the configurations `configs` builds from its
/// header, on every core.
pub fn run(
    o: &RunOptions<'_>,
    configs: &dyn Fn(&TraceMeta) -> Result<Vec<ModelConfig>>,
) -> Result<(ReplaySummary, InputSummary)> {
    let threads = o.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        usize::from,
    );
    let opts = ReplayOptions { strict: o.strict };
    let Opened {
        mut input,
        meta,
        name,
        configs: cfgs,
    } = open(o, configs)?;
    let mut r = ParallelReplay::start(&meta, &cfgs, opts, threads).context(name.clone())?;
    let mut batch = Vec::with_capacity(BATCH);
    // A replay thread that stops (an anomaly under --strict) stops the reading at once.
    let read = feed_batches(&mut input, &mut batch, |ev| r.feed(ev));
    // A replay error names the event it stopped at: it is the reason the reading stopped, so it
    // is reported before whatever the reading says.
    let s = r.finish().context(name)?;
    read?;
    Ok((s, input.finish()))
}

/// Pull every event of `input` through `feed` until it returns false (the consumer stopped;
/// its own error says why) or the trace ends.
fn feed_batches(
    input: &mut TraceInput,
    batch: &mut Vec<Event>,
    mut feed: impl FnMut(Event) -> bool,
) -> Result<(), InputError> {
    while input.next_batch(batch)? {
        for ev in batch.drain(..) {
            if !feed(ev) {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Notes and mismatches on stderr (for outputs that are data, not text for people).
pub fn notes_to_stderr(s: &ReplaySummary) {
    // The warnings about trust are said once, by trust_warnings.
    let warned = s.exactness.warning();
    for n in s
        .notes
        .iter()
        .filter(|n| n.as_str() != NO_SPTES && Some(n.as_str()) != warned.as_deref())
    {
        eprintln!("note: {n}");
    }
    for c in s.stat_checks.iter().filter(|c| !c.matches) {
        eprintln!(
            "MISMATCH at event {}: {} — KVM says {}, the model says {}",
            c.event, c.name, c.kvm, c.model
        );
    }
}

/// What a replay's figures cannot stand as: a trace of a VM that made no SPTEs is no result,
/// and a trace that may miss removals gives bounds, not exact figures. Each is said on stderr
/// (whatever the output format); under `--strict`, the exit status that refuses the trace.
pub fn trust_warnings(s: &ReplaySummary, strict: bool) -> Option<ExitCode> {
    let mut refuse = None;
    if s.made_no_sptes() {
        eprintln!("warning: {NO_SPTES}");
        refuse = Some("the trace holds no SPTE add, so it is no result");
    }
    if let Some(w) = s.exactness.warning() {
        eprintln!("warning: {w}");
        refuse = refuse.or(Some("the figures are not exact (see the warning)"));
    }
    let why = refuse.filter(|_| strict)?;
    eprintln!("error: --strict: {why}");
    Some(crate::shared::exit::refused())
}
