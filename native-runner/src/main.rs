//! `rmaplab`: replay KVM rmap traces through many `pte_list_desc` configurations, convert
//! between trace encodings, generate synthetic traces and print the seed patch's arithmetic.

/// Write to stdout; a closed pipe (e.g. `| head`) ends the program quietly instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut so = std::io::stdout().lock();
        if let Err(e) = write!(so, $($arg)*).and_then(|_| so.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: cannot write to stdout: {e}");
            std::process::exit(1);
        }
    }};
}

macro_rules! outln {
    ($($arg:tt)*) => {{
        out!($($arg)*);
        out!("\n");
    }};
}

#[cfg(target_os = "linux")]
mod collect;
mod commands;
mod input;
mod interrupt;
mod output;
mod parallel;
mod render;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use rmaplab_core::config::{self, Era, KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE};
use rmaplab_core::gen::{self, GenOptions, Workload};
use rmaplab_core::import::{ImportOptions, ImportReport};
use rmaplab_core::sizes;
use rmaplab_core::trace::{binary::BinaryEncoder, jsonl, Event, EventKind, TraceMeta};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const LONG_ABOUT: &str = "\
rmaplab measures how KVM's shadow-MMU reverse maps (rmaps: chains of struct pte_list_desc)
behave for any array size and kernel era, from traces of what KVM really did.

Eras: tail-append (v5.15-v6.3), head-insert (v6.4+, tail_count), null-terminated (<= v5.14).
Trace files are rmaplab binary or JSON Lines (see docs/trace-format.md); the format is
detected from the first bytes.";

#[derive(Parser, Debug)]
#[command(name = "rmaplab", version, about = "Measure KVM pte_list_desc rmap array sizes on real traces", long_about = LONG_ABOUT)]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replay a trace through many configurations (sizes x eras x top-up policies) in one pass
    /// and compare them: memory per vCPU, per VM and per host (bytes and slab pages), work per
    /// list operation, KVM's own counters checked.
    Replay(commands::replay::ReplayArgs),
    /// The replay's answer as text for a changelog or a reply (72 columns, or Markdown): trace
    /// provenance, the variants compared, memory per vCPU / VM / host, walk costs, whether
    /// KVM's counters were reproduced, and a recommendation that weighs memory against work
    /// over N = 2..16 whatever sizes are asked for.
    Report(commands::report::ReportArgs),
    /// Convert a trace between JSON Lines and binary (lossless both ways).
    Convert(ConvertArgs),
    /// The seed patch's arithmetic: object size, objects per slab page, per-vCPU cache bytes.
    Sizes(SizesArgs),
    /// Generate a deterministic synthetic trace.
    Gen(GenArgs),
    /// Run a built-in workload in a guest on /dev/kvm and record a real rmap trace from KVM's
    /// kvmmmu tracepoints, with KVM's own counters at every phase; checks that the replay at
    /// KVM's own array size and era reproduces them. Needs root and a shadow-paging host.
    #[cfg(target_os = "linux")]
    Collect(CollectArgs),
    /// Import a kvmmmu capture — trace-cmd's trace.dat (v6/v7), perf.data, or text (tracefs
    /// `trace`, `trace-cmd report -R`/`-N`, `perf script`; also .gz/.zst) — into an rmaplab
    /// trace: events put in time order, VMs kept apart, removals inferred as documented; prints
    /// an import report (also kept in the trace). A capture rmaplab cannot stand behind (the kvm
    /// plugin's `trace-cmd report` text, no kvmmmu events) is refused with what to record
    /// instead; one that lost events is flagged, and refused with --strict.
    Import(ImportArgs),
}

