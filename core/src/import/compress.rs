//! Pure-Rust decompression (builds for wasm32): zstd (`ruzstd`), zlib/deflate
//! (`miniz_oxide`), and the gzip container around deflate, each with an output limit so a
//! small hostile input cannot exhaust memory.

use std::io::Read;

/// Most bytes one decompression may produce (the browser's wasm32 memory is 4 GiB).
pub const MAX_DECOMPRESSED: usize = 1 << 31;
/// gzip magic.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// zstd frame magic.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// gzip header flag: extra field.
const FEXTRA: u8 = 1 << 2;
/// gzip header flag: file name.
const FNAME: u8 = 1 << 3;
/// gzip header flag: comment.
const FCOMMENT: u8 = 1 << 4;
/// gzip header flag: header CRC.
const FHCRC: u8 = 1 << 1;
/// gzip compression method: deflate.
const CM_DEFLATE: u8 = 8;
/// Fixed part of a gzip header.
const GZIP_HEADER: usize = 10;

/// Errors decompressing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompressError {
    /// The zstd stream is malformed.
    #[error("zstd: {0}")]
    Zstd(String),
    /// The deflate / zlib stream is malformed.
    #[error("deflate: {0}")]
    Deflate(String),
    /// The gzip header is malformed.
    #[error("gzip header: {0}")]
    Gzip(&'static str),
    /// The output would exceed [`MAX_DECOMPRESSED`] or the size the container declared.
    #[error("decompressed data exceeds {0} bytes")]
    TooLarge(usize),
    /// A compression algorithm rmaplab does not read.
    #[error("compression {0:?} is not supported (rmaplab reads zstd and zlib)")]
    Unsupported(String),
}

/// Decompress one or more zstd frames, producing at most `limit` bytes.
pub fn zstd(input: &[u8], limit: usize) -> Result<Vec<u8>, CompressError> {
    let mut src = input;
    let mut out = Vec::new();
    while !src.is_empty() {
        let mut dec = ruzstd::decoding::StreamingDecoder::new(&mut src)
            .map_err(|e| CompressError::Zstd(e.to_string()))?;
        let room = limit.saturating_sub(out.len()) as u64 + 1;
        (&mut dec)
            .take(room)
            .read_to_end(&mut out)
            .map_err(|e| CompressError::Zstd(e.to_string()))?;
        if out.len() > limit {
            return Err(CompressError::TooLarge(limit));
        }
    }
    Ok(out)
}

fn inflate_err(e: miniz_oxide::inflate::DecompressError, limit: usize) -> CompressError {
    if e.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput {
        CompressError::TooLarge(limit)
    } else {
        CompressError::Deflate(format!("{:?}", e.status))
    }
}

/// Decompress a zlib stream (what trace-cmd's `zlib` compression writes).
pub fn zlib(input: &[u8], limit: usize) -> Result<Vec<u8>, CompressError> {
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(input, limit)
        .map_err(|e| inflate_err(e, limit))
}

