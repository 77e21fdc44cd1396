//! Binary encoding: `MAGIC`, a little-endian `u16` version, a `u32` header length and the header
//! as JSON, then one record per event and an end record carrying the event count.
//!
//! A record starts with a tag byte: bits 0–2 the opcode, bit 3 [`TAG_CTX`] (a context block
//! follows), bit 4 [`TAG_SAME_RMAP`] (the rmap id equals the previous one), bit 5
//! [`TAG_NEXT_SPTE`] (the SPTE id is the previous one plus 1); bits 6–7 are zero. A fault record
//! may set [`TAG_SAME_VCPU`] (bit 4) instead of repeating the vCPU of the previous fault. Ids are
//! zigzag LEB128 deltas from the previous id; optional fields are registers that change only
//! through context blocks, and `gfn` is stored as an offset from the rmap id. Typical traces
//! take 2–4 bytes per event. The decoder is incremental and returns an error — never panics —
//! on any byte string.

mod batch;

use super::FORMAT_VERSION;
use super::{check_header, Event, EventCtx, EventKind, RmapKind, TraceError, TraceMeta};
use super::{RmapId, SpteId, VcpuId};

/// First eight bytes of every binary trace.
pub const MAGIC: [u8; 8] = *b"RMAPLABT";
/// Bytes before the header JSON: magic, version (u16), header length (u32).
pub const PREAMBLE_LEN: usize = 14;
/// Largest header accepted.
pub const MAX_HEADER_BYTES: usize = 16 << 20;
/// Largest string (stat name, mark label) accepted.
pub const MAX_STRING_BYTES: usize = 1 << 20;

const OP_ADD: u8 = 0;
const OP_REMOVE: u8 = 1;
const OP_ZAP: u8 = 2;
const OP_WALK: u8 = 3;
const OP_FAULT: u8 = 4;
const OP_STAT: u8 = 5;
const OP_MARK: u8 = 6;
const OP_END: u8 = 7;
const OP_MASK: u8 = 0b111;
/// Tag bit: a context block follows the tag.
pub const TAG_CTX: u8 = 1 << 3;
/// Tag bit: the rmap id equals the previous record's.
pub const TAG_SAME_RMAP: u8 = 1 << 4;
/// Tag bit: the SPTE id is the previous one plus 1.
pub const TAG_NEXT_SPTE: u8 = 1 << 5;
/// Tag bit of a fault record (same position as [`TAG_SAME_RMAP`]): same vCPU as the previous
/// fault, no varint follows.
pub const TAG_SAME_VCPU: u8 = 1 << 4;

const CTX_VCPU: u8 = 1 << 0;
const CTX_GFN: u8 = 1 << 1;
const CTX_LEVEL: u8 = 1 << 2;
const CTX_KIND: u8 = 1 << 3;
const CTX_RESERVED: u8 = 0b1111_0000;

/// Context registers: the optional fields of the last rmap record (gfn as offset from rmap).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Regs {
    vcpu: Option<VcpuId>,
    gfn_off: Option<u64>,
    level: Option<u8>,
    kind: Option<RmapKind>,
}

impl Regs {
    fn from_ctx(ctx: &EventCtx, rmap: u64) -> Self {
        Regs {
            vcpu: ctx.vcpu,
            gfn_off: ctx.gfn.map(|g| g.wrapping_sub(rmap)),
            level: ctx.level,
            kind: ctx.kind,
        }
    }

    fn to_ctx(self, rmap: u64) -> EventCtx {
        EventCtx {
            vcpu: self.vcpu,
            gfn: self.gfn_off.map(|o| rmap.wrapping_add(o)),
            level: self.level,
            kind: self.kind,
        }
    }
}

fn zigzag(d: u64) -> u64 {
    let d = d as i64;
    ((d << 1) ^ (d >> 63)) as u64
}

