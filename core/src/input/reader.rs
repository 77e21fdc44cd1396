//! A pull-style reader of any input: the header first, then events in batches. Every
//! front-end reads through it (the CLI's files and stdin, the web worker's `File` slices), so
//! detection, decompression, the rmaplab format's push-decode-drain-finish loop and the
//! captures' passes are written once.
//!
//! Memory: an rmaplab trace is decoded as it streams; a capture given as something seekable (a
//! file, a `File` in the browser) is read in passes by offset, never held. A capture that
//! arrives as a stream (stdin) is held in memory first, since its passes need to read it again.

use super::source::{self, Counting, Meter, Progress, ProgressHook, ReadSeek, Shared, SharedMeter};
use super::{sniff, Encoding, Magic, SNIFF_BYTES};
use crate::import::compress::{
    self, GzipReader, Ruzstd, ZstdFactory, ZstdReader, MAX_DECOMPRESSED,
};
use crate::import::{CaptureFormat, CaptureStream, ImportError, ImportOptions};
use crate::trace::{Event, TraceDecoder, TraceError, TraceMeta};
use std::io::{BufRead, BufReader, Read};

/// Bytes read from an rmaplab trace at a time.
pub const CHUNK: usize = 1 << 18;

/// Events per batch handed to the replay.
pub const BATCH: usize = 4096;

/// Buffer of the readers under a decompressor.
const DECOMPRESS_BUFFER: usize = 1 << 16;

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The input could not be read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a valid rmaplab trace (or no input rmaplab reads).
    #[error("{0}")]
    Trace(#[from] TraceError),
    /// A kvmmmu capture was refused or could not be read.
    #[error("{0}")]
    Import(ImportError),
    /// The progress hook asked to stop.
    #[error("stopped")]
    Stopped,
}

impl From<ImportError> for ReadError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Stopped => ReadError::Stopped,
            e => ReadError::Import(e),
        }
    }
}

/// An I/O error as a read error (a stop stays a stop).
fn io(e: std::io::Error) -> ReadError {
    if source::is_stopped(&e) {
        ReadError::Stopped
    } else if let Some(c) = e
        .get_ref()
        .and_then(|r| r.downcast_ref::<compress::CompressError>())
    {
        ReadError::Import(ImportError::Compress(c.clone()))
    } else {
        ReadError::Io(e)
    }
}

/// Where the bytes come from.
enum Input<'a> {
    /// Readable by offset: captures are read in passes.
    Seekable(Box<dyn ReadSeek + 'a>, Option<u64>),
    /// Read once, in order.
    Stream(Box<dyn Read + 'a>),
}

/// An rmaplab trace being decoded.
struct Format<'a> {
    inner: Box<dyn Read + 'a>,
    dec: TraceDecoder,
    buf: Vec<u8>,
    at_end: bool,
}

impl Format<'_> {
    fn fill(&mut self) -> Result<bool, ReadError> {
        let n = loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io(e)),
            }
        };
        if n == 0 {
            self.at_end = true;
            return Ok(false);
        }
        self.dec.push(&self.buf[..n])?;
        Ok(true)
    }
}

enum State<'a> {
    Unopened(Input<'a>),
    Format(Box<Format<'a>>),
    Capture(Box<CaptureStream<'a>>),
    /// Opening failed (the error was returned).
    Failed,
}

/// The reader.
pub struct TraceReader<'a> {
    state: State<'a>,
    import: ImportOptions,
    zstd: ZstdFactory,
    meter: SharedMeter<'a>,
    encoding: Option<Encoding>,
    /// `gzip` or `zstd` when the input was compressed: errors' byte offsets then count the
    /// decompressed bytes, and say so.
    compression: Option<&'static str>,
    meta: Option<TraceMeta>,
    pending: Vec<Event>,
}

impl std::fmt::Debug for TraceReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceReader")
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

/// Up to [`SNIFF_BYTES`] from `r` (fewer only at its end).
fn read_prefix(r: &mut dyn Read) -> Result<Vec<u8>, ReadError> {
    let mut prefix = Vec::with_capacity(SNIFF_BYTES);
    r.take(SNIFF_BYTES as u64)
        .read_to_end(&mut prefix)
        .map_err(io)?;
    Ok(prefix)
}

/// The name of `magic`'s compression, if it is one.
fn compression_name(magic: Magic) -> Option<&'static str> {
    match magic {
        Magic::Gzip => Some("gzip"),
        Magic::Zstd => Some("zstd"),
        Magic::Plain(_) => None,
    }
}

