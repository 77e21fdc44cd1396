//! The rmaplab trace: metadata plus a stream of rmap events, in two encodings that convert
//! losslessly both ways — JSON Lines ([`jsonl`]) and a compact binary form ([`binary`]).
//! [`TraceDecoder`] detects the encoding from the first bytes and decodes incrementally, so
//! callers push chunks of any size and memory stays bounded by one event.
//!
//! The format is specified in `docs/trace-format.md`.

pub mod binary;
mod ids;
pub mod jsonl;
pub mod writer;

pub use ids::{RmapId, SpteId, VcpuId};

use serde::{Deserialize, Serialize};

/// The `format` value of a trace header.
pub const FORMAT_NAME: &str = "rmaplab-trace";
/// The trace format version this crate writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// Append `chunk` to an incremental decoder's buffer, first dropping the consumed prefix
/// `..pos` once it is at least half the buffer, so memory stays bounded by the unread part.
/// Returns the bytes dropped (for decoders that report absolute offsets).
pub(crate) fn push_chunk(buf: &mut Vec<u8>, pos: &mut usize, chunk: &[u8]) -> usize {
    let dropped = if *pos > 0 && *pos * 2 >= buf.len() {
        buf.drain(..*pos);
        std::mem::take(pos)
    } else {
        0
    };
    buf.extend_from_slice(chunk);
    dropped
}

/// What an rmap is the reverse map of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RmapKind {
    /// A gfn's rmap at one page-size level (`slot->arch.rmap[level][index]`).
    Gfn,
    /// A shadow page's `parent_ptes` list.
    Parent,
}

/// Optional facts that may accompany an rmap event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EventCtx {
    /// The vCPU that performed the operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcpu: Option<VcpuId>,
    /// The guest frame the rmap belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gfn: Option<u64>,
    /// Page-size level: 1 = 4K, 2 = 2M, 3 = 1G (`PG_LEVEL_*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u8>,
    /// Gfn rmap or parent-PTE list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<RmapKind>,
}

/// What an event does to the rmaps (or tells about them): the kernel operation it mirrors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// An SPTE was added to an rmap (`__rmap_add` → `pte_list_add`).
    Add {
        /// The rmap (`kvm_rmap_head`) of the gfn and level the SPTE maps.
        rmap: RmapId,
        /// The SPTE added: the sptep `pte_list_add` stores (never 0).
        spte: SpteId,
    },
    /// An SPTE was removed from an rmap (`pte_list_remove`).
    Remove {
        /// The rmap that held the SPTE.
        rmap: RmapId,
        /// The SPTE removed; removing one the rmap does not hold is an anomaly.
        spte: SpteId,
    },
    /// Every SPTE of the rmap was cleared (`kvm_zap_all_rmap_sptes`).
    Zap {
        /// The rmap emptied (its descriptors go back to the slab).
        rmap: RmapId,
    },
    /// The rmap was walked without changes (`for_each_rmap_spte`, e.g. write-protection).
    Walk {
        /// The rmap walked: every descriptor of its chain is visited.
        rmap: RmapId,
    },
    /// A vCPU took a page fault: its memory caches are topped up.
    Fault {
        /// The vCPU whose `kvm_mmu_memory_cache` is topped up (a dense index, not an APIC id).
        vcpu: VcpuId,
    },
    /// KVM's own counter at this point, for validation.
    Stat {
        /// Stat name as in `KVM_GET_STATS_FD` (e.g. `max_mmu_rmap_size`, `pages_4k`).
        name: String,
        /// The counter's value at this point in the trace, as KVM reported it.
        value: u64,
    },
    /// A label (phase boundary).
    Mark {
        /// The phase's name as the recorder wrote it (shown in reports, never interpreted).
        label: String,
    },
}

/// One trace event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The operation and its operands.
    pub kind: EventKind,
    /// Optional facts; meaningful for add, remove, zap and walk only.
    pub ctx: EventCtx,
}

impl Event {
    /// An event without optional facts.
    pub fn new(kind: EventKind) -> Self {
        Event {
            kind,
            ctx: EventCtx::default(),
        }
    }

    /// The same event with `ctx`.
    pub fn with_ctx(mut self, ctx: EventCtx) -> Self {
        self.ctx = ctx;
        self
    }

