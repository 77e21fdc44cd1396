//! `rmaplab replay`: a trace through many configurations in one pass; and the configuration
//! and host options it shares with `rmaplab report`.

use super::import::{check_import, CaptureArgs};
use crate::cli::Format;
use crate::input::{InputError, InputSummary, TraceInput};
use crate::parallel::ParallelReplay;
use crate::render;
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use rmaplab_core::config::{
    CacheSpec, ConfigError, ConfigRequest, EntriesChoice, RecycleSpec, TopupPolicy,
};
use rmaplab_core::import::ImportOptions;
use rmaplab_core::input::reader::BATCH;
use rmaplab_core::memory::HostShape;
use rmaplab_core::replay::{ReplayOptions, ReplaySummary, Replayer, NO_SPTES};
use rmaplab_core::trace::{Event, TraceMeta};
use rmaplab_core::Era;
use rmaplab_core::ModelConfig;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Whether TDP was on, when the trace does not say.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tdp {
    /// TDP (EPT/NPT) on: the seed's rule gives 2 entries.
    On,
    /// TDP off (shadow paging): the seed's rule gives 14.
    Off,
}

/// Which configurations to compare.
#[derive(Args, Debug, Clone)]
pub struct ConfigArgs {
    /// Array sizes to compare, 2..=64, and `seed` for the seed's own rule (2 entries when the
    /// trace says TDP is on, 14 when off; see --tdp).
    #[arg(long, value_delimiter = ',', value_name = "N|seed,...")]
    #[arg(default_value = "2,3,4,8,14")]
    pub entries: Vec<EntriesChoice>,
    /// Kernel eras: tail-append (v5.15-v6.3), head-insert (v6.4+), null-terminated (<= v5.14).
    #[arg(long, value_delimiter = ',', value_name = "ERA,...")]
    #[arg(default_value = "tail-append,head-insert")]
    pub era: Vec<Era>,
    /// When vCPU caches are topped up: `always` (KVM: before every fault) and/or
    /// `when-rmaps-used` (the seed's patch 4: nothing until the VM's first rmap add); each
    /// policy is a set of configurations, labelled `+lazy-topup`.
    #[arg(long, value_delimiter = ',', value_name = "POLICY,...")]
    #[arg(default_value = "always")]
    pub topup: Vec<TopupPolicy>,
    /// Per-vCPU cache CAPACITY/MIN (KVM: 40/14; Vipin Sharma proposed 5 and 4).
    #[arg(long, default_value = "40/14", value_name = "CAP/MIN")]
    pub vcpus_cache: CacheSpec,
    /// Recycle threshold (RMAP_RECYCLE_THRESHOLD), or `off`.
    #[arg(long, default_value = "1000", value_name = "N|off")]
    pub recycle: RecycleSpec,
    /// Whether TDP was on, for `--entries seed` when the trace's metadata does not say (it
    /// overrides the metadata when given).
    #[arg(long, value_enum)]
    pub tdp: Option<Tdp>,
}

impl ConfigArgs {
    /// The request, before the trace is read.
    pub fn request(&self) -> Result<ConfigRequest> {
        if self.entries.is_empty() || self.era.is_empty() || self.topup.is_empty() {
            bail!("give at least one --entries value, one --era and one --topup policy");
        }
        Ok(ConfigRequest {
            entries: self.entries.clone(),
            eras: self.era.clone(),
            topups: self.topup.clone(),
            cache_capacity: self.vcpus_cache.capacity,
            cache_min: self.vcpus_cache.min,
            recycle_threshold: self.recycle.0,
        })
    }

    /// TDP as given, else as the trace says.
    pub fn tdp(&self, meta: &TraceMeta) -> Option<bool> {
        self.tdp.map(|t| t == Tdp::On).or(meta.tdp)
    }
}

/// A settings error in the CLI's words: where to say whether TDP was on.
pub fn config_error(e: ConfigError) -> anyhow::Error {
    match e {
        ConfigError::SeedNeedsTdp => anyhow::anyhow!("{e}: --tdp on|off"),
        e => e.into(),
    }
}

/// The host the memory figures are scaled to.
#[derive(Args, Debug, Clone)]
pub struct HostArgs {
    /// vCPUs per VM for the memory figures (default: the trace's own count from its metadata,
    /// else the vCPUs its events used).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub vcpus: Option<u64>,
    /// VMs per host for the host figures, each like the traced one (default: a capture's own
    /// VMs when its import found several — each VM with its own vCPUs' caches and its own
    /// lists — else 1). Giving --vcpus or --vms sets the host's shape instead.
    #[arg(long, value_name = "M", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub vms: Option<u64>,
}

