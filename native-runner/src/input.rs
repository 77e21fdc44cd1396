//! Streaming trace input: read a file (or stdin) with core's [`TraceReader`], hand the header
//! and then each event to callbacks, show progress, stop on Ctrl-C.

use crate::interrupt;
use indicatif::{ProgressBar, ProgressStyle};
use rmaplab_core::import::ImportOptions;
use rmaplab_core::trace::reader::{ReadError, TraceReader, BATCH};
use rmaplab_core::trace::{Encoding, Event, TraceError, TraceMeta};
use std::fs::File;
use std::io::Read;
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
    /// The callback refused an event.
    #[error("{path}: {msg}")]
    Consumer {
        /// The path.
        path: String,
        /// Why.
        msg: String,
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

/// Stream `path` (`-` = stdin): `on_meta` once the header is read, then `on_event` per event
/// (handed over by value, so a consumer that keeps it does not copy it). kvmmmu captures are
/// imported with `import`.
pub fn stream_trace(
    path: &Path,
    show_progress: bool,
    import: &ImportOptions,
    on_meta: &mut dyn FnMut(&TraceMeta) -> Result<(), String>,
    on_event: &mut dyn FnMut(Event) -> Result<(), String>,
) -> Result<InputSummary, InputError> {
    let name = path.display().to_string();
    let io_err = |error| InputError::Io {
        path: name.clone(),
        error,
    };
    let (reader, len): (Box<dyn Read>, Option<u64>) = if name == "-" {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let f = File::open(path).map_err(io_err)?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    let bar = match len {
        Some(l) if show_progress && l >= PROGRESS_MIN_BYTES => {
            let b = ProgressBar::new(l);
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b.set_message("replaying");
            Some(b)
        }
        _ => None,
    };
    let consumer_err = |msg| InputError::Consumer {
        path: name.clone(),
        msg,
    };
    let read_err = |e: ReadError| match e {
        ReadError::Io(error) => InputError::Io {
            path: name.clone(),
            error,
        },
        ReadError::Trace(error) => InputError::Trace {
            path: name.clone(),
            error,
        },
        ReadError::Stopped => InputError::Interrupted,
    };
    let mut r = TraceReader::new(reader, import.clone()).on_chunk(|bytes| {
        if let Some(b) = &bar {
            b.set_position(bytes);
        }
        !interrupt::requested()
    });
    let meta = r.meta().map_err(read_err)?;
    on_meta(&meta).map_err(consumer_err)?;
    let mut events = 0u64;
    let mut batch = Vec::with_capacity(BATCH);
    while r.next_batch(&mut batch).map_err(read_err)? {
        for ev in batch.drain(..) {
            on_event(ev).map_err(consumer_err)?;
            events += 1;
        }
    }
    let (bytes, encoding) = (r.bytes_read(), r.encoding());
    drop(r);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(InputSummary {
        encoding: encoding.unwrap_or(Encoding::Jsonl),
        bytes,
        events,
    })
}
