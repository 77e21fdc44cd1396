//! `rmaplab compare`: two traces replayed through the same configurations, every figure of
//! the metric registry compared — a kvmmmu capture beside the `collect` trace of the same run
//! shows what the capture could not see. The comparison is core's
//! ([`rmaplab_core::compare`]), as the playground's is.

use crate::shared::replay_args::{config_error, ConfigArgs, HostArgs, ReadArgs};
use crate::shared::replay_run::run;
use anyhow::Result;
use clap::{Args, ValueEnum};
use rmaplab_core::compare::compare as compare_traces;
use rmaplab_core::trace::TraceMeta;
use rmaplab_core::ModelConfig;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Output of `rmaplab compare`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareFormat {
    /// A summary line, then one aligned line per figure that differs.
    Text,
    /// JSON: every configuration both traces replayed, with the figures that differ.
    Json,
}

/// `rmaplab compare`'s arguments.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Trace A, the reference: the `collect` trace of the run, say (any trace or capture).
    pub a: PathBuf,
    /// Trace B, compared with A: a kvmmmu capture of the same run, say.
    pub b: PathBuf,
    #[command(flatten)]
    pub configs: ConfigArgs,
    /// The host the memory figures of both are for (default: trace A's vCPUs and VMs).
    #[command(flatten)]
    pub host: HostArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CompareFormat::Text)]
    pub format: CompareFormat,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// A trace's file name as the output names it.
fn name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| "stdin".to_string(), |n| n.to_string_lossy().into_owned())
}

/// `rmaplab compare`.
pub fn compare(a: &CompareArgs) -> Result<ExitCode> {
    let req = a.configs.request()?;
    let build = |meta: &TraceMeta| -> Result<Vec<ModelConfig>> {
        req.resolve(a.configs.tdp(meta)).map_err(config_error)
    };
    let (sa, _) = run(&a.read.run_options(&a.a), &build)?;
    let (sb, _) = run(&a.read.run_options(&a.b), &build)?;
    let (host, _) = a.host.host(&sa);
    let c = compare_traces(&sa.configs, &sb.configs, host);
    match a.format {
        CompareFormat::Text => outln!("{}", c.text(&name(&a.a), &name(&a.b)).trim_end()),
        CompareFormat::Json => outln!("{}", serde_json::to_string_pretty(&c)?),
    }
    Ok(ExitCode::SUCCESS)
}
