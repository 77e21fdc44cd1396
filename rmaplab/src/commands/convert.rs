//! `rmaplab convert`: JSON Lines ⇄ binary, lossless; and the atomic trace writer `import` uses
//! too.

use crate::shared::trace_writer::{out_encoding, output_encoding_parser, Transcode};
use anyhow::Result;
use clap::Args;
use rmaplab_core::trace::writer::OutputEncoding;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// Input trace (either encoding; `-` reads stdin).
    pub input: PathBuf,
    /// Output file; written to a temporary file and renamed when complete.
    pub output: PathBuf,
    /// Output encoding; default: jsonl for *.jsonl / *.json / *.ndjson, binary otherwise.
    #[arg(long, value_parser = output_encoding_parser())]
    pub to: Option<OutputEncoding>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// `rmaplab convert`.
pub fn convert(a: &ConvertArgs) -> Result<ExitCode> {
    Transcode::new(&a.input, &a.output, out_encoding(&a.output, a.to), a.quiet).run()
}
