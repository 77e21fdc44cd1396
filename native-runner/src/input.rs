//! Streaming trace input: read a file (or stdin) in chunks, decode with core's
//! [`TraceDecoder`], hand events to a callback, show progress, stop on Ctrl-C.

use crate::interrupt;
use indicatif::{ProgressBar, ProgressStyle};
use rmaplab_core::import::ImportOptions;
use rmaplab_core::trace::{Encoding, Event, TraceDecoder, TraceError, TraceMeta};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Bytes read per chunk.
pub const CHUNK: usize = 1 << 20;
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

/// Stream `path` (`-` = stdin): `on_meta` once the header is read, then `on_event` per event.
/// kvmmmu captures are imported with `import`.
pub fn stream_trace(
    path: &Path,
    show_progress: bool,
    import: &ImportOptions,
    on_meta: &mut dyn FnMut(&TraceMeta) -> Result<(), String>,
    on_event: &mut dyn FnMut(&Event) -> Result<(), String>,
) -> Result<InputSummary, InputError> {
    let name = path.display().to_string();
    let io_err = |error| InputError::Io {
        path: name.clone(),
        error,
    };
    let (mut reader, len): (Box<dyn Read>, Option<u64>) = if name == "-" {
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
    let trace_err = |error| InputError::Trace {
        path: name.clone(),
        error,
    };
    let consumer_err = |msg| InputError::Consumer {
        path: name.clone(),
        msg,
    };
    let mut dec = TraceDecoder::with_import_options(import.clone());
    let mut buf = vec![0u8; CHUNK];
    let mut bytes = 0u64;
    let mut events = 0u64;
    let mut meta_seen = false;
    let mut deliver = |dec: &mut TraceDecoder, at_end: bool| -> Result<(), InputError> {
        if !meta_seen {
            if let Some(meta) = dec.meta().map_err(trace_err)? {
                on_meta(meta).map_err(consumer_err)?;
                meta_seen = true;
            }
        }
        loop {
            let ev = if at_end {
                dec.finish()
            } else {
                dec.next_event()
            }
            .map_err(trace_err)?;
            let Some(ev) = ev else { break };
            if !meta_seen {
                if let Some(meta) = dec.meta().map_err(trace_err)? {
                    on_meta(meta).map_err(consumer_err)?;
                    meta_seen = true;
                }
            }
            on_event(&ev).map_err(consumer_err)?;
            events += 1;
        }
        Ok(())
    };
    loop {
        if interrupt::requested() {
            return Err(InputError::Interrupted);
        }
        let n = reader.read(&mut buf).map_err(io_err)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        dec.push(&buf[..n]).map_err(trace_err)?;
        deliver(&mut dec, false)?;
        if let Some(b) = &bar {
            b.set_position(bytes);
        }
    }
    deliver(&mut dec, true)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(InputSummary {
        encoding: dec.encoding().unwrap_or(Encoding::Jsonl),
        bytes,
        events,
    })
}
