//! `rmaplab replay`: a trace through many configurations in one pass (or, with
//! `--dump-lists`, one configuration's lists at the end).

use crate::render;
use crate::shared::format::Format;
use crate::shared::replay_args::{config_error, ConfigArgs, HostArgs, ReadArgs};
use crate::shared::replay_run::{notes_to_stderr, open, run, trust_warnings, Opened};
use anyhow::{bail, Context, Result};
use clap::Args;
use rmaplab_core::input::reader::BATCH;
use rmaplab_core::replay::{ReplayOptions, Replayer};
use rmaplab_core::trace::TraceMeta;
use rmaplab_core::ModelConfig;
use std::path::PathBuf;
use std::process::ExitCode;

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

/// `rmaplab replay`.
pub fn replay(a: &ReplayArgs) -> Result<ExitCode> {
    let req = a.configs.request()?;
    let build = |meta: &TraceMeta| -> Result<Vec<ModelConfig>> {
        req.resolve(a.configs.tdp(meta)).map_err(config_error)
    };
    if a.dump_lists {
        return replay_dump_lists(a, &build);
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
        return Ok(crate::shared::exit::refused());
    }
    Ok(trust_warnings(&s, a.read.capture.strict).unwrap_or(ExitCode::SUCCESS))
}

/// `replay --dump-lists`: one configuration, one thread, the lists printed at the end.
fn replay_dump_lists(
    a: &ReplayArgs,
    build: &dyn Fn(&TraceMeta) -> Result<Vec<ModelConfig>>,
) -> Result<ExitCode> {
    let opts = ReplayOptions {
        strict: a.read.capture.strict,
    };
    let Opened {
        mut input,
        meta,
        name,
        configs: cfgs,
    } = open(&a.read.run_options(&a.trace), build)?;
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
