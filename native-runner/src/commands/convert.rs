//! `rmaplab convert`: JSON Lines ⇄ binary, lossless; and the atomic trace writer `import` uses
//! too.

use super::import::{check_exact, check_import, CaptureArgs};
use crate::input::TraceInput;
use crate::output;
use anyhow::{bail, Context, Result};
use clap::builder::TypedValueParser;
use clap::Args;
use rmaplab_core::import::ImportReport;
use rmaplab_core::input::reader::BATCH;
use rmaplab_core::trace::writer::{OutputEncoding, TraceEncoder};
use rmaplab_core::trace::{Event, TraceMeta};
use std::path::{Path, PathBuf};
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

/// The encoding `path` gets: `to` when given, else as its extension asks.
pub fn out_encoding(path: &Path, to: Option<OutputEncoding>) -> OutputEncoding {
    to.unwrap_or_else(|| OutputEncoding::for_extension(path.extension().and_then(|e| e.to_str())))
}

/// `--to`'s parser: core's output encodings, listed in the help.
pub fn output_encoding_parser() -> impl clap::builder::TypedValueParser<Value = OutputEncoding> {
    clap::builder::PossibleValuesParser::new(OutputEncoding::ALL.map(OutputEncoding::name))
        .try_map(|s| s.parse::<OutputEncoding>())
}

/// Writes events in either encoding into an [`output::AtomicFile`], in 1 MiB batches.
pub struct TraceWriter {
    file: output::AtomicFile,
    enc: TraceEncoder,
    buf: Vec<u8>,
}

impl TraceWriter {
    pub fn create(path: &Path, encoding: OutputEncoding, meta: &TraceMeta) -> Result<Self> {
        let mut w = TraceWriter {
            file: output::AtomicFile::create(path)?,
            enc: TraceEncoder::new(encoding),
            buf: Vec::with_capacity(1 << 20),
        };
        w.enc.header(meta, &mut w.buf);
        Ok(w)
    }

    pub fn event(&mut self, ev: &rmaplab_core::Event) -> Result<(), output::OutputError> {
        self.enc.event(ev, &mut self.buf);
        if self.buf.len() >= 1 << 20 {
            self.file.write(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    pub fn commit(mut self) -> Result<()> {
        self.enc.finish(&mut self.buf);
        self.file.write(&self.buf)?;
        self.file.commit()?;
        Ok(())
    }
}

pub fn convert(a: &ConvertArgs) -> Result<ExitCode> {
    transcode(
        &a.input,
        &a.output,
        out_encoding(&a.output, a.to),
        a.quiet,
        None,
        &|_| {},
        &[],
    )
}

/// Stream `input` (any encoding; with `capture`, it must be a kvmmmu capture, imported with
/// those options) into `output`, then `append`.
pub fn transcode(
    input: &Path,
    output: &Path,
    enc: OutputEncoding,
    quiet: bool,
    capture: Option<&CaptureArgs>,
    edit_meta: &dyn Fn(&mut TraceMeta),
    append: &[Event],
) -> Result<ExitCode> {
    let import = capture.map(CaptureArgs::options).unwrap_or_default();
    let mut reading = TraceInput::open(input, !quiet, &import)?;
    let mut meta = reading.meta()?;
    let name = reading.name().to_string();
    if let Some(c) = capture {
        if ImportReport::from_meta(&meta).is_none() {
            bail!("{name}: this is an rmaplab trace already; use `rmaplab convert` for those");
        }
        check_import(&meta, c.strict, quiet).context(name.clone())?;
        check_exact(&meta, append, c.strict).context(name.clone())?;
    }
    edit_meta(&mut meta);
    let mut w = TraceWriter::create(output, enc, &meta)?;
    let mut batch = Vec::with_capacity(BATCH);
    while reading.next_batch(&mut batch)? {
        for ev in &batch {
            w.event(ev)?;
        }
    }
    let summary = reading.finish();
    for ev in append {
        w.event(ev)?;
    }
    w.commit()?;
    let size = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "wrote {} ({} events, {} bytes, {:.2} bytes/event) from {} bytes",
        output.display(),
        summary.events,
        size,
        size as f64 / summary.events.max(1) as f64,
        summary.bytes
    );
    Ok(ExitCode::SUCCESS)
}
