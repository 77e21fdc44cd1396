//! `rmaplab collect`: run a workload in a guest (or attach to a running VMM) and record a real
//! trace from KVM.

use crate::collect;
use crate::collect::TRACE_STATS;
use crate::shared::replay_run::trust_warnings;
use crate::shared::trace_writer::{out_encoding, TraceWriter};
use anyhow::{bail, Context, Result};
use clap::Args;
use rmaplab_core::gen::Workload;
use std::path::PathBuf;
use std::process::ExitCode;

#[cfg(target_os = "linux")]
#[derive(Args, Debug)]
pub struct CollectArgs {
    #[command(subcommand)]
    pub workload: Option<Workload>,
    /// Attach to an already running VMM (QEMU, Firecracker, cloud-hypervisor, another rmaplab)
    /// instead of running a workload: records the kvmmmu events of all its threads.
    #[arg(long, global = true, value_name = "PID")]
    pub pid: Option<u32>,
    /// Attach to QEMU through its QMP socket (`-qmp unix:PATH,server=on,wait=off`): finds its
    /// pid and vCPU threads, reads KVM's stats with `query-stats` at the start and the end
    /// (pausing the VM for the end read), and resumes a VM started paused (`-S`) once tracing
    /// runs — then the trace covers the VM from its first instruction and KVM's counters at
    /// the end go in as stat events the replay must reproduce.
    #[arg(long, global = true, value_name = "SOCKET")]
    pub qmp: Option<PathBuf>,
    /// With --qmp: record until the guest powers off, from its first instruction to its last,
    /// whatever its firmware takes. rmaplab sets QEMU's shutdown action to `pause` (what
    /// `-no-shutdown` does), so the VM stays after the power-off and KVM's stats are read from
    /// it; then it quits QEMU (see --keep-qemu). --duration becomes an upper bound. Start QEMU
    /// paused: `qemu-system-x86_64 -enable-kvm -S -no-shutdown -qmp
    /// unix:SOCK,server=on,wait=off …`.
    #[arg(long, global = true, requires = "qmp")]
    pub until_shutdown: bool,
    /// With --until-shutdown: leave QEMU stopped in its shutdown state instead of quitting it.
    #[arg(long, global = true, requires = "until_shutdown")]
    pub keep_qemu: bool,
    /// With --pid / --qmp: how long to record, e.g. 30s, 2m (default 30s); with
    /// --until-shutdown, the most to wait for the power-off (default 1h).
    #[arg(long, global = true, value_parser = parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// With --qmp of a VM started paused (-S): read KVM's stats this often while recording,
    /// each time with the VM paused so no SPTE change is in flight, for the replay to check
    /// (the first divergence of the model from KVM shows when and where removals went
    /// unseen), e.g. 250ms, 1s; `off` reads them at the start and the end only.
    #[arg(long, global = true, default_value = "250ms", value_parser = parse_interval)]
    pub stats_every: Interval,
    /// Exit with status 3 when the recording cannot stand as a result: the VM made no SPTEs,
    /// its figures are not exact (attach mode cannot see the SPTEs KVM drops on the guest's own
    /// page-table writes), or the replay does not reproduce KVM's counters.
    #[arg(long, global = true)]
    pub strict: bool,
    /// Output trace (`.jsonl` = JSON Lines, anything else binary); written only when complete.
    #[arg(short, long, global = true, default_value = "collected.rmap")]
    pub output: PathBuf,
    /// vCPUs (threads) to spread the work over; address space i runs on vCPU i mod K.
    #[arg(long, global = true, default_value_t = 1)]
    pub vcpus: usize,
    /// Seed for the workload's random choices (same meaning as `rmaplab gen`).
    #[arg(long, global = true, default_value_t = 1)]
    pub seed: u64,
    /// Per-CPU trace buffer of the private tracefs instance, KiB.
    #[arg(long, global = true, default_value_t = 65536)]
    pub buffer_kb: u64,
    /// Keep kernel sptep addresses as SPTE ids instead of anonymising them.
    #[arg(long, global = true)]
    pub raw_addresses: bool,
    /// Shadow-page limit for the VM (KVM_SET_NR_MMU_PAGES). KVM's default is 2% of the guest's
    /// pages (min 64), so a small test guest recycles shadow pages early; e.g. 20000 behaves
    /// like a 4 GiB guest.
    #[arg(long, global = true)]
    pub mmu_pages: Option<u64>,
    /// Read the instance's `trace_pipe` text instead of the per-CPU binary `trace_pipe_raw`
    /// (slower; for kernels whose ring-buffer layout rmaplab does not decode).
    #[arg(long, global = true)]
    pub text_pipe: bool,
    /// No progress messages.
    #[arg(long, global = true)]
    pub quiet: bool,
}

/// Most stat-check lines `collect` prints.
const MAX_CHECK_LINES: usize = 40;
/// How long `--pid` / `--qmp` record without --duration.
const ATTACH_DURATION: std::time::Duration = std::time::Duration::from_secs(30);
/// How long `--until-shutdown` waits for the power-off without --duration.
const UNTIL_SHUTDOWN_BOUND: std::time::Duration = std::time::Duration::from_secs(3600);

