//! Decoder for tracefs `per_cpu/cpuN/trace_pipe_raw` pages: the kernel's ring-buffer page
//! (`u64 time_stamp; local_t commit; data[]`) holding compressed event headers (5-bit
//! `type_len`, 27-bit `time_delta`) with padding, time-extend and time-stamp records, and event
//! payloads laid out as each event's `format` file says. Pure functions over bytes.

use std::collections::HashMap;

/// Bytes per ring-buffer page read from `trace_pipe_raw`.
pub const PAGE_SIZE: usize = 4096;
/// Page header: `time_stamp` (8) + `commit` (8).
pub const PAGE_HEADER: usize = 16;
/// `RB_MISSED_EVENTS`: events were lost before this page.
pub const RB_MISSED_EVENTS: u64 = 1 << 31;
/// `RB_MISSED_STORED`: the number lost is stored after the data.
pub const RB_MISSED_STORED: u64 = 1 << 30;
const COMMIT_MASK: u64 = (1 << 30) - 1;
const TYPE_PADDING: u32 = 29;
const TYPE_TIME_EXTEND: u32 = 30;
const TYPE_TIME_STAMP: u32 = 31;
const TS_SHIFT: u32 = 27;
/// `kvm_mmu_page_role.invalid` (bit 11): set when a page is zapped, not part of its identity.
pub const ROLE_INVALID: u32 = 1 << 11;
/// `kvm_mmu_page_role.level` (bits 0–3).
pub const ROLE_LEVEL_MASK: u32 = 0xf;
/// `kvm_mmu_page_role.direct` (bit 7).
pub const ROLE_DIRECT: u32 = 1 << 7;

/// Errors decoding.
#[derive(Debug, thiserror::Error)]
pub enum RingBufError {
    /// A `format` file lacks something.
    #[error("event format {0}: {1}")]
    Format(String, String),
    /// A page is inconsistent.
    #[error("ring-buffer page: {0}")]
    Page(String),
}

/// One event's id and field layout, from its `format` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFormat {
    /// Event name.
    pub name: String,
    /// `common_type` value.
    pub id: u16,
    /// name → (offset, size).
    pub fields: HashMap<String, (usize, usize)>,
}

impl EventFormat {
    /// Parse a tracefs `format` file.
    pub fn parse(text: &str) -> Result<Self, RingBufError> {
        let mut name = String::new();
        let mut id = None;
        let mut fields = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if let Some(n) = line.strip_prefix("name:") {
                name = n.trim().to_string();
            } else if let Some(i) = line.strip_prefix("ID:") {
                id = i.trim().parse::<u16>().ok();
            } else if let Some(f) = line.strip_prefix("field:") {
                let mut decl = "";
                let mut offset = None;
                let mut size = None;
                for part in f.split(';') {
                    let part = part.trim();
                    if let Some(o) = part.strip_prefix("offset:") {
                        offset = o.parse::<usize>().ok();
                    } else if let Some(sz) = part.strip_prefix("size:") {
                        size = sz.parse::<usize>().ok();
                    } else if decl.is_empty() {
                        decl = part;
                    }
                }
                let fname = decl
                    .rsplit(|c: char| c.is_whitespace() || c == '*')
                    .next()
                    .unwrap_or("")
                    .split('[')
                    .next()
                    .unwrap_or("")
                    .to_string();
                if let (Some(o), Some(sz)) = (offset, size) {
                    fields.insert(fname, (o, sz));
                }
            }
        }
        let id = id.ok_or_else(|| RingBufError::Format(name.clone(), "no ID line".into()))?;
        Ok(EventFormat { name, id, fields })
    }

    fn field(&self, name: &str) -> Result<(usize, usize), RingBufError> {
        self.fields
            .get(name)
            .copied()
            .ok_or_else(|| RingBufError::Format(self.name.clone(), format!("no field {name}")))
    }
}

/// The events the collector decodes.
#[derive(Debug, Clone)]
pub struct Formats {
    set_spte: EventFormat,
    get_page: EventFormat,
    zap_page: EventFormat,
    walk: EventFormat,
    print: EventFormat,
}