/// Decompress a gzip file (first member).
pub fn gzip(input: &[u8], limit: usize) -> Result<Vec<u8>, CompressError> {
    let h = input
        .get(..GZIP_HEADER)
        .ok_or(CompressError::Gzip("truncated"))?;
    if h[..2] != GZIP_MAGIC || h[2] != CM_DEFLATE {
        return Err(CompressError::Gzip("not gzip with deflate"));
    }
    let flags = h[3];
    let mut pos = GZIP_HEADER;
    if flags & FEXTRA != 0 {
        let n = input
            .get(pos..pos + 2)
            .ok_or(CompressError::Gzip("truncated extra field"))?;
        pos += 2 + usize::from(u16::from_le_bytes([n[0], n[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let rest = input.get(pos..).ok_or(CompressError::Gzip("truncated"))?;
            let nul = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or(CompressError::Gzip("unterminated name or comment"))?;
            pos += nul + 1;
        }
    }
    if flags & FHCRC != 0 {
        pos += 2;
    }
    let body = input.get(pos..).ok_or(CompressError::Gzip("truncated"))?;
    miniz_oxide::inflate::decompress_to_vec_with_limit(body, limit)
        .map_err(|e| inflate_err(e, limit))
}

/// Reads the gzip header of `r` (the part before the deflate data); errors name what is wrong.
fn skip_gzip_header<R: Read>(r: &mut R) -> std::io::Result<()> {
    let bad = |what: &'static str| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, CompressError::Gzip(what))
    };
    let mut h = [0u8; GZIP_HEADER];
    r.read_exact(&mut h).map_err(|_| bad("truncated"))?;
    if h[..2] != GZIP_MAGIC || h[2] != CM_DEFLATE {
        return Err(bad("not gzip with deflate"));
    }
    let flags = h[3];
    let mut byte = [0u8; 1];
    if flags & FEXTRA != 0 {
        let mut n = [0u8; 2];
        r.read_exact(&mut n)
            .map_err(|_| bad("truncated extra field"))?;
        let len = u64::from(u16::from_le_bytes(n));
        let skipped = std::io::copy(&mut r.take(len), &mut std::io::sink())?;
        if skipped != len {
            return Err(bad("truncated extra field"));
        }
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            loop {
                r.read_exact(&mut byte)
                    .map_err(|_| bad("unterminated name or comment"))?;
                if byte[0] == 0 {
                    break;
                }
            }
        }
    }
    if flags & FHCRC != 0 {
        let mut crc = [0u8; 2];
        r.read_exact(&mut crc).map_err(|_| bad("truncated"))?;
    }
    Ok(())
}

/// A gzip file's first member, decompressed as it is read: memory is the deflate window and
/// the input buffer, whatever the file's size.
pub struct GzipReader<R: std::io::BufRead> {
    inner: R,
    state: Box<miniz_oxide::inflate::stream::InflateState>,
    header_read: bool,
    done: bool,
}

impl<R: std::io::BufRead> std::fmt::Debug for GzipReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GzipReader")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<R: std::io::BufRead> GzipReader<R> {
    /// A reader of the gzip data `inner` yields.
    pub fn new(inner: R) -> Self {
        GzipReader {
            inner,
            state: miniz_oxide::inflate::stream::InflateState::new_boxed(
                miniz_oxide::DataFormat::Raw,
            ),
            header_read: false,
            done: false,
        }
    }
}

impl<R: std::io::BufRead> Read for GzipReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use miniz_oxide::{MZError, MZFlush, MZStatus};
        if !self.header_read {
            skip_gzip_header(&mut self.inner)?;
            self.header_read = true;
        }
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        loop {
            let input = self.inner.fill_buf()?;
            let at_end = input.is_empty();
            let flush = if at_end {
                MZFlush::Finish
            } else {
                MZFlush::None
            };
            let r = miniz_oxide::inflate::stream::inflate(&mut self.state, input, buf, flush);
            self.inner.consume(r.bytes_consumed);
            match r.status {
                Ok(MZStatus::StreamEnd) => {
                    self.done = true;
                    return Ok(r.bytes_written);
                }
                Ok(_) if r.bytes_written > 0 => return Ok(r.bytes_written),
                Ok(_) if at_end => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        CompressError::Deflate("the gzip data ends early".into()),
                    ))
                }
                Ok(_) => {}
                Err(MZError::Buf) if !at_end => {}
                Err(e) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        CompressError::Deflate(format!("{e:?}")),
                    ))
                }
            }
        }
    }
}

/// Every zstd frame of a stream, decompressed as it is read.
pub struct ZstdReader<R: std::io::BufRead> {
    dec: Option<ruzstd::decoding::StreamingDecoder<R, ruzstd::decoding::FrameDecoder>>,
    inner: Option<R>,
}

impl<R: std::io::BufRead> std::fmt::Debug for ZstdReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZstdReader").finish_non_exhaustive()
    }
}

impl<R: std::io::BufRead> ZstdReader<R> {
    /// A reader of the zstd frames `inner` yields.
    pub fn new(inner: R) -> Self {
        ZstdReader {
            dec: None,
            inner: Some(inner),
        }
    }
}

