//! A pull-style reader over any `std::io::Read`: the header first, then one event at a time.
//! Every front-end reads traces through it (the CLI's files and stdin, the web worker's
//! `File` slices), so the push-decode-drain-finish loop is written once.

use super::{Encoding, Event, TraceDecoder, TraceError, TraceMeta};
use crate::import::ImportOptions;
use std::io::Read;

/// Bytes read per chunk: 256 KiB. Larger chunks read no faster (the decoder is the bottleneck)
/// but hold more memory: the chunk and the decoder's buffer both grow with it.
pub const CHUNK: usize = 1 << 18;

/// Events per [`TraceReader::next_batch`]: enough to amortise the call, few enough to stay in
/// cache (64 bytes each).
pub const BATCH: usize = 4096;

/// Errors reading a trace.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The source failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a valid trace (or the capture was refused).
    #[error("{0}")]
    Trace(#[from] TraceError),
    /// The chunk callback asked to stop (Ctrl-C, a cancelled upload).
    #[error("stopped")]
    Stopped,
}

/// Reads `R` chunk by chunk through a [`TraceDecoder`].
pub struct TraceReader<'a, R: Read> {
    inner: R,
    dec: TraceDecoder,
    buf: Vec<u8>,
    bytes: u64,
    at_end: bool,
    /// An event decoded while looking for the header (captures know their metadata only
    /// once they have read everything).
    pending: Option<Event>,
    on_chunk: Option<Box<dyn FnMut(u64) -> bool + 'a>>,
}

impl<R: Read> std::fmt::Debug for TraceReader<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceReader")
            .field("bytes", &self.bytes)
            .field("at_end", &self.at_end)
            .finish_non_exhaustive()
    }
}

impl<'a, R: Read> TraceReader<'a, R> {
    /// A reader of `inner`; kvmmmu captures are imported with `import`.
    pub fn new(inner: R, import: ImportOptions) -> Self {
        TraceReader {
            inner,
            dec: TraceDecoder::with_import_options(import),
            buf: vec![0; CHUNK],
            bytes: 0,
            at_end: false,
            pending: None,
            on_chunk: None,
        }
    }

    /// Call `f` with the bytes read so far after every chunk; returning `false` stops the read
    /// with [`ReadError::Stopped`].
    pub fn on_chunk(mut self, f: impl FnMut(u64) -> bool + 'a) -> Self {
        self.on_chunk = Some(Box::new(f));
        self
    }

    /// Bytes read from the source so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// The encoding, once known.
    pub fn encoding(&self) -> Option<Encoding> {
        self.dec.encoding()
    }

