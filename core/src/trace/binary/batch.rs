//! Decoding many records per call: the fast path every bulk reader takes.
//!
//! [`BinaryDecoder::next_event`] decodes one record through a bounds-checked cursor and hands
//! it back through three layers of `Result`/`Option`; that costs about 400 instructions per
//! event. [`BinaryDecoder::next_batch`] appends events to a caller's vector instead, and while
//! at least [`FAST_SLACK`] bytes are buffered it decodes the common records — add, remove, zap,
//! walk (with or without a context block) and fault — straight from the byte slice, varints
//! read eight bytes at a time. Everything else (stats, marks, the end record, varints longer
//! than eight bytes, the last bytes of the buffer, and any malformed record) goes through the
//! one-record path, so errors and their offsets are exactly those of `next_event`.

use super::{
    unzigzag, BinaryDecoder, Regs, CTX_GFN, CTX_KIND, CTX_LEVEL, CTX_RESERVED, CTX_VCPU, OP_ADD,
    OP_FAULT, OP_MASK, OP_REMOVE, OP_WALK, OP_ZAP, TAG_CTX, TAG_NEXT_SPTE, TAG_SAME_RMAP,
    TAG_SAME_VCPU,
};
use crate::trace::{Event, EventKind, RmapId, RmapKind, SpteId, TraceError, VcpuId};

/// Bytes the fast path needs in the buffer before a record: the tag, a context block (mask,
/// three varints and a presence byte and varint for the gfn) and two more varints, each varint
/// at most the eight bytes it accepts, plus the eight a word read at the last varint may look
/// at beyond it.
pub(super) const FAST_SLACK: usize = 1 + 1 + 8 + 1 + 8 + 8 + 8 + 8 + 8 + 8;

/// The high bit of every byte of a little-endian word: the varint continuation flags.
const CONTINUATION_BITS: u64 = 0x8080_8080_8080_8080;

/// A varint of at most eight bytes read from `word` (the next eight bytes, little-endian):
/// its value and length, or `None` when it is longer (the caller takes the byte-wise path).
#[inline(always)] // twice per record on the hot path
fn varint_in_word(word: u64) -> Option<(u64, usize)> {
    let stops = !word & CONTINUATION_BITS;
    if stops == 0 {
        return None;
    }
    let len = (stops.trailing_zeros() / 8 + 1) as usize;
    if len == 1 {
        return Some((word & 0x7f, 1));
    }
    // Squeeze out the continuation bits: 7-bit groups → 14-bit → 28-bit → 56-bit; the bytes
    // after the varint land above its 7 × len bits and are masked off at the end.
    let x = word & !CONTINUATION_BITS;
    let x = (x & 0x007f_007f_007f_007f) | ((x & 0x7f00_7f00_7f00_7f00) >> 1);
    let x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x3fff_0000_3fff_0000) >> 2);
    let x = (x & 0x0000_0000_0fff_ffff) | ((x & 0x0fff_ffff_0000_0000) >> 4);
    let x = x & ((1u64 << (7 * len)) - 1);
    Some((x, len))
}