    /// An add of `spte` to `rmap`, without optional facts.
    pub fn add(rmap: RmapId, spte: SpteId) -> Self {
        Event::new(EventKind::Add { rmap, spte })
    }

    /// `fault` shorthand (a fault on `vcpu`, which tops up its caches).
    pub fn fault(vcpu: VcpuId) -> Self {
        Event::new(EventKind::Fault { vcpu })
    }

    /// A remove of `spte` from `rmap`, without optional facts.
    pub fn remove(rmap: RmapId, spte: SpteId) -> Self {
        Event::new(EventKind::Remove { rmap, spte })
    }

    /// The rmap this event is about, if any.
    pub fn rmap(&self) -> Option<RmapId> {
        match self.kind {
            EventKind::Add { rmap, .. }
            | EventKind::Remove { rmap, .. }
            | EventKind::Zap { rmap }
            | EventKind::Walk { rmap } => Some(rmap),
            _ => None,
        }
    }
}

/// A memory slot: `base_gfn` and `npages`, as `KVM_SET_USER_MEMORY_REGION` defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memslot {
    /// The slot's first guest frame number (gpa >> 12).
    pub base_gfn: u64,
    /// Number of 4 KiB pages.
    pub pages: u64,
}

/// KVM settings of the host a trace came from, where known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvmParams {
    /// `PTE_LIST_EXT` of that kernel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pte_list_ext: Option<usize>,
    /// The era of that kernel's `pte_list_add`/`pte_list_remove` (which end of a chain an add
    /// goes to, and how a descriptor counts its entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub era: Option<crate::Era>,
}

impl KvmParams {
    /// The list parameters of the kernel whose release (`uname -r`) is `release`.
    pub fn for_kernel_release(release: &str) -> Option<KvmParams> {
        let era = crate::Era::of_kernel_release(release)?;
        Some(KvmParams {
            pte_list_ext: Some(era.kernel_pte_list_ext()),
            era: Some(era),
        })
    }
}

/// Trace metadata: the header line of JSONL, the header block of binary. Every field is
/// optional; unknown fields are kept (in `extra`) so conversion is lossless.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceMeta {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// The format's version ([`FORMAT_VERSION`] when written; readers refuse newer ones).
    pub version: u32,
    /// `uname -r` of the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// KVM vendor module (`kvm_intel`, `kvm_amd`, `kvm_pvm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_module: Option<String>,
    /// Whether TDP (EPT/NPT) was enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tdp: Option<bool>,
    /// Number of vCPUs of the VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcpus: Option<u32>,
    /// What ran in the guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// Tool and version that wrote the trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// Where the events came from (e.g. `synthetic`, `kvmmmu tracefs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Whether kernel addresses were replaced by stable anonymous ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymised: Option<bool>,
    /// Whether the trace records `fault` events (so adds need no implicit top-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_events: Option<bool>,
    /// The VM's memslots, for the "0" column of the rmap histogram.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memslots: Vec<Memslot>,
    /// The host's KVM list parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kvm: Option<KvmParams>,
    /// What the producer inferred rather than observed, one sentence each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inferred: Vec<String>,
    /// Ways SPTEs leave rmaps that the producer could not see (a capture of someone else's
    /// guest); empty when every removal is in the trace (synthetic traces, rmaplab's own
    /// guests). Decides whether the replay's figures are exact ([`crate::exactness`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unseen_removals: Vec<crate::exactness::UnseenRemoval>,
    /// Any other metadata, kept verbatim.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl TraceMeta {
    /// Where the trace came from, as (what, value) pairs in a fixed order — workload, source,
    /// kernel, module — for the front-ends to phrase (TDP is [`TraceMeta::tdp`]).
    pub fn provenance(&self) -> Vec<(&'static str, &str)> {
        [
            ("workload", &self.workload),
            ("source", &self.source),
            ("kernel", &self.kernel),
            ("module", &self.vendor_module),
        ]
        .into_iter()
        .filter_map(|(what, v)| v.as_deref().map(|v| (what, v)))
        .collect()
    }
}

impl Default for TraceMeta {
    fn default() -> Self {
        TraceMeta {
            format: FORMAT_NAME.to_string(),
            version: FORMAT_VERSION,
            kernel: None,
            vendor_module: None,
            tdp: None,
            vcpus: None,
            workload: None,
            tool: None,
            source: None,
            anonymised: None,
            fault_events: None,
            memslots: Vec::new(),
            kvm: None,
            inferred: Vec::new(),
            unseen_removals: Vec::new(),
            extra: serde_json::Map::new(),
        }
    }
}

