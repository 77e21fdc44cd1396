//! Decoding many records per call: the fast path every bulk reader takes.
//!
//! [`BinaryDecoder::next_event`] decodes one record through a bounds-checked cursor and hands
//! it back through three layers of `Result`/`Option`; that costs about 400 instructions per
//! event. [`BinaryDecoder::next_batch`] appends events to a caller's vector instead, and while
//! at least [`FAST_SLACK`] bytes are buffered it decodes the common records — add, remove, zap
//! and walk without a context block — straight from the byte slice: one bounds check per
//! record, varints read eight bytes at a time. Everything else (context blocks, faults, stats,
//! marks, the end record, the last bytes of the buffer, and any malformed record) goes through
//! the one-record path, so errors and their offsets are exactly those of `next_event`.

use super::{
    unzigzag, BinaryDecoder, OP_ADD, OP_MASK, OP_REMOVE, OP_WALK, OP_ZAP, TAG_CTX, TAG_NEXT_SPTE,
    TAG_SAME_RMAP,
};
use crate::trace::{Event, EventKind, TraceError};

/// Bytes a fast-path record may need at most: the tag and two 10-byte varints, rounded up so
/// that an 8-byte read at any varint start stays inside the buffer.
pub(super) const FAST_SLACK: usize = 1 + 10 + 10 + 8;

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

    /// The fast path: decode plain rmap records while [`FAST_SLACK`] bytes remain; stop at the
    /// first record it does not handle, leaving it unread.
    #[inline]
    fn fast_records(&mut self, out: &mut Vec<Event>, max: usize) {
        if self.meta.is_none() || self.ended {
            return;
        }
        let buf = self.buf.as_slice();
        let mut pos = self.pos;
        let (mut prev_rmap, mut prev_spte) = (self.prev_rmap, self.prev_spte);
        let regs = self.regs;
        let mut n = 0;
        while n < max && buf.len().saturating_sub(pos) >= FAST_SLACK {
            let tag = buf[pos];
            let op = tag & OP_MASK;
            let has_spte = matches!(op, OP_ADD | OP_REMOVE);
            let allowed = if has_spte {
                TAG_SAME_RMAP | TAG_NEXT_SPTE | OP_MASK
            } else {
                TAG_SAME_RMAP | OP_MASK
            };
            if op > OP_WALK || tag & TAG_CTX != 0 || tag & !allowed != 0 {
                break;
            }
            let mut at = pos + 1;
            let rmap = if tag & TAG_SAME_RMAP != 0 {
                prev_rmap
            } else {
                let Some((z, len)) = word_at(buf, at).and_then(varint_in_word) else {
                    break;
                };
                at += len;
                prev_rmap.wrapping_add(unzigzag(z))
            };
            let kind = if has_spte {
                let spte = if tag & TAG_NEXT_SPTE != 0 {
                    prev_spte.wrapping_add(1)
                } else {
                    let Some((z, len)) = word_at(buf, at).and_then(varint_in_word) else {
                        break;
                    };
                    at += len;
                    prev_spte.wrapping_add(unzigzag(z))
                };
                prev_spte = spte;
                if op == OP_ADD {
                    EventKind::Add { rmap, spte }
                } else {
                    EventKind::Remove { rmap, spte }
                }
            } else if op == OP_ZAP {
                EventKind::Zap { rmap }
            } else {
                EventKind::Walk { rmap }
            };
            prev_rmap = rmap;
            out.push(Event {
                kind,
                ctx: regs.to_ctx(rmap),
            });
            pos = at;
            n += 1;
        }
        self.pos = pos;
        self.prev_rmap = prev_rmap;
        self.prev_spte = prev_spte;
        self.events += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::super::{encode_all, put_varint};
    use super::*;
    use crate::trace::{EventCtx, RmapKind, TraceMeta};
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
            vcpu: Some(2),
            gfn: Some(0x1234),
            level: Some(1),
            kind: Some(RmapKind::Gfn),
        };
        let mut out = Vec::new();
        for i in 0..n {
            let rmap = (i * 7919) % 97 + if i % 5 == 0 { u64::MAX / 3 } else { 0 };
            out.push(match i % 9 {
                0 => Event::add(rmap, i << 40).with_ctx(ctx),
                1 | 2 => Event::add(rmap, i),
                3 => Event::remove(rmap, i - 1),
                4 => Event::new(EventKind::Zap { rmap }),
                5 => Event::new(EventKind::Walk { rmap }),
                6 => Event::fault((i % 3) as u32),
                7 => Event::add(rmap, u64::MAX - i),
                _ => Event::remove(rmap, i.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
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
