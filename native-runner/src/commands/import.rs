//! `rmaplab import`: a kvmmmu capture into an rmaplab trace; and the import report every
//! command that reads a capture prints.

use super::convert::{out_encoding, transcode};
use anyhow::{Context, Result};
use clap::Args;
use rmaplab_core::exactness::Exactness;
use rmaplab_core::import::{ImportOptions, ImportReport};
use rmaplab_core::trace::{Event, EventKind, TraceMeta};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The capture: trace.dat, perf.data, or kvmmmu text (`-` reads stdin).
    pub input: PathBuf,
    /// Output trace (`.jsonl` = JSON Lines, anything else binary).
    #[arg(short, long)]
    pub output: PathBuf,
    /// A memslot of the traced VM as BASE_GFN:PAGES (hex with 0x, or decimal); repeatable.
    /// Needed for the "0" column of the rmap histogram.
    #[arg(long, value_name = "BASE_GFN:PAGES")]
    pub memslot: Vec<String>,
    /// Kernel release of the traced host (`uname -r`).
    #[arg(long)]
    pub kernel: Option<String>,
    /// KVM vendor module of the traced host (kvm_intel, kvm_amd, kvm_pvm).
    #[arg(long)]
    pub vendor_module: Option<String>,
    /// What ran in the guest.
    #[arg(long)]
    pub workload: Option<String>,
    #[command(flatten)]
    pub capture: CaptureArgs,
    /// KVM's counter at the end of the capture as NAME=VALUE (repeatable; e.g. from `kvm_stat`
    /// or QMP `query-stats target=vm`: max_mmu_rmap_size=13, pages_4k=24). Recorded as `stat`
    /// events after the last event, so `replay` checks the model reproduces them.
    #[arg(long, value_name = "NAME=VALUE")]
    pub kvm_stat: Vec<String>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// How kvmmmu captures (trace.dat, perf.data, text) are imported.
#[derive(Args, Debug, Clone)]
pub struct CaptureArgs {
    /// Keep one VM of a capture that holds several: its VMM's process id, or any of its vCPU
    /// thread ids (the import report lists the VMs found).
    #[arg(long, value_name = "PID")]
    pub vm: Option<u64>,
    /// Treat every traced thread as one VM (for captures without process ids whose vCPUs
    /// never shared a shadow page).
    #[arg(long)]
    pub one_vm: bool,
    /// Refuse a capture that lost events (the import report says how many and where); when
    /// replaying, also stop at the first event that cannot happen in the kernel and exit 3
    /// when the replay does not reproduce KVM's own counters.
    #[arg(long)]
    pub strict: bool,
}

impl CaptureArgs {
    /// How the importer is to read a capture.
    pub fn options(&self) -> ImportOptions {
        ImportOptions {
            vm: self.vm,
            one_vm: self.one_vm,
            ..ImportOptions::default()
        }
    }
}

/// Print a trace's import report (if it was imported from a capture) to stderr; with
/// `strict`, refuse one that lost events.
pub fn check_import(meta: &TraceMeta, strict: bool, quiet: bool) -> Result<(), LostEvents> {
    let Some(rep) = ImportReport::from_meta(meta) else {
        return Ok(());
    };
    if !quiet {
        for l in rep.summary_lines() {
            eprintln!("{l}");
        }
    }
    if strict && rep.lost_events > 0 {
        return Err(LostEvents(rep.lost_events));
    }
    Ok(())
}

/// Whether an imported capture's figures will be exact, given the KVM counters appended to it
/// (`--kvm-stat`): a warning on stderr when not, and with `strict` a refusal.
pub fn check_exact(meta: &TraceMeta, stats: &[Event], strict: bool) -> Result<(), NotExact> {
    let last: std::collections::BTreeMap<String, u64> = stats
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Stat { name, value } => Some((name.clone(), *value)),
            _ => None,
        })
        .collect();
    let exactness = Exactness::assess(&meta.unseen_removals, &last);
    match exactness.warning() {
        None => Ok(()),
        Some(_) if strict => Err(NotExact(exactness.why().join("; "))),
        Some(w) => {
            eprintln!("warning: {w}");
            Ok(())
        }
    }
}

/// A trace whose figures are not exact, which `--strict` refuses.
#[derive(Debug, thiserror::Error)]
#[error("--strict: the figures would not be exact ({0}). {HOW}", HOW = rmaplab_core::exactness::HOW_TO_GET_EXACT)]
pub struct NotExact(pub String);

/// A capture that lost events, which `--strict` refuses.
#[derive(Debug, thiserror::Error)]
#[error("--strict: the capture lost {0} events, so its figures are not exact; record again with a larger buffer (trace-cmd record -b KB, perf record -m PAGES)")]
pub struct LostEvents(pub u64);

pub fn parse_u64(s: &str) -> Result<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    }
    .with_context(|| format!("{s:?} is not a number"))
}

pub fn parse_memslot(s: &str) -> Result<rmaplab_core::trace::Memslot> {
    let (base, pages) = s
        .split_once(':')
        .with_context(|| format!("--memslot {s:?}: expected BASE_GFN:PAGES, e.g. 0x0:512"))?;
    Ok(rmaplab_core::trace::Memslot {
        base_gfn: parse_u64(base)?,
        pages: parse_u64(pages)?,
    })
}

pub fn import(a: &ImportArgs) -> Result<ExitCode> {
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
