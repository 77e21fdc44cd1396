//! Streaming trace input: a file (or stdin) read with core's [`TraceReader`], pulled by the
//! command that reads it (the header, then batches of events), with progress and Ctrl-C.

use crate::interrupt;
use indicatif::{ProgressBar, ProgressStyle};
use rmaplab_core::import::{ImportError, ImportOptions};
use rmaplab_core::input::reader::{ReadError, TraceReader};
use rmaplab_core::input::source::Progress;
use rmaplab_core::input::Encoding;
use rmaplab_core::trace::{Event, TraceError, TraceMeta};
use std::fs::File;
use std::path::Path;

/// Inputs smaller than this get no progress bar.
pub const PROGRESS_MIN_BYTES: u64 = 16 << 20;

/// Errors reading a trace.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {error}")]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        error: std::io::Error,
    },
    /// The bytes are not a valid trace.
    #[error("{path}: {error}")]
    Trace {
        /// The path.
        path: String,
        /// What is wrong and where.
        error: TraceError,
    },
    /// The kvmmmu capture was refused or could not be read.
    #[error("{path}: {error}")]
    Import {
        /// The path.
        path: String,
        /// What is wrong, and what to record instead.
        error: ImportError,
    },
    /// Ctrl-C / SIGTERM.
    #[error("interrupted")]
    Interrupted,
}

/// What a streaming read saw.
#[derive(Debug, Clone)]
pub struct InputSummary {
    /// The encoding detected.
    pub encoding: Encoding,
    /// Bytes read.
    pub bytes: u64,
    /// Events decoded.
    pub events: u64,
}

/// A trace being read: [`TraceInput::meta`] first, then [`TraceInput::next_batch`] until it
/// says the end, then [`TraceInput::finish`].
pub struct TraceInput {
    name: String,
    reader: TraceReader<'static>,
    bar: Option<ProgressBar>,
    events: u64,
}

impl std::fmt::Debug for TraceInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceInput")
            .field("name", &self.name)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl TraceInput {
    /// Open `path` (`-` = stdin); kvmmmu captures are imported with `import`. A large file
    /// shows a progress bar when `show_progress`.
    pub fn open(
        path: &Path,
        show_progress: bool,
        import: &ImportOptions,
    ) -> Result<Self, InputError> {
        let name = path.display().to_string();
        let bar_len = |len: Option<u64>| match len {
            Some(l) if show_progress && l >= PROGRESS_MIN_BYTES => Some(progress_bar(l)),
            _ => None,
        };
        let (reader, bar) = if name == "-" {
            (
                TraceReader::new(std::io::stdin().lock(), import.clone())
                    .with_zstd(crate::zstd_frames::factory),
                None,
            )
        } else {
            let f = File::open(path).map_err(|error| InputError::Io {
                path: name.clone(),
                error,
            })?;
            let len = f.metadata().ok().map(|m| m.len());
            (
                TraceReader::seekable(f, len, import.clone())
                    .with_zstd(crate::zstd_frames::factory),
                bar_len(len),
            )
        };
        let on_progress = bar.clone();
        let reader = reader.on_progress(move |p: &Progress| {
            if let Some(b) = &on_progress {
                if p.passes > 1 {
                    b.set_message(format!("{} (pass {} of {})", p.stage, p.pass, p.passes));
                }
                b.set_position(p.bytes);
            }
            !interrupt::requested()
        });
        Ok(TraceInput {
            name,
            reader,
            bar,
            events: 0,
        })
    }

    /// The path as given, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The trace's metadata (for a kvmmmu capture, the whole capture is read first).
    pub fn meta(&mut self) -> Result<TraceMeta, InputError> {
        self.reader.meta().map_err(|e| self.read_error(e))
    }

    /// The next events in place of `batch`'s contents; `false` at the end of the trace.
    pub fn next_batch(&mut self, batch: &mut Vec<Event>) -> Result<bool, InputError> {
        let more = self
            .reader
            .next_batch(batch)
            .map_err(|e| self.read_error(e))?;
        self.events += batch.len() as u64;
        Ok(more)
    }

    /// What was read (the progress bar goes with the input).
    pub fn finish(self) -> InputSummary {
        InputSummary {
            encoding: self.reader.encoding().unwrap_or(Encoding::Jsonl),
            bytes: self.reader.bytes_read(),
            events: self.events,
        }
    }

    fn read_error(&self, e: ReadError) -> InputError {
        let path = self.name.clone();
        match e {
            ReadError::Io(error) => InputError::Io { path, error },
            ReadError::Trace(error) => InputError::Trace { path, error },
            ReadError::Import(error) => InputError::Import { path, error },
            ReadError::Stopped => InputError::Interrupted,
        }
    }
}

impl Drop for TraceInput {
    /// However the read ends, its progress bar leaves the terminal clean for what follows.
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// The progress bar of a read of `len` bytes.
fn progress_bar(len: u64) -> ProgressBar {
    let b = ProgressBar::new(len);
    b.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    b.set_message("replaying");
    b
}