fn zstd_io(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        CompressError::Zstd(e.to_string()),
    )
}

impl<R: std::io::BufRead> Read for ZstdReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if let Some(d) = self.dec.as_mut() {
                let n = d.read(buf).map_err(zstd_io)?;
                if n > 0 {
                    return Ok(n);
                }
                // The frame ended: another may follow.
                self.inner = self.dec.take().map(|d| d.into_inner());
            }
            let Some(mut inner) = self.inner.take() else {
                return Ok(0);
            };
            if inner.fill_buf()?.is_empty() {
                return Ok(0);
            }
            self.dec = Some(ruzstd::decoding::StreamingDecoder::new(inner).map_err(zstd_io)?);
        }
    }
}

/// Decodes whole zstd frames, as trace.dat's compressed chunks hold them. Core's own is
/// [`Ruzstd`] (pure Rust, builds for wasm32); a front-end with a faster one (the CLI links
/// libzstd) hands its [`ZstdFactory`] to [`crate::input::reader::TraceReader::with_zstd`].
pub trait ZstdFrames {
    /// Decode the frames of `input`, appending their content to `out`; more than `limit`
    /// bytes is [`CompressError::TooLarge`], and nothing past `limit` is ever written.
    fn decode_frames(&mut self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Decoded;
}

/// What [`ZstdFrames::decode_frames`] answers.
pub type Decoded = Result<(), CompressError>;

/// Makes a [`ZstdFrames`] for one reader of compressed data (a trace.dat CPU cursor keeps its
/// own, with its tables reused from chunk to chunk).
pub type ZstdFactory = fn() -> Box<dyn ZstdFrames>;

/// Core's zstd decoder: `ruzstd`'s frame decoder, kept from frame to frame.
pub struct Ruzstd(ruzstd::decoding::FrameDecoder);

impl std::fmt::Debug for Ruzstd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ruzstd").finish_non_exhaustive()
    }
}

impl Ruzstd {
    /// The [`ZstdFactory`] of core's own decoder.
    pub fn factory() -> Box<dyn ZstdFrames> {
        Box::new(Ruzstd(ruzstd::decoding::FrameDecoder::new()))
    }
}

impl ZstdFrames for Ruzstd {
    fn decode_frames(&mut self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Decoded {
        // Straight into the vector's spare room: ruzstd writes no more than the room reserved
        // and reports a frame that needs more as an error.
        out.reserve_exact(limit);
        let before = out.len();
        self.0
            .decode_all_to_vec(input, out)
            .map_err(|e| CompressError::Zstd(e.to_string()))?;
        if out.len() - before > limit {
            out.truncate(before);
            return Err(CompressError::TooLarge(limit));
        }
        Ok(())
    }
}

/// Decompress with trace-cmd's named algorithm.
pub fn by_name(name: &str, input: &[u8], limit: usize) -> Result<Vec<u8>, CompressError> {
    match name {
        "zstd" => zstd(input, limit),
        "zlib" => zlib(input, limit),
        other => Err(CompressError::Unsupported(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error() {
        assert!(zstd(&[0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3], 100).is_err());
        assert!(zlib(&[1, 2, 3], 100).is_err());
        assert!(gzip(&[0x1f, 0x8b, 8, 0xff], 100).is_err());
        assert!(by_name("lz4", &[], 1).is_err());
    }

    #[test]
    fn stored_deflate_in_gzip_and_limits() {
        // A gzip member holding one stored (uncompressed) deflate block with "hello".
        let mut g = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        g.extend_from_slice(&[1, 5, 0, 0xfa, 0xff]);
        g.extend_from_slice(b"hello");
        g.extend_from_slice(&[0; 8]);
        assert_eq!(gzip(&g, 100).unwrap(), b"hello");
        assert_eq!(gzip(&g, 3), Err(CompressError::TooLarge(3)));
        let mut out = String::new();
        GzipReader::new(&g[..]).read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello");
        let mut cut = Vec::new();
        assert!(GzipReader::new(&g[..12]).read_to_end(&mut cut).is_err());
    }
}
