//! Writing traces: the two encodings rmaplab writes (it reads more, see [`crate::input::Encoding`]) and one
//! encoder for either, which the CLI's `convert`/`import`/`gen` and the playground's export use.

use super::binary::BinaryEncoder;
use super::{jsonl, Event, TraceEncoding, TraceMeta};
use crate::named::named_choice;
use serde::{Deserialize, Serialize};

/// An encoding rmaplab can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputEncoding {
    /// The compact binary format ([`super::binary`]).
    Binary,
    /// JSON Lines ([`super::jsonl`]).
    Jsonl,
}

/// A name that is not an encoding rmaplab writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown output encoding {0:?}: rmaplab writes binary or jsonl")]
pub struct UnknownOutputEncoding(pub String);

impl OutputEncoding {
    /// Every output encoding, by name.
    pub const ALL: [OutputEncoding; 2] = [OutputEncoding::Binary, OutputEncoding::Jsonl];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            OutputEncoding::Binary => "binary",
            OutputEncoding::Jsonl => "jsonl",
        }
    }

    /// The encoding a file name's extension asks for: JSON Lines for `jsonl`, `json` and
    /// `ndjson`, binary otherwise.
    pub fn for_extension(ext: Option<&str>) -> Self {
        match ext {
            Some("jsonl" | "json" | "ndjson") => OutputEncoding::Jsonl,
            _ => OutputEncoding::Binary,
        }
    }

    /// The same encoding as the decoder names it.
    pub fn encoding(self) -> TraceEncoding {
        match self {
            OutputEncoding::Binary => TraceEncoding::Binary,
            OutputEncoding::Jsonl => TraceEncoding::Jsonl,
        }
    }
}

named_choice!(
    OutputEncoding,
    UnknownOutputEncoding,
    UnknownOutputEncoding,
    |_| &[]
);

/// Encodes a trace in an [`OutputEncoding`] onto byte buffers: the header, each event, then
/// the end.
#[derive(Debug)]
pub struct TraceEncoder {
    encoding: OutputEncoding,
    binary: BinaryEncoder,
}

impl TraceEncoder {
    /// An encoder writing `encoding`.
    pub fn new(encoding: OutputEncoding) -> Self {
        TraceEncoder {
            encoding,
            binary: BinaryEncoder::new(),
        }
    }

    /// Its encoding.
    pub fn encoding(&self) -> OutputEncoding {
        self.encoding
    }

    /// Append the header for `meta`.
    pub fn header(&mut self, meta: &TraceMeta, out: &mut Vec<u8>) {
        match self.encoding {
            OutputEncoding::Binary => self.binary.header(meta, out),
            OutputEncoding::Jsonl => jsonl::write_header(meta, out),
        }
    }

    /// Append one event.
    pub fn event(&mut self, ev: &Event, out: &mut Vec<u8>) {
        match self.encoding {
            OutputEncoding::Binary => self.binary.event(ev, out),
            OutputEncoding::Jsonl => jsonl::write_event(ev, out),
        }
    }

    /// Append the end of the trace (the binary end record; JSON Lines has none).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.encoding == OutputEncoding::Binary {
            self.binary.finish(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::decode_all;
    use crate::trace::{RmapId, SpteId, VcpuId};

    #[test]
    fn either_encoding_decodes_to_the_events_written() {
        assert!("text".parse::<OutputEncoding>().is_err());
        assert_eq!(
            OutputEncoding::for_extension(Some("ndjson")),
            OutputEncoding::Jsonl
        );
        assert_eq!(OutputEncoding::for_extension(None), OutputEncoding::Binary);
        let meta = TraceMeta {
            workload: Some("writer test".into()),
            ..TraceMeta::default()
        };
        let events = vec![
            Event::fault(VcpuId(1)),
            Event::add(RmapId(7), SpteId(70)),
            Event::remove(RmapId(7), SpteId(70)),
        ];
        for e in OutputEncoding::ALL {
            let mut enc = TraceEncoder::new(e);
            let mut out = Vec::new();
            enc.header(&meta, &mut out);
            for ev in &events {
                enc.event(ev, &mut out);
            }
            enc.finish(&mut out);
            let (m, got) = decode_all(&out).unwrap();
            assert_eq!(got, events, "{e}");
            assert_eq!(m.workload, meta.workload);
            assert_eq!(crate::trace::rmaplab_encoding(&out), Some(e.encoding()));
        }
    }
}
