//! Writing rmaplab traces: the encoding a path asks for, [`TraceWriter`] (an atomic file in
//! either encoding, used by `gen`, `import`, `convert` and `collect`) and [`Transcode`] (a trace
//! or capture copied into one).

use super::capture_args::{check_exact, check_import, CaptureArgs};
use crate::input::TraceInput;
use crate::output;
use anyhow::{bail, Context, Result};
use clap::builder::TypedValueParser;
use rmaplab_core::import::ImportReport;
use rmaplab_core::input::reader::BATCH;
use rmaplab_core::trace::writer::{OutputEncoding, TraceEncoder};
use rmaplab_core::trace::{Event, TraceMeta};
use std::path::Path;
use std::process::ExitCode;

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

/// A copy of a trace or capture into an rmaplab trace file ([`Transcode::run`]).
pub struct Transcode<'a> {
    /// What to read (any encoding).
    pub input: &'a Path,
    /// The file to write (atomically).
    pub output: &'a Path,
    /// Its encoding.
    pub encoding: OutputEncoding,
    /// No progress bar.
    pub quiet: bool,
    /// The input must be a kvmmmu capture, imported with these options.
    pub capture: Option<&'a CaptureArgs>,
    /// Changes to the metadata before it is written.
    pub edit_meta: &'a dyn Fn(&mut TraceMeta),
    /// Events written after the input's (KVM's stats given on the command line).
    pub append: &'a [Event],
}

impl<'a> Transcode<'a> {
    /// `input` into `output` in `encoding`, as it is.
    pub fn new(input: &'a Path, output: &'a Path, encoding: OutputEncoding, quiet: bool) -> Self {
        Transcode {
            input,
            output,
            encoding,
            quiet,
            capture: None,
            edit_meta: &|_| {},
            append: &[],
        }
    }

    /// Stream the input into the output, then the appended events.
    pub fn run(&self) -> Result<ExitCode> {
        let (input, output, quiet, append) = (self.input, self.output, self.quiet, self.append);
        let import = self.capture.map(CaptureArgs::options).unwrap_or_default();
        let mut reading = TraceInput::open(input, !quiet, &import)?;
        let mut meta = reading.meta()?;
        let name = reading.name().to_string();
        if let Some(c) = self.capture {
            if ImportReport::from_meta(&meta).is_none() {
                bail!("{name}: this is an rmaplab trace already; use `rmaplab convert` for those");
            }
            check_import(&meta, c.strict, quiet).context(name.clone())?;
            check_exact(&meta, append, c.strict).context(name.clone())?;
        }
        (self.edit_meta)(&mut meta);
        let mut w = TraceWriter::create(output, self.encoding, &meta)?;
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
}