fn unzigzag(z: u64) -> u64 {
    ((z >> 1) as i64 ^ -((z & 1) as i64)) as u64
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn kind_code(k: Option<RmapKind>) -> u64 {
    match k {
        None => 0,
        Some(RmapKind::Gfn) => 1,
        Some(RmapKind::Parent) => 2,
    }
}

/// Streaming binary encoder.
#[derive(Debug, Default)]
pub struct BinaryEncoder {
    prev_fault_vcpu: Option<VcpuId>,
    prev_rmap: u64,
    prev_spte: u64,
    regs: Regs,
    events: u64,
}

impl BinaryEncoder {
    /// A fresh encoder.
    pub fn new() -> Self {
        BinaryEncoder::default()
    }

    /// Append the preamble and header.
    pub fn header(&mut self, meta: &TraceMeta, out: &mut Vec<u8>) {
        let json = serde_json::to_vec(meta).unwrap_or_else(|_| b"{}".to_vec());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&(FORMAT_VERSION as u16).to_le_bytes());
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
    }

    /// Append one event record.
    pub fn event(&mut self, ev: &Event, out: &mut Vec<u8>) {
        self.events += 1;
        match &ev.kind {
            EventKind::Add { rmap, spte } => {
                self.rmap_op(OP_ADD, rmap.0, Some(spte.0), &ev.ctx, out)
            }
            EventKind::Remove { rmap, spte } => {
                self.rmap_op(OP_REMOVE, rmap.0, Some(spte.0), &ev.ctx, out)
            }
            EventKind::Zap { rmap } => self.rmap_op(OP_ZAP, rmap.0, None, &ev.ctx, out),
            EventKind::Walk { rmap } => self.rmap_op(OP_WALK, rmap.0, None, &ev.ctx, out),
            EventKind::Fault { vcpu } => {
                if self.prev_fault_vcpu == Some(*vcpu) {
                    out.push(OP_FAULT | TAG_SAME_VCPU);
                } else {
                    out.push(OP_FAULT);
                    put_varint(out, u64::from(vcpu.0));
                    self.prev_fault_vcpu = Some(*vcpu);
                }
            }
            EventKind::Stat { name, value } => {
                out.push(OP_STAT);
                put_str(out, name);
                put_varint(out, *value);
            }
            EventKind::Mark { label } => {
                out.push(OP_MARK);
                put_str(out, label);
            }
        }
    }

    fn rmap_op(&mut self, op: u8, rmap: u64, spte: Option<u64>, ctx: &EventCtx, out: &mut Vec<u8>) {
        let regs = Regs::from_ctx(ctx, rmap);
        let mut tag = op;
        let mask = (u8::from(regs.vcpu != self.regs.vcpu) * CTX_VCPU)
            | (u8::from(regs.gfn_off != self.regs.gfn_off) * CTX_GFN)
            | (u8::from(regs.level != self.regs.level) * CTX_LEVEL)
            | (u8::from(regs.kind != self.regs.kind) * CTX_KIND);
        if mask != 0 {
            tag |= TAG_CTX;
        }
        if rmap == self.prev_rmap {
            tag |= TAG_SAME_RMAP;
        }
        if let Some(s) = spte {
            if s == self.prev_spte.wrapping_add(1) {
                tag |= TAG_NEXT_SPTE;
            }
        }
        out.push(tag);
        if mask != 0 {
            out.push(mask);
            if mask & CTX_VCPU != 0 {
                put_varint(out, regs.vcpu.map_or(0, |v| u64::from(v.0) + 1));
            }
            if mask & CTX_GFN != 0 {
                match regs.gfn_off {
                    None => out.push(0),
                    Some(o) => {
                        out.push(1);
                        put_varint(out, zigzag(o));
                    }
                }
            }
            if mask & CTX_LEVEL != 0 {
                put_varint(out, regs.level.map_or(0, |l| u64::from(l) + 1));
            }
            if mask & CTX_KIND != 0 {
                put_varint(out, kind_code(regs.kind));
            }
            self.regs = regs;
        }
        if tag & TAG_SAME_RMAP == 0 {
            put_varint(out, zigzag(rmap.wrapping_sub(self.prev_rmap)));
            self.prev_rmap = rmap;
        }
        if let Some(s) = spte {
            if tag & TAG_NEXT_SPTE == 0 {
                put_varint(out, zigzag(s.wrapping_sub(self.prev_spte)));
            }
            self.prev_spte = s;
        }
    }

    /// Append the end record. Without it a reader reports the trace as truncated.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.push(OP_END);
        put_varint(out, self.events);
    }
}