impl Formats {
    /// From the five `format` files' texts; checks the fields used exist.
    pub fn new(
        set_spte: &str,
        get_page: &str,
        zap_page: &str,
        walk: &str,
        print: &str,
    ) -> Result<Self, RingBufError> {
        let f = Formats {
            set_spte: EventFormat::parse(set_spte)?,
            get_page: EventFormat::parse(get_page)?,
            zap_page: EventFormat::parse(zap_page)?,
            walk: EventFormat::parse(walk)?,
            print: EventFormat::parse(print)?,
        };
        for n in ["gfn", "spte", "sptep", "level"] {
            f.set_spte.field(n)?;
        }
        for n in ["gfn", "role"] {
            f.get_page.field(n)?;
            f.zap_page.field(n)?;
        }
        f.walk.field("pferr")?;
        f.print.field("buf")?;
        Ok(f)
    }
}

/// A decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Raw {
    /// `kvm_mmu_set_spte`.
    SetSpte {
        /// Task.
        pid: u64,
        /// Guest frame.
        gfn: u64,
        /// New SPTE value.
        spte: u64,
        /// Level.
        level: u8,
        /// SPTE's physical address.
        sptep: u64,
    },
    /// `kvm_mmu_get_page`.
    GetPage {
        /// Task.
        pid: u64,
        /// Shadow page's gfn.
        gfn: u64,
        /// `kvm_mmu_page_role` word.
        role: u32,
    },
    /// `kvm_mmu_prepare_zap_page`.
    ZapPage {
        /// Shadow page's gfn.
        gfn: u64,
        /// Role word.
        role: u32,
    },
    /// `kvm_mmu_pagetable_walk`.
    Walk {
        /// Task.
        pid: u64,
        /// Error code.
        pferr: u64,
    },
    /// A `trace_marker` write.
    Print(String),
    /// Events the kernel lost before this page (count unknown = 1).
    Lost(u64),
}

/// A record with its timestamp (for merging CPUs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Ring-buffer clock.
    pub ts: u64,
    /// What.
    pub raw: Raw,
}

/// The importer's shadow-page key for a role word (the `invalid` bit is not identity).
pub fn sp_key(gfn: u64, role: u32) -> (String, u8) {
    let level = (role & ROLE_LEVEL_MASK) as u8;
    let direct = if role & ROLE_DIRECT != 0 {
        " direct"
    } else {
        ""
    };
    (
        format!(
            "gfn {gfn:x} l{level} role {:x}{direct}",
            role & !ROLE_INVALID
        ),
        level,
    )
}

fn rd(data: &[u8], off: usize, size: usize) -> Option<u64> {
    let b = data.get(off..off + size)?;
    let mut v = [0u8; 8];
    v[..size.min(8)].copy_from_slice(&b[..size.min(8)]);
    Some(u64::from_le_bytes(v))
}

fn field(data: &[u8], f: &EventFormat, name: &str) -> Option<u64> {
    let (o, s) = *f.fields.get(name)?;
    rd(data, o, s)
}

fn decode_event(data: &[u8], f: &Formats) -> Option<Raw> {
    let id = rd(data, 0, 2)? as u16;
    let pid = rd(data, 4, 4)?;
    if id == f.set_spte.id {
        Some(Raw::SetSpte {
            pid,
            gfn: field(data, &f.set_spte, "gfn")?,
            spte: field(data, &f.set_spte, "spte")?,
            level: field(data, &f.set_spte, "level")? as u8,
            sptep: field(data, &f.set_spte, "sptep")?,
        })
    } else if id == f.get_page.id {
        Some(Raw::GetPage {
            pid,
            gfn: field(data, &f.get_page, "gfn")?,
            role: field(data, &f.get_page, "role")? as u32,
        })
    } else if id == f.zap_page.id {
        Some(Raw::ZapPage {
            gfn: field(data, &f.zap_page, "gfn")?,
            role: field(data, &f.zap_page, "role")? as u32,
        })
    } else if id == f.walk.id {
        Some(Raw::Walk {
            pid,
            pferr: field(data, &f.walk, "pferr")?,
        })
    } else if id == f.print.id {
        let (o, _) = *f.print.fields.get("buf")?;
        let buf = data.get(o..)?;
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        Some(Raw::Print(
            String::from_utf8_lossy(&buf[..end]).trim_end().to_string(),
        ))
    } else {
        None
    }
}

