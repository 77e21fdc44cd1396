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
    }
}