/// A decompressor of `magic` over `inner`.
fn decompressor<'a>(magic: Magic, inner: Box<dyn BufRead + 'a>) -> Box<dyn Read + 'a> {
    match magic {
        Magic::Gzip => Box::new(GzipReader::new(inner)),
        _ => Box::new(ZstdReader::new(inner)),
    }
}

/// All of `r`, at most [`MAX_DECOMPRESSED`] bytes.
fn hold_all(r: &mut dyn Read, mut prefix: Vec<u8>) -> Result<Vec<u8>, ReadError> {
    let room = MAX_DECOMPRESSED.saturating_sub(prefix.len()) as u64 + 1;
    r.take(room).read_to_end(&mut prefix).map_err(io)?;
    if prefix.len() > MAX_DECOMPRESSED {
        return Err(ImportError::from(compress::CompressError::TooLarge(MAX_DECOMPRESSED)).into());
    }
    Ok(prefix)
}

impl<'a> TraceReader<'a> {
    /// A reader of `inner`, read once in order (stdin, a pipe); kvmmmu captures are imported
    /// with `import` (and held in memory for their passes).
    pub fn new(inner: impl Read + 'a, import: ImportOptions) -> Self {
        Self::with_input(Input::Stream(Box::new(inner)), import)
    }

    /// A reader of `inner`, readable by offset (a file): captures are read in passes, in
    /// bounded memory. `len` is its size, when known.
    pub fn seekable(inner: impl ReadSeek + 'a, len: Option<u64>, import: ImportOptions) -> Self {
        Self::with_input(Input::Seekable(Box::new(inner), len), import)
    }

    fn with_input(input: Input<'a>, import: ImportOptions) -> Self {
        TraceReader {
            state: State::Unopened(input),
            import,
            zstd: Ruzstd::factory,
            meter: Meter::shared(None),
            encoding: None,
            compression: None,
            meta: None,
            pending: Vec::new(),
        }
    }

    /// Decode a trace.dat's zstd-compressed CPU data with `zstd`'s decoders (the CLI's
    /// libzstd) instead of core's own pure-Rust one.
    pub fn with_zstd(mut self, zstd: ZstdFactory) -> Self {
        self.zstd = zstd;
        self
    }

    /// Call `f` as the read progresses; when it returns `false` the read stops with
    /// [`ReadError::Stopped`].
    pub fn on_progress(mut self, f: impl FnMut(&Progress) -> bool + 'a) -> Self {
        let hook: ProgressHook<'a> = Box::new(f);
        self.meter = Meter::shared(Some(hook));
        self
    }

    /// Where the read stands.
    pub fn progress(&self) -> Progress {
        self.meter.borrow().progress()
    }

    /// Bytes of the input: its size where known, else what was read.
    pub fn bytes_read(&self) -> u64 {
        let p = self.progress();
        p.total.unwrap_or(p.bytes)
    }

    /// The encoding detected (of the decompressed content, for compressed input).
    pub fn encoding(&self) -> Option<Encoding> {
        self.encoding
    }

    fn open(&mut self) -> Result<(), ReadError> {
        let State::Unopened(_) = self.state else {
            return Ok(());
        };
        let State::Unopened(input) = std::mem::replace(&mut self.state, State::Failed) else {
            return Ok(());
        };
        self.state = self.open_input(input)?;
        Ok(())
    }