#[cfg(target_os = "linux")]
#[derive(Args, Debug)]
struct CollectArgs {
    #[command(subcommand)]
    workload: Option<GenWorkload>,
    /// Attach to an already running VMM (QEMU, Firecracker, cloud-hypervisor, another rmaplab)
    /// instead of running a workload: records the kvmmmu events of all its threads.
    #[arg(long, global = true, value_name = "PID")]
    pid: Option<u32>,
    /// Attach to QEMU through its QMP socket (`-qmp unix:PATH,server=on,wait=off`): finds its
    /// pid and vCPU threads, reads KVM's stats with `query-stats` at the start and the end
    /// (pausing the VM for the end read), and resumes a VM started paused (`-S`) once tracing
    /// runs — then the trace covers the VM from its first instruction and KVM's counters at
    /// the end go in as stat events the replay must reproduce.
    #[arg(long, global = true, value_name = "SOCKET")]
    qmp: Option<PathBuf>,
    /// With --pid / --qmp: how long to record, e.g. 30s, 2m (default 30s).
    #[arg(long, global = true, default_value = "30s")]
    duration: String,
    /// Output trace (`.jsonl` = JSON Lines, anything else binary); written only when complete.
    #[arg(short, long, global = true, default_value = "collected.rmap")]
    output: PathBuf,
    /// vCPUs (threads) to spread the work over; address space i runs on vCPU i mod K.
    #[arg(long, global = true, default_value_t = 1)]
    vcpus: usize,
    /// Seed for the workload's random choices (same meaning as `rmaplab gen`).
    #[arg(long, global = true, default_value_t = 1)]
    seed: u64,
    /// Per-CPU trace buffer of the private tracefs instance, KiB.
    #[arg(long, global = true, default_value_t = 65536)]
    buffer_kb: u64,
    /// Keep kernel sptep addresses as SPTE ids instead of anonymising them.
    #[arg(long, global = true)]
    raw_addresses: bool,
    /// Shadow-page limit for the VM (KVM_SET_NR_MMU_PAGES). KVM's default is 2% of the guest's
    /// pages (min 64), so a small test guest recycles shadow pages early; e.g. 20000 behaves
    /// like a 4 GiB guest.
    #[arg(long, global = true)]
    mmu_pages: Option<u64>,
    /// Read the instance's `trace_pipe` text instead of the per-CPU binary `trace_pipe_raw`
    /// (slower; for kernels whose ring-buffer layout rmaplab does not decode).
    #[arg(long, global = true)]
    text_pipe: bool,
    /// No progress messages.
    #[arg(long, global = true)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct ImportArgs {
    /// The capture: trace.dat, perf.data, or kvmmmu text (`-` reads stdin).
    input: PathBuf,
    /// Output trace (`.jsonl` = JSON Lines, anything else binary).
    #[arg(short, long)]
    output: PathBuf,
    /// A memslot of the traced VM as BASE_GFN:PAGES (hex with 0x, or decimal); repeatable.
    /// Needed for the "0" column of the rmap histogram.
    #[arg(long, value_name = "BASE_GFN:PAGES")]
    memslot: Vec<String>,
    /// Kernel release of the traced host (`uname -r`).
    #[arg(long)]
    kernel: Option<String>,
    /// KVM vendor module of the traced host (kvm_intel, kvm_amd, kvm_pvm).
    #[arg(long)]
    vendor_module: Option<String>,
    /// What ran in the guest.
    #[arg(long)]
    workload: Option<String>,
    #[command(flatten)]
    capture: CaptureArgs,
    /// KVM's counter at the end of the capture as NAME=VALUE (repeatable; e.g. from `kvm_stat`
    /// or QMP `query-stats target=vm`: max_mmu_rmap_size=13, pages_4k=24). Recorded as `stat`
    /// events after the last event, so `replay` checks the model reproduces them.
    #[arg(long, value_name = "NAME=VALUE")]
    kvm_stat: Vec<String>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// How kvmmmu captures (trace.dat, perf.data, text) are imported.
#[derive(Args, Debug, Clone)]
struct CaptureArgs {
    /// Keep one VM of a capture that holds several: its VMM's process id, or any of its vCPU
    /// thread ids (the import report lists the VMs found).
    #[arg(long, value_name = "PID")]
    vm: Option<u64>,
    /// Treat every traced thread as one VM (for captures without process ids whose vCPUs
    /// never shared a shadow page).
    #[arg(long)]
    one_vm: bool,
    /// Refuse a capture that lost events (the import report says how many and where).
    #[arg(long)]
    strict: bool,
}

impl CaptureArgs {
    fn options(&self) -> ImportOptions {
        ImportOptions {
            vm: self.vm,
            one_vm: self.one_vm,
            ..ImportOptions::default()
        }
    }
}

/// Print a trace's import report (if it was imported from a capture) to stderr; with
/// `strict`, refuse one that lost events.
fn check_import(meta: &TraceMeta, strict: bool, quiet: bool) -> Result<(), String> {
    let Some(rep) = ImportReport::from_meta(meta) else {
        return Ok(());
    };
    if !quiet {
        for l in rep.summary_lines() {
            eprintln!("{l}");
        }
    }
    if strict && rep.lost_events > 0 {
        return Err(format!(
            "--strict: the capture lost {} events, so its figures are not exact; record again with a larger buffer (trace-cmd record -b KB, perf record -m PAGES)",
            rep.lost_events
        ));
    }
    Ok(())
}

fn parse_u64(s: &str) -> Result<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    }
    .with_context(|| format!("{s:?} is not a number"))
}

