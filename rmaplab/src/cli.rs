//! The command line: the top-level parser, its subcommands, and the output formats they share.

#[cfg(target_os = "linux")]
use crate::commands::collect::CollectArgs;
use crate::commands::{
    compare::CompareArgs, convert::ConvertArgs, gen::GenArgs, import::ImportArgs,
    replay::ReplayArgs, report::ReportArgs, sizes::SizesArgs,
};
use clap::{Parser, Subcommand};

pub const LONG_ABOUT: &str = "\
rmaplab measures how KVM's shadow-MMU reverse maps (rmaps: chains of struct pte_list_desc)
behave for any array size and kernel era, from traces of what KVM really did.

Eras: tail-append (v5.15-v6.3), head-insert (v6.4+, tail_count), null-terminated (<= v5.14).
Trace files are rmaplab binary or JSON Lines (see docs/trace-format.md); the format is
detected from the first bytes.";

#[derive(Parser, Debug)]
#[command(name = "rmaplab", version, about = "Measure KVM pte_list_desc rmap array sizes on real traces", long_about = LONG_ABOUT)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub cmd: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Replay a trace through many configurations (sizes x eras x top-up policies) in one pass
    /// and compare them: memory per vCPU, per VM and per host (bytes and slab pages), work per
    /// list operation, KVM's own counters checked.
    Replay(ReplayArgs),
    /// The replay's answer as text for a changelog or a reply (72 columns, or Markdown): trace
    /// provenance, the variants compared, memory per vCPU / VM / host, walk costs, whether
    /// KVM's counters were reproduced, and a recommendation that weighs memory against work
    /// over N = 2..16 whatever sizes are asked for.
    Report(ReportArgs),
    /// Compare two traces replayed through the same configurations: every figure that differs
    /// between trace A and trace B (a kvmmmu capture beside the `collect` trace of the same
    /// run shows what the capture could not see: its bounds and unknowns against the truth).
    Compare(CompareArgs),
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
