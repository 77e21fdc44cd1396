//! `rmaplab report`: the replay's answer as text for a changelog or a reply.

use crate::shared::replay_args::{config_error, ConfigArgs, HostArgs, ReadArgs};
use crate::shared::replay_run::{notes_to_stderr, run, trust_warnings};
use anyhow::Result;
use clap::{Args, ValueEnum};
use rmaplab_core::changelog::{self, ReportFormat, ReportInput};
use rmaplab_core::recommend::{self, DEFAULT_WITHIN_PCT};
use rmaplab_core::trace::TraceMeta;
use rmaplab_core::ModelConfig;
use std::path::PathBuf;
use std::process::ExitCode;

/// Output flavour of `rmaplab report`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextFormat {
    /// Plain text wrapped at 72 columns (a changelog, a mail).
    Text,
    /// Markdown (a pull request, an issue).
    Markdown,
}

/// `rmaplab report`'s arguments.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Trace file (rmaplab binary or JSON Lines, or a kvmmmu capture; `-` reads stdin).
    pub trace: PathBuf,
    #[command(flatten)]
    pub configs: ConfigArgs,
    #[command(flatten)]
    pub host: HostArgs,
    /// How much more work per list operation than 14 entries the recommendation accepts, in
    /// percent.
    #[arg(long, value_name = "PCT", default_value_t = DEFAULT_WITHIN_PCT)]
    pub within: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TextFormat::Text)]
    pub format: TextFormat,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// `rmaplab report`.
pub fn report(a: &ReportArgs) -> Result<ExitCode> {
    let req = a.configs.request()?;
    // The configurations asked for come first; the recommendation's candidates follow.
    let asked = std::cell::Cell::new(0usize);
    let build = |meta: &TraceMeta| -> Result<Vec<ModelConfig>> {
        let cfgs = req.resolve(a.configs.tdp(meta)).map_err(config_error)?;
        asked.set(cfgs.len());
        Ok(recommend::with_recommendation_configs(
            &cfgs,
            recommend::recommendation_era(meta),
        ))
    };
    let (s, _) = run(&a.read.run_options(&a.trace), &build)?;
    let (host, from_trace) = a.host.host(&s);
    let rec = recommend::recommend(
        &s.configs,
        recommend::recommendation_era(&s.meta),
        host,
        a.within,
    );
    let shown: Vec<usize> = (0..asked.get()).collect();
    let name = a
        .trace
        .file_name()
        .map_or_else(|| "stdin".to_string(), |n| n.to_string_lossy().into_owned());
    let input = ReportInput {
        summary: &s,
        trace_name: &name,
        shown: &shown,
        host,
        vcpus_from_trace: from_trace,
        recommendation: rec.as_ref(),
    };
    let format = match a.format {
        TextFormat::Text => ReportFormat::Text,
        TextFormat::Markdown => ReportFormat::Markdown,
    };
    outln!("{}", changelog::report(&input, format));
    if a.read.capture.strict && !s.stats_match() {
        notes_to_stderr(&s);
        eprintln!("error: the replay does not reproduce KVM's counters (see MISMATCH lines)");
        return Ok(crate::shared::exit::refused());
    }
    Ok(trust_warnings(&s, a.read.capture.strict).unwrap_or(ExitCode::SUCCESS))
}