fn parse_memslot(s: &str) -> Result<rmaplab_core::trace::Memslot> {
    let (base, pages) = s
        .split_once(':')
        .with_context(|| format!("--memslot {s:?}: expected BASE_GFN:PAGES, e.g. 0x0:512"))?;
    Ok(rmaplab_core::trace::Memslot {
        base_gfn: parse_u64(base)?,
        pages: parse_u64(pages)?,
    })
}

fn import(a: &ImportArgs) -> Result<ExitCode> {
    let memslots = a
        .memslot
        .iter()
        .map(|m| parse_memslot(m))
        .collect::<Result<Vec<_>>>()?;
    let edit = |meta: &mut TraceMeta| {
        meta.memslots.clone_from(&memslots);
        meta.kernel.clone_from(&a.kernel);
        meta.vendor_module.clone_from(&a.vendor_module);
        meta.workload.clone_from(&a.workload);
    };
    let mut stats = Vec::new();
    for kv in &a.kvm_stat {
        let (name, value) = kv.split_once('=').with_context(|| {
            format!("--kvm-stat {kv:?}: expected NAME=VALUE, e.g. max_mmu_rmap_size=13")
        })?;
        stats.push(Event::new(EventKind::Stat {
            name: name.trim().to_string(),
            value: parse_u64(value)?,
        }));
    }
    transcode(
        &a.input,
        &a.output,
        out_encoding(&a.output, None),
        a.quiet,
        Some(&a.capture),
        &edit,
        &stats,
    )
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// Aligned text for people.
    Table,
    /// JSON: an array with one object per configuration.
    Json,
    /// CSV with a header row.
    Csv,
}

#[derive(Args, Debug)]
struct ConvertArgs {
    /// Input trace (either encoding; `-` reads stdin).
    input: PathBuf,
    /// Output file; written to a temporary file and renamed when complete.
    output: PathBuf,
    /// Output encoding; default: jsonl for *.jsonl / *.json, binary otherwise.
    #[arg(long, value_enum)]
    to: Option<Enc>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Enc {
    /// rmaplab binary.
    Binary,
    /// JSON Lines.
    Jsonl,
}

#[derive(Args, Debug)]
struct SizesArgs {
    /// Array sizes.
    #[arg(long, default_value = "2,4,14", value_name = "N,N,...")]
    entries: String,
    /// vCPUs of the VM.
    #[arg(long, default_value_t = 1)]
    vcpus: usize,
    /// Per-vCPU cache capacity (KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE).
    #[arg(long, default_value_t = KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE)]
    cache: usize,
    /// Era (decides the header size: 16 B since v5.15, 8 B before).
    #[arg(long, default_value = "head-insert")]
    era: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Args, Debug)]
struct GenArgs {
    #[command(subcommand)]
    workload: GenWorkload,
    /// Output file (`.jsonl` / `.json` = JSON Lines, anything else = binary).
    #[arg(short, long, global = true, default_value = "trace.rmap")]
    output: PathBuf,
    /// vCPUs to spread the work over.
    #[arg(long, global = true, default_value_t = 1)]
    vcpus: u32,
    /// Seed for the random choices.
    #[arg(long, global = true, default_value_t = 1)]
    seed: u64,
}

