//! The kernel's ring-buffer page (`struct buffer_data_page`: `u64 time_stamp; local_t commit;
//! data[]`) as tracefs `per_cpu/cpuN/trace_pipe_raw` returns it and as trace.dat stores it:
//! compressed event headers (5-bit `type_len`, 27-bit `time_delta`) with padding, time-extend
//! and absolute time-stamp records, the missed-events flags in `commit`, and payloads decoded
//! with the capture's [`Formats`]. Pure functions over bytes.

use super::format::{read_uint, Formats};
use super::record::{Record, RecordKind, Task};

/// Bytes per ring-buffer page on 4 KiB-page hosts (trace.dat states its own).
pub const PAGE_SIZE: usize = 4096;
/// `RB_MISSED_EVENTS`: events were lost before this page.
pub const RB_MISSED_EVENTS: u64 = 1 << 31;
/// `RB_MISSED_STORED`: the number lost is stored after the data.
pub const RB_MISSED_STORED: u64 = 1 << 30;
/// The bits of `commit` that hold the data length.
const COMMIT_MASK: u64 = (1 << 30) - 1;
/// `RINGBUF_TYPE_PADDING`.
const TYPE_PADDING: u32 = 29;
/// `RINGBUF_TYPE_TIME_EXTEND`.
const TYPE_TIME_EXTEND: u32 = 30;
/// `RINGBUF_TYPE_TIME_STAMP`.
const TYPE_TIME_STAMP: u32 = 31;
/// `TS_SHIFT`: the extension word's bits sit above the 27-bit delta.
const TS_SHIFT: u32 = 27;
/// Bits of `type_len`.
const TYPE_LEN_MASK: u32 = 0x1f;
/// Bytes of an event header word.
const HEADER_WORD: usize = 4;

/// Errors decoding a page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingBufError {
    /// The page is shorter than its header.
    #[error("ring-buffer page of {0} bytes is shorter than its header")]
    ShortPage(usize),
    /// `commit` says more data than the page holds.
    #[error("ring-buffer page: commit {0} exceeds the page")]
    CommitTooLarge(usize),
    /// A record runs past the committed data.
    #[error("ring-buffer page: record at data offset {0} overruns the page")]
    Overrun(usize),
    /// A data record's length word is impossible.
    #[error("ring-buffer page: event length {len} at data offset {at}")]
    BadLength {
        /// The length word.
        len: usize,
        /// Where.
        at: usize,
    },
}

/// The page header's layout: where `commit` is and how wide (`header_page` of tracefs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLayout {
    /// Offset of the `data` array (also the header's size).
    pub data_offset: usize,
    /// Size of `commit` (8 on 64-bit kernels).
    pub commit_size: usize,
    /// Multi-byte values are big-endian.
    pub big_endian: bool,
}

impl Default for PageLayout {
    /// A 64-bit little-endian kernel: `time_stamp` (8) + `commit` (8).
    fn default() -> Self {
        PageLayout {
            data_offset: 16,
            commit_size: 8,
            big_endian: false,
        }
    }
}

impl PageLayout {
    /// From the text of tracefs `events/header_page` (`field: local_t commit; offset:8;
    /// size:8; …` and `field: char data; offset:16; …`); the defaults where a line is missing.
    pub fn from_header_page(text: &str, big_endian: bool) -> Self {
        let mut l = PageLayout {
            big_endian,
            ..PageLayout::default()
        };
        for line in text.lines() {
            let get = |key: &str| {
                line.split(';')
                    .find_map(|p| p.trim().strip_prefix(key)?.trim().parse::<usize>().ok())
            };
            if line.contains(" commit;") {
                if let Some(s) = get("size:") {
                    l.commit_size = s.clamp(4, 8);
                }
            } else if line.contains(" data;") {
                if let Some(o) = get("offset:") {
                    l.data_offset = o.clamp(12, 64);
                }
            }
        }
        l
    }
}

fn rd(data: &[u8], off: usize, size: usize, be: bool) -> Option<u64> {
    read_uint(data, off, size, be)
}