    /// Read one more chunk into the decoder; false at the end of the source.
    fn fill(&mut self) -> Result<bool, ReadError> {
        let n = loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        };
        if n == 0 {
            self.at_end = true;
            return Ok(false);
        }
        self.bytes += n as u64;
        self.dec.push(&self.buf[..n])?;
        if let Some(f) = self.on_chunk.as_mut() {
            if !f(self.bytes) {
                return Err(ReadError::Stopped);
            }
        }
        Ok(true)
    }

    fn decode_next(&mut self) -> Result<Option<Event>, ReadError> {
        loop {
            let ev = if self.at_end {
                self.dec.finish()?
            } else {
                self.dec.next_event()?
            };
            if ev.is_some() || self.at_end {
                return Ok(ev);
            }
            self.fill()?;
        }
    }

    /// The trace's metadata (reads as far as needed: a header for rmaplab traces, the whole
    /// input for kvmmmu captures).
    pub fn meta(&mut self) -> Result<TraceMeta, ReadError> {
        loop {
            if let Some(m) = self.dec.meta()? {
                return Ok(m.clone());
            }
            if self.pending.is_some() || (self.at_end && self.dec.encoding().is_some()) {
                return Err(TraceError::BadHeader("the trace has no header".into()).into());
            }
            if self.at_end {
                // Undecided input at its end: finishing decides (or explains) it.
                self.pending = self.dec.finish()?;
                continue;
            }
            if !self.fill()? {
                self.pending = self.dec.finish()?;
            } else if let Some(e) = self.dec.next_event()? {
                self.pending = Some(e);
            }
        }
    }

    /// The next events (up to [`BATCH`]) in place of `out`'s contents; `false` at the end of
    /// the trace, with `out` empty. The same events [`TraceReader::next_event`] gives, decoded
    /// in bulk (binary traces take the decoder's fast path).
    pub fn next_batch(&mut self, out: &mut Vec<Event>) -> Result<bool, ReadError> {
        out.clear();
        if let Some(e) = self.pending.take() {
            out.push(e);
        }
        loop {
            if self.at_end {
                while out.len() < BATCH {
                    match self.dec.finish()? {
                        Some(e) => out.push(e),
                        None => break,
                    }
                }
                return Ok(!out.is_empty());
            }
            let want = BATCH - out.len();
            self.dec.next_batch(out, want)?;
            if !out.is_empty() {
                return Ok(true);
            }
            self.fill()?;
        }
    }

    /// The next event, or `None` at the end of the trace.
    pub fn next_event(&mut self) -> Result<Option<Event>, ReadError> {
        if let Some(e) = self.pending.take() {
            return Ok(Some(e));
        }
        self.decode_next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{generate_vec, meta_for, GenOptions, Workload};
    use crate::trace::binary::encode_all;

    /// A source that returns a few bytes at a time.
    struct Dribble<'b>(&'b [u8], usize);

    impl Read for Dribble<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(self.0.len()).min(out.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn header_then_every_event_whatever_the_chunking() {
        let w = Workload::Alias { aliases: 40 };
        let o = GenOptions::default();
        let events = generate_vec(&w, &o);
        let bytes = encode_all(&meta_for(&w, &o, "t"), &events);
        for step in [1, 7, 4096] {
            let mut chunks = 0;
            let mut r =
                TraceReader::new(Dribble(&bytes, step), ImportOptions::default()).on_chunk(|_| {
                    chunks += 1;
                    true
                });
            let meta = r.meta().unwrap();
            assert!(
                meta.workload.as_deref().is_some_and(|w| w.contains("40")),
                "{meta:?}"
            );
            let mut got = Vec::new();
            while let Some(e) = r.next_event().unwrap() {
                got.push(e);
            }
            assert_eq!(got, events, "chunks of {step}");
            assert_eq!(r.bytes_read(), bytes.len() as u64);
            drop(r);
            assert!(chunks > 0);
        }
    }

    #[test]
    fn batches_hold_every_event_in_order_whatever_the_chunking_and_encoding() {
        let w = Workload::Spread {
            gfns: 3000,
            max_aliases: 8,
            skew_tenths: 10,
        };
        let o = GenOptions::default();
        let events = generate_vec(&w, &o);
        assert!(events.len() > 2 * BATCH, "{} events", events.len());
        let meta = meta_for(&w, &o, "t");
        let binary = encode_all(&meta, &events);
        let mut jsonl = Vec::new();
        crate::trace::jsonl::write_header(&meta, &mut jsonl);
        for e in &events {
            crate::trace::jsonl::write_event(e, &mut jsonl);
        }
        for (bytes, step) in [
            (&binary, 1),
            (&binary, 999),
            (&binary, CHUNK),
            (&jsonl, 4096),
        ] {
            let mut r = TraceReader::new(Dribble(bytes, step), ImportOptions::default());
            r.meta().unwrap();
            let (mut got, mut batch) = (Vec::new(), Vec::new());
            while r.next_batch(&mut batch).unwrap() {
                assert!(!batch.is_empty() && batch.len() <= BATCH);
                got.append(&mut batch);
            }
            assert!(batch.is_empty());
            assert_eq!(got, events, "chunks of {step}");
        }
    }

    #[test]
    fn errors_and_stops_are_reported() {
        let mut r = TraceReader::new(&b""[..], ImportOptions::default());
        assert!(matches!(r.meta(), Err(ReadError::Trace(TraceError::Empty))));
        let mut r = TraceReader::new(&b"\x00\x01garbage"[..], ImportOptions::default());
        assert!(r.meta().is_err());
        let w = Workload::Alias { aliases: 4 };
        let bytes = encode_all(&meta_for(&w, &GenOptions::default(), "t"), &[]);
        let mut r =
            TraceReader::new(Dribble(&bytes, 1), ImportOptions::default()).on_chunk(|_| false);
        assert!(matches!(r.meta(), Err(ReadError::Stopped)));
    }
}