impl HostArgs {
    /// The host for `s`, and whether the vCPU count came from the trace.
    pub fn host(&self, s: &ReplaySummary) -> (HostShape, bool) {
        (
            HostShape::of_summary(s, self.vcpus, self.vms),
            self.vcpus.is_none(),
        )
    }
}

/// `rmaplab replay`'s arguments.
#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Trace file (rmaplab binary or JSON Lines, or a kvmmmu capture as `import` reads it;
    /// `-` reads stdin).
    pub trace: PathBuf,
    #[command(flatten)]
    pub configs: ConfigArgs,
    #[command(flatten)]
    pub host: HostArgs,
    /// Output format (JSON: one object per configuration, its report plus `metrics`, every
    /// registry column; CSV: the same columns).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Print every non-empty rmap at the end (head word, descriptors, entries) for one
    /// configuration; needs exactly one --entries and one --era.
    #[arg(long)]
    pub dump_lists: bool,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// How `replay` and `report` read and replay a trace.
#[derive(Args, Debug, Clone)]
pub struct ReadArgs {
    #[command(flatten)]
    pub capture: CaptureArgs,
    /// Replay threads: the trace is read and decoded once, the configurations are shared out
    /// among the threads (at most one per configuration; with one, decoding and replaying
    /// still overlap). Default: one per CPU. The results do not depend on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// No progress bar (nor, for `report`, the import report on stderr).
    #[arg(long)]
    pub quiet: bool,
}

impl ReadArgs {
    /// How to read `trace` with these options.
    pub fn run_options<'a>(&self, trace: &'a Path) -> RunOptions<'a> {
        RunOptions {
            trace,
            import: self.capture.options(),
            strict: self.capture.strict,
            quiet: self.quiet,
            threads: self.threads,
        }
    }
}

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
    let mut input = TraceInput::open(o.trace, !o.quiet, &o.import)?;
    let meta = input.meta()?;
    let name = input.name().to_string();
    check_import(&meta, o.strict, o.quiet).context(name.clone())?;
    let cfgs = configs(&meta).context(name.clone())?;
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

/// `rmaplab replay`.
pub fn replay(a: &ReplayArgs) -> Result<ExitCode> {
    let req = a.configs.request()?;
    let import = a.read.capture.options();
    let build = |meta: &TraceMeta| -> Result<Vec<ModelConfig>> {
        req.resolve(a.configs.tdp(meta)).map_err(config_error)
    };
    if a.dump_lists {
        return replay_dump_lists(a, &build, &import);
    }
    let (s, summary) = run(&a.read.run_options(&a.trace), &build)?;
    let (host, _) = a.host.host(&s);
    match a.format {
        Format::Table => {
            out!("{}", render::replay_table(&s, host));
            let enc = summary.encoding.describe();
            outln!(
                "\nread {} bytes of {enc}, {} events",
                summary.bytes,
                summary.events
            );
        }
        Format::Json => {
            let rows = rmaplab_core::columns::json_rows(&s.configs, host);
            outln!("{}", serde_json::to_string_pretty(&rows)?);
        }
        Format::Csv => out!("{}", rmaplab_core::columns::csv(&s.configs, host)),
    }
    if a.format != Format::Table {
        notes_to_stderr(&s);
    }
    if a.read.capture.strict && !s.stats_match() {
        eprintln!("error: the replay does not reproduce KVM's counters (see MISMATCH lines)");
        return Ok(ExitCode::from(3));
    }
    Ok(trust_warnings(&s, a.read.capture.strict).unwrap_or(ExitCode::SUCCESS))
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
    Some(ExitCode::from(3))
}

/// `replay --dump-lists`: one configuration, one thread, the lists printed at the end.
fn replay_dump_lists(
    a: &ReplayArgs,
    build: &dyn Fn(&TraceMeta) -> Result<Vec<ModelConfig>>,
    import: &ImportOptions,
) -> Result<ExitCode> {
    let opts = ReplayOptions {
        strict: a.read.capture.strict,
    };
    let mut input = TraceInput::open(&a.trace, !a.read.quiet, import)?;
    let meta = input.meta()?;
    let name = input.name().to_string();
    check_import(&meta, a.read.capture.strict, a.read.quiet).context(name.clone())?;
    let cfgs = build(&meta).context(name.clone())?;
    let [cfg] = cfgs[..] else {
        bail!("--dump-lists shows one configuration: pass a single --entries N, a single --era E and a single --topup policy");
    };
    let mut r = Replayer::new(meta, &[cfg], opts).context(name.clone())?;
    let mut batch = Vec::with_capacity(BATCH);
    while input.next_batch(&mut batch)? {
        for ev in &batch {
            r.feed(ev).context(name.clone())?;
        }
    }
    let dumps = r.dump_lists(0);
    match a.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&dumps)?),
        _ => out!("{}", render::dump_text(&cfg.label(), &dumps)),
    }
    Ok(ExitCode::SUCCESS)
}
