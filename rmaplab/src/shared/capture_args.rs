//! How kvmmmu captures are imported, for every command that reads one (`import`, `replay`,
//! `report`, `convert`): the options, and the checks of what an import could not see.

use anyhow::Result;
use clap::Args;
use rmaplab_core::exactness::Exactness;
use rmaplab_core::import::{ImportOptions, ImportReport};
use rmaplab_core::trace::{Event, EventKind, TraceMeta};

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

/// A number as typed on the command line: decimal, or hex with `0x`.
pub fn parse_u64(s: &str) -> Result<u64, String> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    }
    .map_err(|_| format!("{s:?} is not a number"))
}

/// `--memslot`'s parser: BASE_GFN:PAGES.
pub fn parse_memslot(s: &str) -> Result<rmaplab_core::trace::Memslot, String> {
    let (base, pages) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?}: expected BASE_GFN:PAGES, e.g. 0x0:512"))?;
    Ok(rmaplab_core::trace::Memslot {
        base_gfn: parse_u64(base)?,
        pages: parse_u64(pages)?,
    })
}
