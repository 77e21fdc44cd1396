//! `rmaplab gen`: deterministic synthetic traces (core's generator). The workload subcommands
//! are core's `Workload` itself (its `clap` feature), shared with `collect`.

use crate::interrupt;
use crate::shared::trace_writer::{out_encoding, TraceWriter};
use anyhow::Result;
use clap::Args;
use rmaplab_core::gen::{self, GenOptions, Workload};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct GenArgs {
    #[command(subcommand)]
    pub workload: Workload,
    /// Output file (`.jsonl` / `.json` = JSON Lines, anything else = binary).
    #[arg(short, long, global = true, default_value = "trace.rmap")]
    pub output: PathBuf,
    /// vCPUs to spread the work over.
    #[arg(long, global = true, default_value_t = 1)]
    pub vcpus: u32,
    /// Seed for the random choices.
    #[arg(long, global = true, default_value_t = 1)]
    pub seed: u64,
}

pub fn gen_cmd(a: &GenArgs) -> Result<ExitCode> {
    let w = a.workload.clone();
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