#[derive(Subcommand, Debug)]
enum GenWorkload {
    /// One guest page mapped at N addresses, touched, then unmapped.
    Alias {
        /// Number of mappings.
        #[arg(long, default_value_t = 1002)]
        aliases: u64,
    },
    /// A fork storm: P address spaces sharing M pages (plus private pages), then exit.
    Fork {
        /// Address spaces (parent included).
        #[arg(long, default_value_t = 64)]
        procs: u64,
        /// Shared pages.
        #[arg(long, default_value_t = 256)]
        pages: u64,
        /// Private pages per address space.
        #[arg(long, default_value_t = 16)]
        private: u64,
    },
    /// Many frames, few aliases: a skewed number of mappings per frame.
    Spread {
        /// Guest frames.
        #[arg(long, default_value_t = 100_000)]
        gfns: u64,
        /// Largest alias count.
        #[arg(long, default_value_t = 512)]
        max_aliases: u64,
        /// Tail exponent x10 (15 = 1.5; smaller = heavier tail).
        #[arg(long, default_value_t = 15)]
        skew_tenths: u64,
    },
    /// Map / touch / unmap churn.
    Churn {
        /// Rounds.
        #[arg(long, default_value_t = 100)]
        cycles: u64,
        /// Mappings attempted per round.
        #[arg(long, default_value_t = 1000)]
        batch: u64,
        /// Frames to choose from.
        #[arg(long, default_value_t = 4096)]
        gfns: u64,
        /// Address spaces to choose from.
        #[arg(long, default_value_t = 32)]
        spaces: u64,
    },
}

fn out_encoding(path: &Path, to: Option<Enc>) -> Enc {
    to.unwrap_or_else(|| match path.extension().and_then(|e| e.to_str()) {
        Some("jsonl" | "json" | "ndjson") => Enc::Jsonl,
        _ => Enc::Binary,
    })
}

/// Writes events in either encoding into an [`output::AtomicFile`], in 1 MiB batches.
struct TraceWriter {
    file: output::AtomicFile,
    enc: Enc,
    bin: BinaryEncoder,
    buf: Vec<u8>,
}

impl TraceWriter {
    fn create(path: &Path, enc: Enc, meta: &TraceMeta) -> Result<Self> {
        let mut w = TraceWriter {
            file: output::AtomicFile::create(path)?,
            enc,
            bin: BinaryEncoder::new(),
            buf: Vec::with_capacity(1 << 20),
        };
        match enc {
            Enc::Binary => w.bin.header(meta, &mut w.buf),
            Enc::Jsonl => jsonl::write_header(meta, &mut w.buf),
        }
        Ok(w)
    }