/// Decode one page recorded on `cpu`, appending records. Unknown event ids are skipped.
pub fn decode_page(
    page: &[u8],
    layout: PageLayout,
    formats: &Formats,
    cpu: Option<u32>,
    out: &mut Vec<Record>,
) -> Result<(), RingBufError> {
    let be = layout.big_endian;
    if page.len() < layout.data_offset {
        return Err(RingBufError::ShortPage(page.len()));
    }
    let mut ts = rd(page, 0, 8, be).unwrap_or(0);
    let commit_word = rd(page, 8, layout.commit_size, be).unwrap_or(0);
    let commit = (commit_word & COMMIT_MASK) as usize;
    let data = &page[layout.data_offset..];
    if commit > data.len() {
        return Err(RingBufError::CommitTooLarge(commit));
    }
    if commit_word & RB_MISSED_EVENTS != 0 {
        let n = if commit_word & RB_MISSED_STORED != 0 {
            rd(data, commit, layout.commit_size, be).unwrap_or(1)
        } else {
            1
        };
        out.push(Record {
            ts: Some(ts),
            cpu,
            task: Task::default(),
            kind: RecordKind::Lost(n.max(1)),
        });
    }
    let data = &data[..commit];
    let mut pos = 0usize;
    let emit = |ts: u64, body: &[u8], out: &mut Vec<Record>| {
        if let Some(kind) = formats.decode(body) {
            out.push(Record {
                ts: Some(ts),
                cpu,
                task: Task {
                    tid: formats.pid(body).unwrap_or(0),
                    tgid: None,
                },
                kind,
            });
        }
    };
    while pos + HEADER_WORD <= data.len() {
        let header = rd(data, pos, HEADER_WORD, be).unwrap_or(0) as u32;
        let type_len = header & TYPE_LEN_MASK;
        let delta = u64::from(header >> 5);
        match type_len {
            TYPE_PADDING => {
                if delta == 0 {
                    break; // the rest of the page is empty
                }
                let len = rd(data, pos + 4, 4, be).ok_or(RingBufError::Overrun(pos))? as usize;
                ts = ts.wrapping_add(delta);
                pos = pos.checked_add(4 + len).ok_or(RingBufError::Overrun(pos))?;
            }
            TYPE_TIME_EXTEND | TYPE_TIME_STAMP => {
                let ext = rd(data, pos + 4, 4, be).ok_or(RingBufError::Overrun(pos))?;
                let v = (ext << TS_SHIFT) | delta;
                if type_len == TYPE_TIME_EXTEND {
                    ts = ts.wrapping_add(v);
                } else {
                    ts = v;
                }
                pos += 8;
            }
            0 => {
                let len = rd(data, pos + 4, 4, be).ok_or(RingBufError::Overrun(pos))? as usize;
                if len < 4 || len > data.len() {
                    return Err(RingBufError::BadLength { len, at: pos });
                }
                ts = ts.wrapping_add(delta);
                let body = data
                    .get(pos + 8..pos + 4 + len)
                    .ok_or(RingBufError::Overrun(pos))?;
                emit(ts, body, out);
                pos += 4 + ((len + 3) & !3);
            }
            n => {
                let len = n as usize * 4;
                ts = ts.wrapping_add(delta);
                let body = data
                    .get(pos + 4..pos + 4 + len)
                    .ok_or(RingBufError::Overrun(pos))?;
                emit(ts, body, out);
                pos += 4 + len;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::format::EventFormat;

    const SET_SPTE: &str = "name: kvm_mmu_set_spte\nID: 119\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\tfield:u64 gfn;\toffset:8;\tsize:8;\tsigned:0;\n\tfield:u64 spte;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:u64 sptep;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:u8 level;\toffset:32;\tsize:1;\tsigned:0;\n";
    const PRINT: &str = "name: print\nID: 5\nformat:\n\tfield:unsigned long ip;\toffset:8;\tsize:8;\tsigned:0;\n\tfield:char buf[];\toffset:16;\tsize:0;\tsigned:0;\n";
    const HEADER_PAGE: &str = "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n\tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n\tfield: char data;\toffset:16;\tsize:4080;\tsigned:1;\n";

    fn formats() -> Formats {
        let mut print = EventFormat::parse(PRINT).unwrap();
        print.system = Some("ftrace".into());
        Formats::new(&[EventFormat::parse(SET_SPTE).unwrap(), print]).unwrap()
    }

    fn put(v: &mut Vec<u8>, x: u64, n: usize) {
        v.extend_from_slice(&x.to_le_bytes()[..n]);
    }

    fn set_spte_body(pid: u32, gfn: u64, sptep: u64) -> Vec<u8> {
        let mut b = Vec::new();
        put(&mut b, 119, 2);
        put(&mut b, 0, 2);
        put(&mut b, u64::from(pid), 4);
        put(&mut b, gfn, 8);
        put(&mut b, 0x1234_5e67, 8);
        put(&mut b, sptep, 8);
        put(&mut b, 1, 1);
        b.resize(36, 0);
        b
    }

    fn page(records: &[u8], ts: u64, flags: u64) -> Vec<u8> {
        let mut p = Vec::new();
        put(&mut p, ts, 8);
        put(&mut p, records.len() as u64 | flags, 8);
        p.extend_from_slice(records);
        p.resize(PAGE_SIZE, 0);
        p
    }

    fn decode(p: &[u8]) -> Result<Vec<Record>, RingBufError> {
        let mut out = Vec::new();
        decode_page(p, PageLayout::default(), &formats(), Some(3), &mut out)?;
        Ok(out)
    }

    #[test]
    fn header_page_gives_the_layout() {
        assert_eq!(
            PageLayout::from_header_page(HEADER_PAGE, false),
            PageLayout::default()
        );
        let l32 = PageLayout::from_header_page(
            "\tfield: local_t commit;\toffset:8;\tsize:4;\tsigned:1;\n\tfield: char data;\toffset:12;\tsize:4084;\tsigned:1;\n",
            false,
        );
        assert_eq!((l32.commit_size, l32.data_offset), (4, 12));
    }

    #[test]
    fn decodes_small_and_large_events_time_records_and_padding() {
        let mut r = Vec::new();
        // A 36-byte event as type_len 9 (36 / 4), delta 5.
        let body = set_spte_body(42, 0x400, 0x1_0000_0040);
        put(&mut r, (5 << 5) | 9, 4);
        r.extend_from_slice(&body);
        // A time extend of (1 << 27) + 3.
        put(&mut r, (3 << 5) | 30, 4);
        put(&mut r, 1, 4);
        // The same event encoded with type_len 0 (length word) and delta 7.
        put(&mut r, 7 << 5, 4);
        put(&mut r, (body.len() + 4) as u64, 4);
        r.extend_from_slice(&body);
        // A marker (print) event: type_len 0, NUL-terminated text.
        let mut pb = Vec::new();
        put(&mut pb, 5, 2);
        put(&mut pb, 0, 6);
        put(&mut pb, 0, 8);
        pb.extend_from_slice(b"rmaplab:end\n\0");
        while pb.len() % 4 != 0 {
            pb.push(0);
        }
        put(&mut r, 1 << 5, 4);
        put(&mut r, (pb.len() + 4) as u64, 4);
        r.extend_from_slice(&pb);
        // A discarded event (padding covering 8 bytes), then null padding ends the page.
        put(&mut r, (2 << 5) | 29, 4);
        put(&mut r, 12, 4);
        r.extend_from_slice(&[0xee; 8]);
        put(&mut r, 29, 4);
        let out = decode(&page(&r, 1000, 0)).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].ts, Some(1005));
        assert_eq!((out[0].task.tid, out[0].cpu), (42, Some(3)));
        assert_eq!(
            out[0].kind,
            RecordKind::SetSpte {
                gfn: 0x400,
                spte: 0x1234_5e67,
                level: 1,
                sptep: 0x1_0000_0040
            }
        );
        assert_eq!(out[1].ts, Some(1005 + (1 << 27) + 3 + 7));
        assert_eq!(out[1].kind, out[0].kind);
        assert_eq!(out[2].kind, RecordKind::Mark("rmaplab:end".into()));
    }

    #[test]
    fn reports_lost_events_and_rejects_bad_pages() {
        let mut p = page(&[], 0, RB_MISSED_EVENTS | RB_MISSED_STORED);
        p[16..24].copy_from_slice(&77u64.to_le_bytes());
        let out = decode(&p).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, RecordKind::Lost(77));
        // Missed events without a stored count: at least one.
        let out = decode(&page(&[], 0, RB_MISSED_EVENTS)).unwrap();
        assert_eq!(out[0].kind, RecordKind::Lost(1));
        let mut bad = page(&[], 0, 0);
        bad[8..16].copy_from_slice(&5000u64.to_le_bytes());
        assert_eq!(decode(&bad), Err(RingBufError::CommitTooLarge(5000)));
        assert_eq!(decode(&[0u8; 4]), Err(RingBufError::ShortPage(4)));
        // An event header whose length runs off the page is an error, not a panic.
        let mut r = Vec::new();
        put(&mut r, 0, 4);
        put(&mut r, 4000, 4);
        assert!(decode(&page(&r, 0, 0)).is_err());
    }
}