/// Errors decoding a trace, each naming where it happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    /// The input is empty.
    #[error("the trace is empty: expected an rmaplab binary trace or JSON Lines starting with a {{\"format\":\"rmaplab-trace\",...}} header")]
    Empty,
    /// The first bytes match no known encoding.
    #[error("unrecognised trace format (first bytes {0:?}): expected rmaplab binary (magic RMAPLABT), JSON Lines with an rmaplab-trace header, trace.dat, perf.data, or kvmmmu text (tracefs, trace-cmd report -R, perf script)")]
    UnknownFormat(String),
    /// A JSON Lines line is malformed.
    #[error("line {line}: {msg}")]
    Jsonl {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        msg: String,
    },
    /// The binary encoding is malformed.
    #[error("byte offset {offset}: {msg}")]
    Binary {
        /// Offset of the bad byte from the start of the file.
        offset: u64,
        /// What is wrong.
        msg: String,
    },
    /// The trace ended in the middle of a record, or without its end marker.
    #[error("the trace is truncated at byte offset {offset}: {msg}")]
    Truncated {
        /// Bytes decoded before the cut.
        offset: u64,
        /// What was expected.
        msg: String,
    },
    /// The header names a version this build cannot read.
    #[error("trace format version {found} is newer than this rmaplab reads (up to {FORMAT_VERSION}); upgrade rmaplab")]
    FutureVersion {
        /// The version in the file.
        found: u32,
    },
    /// The header is not an rmaplab trace header.
    #[error("{0}")]
    BadHeader(String),
    /// A trace read from a gzip or zstd file is malformed: the byte offsets in `error` count
    /// the decompressed bytes, which the compressed file does not hold.
    #[error(
        "{error} (of the {compression}-decompressed data; the compressed file itself is smaller)"
    )]
    Decompressed {
        /// `gzip` or `zstd`.
        compression: &'static str,
        /// What is wrong, at offsets of the decompressed data.
        error: Box<TraceError>,
    },
}

/// The rmaplab trace's two encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceEncoding {
    /// [`binary`].
    Binary,
    /// [`jsonl`].
    Jsonl,
}

/// Which rmaplab encoding `prefix` starts, if it is one (`None`: not an rmaplab trace, or too
/// few bytes to tell).
pub fn rmaplab_encoding(prefix: &[u8]) -> Option<TraceEncoding> {
    if prefix.starts_with(&binary::MAGIC) {
        return Some(TraceEncoding::Binary);
    }
    let first = prefix.iter().find(|b| !b.is_ascii_whitespace());
    (first == Some(&b'{')).then_some(TraceEncoding::Jsonl)
}

/// An incremental decoder of an rmaplab trace (either encoding): push bytes, pull events, then
/// `finish`. Memory stays bounded by one event. Reading any input — captures too — is
/// [`crate::input::reader::TraceReader`]'s.
#[derive(Debug)]
pub enum TraceDecoder {
    /// Not enough bytes seen to decide.
    Undecided(Vec<u8>),
    /// Binary.
    Binary(binary::BinaryDecoder),
    /// JSON Lines.
    Jsonl(jsonl::JsonlDecoder),
}

impl Default for TraceDecoder {
    fn default() -> Self {
        TraceDecoder::Undecided(Vec::new())
    }
}

impl TraceDecoder {
    /// A decoder that detects the encoding from the first bytes.
    pub fn new() -> Self {
        TraceDecoder::default()
    }

    /// A decoder of `enc`.
    pub fn of(enc: TraceEncoding) -> Self {
        match enc {
            TraceEncoding::Binary => TraceDecoder::Binary(binary::BinaryDecoder::new()),
            TraceEncoding::Jsonl => TraceDecoder::Jsonl(jsonl::JsonlDecoder::new()),
        }
    }

