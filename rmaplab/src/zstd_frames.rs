//! The CLI's zstd decoder for trace.dat's compressed CPU data: libzstd, about four times the
//! speed of core's pure-Rust decoder (which the browser keeps, as libzstd does not build for
//! wasm32 here). Same contract as core's: whole frames in, at most the chunk's declared size
//! out, anything larger an error.

use rmaplab_core::import::compress::{CompressError, Decoded, Ruzstd, ZstdFrames};

/// libzstd's decompression context, kept from chunk to chunk.
struct LibZstd(zstd::bulk::Decompressor<'static>);

/// The [`rmaplab_core::import::compress::ZstdFactory`] the CLI reads with: libzstd, or core's
/// decoder where libzstd cannot make a context (out of memory).
pub fn factory() -> Box<dyn ZstdFrames> {
    match zstd::bulk::Decompressor::new() {
        Ok(d) => Box::new(LibZstd(d)),
        Err(_) => Ruzstd::factory(),
    }
}

impl ZstdFrames for LibZstd {
    fn decode_frames(&mut self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Decoded {
        let before = out.len();
        // libzstd writes into exactly this room and fails, writing nothing past it, on a frame
        // that needs more.
        out.resize(before + limit, 0);
        match self.0.decompress_to_buffer(input, &mut out[before..]) {
            Ok(n) => {
                out.truncate(before + n);
                Ok(())
            }
            Err(e) => {
                out.truncate(before);
                if e.to_string().contains("Destination buffer is too small") {
                    Err(CompressError::TooLarge(limit))
                } else {
                    Err(CompressError::Zstd(e.to_string()))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames of `content`, made by libzstd.
    fn frame(content: &[u8]) -> Vec<u8> {
        zstd::bulk::compress(content, 3).unwrap_or_default()
    }

    #[test]
    fn decodes_like_core_and_appends() {
        let content: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let f = frame(&content);
        assert!(!f.is_empty());
        let mut ours = b"kept".to_vec();
        factory()
            .decode_frames(&f, &mut ours, content.len())
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("libzstd: {e}"));
        let mut core = b"kept".to_vec();
        Ruzstd::factory()
            .decode_frames(&f, &mut core, content.len())
            .unwrap_or_else(|e| panic!("ruzstd: {e}"));
        assert_eq!(&ours[..4], b"kept");
        assert_eq!(&ours[4..], &content[..]);
        assert_eq!(ours, core);
    }

    #[test]
    fn more_than_the_limit_is_an_error_and_leaves_the_buffer() {
        let content = vec![7u8; 10_000];
        let f = frame(&content);
        let mut out = b"kept".to_vec();
        let e = factory().decode_frames(&f, &mut out, 9_999);
        assert_eq!(e, Err(CompressError::TooLarge(9_999)));
        assert_eq!(out, b"kept");
        let e = factory().decode_frames(b"not a frame at all", &mut out, 100);
        assert!(matches!(e, Err(CompressError::Zstd(_))), "{e:?}");
        assert_eq!(out, b"kept");
    }
}
