//! `rmaplab gen`: deterministic synthetic traces (core's generator), and the workload
//! subcommands `collect` shares.

use super::convert::{out_encoding, TraceWriter};
use crate::interrupt;
use anyhow::Result;
use clap::{Args, Subcommand};
use rmaplab_core::gen::{self, GenOptions, Workload};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct GenArgs {
    #[command(subcommand)]
    pub workload: GenWorkload,
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

#[derive(Subcommand, Debug)]
pub enum GenWorkload {
    /// One guest page mapped at N addresses, touched, then unmapped.
    Alias {
        /// Number of mappings.
        #[arg(long, default_value_t = 1002)]
        aliases: u64,
    },
    /// A fork storm: P address spaces sharing M pages (plus private pages), then exit.
    Fork {
        /// Address spaces (parent included).
        #[arg(long, default_value_t = 64)]
        procs: u64,
        /// Shared pages.
        #[arg(long, default_value_t = 256)]
        pages: u64,
        /// Private pages per address space.
        #[arg(long, default_value_t = 16)]
        private: u64,
    },
    /// Many frames, few aliases: a skewed number of mappings per frame.
    Spread {
        /// Guest frames.
        #[arg(long, default_value_t = 100_000)]
        gfns: u64,
        /// Largest alias count.
        #[arg(long, default_value_t = 512)]
        max_aliases: u64,
        /// Tail exponent x10 (15 = 1.5; smaller = heavier tail).
        #[arg(long, default_value_t = 15)]
        skew_tenths: u64,
    },
    /// Map / touch / unmap churn.
    Churn {
        /// Rounds.
        #[arg(long, default_value_t = 100)]
        cycles: u64,
        /// Mappings attempted per round.
        #[arg(long, default_value_t = 1000)]
        batch: u64,
        /// Frames to choose from.
        #[arg(long, default_value_t = 4096)]
        gfns: u64,
        /// Address spaces to choose from.
        #[arg(long, default_value_t = 32)]
        spaces: u64,
    },
}

pub fn workload(w: &GenWorkload) -> Workload {
    match *w {
        GenWorkload::Alias { aliases } => Workload::Alias { aliases },
        GenWorkload::Fork {
            procs,
            pages,
            private,
        } => Workload::Fork {
            procs,
            pages,
            private,
        },
        GenWorkload::Spread {
            gfns,
            max_aliases,
            skew_tenths,
        } => Workload::Spread {
            gfns,
            max_aliases,
            skew_tenths,
        },
        GenWorkload::Churn {
            cycles,
            batch,
            gfns,
            spaces,
        } => Workload::Churn {
            cycles,
            batch,
            gfns,
            spaces,
        },
    }
}

pub fn gen_cmd(a: &GenArgs) -> Result<ExitCode> {
    let w = workload(&a.workload);
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