    fn open_input(&mut self, input: Input<'a>) -> Result<State<'a>, ReadError> {
        let meter = std::rc::Rc::clone(&self.meter);
        match input {
            Input::Seekable(inner, len) => {
                let src = Shared::metered(inner, len, std::rc::Rc::clone(&meter));
                let prefix = src.read_up_to(0, SNIFF_BYTES).map_err(io)?;
                match sniff(&prefix)? {
                    Magic::Plain(enc) => {
                        self.encoding = Some(enc);
                        match capture_format(enc) {
                            None => Ok(self.format(Box::new(src.at(0)), enc)),
                            Some(f) => self.capture(src, f, None),
                        }
                    }
                    magic => {
                        self.compression = compression_name(magic);
                        let open = |at: u64| {
                            decompressor(
                                magic,
                                Box::new(BufReader::with_capacity(DECOMPRESS_BUFFER, src.at(at))),
                            )
                        };
                        let mut plain = open(0);
                        let inner_prefix = read_prefix(&mut plain)?;
                        let enc = super::detect(&inner_prefix)?;
                        self.encoding = Some(enc);
                        match capture_format(enc) {
                            None => Ok(self.format(
                                Box::new(std::io::Cursor::new(inner_prefix).chain(plain)),
                                enc,
                            )),
                            Some(CaptureFormat::Text) => {
                                // Text is read in passes over the decompressed stream: each
                                // opening decompresses again from the start.
                                let s = src.at(0);
                                let opener: crate::import::text_stream::Opener<'a> =
                                    Box::new(move |at: u64| {
                                        let mut d = decompressor(
                                            magic,
                                            Box::new(BufReader::with_capacity(
                                                DECOMPRESS_BUFFER,
                                                s.at(0),
                                            )),
                                        );
                                        let skipped = std::io::copy(
                                            &mut (&mut d).take(at),
                                            &mut std::io::sink(),
                                        )?;
                                        if skipped != at {
                                            return Err(std::io::Error::new(
                                                std::io::ErrorKind::UnexpectedEof,
                                                "the decompressed text is shorter than before",
                                            ));
                                        }
                                        Ok(Box::new(BufReader::with_capacity(DECOMPRESS_BUFFER, d))
                                            as Box<dyn BufRead + 'a>)
                                    });
                                self.capture(src, CaptureFormat::Text, Some(opener))
                            }
                            Some(f) => {
                                // A compressed trace.dat / perf.data is read by offset: held
                                // decompressed.
                                let data = hold_all(&mut plain, inner_prefix)?;
                                let len = data.len() as u64;
                                let held = Shared::metered(
                                    Box::new(std::io::Cursor::new(data)),
                                    Some(len),
                                    meter,
                                );
                                self.capture(held, f, None)
                            }
                        }
                    }
                }
            }
            Input::Stream(inner) => {
                let mut counted: Box<dyn Read + 'a> =
                    Box::new(Counting::new(inner, std::rc::Rc::clone(&meter)));
                let prefix = read_prefix(&mut counted)?;
                let magic = sniff(&prefix)?;
                self.compression = compression_name(magic);
                let (mut plain, plain_prefix): (Box<dyn Read + 'a>, Vec<u8>) = match magic {
                    Magic::Plain(_) => (counted, prefix),
                    m => {
                        let joined = std::io::Cursor::new(prefix).chain(counted);
                        let mut d = decompressor(
                            m,
                            Box::new(BufReader::with_capacity(DECOMPRESS_BUFFER, joined)),
                        );
                        let p = read_prefix(&mut d)?;
                        (d, p)
                    }
                };
                let enc = super::detect(&plain_prefix)?;
                self.encoding = Some(enc);
                match capture_format(enc) {
                    None => Ok(self.format(
                        Box::new(std::io::Cursor::new(plain_prefix).chain(plain)),
                        enc,
                    )),
                    Some(f) => {
                        let data = hold_all(&mut plain, plain_prefix)?;
                        let len = data.len() as u64;
                        let held =
                            Shared::metered(Box::new(std::io::Cursor::new(data)), Some(len), meter);
                        self.capture(held, f, None)
                    }
                }
            }
        }
    }

    fn format(&self, inner: Box<dyn Read + 'a>, enc: Encoding) -> State<'a> {
        let dec = match enc {
            Encoding::Binary => TraceDecoder::of(crate::trace::TraceEncoding::Binary),
            _ => TraceDecoder::of(crate::trace::TraceEncoding::Jsonl),
        };
        State::Format(Box::new(Format {
            inner,
            dec,
            buf: vec![0; CHUNK],
            at_end: false,
        }))
    }

    fn capture(
        &mut self,
        src: Shared<'a>,
        format: CaptureFormat,
        opener: Option<crate::import::text_stream::Opener<'a>>,
    ) -> Result<State<'a>, ReadError> {
        let s = CaptureStream::open(src, format, opener, self.zstd, self.import.clone())?;
        self.meta = Some(s.meta().clone());
        Ok(State::Capture(Box::new(s)))
    }

    /// The trace's metadata (for a kvmmmu capture, the passes that need the whole capture
    /// run first).
    pub fn meta(&mut self) -> Result<TraceMeta, ReadError> {
        self.meta_inner().map_err(|e| self.located(e))
    }

    /// A malformed trace's error, its offsets marked as decompressed ones for compressed input.
    fn located(&self, e: ReadError) -> ReadError {
        match (e, self.compression) {
            (
                ReadError::Trace(
                    error @ (TraceError::Truncated { .. } | TraceError::Binary { .. }),
                ),
                Some(compression),
            ) => ReadError::Trace(TraceError::Decompressed {
                compression,
                error: Box::new(error),
            }),
            (e, _) => e,
        }
    }

    fn meta_inner(&mut self) -> Result<TraceMeta, ReadError> {
        self.open()?;
        if let Some(m) = &self.meta {
            return Ok(m.clone());
        }
        let State::Format(f) = &mut self.state else {
            return Err(TraceError::BadHeader("the trace has no header".into()).into());
        };
        loop {
            if let Some(m) = f.dec.meta()? {
                let m = m.clone();
                self.meta = Some(m.clone());
                return Ok(m);
            }
            if f.at_end {
                if let Some(e) = f.dec.finish()? {
                    self.pending.push(e);
                }
                return Err(TraceError::BadHeader("the trace has no header".into()).into());
            }
            f.fill()?;
        }
    }

    /// The next events in place of `out`'s contents (at most [`BATCH`]); `false` at the end.
    pub fn next_batch(&mut self, out: &mut Vec<Event>) -> Result<bool, ReadError> {
        self.next_batch_inner(out).map_err(|e| self.located(e))
    }

    fn next_batch_inner(&mut self, out: &mut Vec<Event>) -> Result<bool, ReadError> {
        out.clear();
        if self.meta.is_none() {
            self.meta_inner()?;
        }
        out.append(&mut self.pending);
        match &mut self.state {
            State::Capture(c) => {
                let want = BATCH.saturating_sub(out.len());
                c.next_batch(out, want)?;
                if out.is_empty() {
                    // The last pass is over: say so (a front-end shows 100 %).
                    let _ = self.meter.borrow_mut().add(0);
                }
                Ok(!out.is_empty())
            }
            State::Format(f) => loop {
                if f.at_end {
                    while out.len() < BATCH {
                        match f.dec.finish()? {
                            Some(e) => out.push(e),
                            None => break,
                        }
                    }
                    return Ok(!out.is_empty());
                }
                let want = BATCH - out.len();
                f.dec.next_batch(out, want)?;
                if !out.is_empty() {
                    return Ok(true);
                }
                f.fill()?;
            },
            State::Unopened(_) | State::Failed => Ok(false),
        }
    }

    /// The next event, or `None` at the end of the trace.
    pub fn next_event(&mut self) -> Result<Option<Event>, ReadError> {
        self.next_event_inner().map_err(|e| self.located(e))
    }

    fn next_event_inner(&mut self) -> Result<Option<Event>, ReadError> {
        if self.meta.is_none() {
            self.meta_inner()?;
        }
        if let Some(e) = self.pending.pop() {
            return Ok(Some(e));
        }
        match &mut self.state {
            State::Capture(c) => {
                let mut one = Vec::with_capacity(1);
                c.next_batch(&mut one, 1)?;
                Ok(one.pop())
            }
            State::Format(f) => loop {
                if f.at_end {
                    return Ok(f.dec.finish()?);
                }
                if let Some(e) = f.dec.next_event()? {
                    return Ok(Some(e));
                }
                f.fill()?;
            },
            State::Unopened(_) | State::Failed => Ok(None),
        }
    }
}

/// The capture format of an encoding (`None`: an rmaplab trace).
pub fn capture_format(enc: Encoding) -> Option<CaptureFormat> {
    match enc {
        Encoding::Binary | Encoding::Jsonl => None,
        Encoding::Ftrace => Some(CaptureFormat::Text),
        Encoding::TraceDat => Some(CaptureFormat::TraceDat),
        Encoding::PerfData => Some(CaptureFormat::PerfData),
    }
}

/// Read a whole in-memory input of any format (tests, tools).
pub fn read_all(bytes: &[u8], import: ImportOptions) -> Result<(TraceMeta, Vec<Event>), ReadError> {
    let mut r = TraceReader::seekable(
        std::io::Cursor::new(bytes),
        Some(bytes.len() as u64),
        import,
    );
    let meta = r.meta()?;
    let mut events = Vec::new();
    let mut batch = Vec::new();
    while r.next_batch(&mut batch)? {
        events.append(&mut batch);
    }
    Ok((meta, events))
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
            let mut r = TraceReader::new(Dribble(&bytes, step), ImportOptions::default())
                .on_progress(|_| {
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
            TraceReader::new(Dribble(&bytes, 1), ImportOptions::default()).on_progress(|_| false);
        assert!(matches!(r.meta(), Err(ReadError::Stopped)));
    }
}