/// `--stats-every`: an interval, or off.
#[derive(Debug, Clone, Copy)]
pub struct Interval(pub Option<std::time::Duration>);

pub fn parse_interval(s: &str) -> Result<Interval> {
    if s.trim() == "off" {
        return Ok(Interval(None));
    }
    parse_duration(s).map(|d| Interval(Some(d)))
}

pub fn parse_duration(s: &str) -> Result<std::time::Duration> {
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
        .with_context(|| format!("{s:?}: expected e.g. 30s, 2m"))?;
    if !(v.is_finite() && v > 0.0) {
        bail!("the duration must be positive");
    }
    Ok(std::time::Duration::from_secs_f64(v * mult))
}

#[cfg(target_os = "linux")]
pub fn collect_cmd(a: &CollectArgs) -> Result<ExitCode> {
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
                duration: a.duration.unwrap_or(if a.until_shutdown {
                    UNTIL_SHUTDOWN_BOUND
                } else {
                    ATTACH_DURATION
                }),
                buffer_kb: a.buffer_kb,
                raw_addresses: a.raw_addresses,
                text_pipe: a.text_pipe,
                stats_every: a.stats_every.0,
            };
            let mut source: Box<dyn collect::AttachSource> = match (pid, qmp) {
                (Some(pid), _) => Box::new(collect::PidSource { pid }),
                (None, socket) => {
                    let socket = socket.as_ref().context("give --pid PID or --qmp SOCKET")?;
                    let after = a.until_shutdown.then_some(if a.keep_qemu {
                        collect::AfterPowerOff::Leave
                    } else {
                        collect::AfterPowerOff::Quit
                    });
                    let mut src = collect::QmpSource::connect(socket, after)?;
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
            if a.duration.is_some() {
                bail!("--duration is for --pid / --qmp: a workload runs to its end");
            }
            let opts = collect::CollectOptions {
                workload: w.clone(),
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
            return Ok(crate::shared::exit::interrupted());
        }
        r => r?,
    };
    let enc = out_encoding(&a.output, None);
    let mut w = TraceWriter::create(&a.output, enc, &c.meta)?;
    // The spooled events go to the output and through the check replay in one pass.
    let mut check = collect::validator(&c.meta)?;
    let count = c.events.count();
    let mut replay_error = None;
    c.events.events(|batch| {
        for e in batch {
            w.event(e)?;
        }
        if replay_error.is_none() {
            if let Err(e) = check.feed_all(batch) {
                replay_error = Some(e);
            }
        }
        Ok::<(), anyhow::Error>(())
    })?;
    w.commit()?;
    let size = std::fs::metadata(&a.output).map(|m| m.len()).unwrap_or(0);
    let i = &c.import;
    eprintln!(
        "wrote {} ({} events, {} bytes); guest ran {:.2} s; {} kvmmmu events used ({:.0}/s), {} lost",
        a.output.display(),
        count,
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
    if let Some(e) = replay_error {
        return Err(e.into());
    }
    let s = check.finish();
    let empty = s.made_no_sptes();
    // No SPTEs, or removals the recording cannot see: said now, refused under --strict.
    let verdict = trust_warnings(&s, a.strict).unwrap_or(ExitCode::SUCCESS);
    if s.stat_checks.is_empty() {
        outln!("no KVM counters to check in this trace (attach mode records KVM's stats at the start and end as marks: a trace that starts mid-run cannot reproduce absolute counters); {} anomalies in the replay", s.configs.first().map_or(0, |c| c.anomalies));
        return Ok(verdict);
    }
    let bad = s.stat_checks.iter().filter(|c| !c.matches).count();
    let label = s
        .configs
        .first()
        .map_or_else(String::new, |c| c.label.clone());
    outln!(
        "replay at {label}: {} of {} KVM counters reproduced{}",
        s.stat_checks.len() - bad,
        s.stat_checks.len(),
        if empty {
            " — of a VM that made no SPTEs, so they prove nothing"
        } else {
            ""
        }
    );
    // Every mismatch (the first few) and the last reading's checks; the rest are counted.
    let last_event = s.stat_checks.last().map_or(0, |c| c.event);
    let first_reading = s
        .stat_checks
        .iter()
        .rev()
        .take_while(|c| c.event + TRACE_STATS.len() as u64 >= last_event)
        .count();
    let tail_from = s.stat_checks.len() - first_reading;
    let shown: Vec<&rmaplab_core::replay::StatCheck> = s
        .stat_checks
        .iter()
        .enumerate()
        .filter(|(i, c)| *i >= tail_from || !c.matches)
        .map(|(_, c)| c)
        .take(MAX_CHECK_LINES)
        .collect();
    if shown.len() < s.stat_checks.len() {
        outln!(
            "  ({} earlier checks not listed: every mismatch is, then the last reading)",
            s.stat_checks.len() - shown.len()
        );
    }
    for chk in shown {
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
        return Ok(crate::shared::exit::refused());
    }
    Ok(verdict)
}
