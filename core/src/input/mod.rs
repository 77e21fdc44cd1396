//! Reading any input, one layer above the rmaplab format ([`crate::trace`]) and the captures
//! ([`crate::import`]): one table of magic numbers, one detector over a named sniff window,
//! and one pull reader ([`reader::TraceReader`]) every front-end reads through.

pub mod reader;
pub mod source;

use crate::import::{compress, perfdata, text, tracedat};
use crate::trace::{binary, TraceError};
use serde::{Deserialize, Serialize};

/// Bytes looked at to tell the input's format (text needs a few lines).
pub const SNIFF_BYTES: usize = 4096;

/// What a file's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Magic {
    /// An [`Encoding`].
    Plain(Encoding),
    /// gzip-compressed, to be sniffed again once decompressed.
    Gzip,
    /// zstd-compressed, likewise.
    Zstd,
}

/// Every binary magic rmaplab knows, first bytes first.
pub const MAGICS: [(&[u8], Magic); 5] = [
    (&binary::MAGIC, Magic::Plain(Encoding::Binary)),
    (&tracedat::MAGIC, Magic::Plain(Encoding::TraceDat)),
    (&perfdata::MAGIC, Magic::Plain(Encoding::PerfData)),
    (&compress::GZIP_MAGIC, Magic::Gzip),
    (&compress::ZSTD_MAGIC, Magic::Zstd),
];

/// The encodings rmaplab reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// rmaplab's binary trace ([`crate::trace::binary`]).
    Binary,
    /// rmaplab's JSON Lines trace ([`crate::trace::jsonl`]).
    Jsonl,
    /// kvmmmu tracepoint text (tracefs `trace`, `trace-cmd report`, `perf script`), imported by
    /// [`crate::import`].
    Ftrace,
    /// trace-cmd's trace.dat, imported by [`crate::import`].
    TraceDat,
    /// perf.data, imported by [`crate::import`].
    PerfData,
}

impl Encoding {
    /// What the encoding is, for people ("rmaplab binary", "trace.dat", …).
    pub fn describe(self) -> &'static str {
        match self {
            Encoding::Binary => "rmaplab binary",
            Encoding::Jsonl => "JSON Lines",
            Encoding::Ftrace => "kvmmmu text",
            Encoding::TraceDat => "trace.dat",
            Encoding::PerfData => "perf.data",
        }
    }
}

/// What the first bytes of an input (up to [`SNIFF_BYTES`]; fewer only at its end) are.
pub fn sniff(prefix: &[u8]) -> Result<Magic, TraceError> {
    if let Some((_, m)) = MAGICS.iter().find(|(magic, _)| prefix.starts_with(magic)) {
        return Ok(*m);
    }
    detect(prefix).map(Magic::Plain)
}

/// The encoding of uncompressed input from its first bytes (at least 8 are needed for binary).
pub fn detect(prefix: &[u8]) -> Result<Encoding, TraceError> {
    let start = prefix
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(prefix.len());
    let trimmed = &prefix[start..];
    if let Some((_, Magic::Plain(e))) = MAGICS.iter().find(|(magic, _)| prefix.starts_with(magic)) {
        Ok(*e)
    } else if trimmed.first() == Some(&b'{') {
        Ok(Encoding::Jsonl)
    } else if text::looks_like_text_capture(trimmed) {
        Ok(Encoding::Ftrace)
    } else if trimmed.is_empty() {
        Err(TraceError::Empty)
    } else if MAGICS
        .iter()
        .any(|(magic, _)| prefix.len() < magic.len() && magic.starts_with(prefix))
    {
        Err(TraceError::Truncated {
            offset: prefix.len() as u64,
            msg: "the file's magic is incomplete".into(),
        })
    } else if prefix
        .iter()
        .take(16)
        .any(|&b| b < 0x20 && !b.is_ascii_whitespace())
    {
        Err(TraceError::Binary {
            offset: 0,
            msg: "unrecognised binary data: rmaplab reads its own traces (magic RMAPLABT), trace-cmd's trace.dat, perf.data, and kvmmmu text, optionally .gz or .zst compressed".into(),
        })
    } else {
        let shown: String = String::from_utf8_lossy(&prefix[..prefix.len().min(16)]).into_owned();
        Err(TraceError::UnknownFormat(shown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::writer::{OutputEncoding, TraceEncoder};

    #[test]
    fn every_rmaplab_encoding_is_detected() {
        for (e, want) in [
            (OutputEncoding::Binary, Encoding::Binary),
            (OutputEncoding::Jsonl, Encoding::Jsonl),
        ] {
            let mut out = Vec::new();
            let mut enc = TraceEncoder::new(e);
            enc.header(&crate::TraceMeta::default(), &mut out);
            enc.finish(&mut out);
            assert_eq!(detect(&out).unwrap(), want);
        }
        assert_eq!(sniff(&[0x1f, 0x8b, 8]).unwrap(), Magic::Gzip);
        assert!(matches!(detect(b"RMAP"), Err(TraceError::Truncated { .. })));
        assert!(matches!(detect(b"  \n"), Err(TraceError::Empty)));
    }
}
