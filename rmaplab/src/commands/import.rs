//! `rmaplab import`: a kvmmmu capture into an rmaplab trace; and the import report every
//! command that reads a capture prints.

use crate::shared::capture_args::{parse_memslot, CaptureArgs};
use crate::shared::trace_writer::{out_encoding, Transcode};
use anyhow::Result;
use clap::Args;
use rmaplab_core::exactness::parse_kvm_stat;
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
    #[arg(long, value_name = "BASE_GFN:PAGES", value_parser = parse_memslot)]
    pub memslot: Vec<rmaplab_core::trace::Memslot>,
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
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_kvm_stat)]
    pub kvm_stat: Vec<(String, u64)>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub fn import(a: &ImportArgs) -> Result<ExitCode> {
    let memslots = &a.memslot;
    let edit = |meta: &mut TraceMeta| {
        meta.memslots.clone_from(memslots);
        meta.kernel.clone_from(&a.kernel);
        meta.vendor_module.clone_from(&a.vendor_module);
        meta.workload.clone_from(&a.workload);
    };
    let stats: Vec<Event> = a
        .kvm_stat
        .iter()
        .map(|(name, value)| {
            Event::new(EventKind::Stat {
                name: name.clone(),
                value: *value,
            })
        })
        .collect();
    Transcode {
        capture: Some(&a.capture),
        edit_meta: &edit,
        append: &stats,
        ..Transcode::new(&a.input, &a.output, out_encoding(&a.output, None), a.quiet)
    }
    .run()
}