    /// Feed more bytes.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), TraceError> {
        match self {
            TraceDecoder::Undecided(buf) => {
                buf.extend_from_slice(chunk);
                let magic = binary::MAGIC.len();
                let partial_magic =
                    buf.len() < magic && binary::MAGIC.starts_with(&buf[..]) && !buf.is_empty();
                if partial_magic || buf.iter().all(u8::is_ascii_whitespace) {
                    return Ok(());
                }
                let data = std::mem::take(buf);
                let enc = rmaplab_encoding(&data).ok_or_else(|| not_rmaplab(&data))?;
                *self = TraceDecoder::of(enc);
                self.push(&data)
            }
            TraceDecoder::Binary(d) => {
                d.push(chunk);
                Ok(())
            }
            TraceDecoder::Jsonl(d) => {
                d.push(chunk);
                Ok(())
            }
        }
    }

    /// Which encoding, once decided.
    pub fn encoding(&self) -> Option<TraceEncoding> {
        match self {
            TraceDecoder::Undecided(..) => None,
            TraceDecoder::Binary(_) => Some(TraceEncoding::Binary),
            TraceDecoder::Jsonl(_) => Some(TraceEncoding::Jsonl),
        }
    }

    /// The header, once decoded.
    pub fn meta(&mut self) -> Result<Option<&TraceMeta>, TraceError> {
        match self {
            TraceDecoder::Undecided(..) => Ok(None),
            TraceDecoder::Binary(d) => d.meta(),
            TraceDecoder::Jsonl(d) => d.meta(),
        }
    }

    /// The next complete event, if the bytes pushed hold one.
    pub fn next_event(&mut self) -> Result<Option<Event>, TraceError> {
        match self {
            TraceDecoder::Undecided(..) => Ok(None),
            TraceDecoder::Binary(d) => d.next_event(),
            TraceDecoder::Jsonl(d) => d.next_event(),
        }
    }

    /// Up to `max` complete events appended to `out`; how many.
    pub fn next_batch(&mut self, out: &mut Vec<Event>, max: usize) -> Result<usize, TraceError> {
        match self {
            TraceDecoder::Binary(d) => d.next_batch(out, max),
            _ => {
                let start = out.len();
                while out.len() - start < max {
                    match self.next_event()? {
                        Some(e) => out.push(e),
                        None => break,
                    }
                }
                Ok(out.len() - start)
            }
        }
    }

    /// End of input: the last event, or an error if the trace is cut short; call until `None`.
    pub fn finish(&mut self) -> Result<Option<Event>, TraceError> {
        match self {
            TraceDecoder::Undecided(buf) => {
                if buf.iter().all(u8::is_ascii_whitespace) {
                    Err(TraceError::Empty)
                } else {
                    Err(TraceError::Truncated {
                        offset: buf.len() as u64,
                        msg: "the file's magic is incomplete".into(),
                    })
                }
            }
            TraceDecoder::Binary(d) => d.finish(),
            TraceDecoder::Jsonl(d) => d.finish(),
        }
    }
}

/// The error for bytes that start no rmaplab trace.
fn not_rmaplab(prefix: &[u8]) -> TraceError {
    if prefix
        .iter()
        .take(16)
        .any(|&b| b < 0x20 && !b.is_ascii_whitespace())
    {
        TraceError::Binary {
            offset: 0,
            msg: "unrecognised binary data: not an rmaplab trace (magic RMAPLABT)".into(),
        }
    } else {
        TraceError::UnknownFormat(
            String::from_utf8_lossy(&prefix[..prefix.len().min(16)]).into_owned(),
        )
    }
}

/// Decode a whole in-memory trace (either encoding).
pub fn decode_all(bytes: &[u8]) -> Result<(TraceMeta, Vec<Event>), TraceError> {
    let mut dec = TraceDecoder::new();
    dec.push(bytes)?;
    let mut events = Vec::new();
    while dec.next_batch(&mut events, usize::MAX)? > 0 {}
    while let Some(ev) = dec.finish()? {
        events.push(ev);
    }
    let meta = dec
        .meta()?
        .cloned()
        .ok_or_else(|| TraceError::BadHeader("the trace has no header".into()))?;
    Ok((meta, events))
}

/// Check a decoded header's format name and version.
pub(crate) fn check_header(meta: &TraceMeta) -> Result<(), String> {
    if meta.format != FORMAT_NAME {
        return Err(format!(
            "header format is {:?}, expected {FORMAT_NAME:?}",
            meta.format
        ));
    }
    if meta.version == 0 {
        return Err("header version 0 is not valid; the first version is 1".into());
    }
    Ok(())
}