    fn event(&mut self, ev: &rmaplab_core::Event) -> Result<(), output::OutputError> {
        match self.enc {
            Enc::Binary => self.bin.event(ev, &mut self.buf),
            Enc::Jsonl => jsonl::write_event(ev, &mut self.buf),
        }
        if self.buf.len() >= 1 << 20 {
            self.file.write(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn commit(mut self) -> Result<()> {
        if self.enc == Enc::Binary {
            self.bin.finish(&mut self.buf);
        }
        self.file.write(&self.buf)?;
        self.file.commit()?;
        Ok(())
    }
}

fn convert(a: &ConvertArgs) -> Result<ExitCode> {
    transcode(
        &a.input,
        &a.output,
        out_encoding(&a.output, a.to),
        a.quiet,
        None,
        &|_| {},
        &[],
    )
}

/// Stream `input` (any encoding; with `capture`, it must be a kvmmmu capture, imported with
/// those options) into `output`, then `append`.
fn transcode(
    input: &Path,
    output: &Path,
    enc: Enc,
    quiet: bool,
    capture: Option<&CaptureArgs>,
    edit_meta: &dyn Fn(&mut TraceMeta),
    append: &[Event],
) -> Result<ExitCode> {
    let writer = std::cell::RefCell::new(None::<TraceWriter>);
    let import = capture.map(CaptureArgs::options).unwrap_or_default();
    let summary = input::stream_trace(
        input,
        !quiet,
        &import,
        &mut |meta| {
            if let Some(c) = capture {
                if ImportReport::from_meta(meta).is_none() {
                    return Err(
                        "this is an rmaplab trace already; use `rmaplab convert` for those".into(),
                    );
                }
                check_import(meta, c.strict, quiet)?;
            }
            let mut meta = meta.clone();
            edit_meta(&mut meta);
            let w = TraceWriter::create(output, enc, &meta).map_err(|e| format!("{e:#}"))?;
            *writer.borrow_mut() = Some(w);
            Ok(())
        },
        &mut |ev| match writer.borrow_mut().as_mut() {
            Some(w) => w.event(&ev).map_err(|e| e.to_string()),
            None => Err("event before the trace header".into()),
        },
    )?;
    let Some(mut w) = writer.into_inner() else {
        bail!("{}: no trace header found", input.display());
    };
    for ev in append {
        w.event(ev)?;
    }
    w.commit()?;
    let size = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "wrote {} ({} events, {} bytes, {:.2} bytes/event) from {} bytes",
        output.display(),
        summary.events,
        size,
        size as f64 / summary.events.max(1) as f64,
        summary.bytes
    );
    Ok(ExitCode::SUCCESS)
}

fn sizes_cmd(a: &SizesArgs) -> Result<ExitCode> {
    let entries = config::parse_entries_list(&a.entries).context("--entries")?;
    let era: Era = a.era.parse().context("--era")?;
    if entries.is_empty() {
        bail!("give at least one --entries value");
    }
    let rows = sizes::size_table(&entries, era, a.cache, a.vcpus);
    match a.format {
        Format::Table => out!("{}", render::sizes_table(&rows)),
        Format::Json => outln!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Csv => {
            outln!("entries,desc_bytes,objs_per_slab_page,cache_capacity,per_vcpu_cache_bytes,vcpus,total_cache_bytes,cache_slab_pages,extra_vs_smallest_bytes,split_cache_bytes");
            for r in &rows {
                outln!(
                    "{},{},{},{},{},{},{},{},{},{}",
                    r.entries,
                    r.desc_bytes,
                    r.objs_per_slab_page,
                    r.cache_capacity,
                    r.per_vcpu_cache_bytes,
                    r.vcpus,
                    r.total_cache_bytes,
                    r.cache_slab_pages,
                    r.extra_vs_smallest_bytes,
                    r.split_cache_bytes
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn workload(w: &GenWorkload) -> Workload {
    match *w {
        GenWorkload::Alias { aliases } => Workload::Alias { aliases },
        GenWorkload::Fork {
            procs,
            pages,
            private,
        } => Workload::Fork {
            procs,
            pages,
            private,
        },
        GenWorkload::Spread {
            gfns,
            max_aliases,
            skew_tenths,
        } => Workload::Spread {
            gfns,
            max_aliases,
            skew_tenths,
        },
        GenWorkload::Churn {
            cycles,
            batch,
            gfns,
            spaces,
        } => Workload::Churn {
            cycles,
            batch,
            gfns,
            spaces,
        },
    }
}

fn parse_duration(s: &str) -> Result<std::time::Duration> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .with_context(|| format!("--duration {s:?}: expected e.g. 30s, 2m"))?;
    if !(v.is_finite() && v > 0.0) {
        bail!("--duration must be positive");
    }
    Ok(std::time::Duration::from_secs_f64(v * mult))
}

#[cfg(target_os = "linux")]
fn collect_cmd(a: &CollectArgs) -> Result<ExitCode> {
    let quiet = a.quiet;
    let progress = |m: &str| {
        if !quiet {
            eprintln!("[collect] {m}");
        }
    };
    let result = match (&a.workload, a.pid, &a.qmp) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
            bail!("give one of: a workload, --pid PID, --qmp SOCKET")
        }
        (None, None, None) => {
            bail!("give a workload (alias, fork, spread, churn; see --help), --pid PID or --qmp SOCKET")
        }
        (None, pid, qmp) => {
            let opts = collect::AttachOptions {
                duration: parse_duration(&a.duration)?,
                buffer_kb: a.buffer_kb,
                raw_addresses: a.raw_addresses,
                text_pipe: a.text_pipe,
            };
            let mut source: Box<dyn collect::AttachSource> = match (pid, qmp) {
                (Some(pid), _) => Box::new(collect::PidSource { pid }),
                (None, socket) => {
                    let socket = socket.as_ref().context("give --pid PID or --qmp SOCKET")?;
                    let mut src = collect::QmpSource::connect(socket)?;
                    progress(&format!(
                        "QMP: QEMU process {}, vCPU threads {:?}",
                        collect::AttachSource::pid(&src),
                        src.vcpu_threads()
                    ));
                    Box::new(src)
                }
            };
            collect::attach_with(source.as_mut(), &opts, &progress)
        }
        (Some(w), _, _) => {
            let opts = collect::CollectOptions {
                workload: workload(w),
                vcpus: a.vcpus,
                seed: a.seed,
                buffer_kb: a.buffer_kb,
                raw_addresses: a.raw_addresses,
                mmu_pages: a.mmu_pages,
                text_pipe: a.text_pipe,
            };
            collect::collect(&opts, &progress)
        }
    };
    let c = match result {
        Err(collect::CollectError::Interrupted) => {
            eprintln!(
                "interrupted; the tracefs instance was removed and no output file was written"
            );
            return Ok(ExitCode::from(130));
        }
        r => r?,
    };
    let enc = out_encoding(&a.output, None);
    let mut w = TraceWriter::create(&a.output, enc, &c.meta)?;
    for e in &c.events {
        w.event(e)?;
    }
    w.commit()?;
    let size = std::fs::metadata(&a.output).map(|m| m.len()).unwrap_or(0);
    let i = &c.import;
    eprintln!(
        "wrote {} ({} events, {} bytes); guest ran {:.2} s; {} kvmmmu events used ({:.0}/s), {} lost",
        a.output.display(),
        c.events.len(),
        size,
        c.guest_seconds,
        i.events_used,
        i.events_used as f64 / c.guest_seconds.max(1e-9),
        i.lost_events
    );
    eprintln!(
        "inferred: {} removals from zapped shadow pages, {} from the workload's page-table writes, {} from re-faults; {} pfn/gfn replacements observed; recycle zaps: {}",
        i.zap_removes, i.pte_write_removes, i.inferred_drops, i.replaced, i.recycles
    );
    let interesting: Vec<String> = c
        .final_stats
        .iter()
        .filter(|(n, v)| {
            *v > 0 && (n.starts_with("mmu_") || n.starts_with("pages_") || n == "max_mmu_rmap_size")
        })
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    if !interesting.is_empty() {
        eprintln!("KVM stats at the end: {}", interesting.join(" "));
    }
    let s = collect::validate(&c.meta, &c.events)?;
    if s.stat_checks.is_empty() {
        outln!("no KVM counters to check in this trace (attach mode records KVM's stats at the start and end as marks: a trace that starts mid-run cannot reproduce absolute counters); {} anomalies in the replay", s.configs.first().map_or(0, |c| c.anomalies));
        return Ok(ExitCode::SUCCESS);
    }
    let bad = s.stat_checks.iter().filter(|c| !c.matches).count();
    let label = s
        .configs
        .first()
        .map_or_else(String::new, |c| c.label.clone());
    outln!(
        "replay at {label}: {} of {} KVM counters reproduced",
        s.stat_checks.len() - bad,
        s.stat_checks.len()
    );
    for chk in &s.stat_checks {
        outln!(
            "  {:<18} at event {:>8}: KVM {:>8}  model {:>8}  {}",
            chk.name,
            chk.event,
            chk.kvm,
            chk.model,
            if chk.matches { "ok" } else { "MISMATCH" }
        );
    }
    if bad > 0 {
        eprintln!(
            "error: the replay does not reproduce {bad} of KVM's counters (see MISMATCH lines)"
        );
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

fn gen_cmd(a: &GenArgs) -> Result<ExitCode> {
    let w = workload(&a.workload);
    let opts = GenOptions {
        vcpus: a.vcpus.max(1),
        seed: a.seed,
    };
    let meta = gen::meta_for(&w, &opts, concat!("rmaplab ", env!("CARGO_PKG_VERSION")));
    let enc = out_encoding(&a.output, None);
    let mut writer = TraceWriter::create(&a.output, enc, &meta)?;
    let mut err = None;
    let mut n = 0u64;
    gen::generate(&w, &opts, &mut |ev| {
        if err.is_some() {
            return;
        }
        n += 1;
        if n % 65_536 == 0 && interrupt::requested() {
            err = Some(anyhow::anyhow!("interrupted"));
            return;
        }
        if let Err(e) = writer.event(&ev) {
            err = Some(e.into());
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    writer.commit()?;
    eprintln!(
        "wrote {} ({} events): {}",
        a.output.display(),
        n,
        w.describe()
    );
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = interrupt::install() {
        eprintln!("warning: cannot install the Ctrl-C handler: {e}");
    }
    let r = match &cli.cmd {
        Command::Replay(a) => commands::replay::replay(a),
        Command::Report(a) => commands::report::report(a),
        Command::Convert(a) => convert(a),
        Command::Sizes(a) => sizes_cmd(a),
        Command::Gen(a) => gen_cmd(a),
        Command::Import(a) => import(a),
        #[cfg(target_os = "linux")]
        Command::Collect(a) => collect_cmd(a),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            if e.downcast_ref::<input::InputError>()
                .is_some_and(|i| matches!(i, input::InputError::Interrupted))
            {
                eprintln!("interrupted; no output file was written");
                return ExitCode::from(130);
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
