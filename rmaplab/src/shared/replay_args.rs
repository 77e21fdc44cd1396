//! What `replay` and `report` share on the command line: the configurations to compare, the
//! host the memory figures are for, and how the trace is read.

use super::capture_args::CaptureArgs;
use super::replay_run::RunOptions;
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use rmaplab_core::config::{
    CacheSpec, ConfigError, ConfigRequest, EntriesChoice, RecycleSpec, TopupPolicy,
};
use rmaplab_core::memory::HostShape;
use rmaplab_core::replay::ReplaySummary;
use rmaplab_core::trace::TraceMeta;
use rmaplab_core::Era;
use std::path::Path;

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