/// Encode a whole trace.
pub fn encode_all(meta: &TraceMeta, events: &[Event]) -> Vec<u8> {
    let mut enc = BinaryEncoder::new();
    let mut out = Vec::with_capacity(64 + events.len() * 4);
    enc.header(meta, &mut out);
    for e in events {
        enc.event(e, &mut out);
    }
    enc.finish(&mut out);
    out
}

/// Result of trying to parse one record from a slice.
enum Step<T> {
    Done(T, usize),
    NeedMore,
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    base: u64,
}

impl<'a> Cursor<'a> {
    /// A context field written as value + 1, with 0 for absent: the value, which must fit `T`
    /// (`what` names the field and its limit in the error).
    fn plus_one<T: TryFrom<u64>>(&self, v: u64, what: &str) -> Result<Option<T>, TraceError> {
        match v {
            0 => Ok(None),
            v => T::try_from(v - 1)
                .map(Some)
                .map_err(|_| self.err(format!("{what} exceeds its range"))),
        }
    }

    fn err(&self, msg: impl Into<String>) -> TraceError {
        TraceError::Binary {
            offset: self.base + self.pos as u64,
            msg: msg.into(),
        }
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// `Ok(None)` = need more bytes.
    #[inline]
    fn varint(&mut self) -> Result<Option<u64>, TraceError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        // Most values fit one byte.
        if let Some(&b) = rest.first() {
            if b & 0x80 == 0 {
                self.pos += 1;
                return Ok(Some(u64::from(b)));
            }
        }
        let mut v: u64 = 0;
        for (i, &b) in rest.iter().take(10).enumerate() {
            if i == 9 && b > 1 {
                return Err(self.err("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.pos += i + 1;
                return Ok(Some(v));
            }
        }
        if rest.len() < 10 {
            return Ok(None);
        }
        Err(self.err("varint longer than 10 bytes"))
    }

    fn string(&mut self, what: &str) -> Result<Option<String>, TraceError> {
        let at = self.pos;
        let Some(len) = self.varint()? else {
            return Ok(None);
        };
        if len > MAX_STRING_BYTES as u64 {
            self.pos = at;
            return Err(self.err(format!(
                "{what} length {len} exceeds {MAX_STRING_BYTES} bytes"
            )));
        }
        let len = len as usize;
        if self.buf.len() - self.pos < len {
            return Ok(None);
        }
        let bytes = &self.buf[self.pos..self.pos + len];
        let s = std::str::from_utf8(bytes).map_err(|_| self.err(format!("{what} is not UTF-8")))?;
        self.pos += len;
        Ok(Some(s.to_string()))
    }
}

macro_rules! need {
    ($e:expr) => {
        match $e {
            Some(v) => v,
            None => return Ok(Step::NeedMore),
        }
    };
}

/// Incremental binary decoder.
#[derive(Debug, Default)]
pub struct BinaryDecoder {
    buf: Vec<u8>,
    pos: usize,
    /// File offset of `buf[0]`.
    base: u64,
    meta: Option<TraceMeta>,
    prev_fault_vcpu: Option<VcpuId>,
    prev_rmap: u64,
    prev_spte: u64,
    regs: Regs,
    events: u64,
    ended: bool,
}

impl BinaryDecoder {
    /// A fresh decoder.
    pub fn new() -> Self {
        BinaryDecoder::default()
    }

    /// Feed bytes.
    pub fn push(&mut self, chunk: &[u8]) {
        self.base += super::push_chunk(&mut self.buf, &mut self.pos, chunk) as u64;
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn parse_header(&mut self) -> Result<bool, TraceError> {
        let rest = &self.buf[self.pos..];
        let cmp = rest.len().min(MAGIC.len());
        if rest[..cmp] != MAGIC[..cmp] {
            return Err(TraceError::Binary {
                offset: self.offset(),
                msg: "wrong magic: this is not an rmaplab binary trace".into(),
            });
        }
        if rest.len() < PREAMBLE_LEN {
            return Ok(false);
        }
        let version = u16::from_le_bytes([rest[8], rest[9]]);
        if u32::from(version) > FORMAT_VERSION {
            return Err(TraceError::FutureVersion {
                found: u32::from(version),
            });
        }
        if version == 0 {
            return Err(TraceError::Binary {
                offset: self.offset() + 8,
                msg: "version 0 is not valid".into(),
            });
        }
        let len = u32::from_le_bytes([rest[10], rest[11], rest[12], rest[13]]) as usize;
        if len > MAX_HEADER_BYTES {
            return Err(TraceError::Binary {
                offset: self.offset() + 10,
                msg: format!("header length {len} exceeds {MAX_HEADER_BYTES} bytes"),
            });
        }
        if rest.len() < PREAMBLE_LEN + len {
            return Ok(false);
        }
        let meta: TraceMeta = serde_json::from_slice(&rest[PREAMBLE_LEN..PREAMBLE_LEN + len])
            .map_err(|e| TraceError::Binary {
                offset: self.offset() + PREAMBLE_LEN as u64,
                msg: format!("header is not a valid rmaplab metadata object: {e}"),
            })?;
        check_header(&meta).map_err(|msg| TraceError::Binary {
            offset: self.offset() + PREAMBLE_LEN as u64,
            msg,
        })?;
        self.pos += PREAMBLE_LEN + len;
        self.meta = Some(meta);
        Ok(true)
    }

    /// The header, once read.
    pub fn meta(&mut self) -> Result<Option<&TraceMeta>, TraceError> {
        if self.meta.is_none() {
            self.parse_header()?;
        }
        Ok(self.meta.as_ref())
    }

    fn record(&mut self) -> Result<Step<Option<Event>>, TraceError> {
        let mut c = Cursor {
            buf: &self.buf[self.pos..],
            pos: 0,
            base: self.offset(),
        };
        let tag = need!(c.byte());
        let op = tag & OP_MASK;
        let is_rmap_op = matches!(op, OP_ADD | OP_REMOVE | OP_ZAP | OP_WALK);
        let has_spte = matches!(op, OP_ADD | OP_REMOVE);
        let allowed = match op {
            OP_ADD | OP_REMOVE => TAG_CTX | TAG_SAME_RMAP | TAG_NEXT_SPTE | OP_MASK,
            OP_ZAP | OP_WALK => TAG_CTX | TAG_SAME_RMAP | OP_MASK,
            OP_FAULT => TAG_SAME_VCPU | OP_MASK,
            _ => OP_MASK,
        };
        if tag & !allowed != 0 {
            c.pos = 0;
            return Err(c.err(format!("invalid record tag {tag:#04x}")));
        }
        if !is_rmap_op {
            let ev = match op {
                OP_FAULT => {
                    let vcpu = if tag & TAG_SAME_VCPU != 0 {
                        match self.prev_fault_vcpu {
                            Some(v) => v,
                            None => {
                                c.pos = 0;
                                return Err(
                                    c.err("fault record repeats a vCPU but no fault came before")
                                );
                            }
                        }
                    } else {
                        let v = need!(c.varint()?);
                        VcpuId(u32::try_from(v).map_err(|_| c.err("vcpu id exceeds u32"))?)
                    };
                    self.prev_fault_vcpu = Some(vcpu);
                    EventKind::Fault { vcpu }
                }
                OP_STAT => {
                    let name = need!(c.string("stat name")?);
                    let value = need!(c.varint()?);
                    EventKind::Stat { name, value }
                }
                OP_MARK => EventKind::Mark {
                    label: need!(c.string("mark label")?),
                },
                _ => {
                    // OP_END
                    let count = need!(c.varint()?);
                    if count != self.events {
                        c.pos = 1;
                        return Err(c.err(format!(
                            "end record says {count} events but {} were decoded",
                            self.events
                        )));
                    }
                    return Ok(Step::Done(None, c.pos));
                }
            };
            return Ok(Step::Done(Some(Event::new(ev)), c.pos));
        }
        let mut regs = self.regs;
        if tag & TAG_CTX != 0 {
            let mask = need!(c.byte());
            if mask & CTX_RESERVED != 0 || mask == 0 {
                c.pos -= 1;
                return Err(c.err(format!("invalid context mask {mask:#04x}")));
            }
            if mask & CTX_VCPU != 0 {
                let v = need!(c.varint()?);
                regs.vcpu = c.plus_one(v, "vcpu id (u32)")?.map(VcpuId);
            }
            if mask & CTX_GFN != 0 {
                regs.gfn_off = match need!(c.byte()) {
                    0 => None,
                    1 => Some(unzigzag(need!(c.varint()?))),
                    b => return Err(c.err(format!("invalid gfn presence byte {b}"))),
                };
            }
            if mask & CTX_LEVEL != 0 {
                let v = need!(c.varint()?);
                regs.level = c.plus_one(v, "level (u8)")?;
            }
            if mask & CTX_KIND != 0 {
                regs.kind = match need!(c.varint()?) {
                    0 => None,
                    1 => Some(RmapKind::Gfn),
                    2 => Some(RmapKind::Parent),
                    k => return Err(c.err(format!("invalid rmap kind code {k}"))),
                };
            }
        }
        let rmap = if tag & TAG_SAME_RMAP != 0 {
            self.prev_rmap
        } else {
            self.prev_rmap.wrapping_add(unzigzag(need!(c.varint()?)))
        };
        let spte = if has_spte {
            Some(if tag & TAG_NEXT_SPTE != 0 {
                self.prev_spte.wrapping_add(1)
            } else {
                self.prev_spte.wrapping_add(unzigzag(need!(c.varint()?)))
            })
        } else {
            None
        };
        // The record is complete: commit register state.
        self.regs = regs;
        self.prev_rmap = rmap;
        if let Some(s) = spte {
            self.prev_spte = s;
        }
        let kind = match (op, spte) {
            (OP_ADD, Some(spte)) => EventKind::Add {
                rmap: RmapId(rmap),
                spte: SpteId(spte),
            },
            (OP_REMOVE, Some(spte)) => EventKind::Remove {
                rmap: RmapId(rmap),
                spte: SpteId(spte),
            },
            (OP_ZAP, _) => EventKind::Zap { rmap: RmapId(rmap) },
            _ => EventKind::Walk { rmap: RmapId(rmap) },
        };
        Ok(Step::Done(
            Some(Event {
                kind,
                ctx: regs.to_ctx(rmap),
            }),
            c.pos,
        ))
    }

    /// The next event, or `None` if more input is needed (or the end record was read).
    pub fn next_event(&mut self) -> Result<Option<Event>, TraceError> {
        if self.meta.is_none() && !self.parse_header()? {
            return Ok(None);
        }
        if self.ended {
            if self.pos < self.buf.len() {
                return Err(TraceError::Binary {
                    offset: self.offset(),
                    msg: "bytes after the end record".into(),
                });
            }
            return Ok(None);
        }
        if self.pos == self.buf.len() {
            return Ok(None);
        }
        match self.record()? {
            Step::NeedMore => Ok(None),
            Step::Done(ev, used) => {
                self.pos += used;
                match ev {
                    Some(e) => {
                        self.events += 1;
                        Ok(Some(e))
                    }
                    None => {
                        self.ended = true;
                        self.next_event()
                    }
                }
            }
        }
    }

    /// End of input: errors if the trace stops mid-record or lacks its end record.
    pub fn finish(&mut self) -> Result<Option<Event>, TraceError> {
        if let Some(e) = self.next_event()? {
            return Ok(Some(e));
        }
        if self.meta.is_none() {
            return Err(TraceError::Truncated {
                offset: self.offset() + (self.buf.len() - self.pos) as u64,
                msg: "the header is incomplete".into(),
            });
        }
        if !self.ended {
            let partial = self.buf.len() - self.pos;
            return Err(TraceError::Truncated {
                offset: self.offset(),
                msg: if partial > 0 {
                    format!(
                        "{partial} bytes of an incomplete record after {} events",
                        self.events
                    )
                } else {
                    format!(
                        "no end record after {} events (the writer did not finish)",
                        self.events
                    )
                },
            });
        }
        Ok(None)
    }

    /// Events decoded so far.
    pub fn events(&self) -> u64 {
        self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{RmapId, SpteId, VcpuId};

    fn sample() -> (TraceMeta, Vec<Event>) {
        let meta = TraceMeta {
            workload: Some("unit".into()),
            ..TraceMeta::default()
        };
        let ctx = EventCtx {
            vcpu: Some(VcpuId(1)),
            gfn: Some(0x400),
            level: Some(1),
            kind: Some(RmapKind::Gfn),
        };
        let events = vec![
            Event::new(EventKind::Fault { vcpu: VcpuId(1) }),
            Event::add(RmapId(0x400), SpteId(10)).with_ctx(ctx),
            Event::add(RmapId(0x400), SpteId(11)).with_ctx(ctx),
            Event::add(RmapId(u64::MAX), SpteId(0)).with_ctx(EventCtx::default()),
            Event::remove(RmapId(0x400), SpteId(10)).with_ctx(ctx),
            Event::new(EventKind::Zap {
                rmap: RmapId(0x400),
            }),
            Event::new(EventKind::Walk { rmap: RmapId(3) }),
            Event::new(EventKind::Stat {
                name: "max_mmu_rmap_size".into(),
                value: 1001,
            }),
            Event::new(EventKind::Mark {
                label: "phase é".into(),
            }),
        ];
        (meta, events)
    }

    #[test]
    fn round_trips_in_any_chunking() {
        let (meta, events) = sample();
        let bytes = encode_all(&meta, &events);
        for chunk in [1usize, 2, 3, 7, 1000] {
            let mut d = BinaryDecoder::new();
            let mut got = Vec::new();
            for c in bytes.chunks(chunk) {
                d.push(c);
                while let Some(e) = d.next_event().unwrap() {
                    got.push(e);
                }
            }
            while let Some(e) = d.finish().unwrap() {
                got.push(e);
            }
            assert_eq!(got, events);
            assert_eq!(d.meta().unwrap(), Some(&meta));
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        let (meta, events) = sample();
        let bytes = encode_all(&meta, &events);
        for cut in 0..bytes.len() {
            let mut d = BinaryDecoder::new();
            d.push(&bytes[..cut]);
            let mut r = Ok(None);
            for _ in 0..=events.len() + 1 {
                r = d.finish();
                if !matches!(r, Ok(Some(_))) {
                    break;
                }
            }
            assert!(r.is_err(), "cut at {cut} decoded without error");
        }
    }

    #[test]
    fn wrong_magic_and_future_version() {
        let mut d = BinaryDecoder::new();
        d.push(b"RMAPLABX\x01\x00\x02\x00\x00\x00{}");
        assert!(matches!(
            d.next_event(),
            Err(TraceError::Binary { offset: 0, .. })
        ));
        let mut d = BinaryDecoder::new();
        d.push(b"RMAPLABT\x09\x00\x02\x00\x00\x00{}");
        assert!(matches!(
            d.next_event(),
            Err(TraceError::FutureVersion { found: 9 })
        ));
    }
}