/// The eight bytes at `at` as a little-endian word (the caller guarantees they exist).
#[inline(always)] // see `varint_in_word`
fn word_at(buf: &[u8], at: usize) -> Option<u64> {
    let bytes: [u8; 8] = buf.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

impl BinaryDecoder {
    /// Decode up to `max` events onto the end of `out`; returns how many were added. 0 means
    /// that more input is needed or that the end record was read (then [`BinaryDecoder::finish`]
    /// says which, as after [`BinaryDecoder::next_event`]). The events, their order and every
    /// error are those `next_event` would give.
    pub fn next_batch(&mut self, out: &mut Vec<Event>, max: usize) -> Result<usize, TraceError> {
        let start = out.len();
        while out.len() - start < max {
            self.fast_records(out, max - (out.len() - start));
            if out.len() - start >= max {
                break;
            }
            // One record the fast path leaves alone (or the buffer's last bytes).
            match self.next_event()? {
                Some(e) => out.push(e),
                None => break,
            }
        }
        Ok(out.len() - start)
    }

    /// The fast path: decode add, remove, zap, walk and fault records (context blocks
    /// included) while [`FAST_SLACK`] bytes remain; stop at the first record it does not handle
    /// — a stat, mark or end record, a varint longer than eight bytes, or anything malformed —
    /// leaving it unread for the one-record path.
    #[inline]
    fn fast_records(&mut self, out: &mut Vec<Event>, max: usize) {
        if self.meta.is_none() || self.ended {
            return;
        }
        let buf = self.buf.as_slice();
        let mut pos = self.pos;
        let mut prev = Prev {
            rmap: self.prev_rmap,
            spte: self.prev_spte,
            fault_vcpu: self.prev_fault_vcpu,
            regs: self.regs,
        };
        let start = out.len();
        while out.len() - start < max && buf.len().saturating_sub(pos) >= FAST_SLACK {
            match fast_record(buf, pos, &mut prev, out) {
                Some(end) => pos = end,
                None => break,
            }
        }
        self.pos = pos;
        self.prev_rmap = prev.rmap;
        self.prev_spte = prev.spte;
        self.prev_fault_vcpu = prev.fault_vcpu;
        self.regs = prev.regs;
        self.events += (out.len() - start) as u64;
    }
}

/// What a record is decoded against: the previous record's values and the context registers.
struct Prev {
    rmap: u64,
    spte: u64,
    fault_vcpu: Option<VcpuId>,
    regs: Regs,
}

/// Decode the record at `pos` (at least [`FAST_SLACK`] bytes of `buf` follow it) onto `out`,
/// updating `prev`, when the fast path handles it: where the next record starts. `None` leaves
/// the record (and `prev`) to the one-record path, which also reports what is wrong.
#[inline(always)] // once per record on the hot path
fn fast_record(buf: &[u8], pos: usize, prev: &mut Prev, out: &mut Vec<Event>) -> Option<usize> {
    let tag = *buf.get(pos)?;
    let op = tag & OP_MASK;
    let mut at = pos + 1;
    let varint = |at: &mut usize| -> Option<u64> {
        let (v, len) = varint_in_word(word_at(buf, *at)?)?;
        *at += len;
        Some(v)
    };
    if op == OP_FAULT {
        if tag & !(TAG_SAME_VCPU | OP_MASK) != 0 {
            return None;
        }
        let vcpu = if tag & TAG_SAME_VCPU != 0 {
            prev.fault_vcpu?
        } else {
            VcpuId(u32::try_from(varint(&mut at)?).ok()?)
        };
        prev.fault_vcpu = Some(vcpu);
        out.push(Event::new(EventKind::Fault { vcpu }));
        return Some(at);
    }
    let has_spte = matches!(op, OP_ADD | OP_REMOVE);
    let allowed = if has_spte {
        TAG_CTX | TAG_SAME_RMAP | TAG_NEXT_SPTE | OP_MASK
    } else {
        TAG_CTX | TAG_SAME_RMAP | OP_MASK
    };
    if op > OP_WALK || tag & !allowed != 0 {
        return None;
    }
    let mut regs = prev.regs;
    if tag & TAG_CTX != 0 {
        context(buf, &mut at, &mut regs)?;
    }
    let rmap = if tag & TAG_SAME_RMAP != 0 {
        prev.rmap
    } else {
        prev.rmap.wrapping_add(unzigzag(varint(&mut at)?))
    };
    let kind = if has_spte {
        let spte = if tag & TAG_NEXT_SPTE != 0 {
            prev.spte.wrapping_add(1)
        } else {
            prev.spte.wrapping_add(unzigzag(varint(&mut at)?))
        };
        prev.spte = spte;
        let (rmap, spte) = (RmapId(rmap), SpteId(spte));
        if op == OP_ADD {
            EventKind::Add { rmap, spte }
        } else {
            EventKind::Remove { rmap, spte }
        }
    } else if op == OP_ZAP {
        EventKind::Zap { rmap: RmapId(rmap) }
    } else {
        EventKind::Walk { rmap: RmapId(rmap) }
    };
    prev.rmap = rmap;
    prev.regs = regs;
    out.push(Event {
        kind,
        ctx: regs.to_ctx(rmap),
    });
    Some(at)
}

/// A context block at `at` applied to `regs` (`None`: malformed, or a varint too long).
#[inline(never)] // rarer than the records around it; keeps the record loop small
fn context(buf: &[u8], at: &mut usize, regs: &mut Regs) -> Option<()> {
    let varint = |at: &mut usize| -> Option<u64> {
        let (v, len) = varint_in_word(word_at(buf, *at)?)?;
        *at += len;
        Some(v)
    };
    let mask = *buf.get(*at)?;
    *at += 1;
    if mask & CTX_RESERVED != 0 || mask == 0 {
        return None;
    }
    if mask & CTX_VCPU != 0 {
        regs.vcpu = match varint(at)? {
            0 => None,
            v => Some(VcpuId(u32::try_from(v - 1).ok()?)),
        };
    }
    if mask & CTX_GFN != 0 {
        let present = *buf.get(*at)?;
        *at += 1;
        regs.gfn_off = match present {
            0 => None,
            1 => Some(unzigzag(varint(at)?)),
            _ => return None,
        };
    }
    if mask & CTX_LEVEL != 0 {
        regs.level = match varint(at)? {
            0 => None,
            v => Some(u8::try_from(v - 1).ok()?),
        };
    }
    if mask & CTX_KIND != 0 {
        regs.kind = match varint(at)? {
            0 => None,
            1 => Some(RmapKind::Gfn),
            2 => Some(RmapKind::Parent),
            _ => return None,
        };
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::super::{encode_all, put_varint};
    use super::*;
    use crate::trace::{EventCtx, RmapKind, TraceMeta};
    use crate::trace::{RmapId, SpteId, VcpuId};
    use proptest::prelude::*;

    proptest! {
        /// The word-at-a-time varint equals the byte-wise encoding for every value it accepts,
        /// and accepts every value of at most eight bytes.
        #[test]
        fn a_word_varint_reads_what_put_varint_wrote(v in any::<u64>(), shift in 0u32..64) {
            let v = v >> shift;
            let mut bytes = Vec::new();
            put_varint(&mut bytes, v);
            let len = bytes.len();
            bytes.resize(16, 0xff);
            let word = u64::from_le_bytes(bytes[..8].try_into().unwrap());
            match varint_in_word(word) {
                Some(got) => prop_assert_eq!(got, (v, len)),
                None => prop_assert!(len > 8),
            }
        }
    }

    fn events(n: u64) -> Vec<Event> {
        let ctx = EventCtx {
            vcpu: Some(VcpuId(2)),
            gfn: Some(0x1234),
            level: Some(1),
            kind: Some(RmapKind::Gfn),
        };
        let mut out = Vec::new();
        for i in 0..n {
            let rmap = (i * 7919) % 97 + if i % 5 == 0 { u64::MAX / 3 } else { 0 };
            out.push(match i % 9 {
                0 => Event::add(RmapId(rmap), SpteId(i << 40)).with_ctx(ctx),
                1 | 2 => Event::add(RmapId(rmap), SpteId(i)),
                3 => Event::remove(RmapId(rmap), SpteId(i - 1)),
                4 => Event::new(EventKind::Zap { rmap: RmapId(rmap) }),
                5 => Event::new(EventKind::Walk { rmap: RmapId(rmap) }),
                6 => Event::fault(VcpuId((i % 3) as u32)),
                7 => Event::add(RmapId(rmap), SpteId(u64::MAX - i)),
                _ => Event::remove(RmapId(rmap), SpteId(i.wrapping_mul(0x9e37_79b9_7f4a_7c15))),
            });
        }
        out
    }

    #[test]
    fn batches_give_what_next_event_gives_in_any_chunking() {
        let want = events(2000);
        let bytes = encode_all(&TraceMeta::default(), &want);
        for (chunk, max) in [
            (1usize, 1usize),
            (3, 7),
            (64, 1000),
            (4096, 5),
            (1 << 20, 100_000),
        ] {
            let mut d = BinaryDecoder::new();
            let mut got = Vec::new();
            for c in bytes.chunks(chunk) {
                d.push(c);
                while d.next_batch(&mut got, max).unwrap() > 0 {}
            }
            while let Some(e) = d.finish().unwrap() {
                got.push(e);
            }
            assert_eq!(got, want, "chunk {chunk}, batch {max}");
            assert_eq!(d.events(), want.len() as u64);
        }
    }

    #[test]
    fn a_corrupt_record_fails_at_the_same_offset_as_next_event() {
        let bytes = encode_all(&TraceMeta::default(), &events(300));
        let json = u32::from_le_bytes(bytes[10..14].try_into().unwrap()) as usize;
        let header = super::super::PREAMBLE_LEN + json;
        let mut failures = 0;
        for at in (header..bytes.len()).step_by(37) {
            for bad in [0xff, 0x80, 0x3f] {
                let mut b = bytes.clone();
                b[at] = bad;
                let one = {
                    let mut d = BinaryDecoder::new();
                    d.push(&b);
                    let mut r: Result<(), TraceError> = Ok(());
                    let mut all = Vec::new();
                    loop {
                        match d.next_event() {
                            Ok(Some(e)) => all.push(e),
                            Ok(None) => break,
                            Err(e) => {
                                r = Err(e);
                                break;
                            }
                        }
                    }
                    r.map(|_| all)
                };
                let many = {
                    let mut d = BinaryDecoder::new();
                    d.push(&b);
                    let mut all = Vec::new();
                    loop {
                        match d.next_batch(&mut all, 64) {
                            Ok(0) => break Ok(all),
                            Ok(_) => {}
                            Err(e) => break Err(e),
                        }
                    }
                };
                assert_eq!(
                    format!("{one:?}"),
                    format!("{many:?}"),
                    "byte {at} = {bad:#x}"
                );
                failures += usize::from(one.is_err());
            }
        }
        assert!(failures > 20, "only {failures} corruptions were errors");
    }
}