/// Decode one `trace_pipe_raw` page, appending records. Unknown event ids are skipped.
pub fn decode_page(
    page: &[u8],
    formats: &Formats,
    out: &mut Vec<Record>,
) -> Result<(), RingBufError> {
    if page.len() < PAGE_HEADER {
        return Err(RingBufError::Page(format!(
            "{} bytes is shorter than the page header",
            page.len()
        )));
    }
    let mut ts = rd(page, 0, 8).unwrap_or(0);
    let commit_word = rd(page, 8, 8).unwrap_or(0);
    let commit = (commit_word & COMMIT_MASK) as usize;
    let data = &page[PAGE_HEADER..];
    if commit > data.len() {
        return Err(RingBufError::Page(format!(
            "commit {commit} exceeds the page"
        )));
    }
    if commit_word & RB_MISSED_EVENTS != 0 {
        let n = if commit_word & RB_MISSED_STORED != 0 {
            rd(data, commit, 8).unwrap_or(1)
        } else {
            1
        };
        out.push(Record {
            ts,
            raw: Raw::Lost(n.max(1)),
        });
    }
    let data = &data[..commit];
    let mut pos = 0usize;
    while pos + 4 <= data.len() {
        let header = rd(data, pos, 4).unwrap_or(0) as u32;
        let type_len = header & 0x1f;
        let delta = u64::from(header >> 5);
        match type_len {
            TYPE_PADDING => {
                if delta == 0 {
                    break; // the rest of the page is empty
                }
                let len = rd(data, pos + 4, 4)
                    .ok_or_else(|| RingBufError::Page("truncated padding".into()))?
                    as usize;
                ts += delta;
                pos += 4 + len;
            }
            TYPE_TIME_EXTEND | TYPE_TIME_STAMP => {
                let ext = rd(data, pos + 4, 4)
                    .ok_or_else(|| RingBufError::Page("truncated time record".into()))?;
                let v = (ext << TS_SHIFT) | delta;
                if type_len == TYPE_TIME_EXTEND {
                    ts += v;
                } else {
                    ts = v;
                }
                pos += 8;
            }
            0 => {
                let len = rd(data, pos + 4, 4)
                    .ok_or_else(|| RingBufError::Page("truncated length".into()))?
                    as usize;
                if len < 4 {
                    return Err(RingBufError::Page(format!("event length {len} at {pos}")));
                }
                ts += delta;
                let body = data.get(pos + 8..pos + 4 + len).ok_or_else(|| {
                    RingBufError::Page(format!("event at {pos} overruns the page"))
                })?;
                if let Some(raw) = decode_event(body, formats) {
                    out.push(Record { ts, raw });
                }
                pos += 4 + ((len + 3) & !3);
            }
            n => {
                let len = n as usize * 4;
                ts += delta;
                let body = data.get(pos + 4..pos + 4 + len).ok_or_else(|| {
                    RingBufError::Page(format!("event at {pos} overruns the page"))
                })?;
                if let Some(raw) = decode_event(body, formats) {
                    out.push(Record { ts, raw });
                }
                pos += 4 + len;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET_SPTE: &str = "name: kvm_mmu_set_spte\nID: 119\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\tfield:u64 gfn;\toffset:8;\tsize:8;\tsigned:0;\n\tfield:u64 spte;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:u64 sptep;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:u8 level;\toffset:32;\tsize:1;\tsigned:0;\n";
    const GET_PAGE: &str = "name: kvm_mmu_get_page\nID: 128\nformat:\n\tfield:__u8 mmu_valid_gen;\toffset:8;\tsize:1;\tsigned:0;\n\tfield:__u64 gfn;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:__u32 role;\toffset:24;\tsize:4;\tsigned:0;\n";
    const ZAP: &str = "name: kvm_mmu_prepare_zap_page\nID: 129\nformat:\n\tfield:__u64 gfn;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:__u32 role;\toffset:24;\tsize:4;\tsigned:0;\n";
    const WALK: &str = "name: kvm_mmu_pagetable_walk\nID: 133\nformat:\n\tfield:__u64 addr;\toffset:8;\tsize:8;\tsigned:0;\n\tfield:__u32 pferr;\toffset:16;\tsize:4;\tsigned:0;\n";
    const PRINT: &str = "name: print\nID: 5\nformat:\n\tfield:unsigned long ip;\toffset:8;\tsize:8;\tsigned:0;\n\tfield:char buf[];\toffset:16;\tsize:0;\tsigned:0;\n";

    fn formats() -> Formats {
        Formats::new(SET_SPTE, GET_PAGE, ZAP, WALK, PRINT).unwrap()
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

    #[test]
    fn parses_format_files() {
        let f = EventFormat::parse(SET_SPTE).unwrap();
        assert_eq!(f.id, 119);
        assert_eq!(f.fields["sptep"], (24, 8));
        assert_eq!(f.fields["level"], (32, 1));
        assert_eq!(EventFormat::parse(PRINT).unwrap().fields["buf"], (16, 0));
        assert!(
            Formats::new(WALK, GET_PAGE, ZAP, WALK, PRINT).is_err(),
            "set_spte fields missing"
        );
    }

    #[test]
    fn decodes_small_and_large_events_time_records_and_padding() {
        let f = formats();
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
        // A discarded event (padding whose length word covers itself and 8 bytes), then null
        // padding ends the page.
        put(&mut r, (2 << 5) | 29, 4);
        put(&mut r, 12, 4);
        r.extend_from_slice(&[0xee; 8]);
        put(&mut r, 29, 4);
        let mut out = Vec::new();
        decode_page(&page(&r, 1000, 0), &f, &mut out).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].ts, 1005);
        assert_eq!(
            out[0].raw,
            Raw::SetSpte {
                pid: 42,
                gfn: 0x400,
                spte: 0x1234_5e67,
                level: 1,
                sptep: 0x1_0000_0040
            }
        );
        assert_eq!(out[1].ts, 1005 + (1 << 27) + 3 + 7);
        assert_eq!(out[1].raw, out[0].raw);
        assert_eq!(out[2].raw, Raw::Print("rmaplab:end".into()));
    }

    #[test]
    fn reports_lost_events_and_rejects_bad_pages() {
        let f = formats();
        let mut p = page(&[], 0, RB_MISSED_EVENTS | RB_MISSED_STORED);
        p[PAGE_HEADER..PAGE_HEADER + 8].copy_from_slice(&77u64.to_le_bytes());
        let mut out = Vec::new();
        decode_page(&p, &f, &mut out).unwrap();
        assert_eq!(
            out,
            vec![Record {
                ts: 0,
                raw: Raw::Lost(77)
            }]
        );
        let mut bad = page(&[], 0, 0);
        bad[8..16].copy_from_slice(&5000u64.to_le_bytes());
        assert!(decode_page(&bad, &f, &mut Vec::new()).is_err());
        assert!(decode_page(&[0u8; 4], &f, &mut Vec::new()).is_err());
        // An event header whose length runs off the page is an error, not a panic.
        let mut r = Vec::new();
        put(&mut r, 0, 4);
        put(&mut r, 4000, 4);
        assert!(decode_page(&page(&r, 0, 0), &f, &mut Vec::new()).is_err());
    }

    #[test]
    fn role_keys_ignore_the_invalid_bit() {
        assert_eq!(sp_key(0x10, 0x0301), sp_key(0x10, 0x0301 | ROLE_INVALID));
        assert_eq!(sp_key(0x10, 0x0301).1, 1);
        assert!(sp_key(0x10, 0x0301).0.starts_with("gfn 10 l1 "));
        assert!(sp_key(0x10, 0x0381).0.ends_with(" direct"));
    }
}
