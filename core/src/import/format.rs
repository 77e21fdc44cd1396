//! Tracepoint `format` files (tracefs `events/*/*/format`, and the copies trace.dat and
//! perf.data embed): event ids and field layouts, and decoding of one event payload into a
//! typed [`RecordKind`] with the layout the file gives — never hard-coded offsets.

use super::record::{RecordKind, ShadowPage};
use std::collections::HashMap;

/// `kvm_mmu_set_spte`.
pub const EV_SET_SPTE: &str = "kvm_mmu_set_spte";
/// `kvm_mmu_get_page`.
pub const EV_GET_PAGE: &str = "kvm_mmu_get_page";
/// `kvm_mmu_prepare_zap_page`.
pub const EV_ZAP_PAGE: &str = "kvm_mmu_prepare_zap_page";
/// `kvm_mmu_pagetable_walk`.
pub const EV_WALK: &str = "kvm_mmu_pagetable_walk";
/// ftrace's `print` event (`trace_marker` writes).
pub const EV_PRINT: &str = "print";

/// Errors reading a format file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The file has no `ID:` line.
    #[error("event format {0}: no ID line")]
    NoId(String),
    /// A field the decoder needs is missing.
    #[error("event format {event}: no field {field}")]
    MissingField {
        /// The event.
        event: String,
        /// The field.
        field: &'static str,
    },
}

/// One field of a format file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Byte offset in the payload (the payload starts with `common_type`).
    pub offset: usize,
    /// Size in bytes (0 for a variable-length array such as `char buf[]`).
    pub size: usize,
    /// Whether the C type is signed.
    pub signed: bool,
}

/// One event's id and field layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFormat {
    /// Event name.
    pub name: String,
    /// Subsystem, when the source says (`kvmmmu`, `ftrace`).
    pub system: Option<String>,
    /// `common_type` value.
    pub id: u16,
    /// name → layout.
    pub fields: HashMap<String, Field>,
}

impl EventFormat {
    /// Parse a tracefs `format` file.
    pub fn parse(text: &str) -> Result<Self, FormatError> {
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
                let mut signed = false;
                for part in f.split(';') {
                    let part = part.trim();
                    if let Some(o) = part.strip_prefix("offset:") {
                        offset = o.parse::<usize>().ok();
                    } else if let Some(sz) = part.strip_prefix("size:") {
                        size = sz.parse::<usize>().ok();
                    } else if let Some(s) = part.strip_prefix("signed:") {
                        signed = s.trim() == "1";
                    } else if decl.is_empty() {
                        decl = part;
                    }
                }
                let fname = decl
                    .split('[')
                    .next()
                    .unwrap_or("")
                    .rsplit(|c: char| c.is_whitespace() || c == '*')
                    .next()
                    .unwrap_or("")
                    .to_string();
                if let (Some(offset), Some(size)) = (offset, size) {
                    fields.insert(
                        fname,
                        Field {
                            offset,
                            size,
                            signed,
                        },
                    );
                }
            }
        }
        let id = id.ok_or_else(|| FormatError::NoId(name.clone()))?;
        Ok(EventFormat {
            name,
            system: None,
            id,
            fields,
        })
    }

    /// The field's layout, or an error naming it.
    pub fn field(&self, name: &'static str) -> Result<Field, FormatError> {
        self.fields
            .get(name)
            .copied()
            .ok_or_else(|| FormatError::MissingField {
                event: self.name.clone(),
                field: name,
            })
    }
}

/// Read `size` bytes at `off` as an unsigned little- or big-endian integer (at most 8 bytes).
pub fn read_uint(data: &[u8], off: usize, size: usize, big_endian: bool) -> Option<u64> {
    let b = data.get(off..off.checked_add(size)?)?;
    let n = size.min(8);
    let mut v = [0u8; 8];
    if big_endian {
        v[8 - n..].copy_from_slice(&b[size - n..]);
        Some(u64::from_be_bytes(v))
    } else {
        v[..n].copy_from_slice(&b[..n]);
        Some(u64::from_le_bytes(v))
    }
}

#[derive(Debug, Clone, Copy)]
struct SetSpteLayout {
    id: u16,
    gfn: Field,
    spte: Field,
    sptep: Field,
    level: Field,
}

#[derive(Debug, Clone, Copy)]
struct PageLayout {
    id: u16,
    gfn: Field,
    role: Field,
}

/// The layouts of the events rmaplab decodes, from a capture's format files. Events a capture
/// did not record are absent; a recorded event lacking a needed field is an error.
#[derive(Debug, Clone, Default)]
pub struct Formats {
    set_spte: Option<SetSpteLayout>,
    get_page: Option<PageLayout>,
    zap_page: Option<PageLayout>,
    walk: Option<(u16, Field)>,
    print: Option<(u16, Field)>,
    /// Payloads are big-endian.
    pub big_endian: bool,
    /// Offset and size of `common_pid`.
    common_pid: Option<Field>,
}

impl Formats {
    /// Build from parsed formats (any others in the list are ignored).
    pub fn new(formats: &[EventFormat]) -> Result<Self, FormatError> {
        let mut f = Formats::default();
        for e in formats {
            if e.system
                .as_deref()
                .is_some_and(|s| s != "kvmmmu" && s != "ftrace")
            {
                continue;
            }
            if f.common_pid.is_none() {
                f.common_pid = e.fields.get("common_pid").copied();
            }
            match e.name.as_str() {
                EV_SET_SPTE => {
                    f.set_spte = Some(SetSpteLayout {
                        id: e.id,
                        gfn: e.field("gfn")?,
                        spte: e.field("spte")?,
                        sptep: e.field("sptep")?,
                        level: e.field("level")?,
                    })
                }
                EV_GET_PAGE => {
                    f.get_page = Some(PageLayout {
                        id: e.id,
                        gfn: e.field("gfn")?,
                        role: e.field("role")?,
                    })
                }
                EV_ZAP_PAGE => {
                    f.zap_page = Some(PageLayout {
                        id: e.id,
                        gfn: e.field("gfn")?,
                        role: e.field("role")?,
                    })
                }
                EV_WALK => f.walk = Some((e.id, e.field("pferr")?)),
                EV_PRINT => f.print = Some((e.id, e.field("buf")?)),
                _ => {}
            }
        }
        Ok(f)
    }

    /// Whether the capture's formats include `kvm_mmu_set_spte`.
    pub fn has_set_spte(&self) -> bool {
        self.set_spte.is_some()
    }

    fn get(&self, data: &[u8], f: Field) -> Option<u64> {
        read_uint(data, f.offset, f.size, self.big_endian)
    }

    /// Whether [`Formats::decode`] can turn an event with this `common_type` id into a record:
    /// a perf.data reader skips samples of every other tracepoint before parsing them.
    pub fn decodes_id(&self, id: u64) -> bool {
        let ids = [
            self.set_spte.map(|l| l.id),
            self.get_page.map(|l| l.id),
            self.zap_page.map(|l| l.id),
            self.walk.map(|w| w.0),
            self.print.map(|p| p.0),
        ];
        ids.into_iter()
            .flatten()
            .any(|known| u64::from(known) == id)
    }

    /// The `common_type` id of a payload.
    pub fn event_id(&self, data: &[u8]) -> Option<u16> {
        read_uint(data, 0, 2, self.big_endian).map(|v| v as u16)
    }

    /// The payload's `common_pid`.
    pub fn pid(&self, data: &[u8]) -> Option<u64> {
        let f = self.common_pid.unwrap_or(Field {
            offset: 4,
            size: 4,
            signed: true,
        });
        self.get(data, f)
    }

    /// Decode one payload (starting at `common_type`); `None` for events rmaplab does not use
    /// or payloads too short for their layout.
    pub fn decode(&self, data: &[u8]) -> Option<RecordKind> {
        let id = self.event_id(data)?;
        if let Some(l) = self.set_spte.filter(|l| l.id == id) {
            return Some(RecordKind::SetSpte {
                gfn: self.get(data, l.gfn)?,
                spte: self.get(data, l.spte)?,
                level: self.get(data, l.level)? as u8,
                sptep: self.get(data, l.sptep)?,
            });
        }
        for (l, zap) in [(self.get_page, false), (self.zap_page, true)] {
            if let Some(l) = l.filter(|l| l.id == id) {
                let sp = ShadowPage::from_role_word(
                    self.get(data, l.gfn)?,
                    self.get(data, l.role)? as u32,
                );
                return Some(if zap {
                    RecordKind::ZapPage { sp }
                } else {
                    RecordKind::GetPage { sp }
                });
            }
        }
        if let Some((_, f)) = self.walk.filter(|w| w.0 == id) {
            return Some(RecordKind::Walk {
                pferr: Some(self.get(data, f)?),
            });
        }
        if let Some((_, f)) = self.print.filter(|p| p.0 == id) {
            let buf = data.get(f.offset..)?;
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            return Some(RecordKind::Mark(
                String::from_utf8_lossy(&buf[..end]).trim_end().to_string(),
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET_SPTE: &str = "name: kvm_mmu_set_spte\nID: 119\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\tfield:u64 gfn;\toffset:8;\tsize:8;\tsigned:0;\n\tfield:u64 spte;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:u64 sptep;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:u8 level;\toffset:32;\tsize:1;\tsigned:0;\n";
    const PRINT: &str = "name: print\nID: 5\nformat:\n\tfield:unsigned long ip;\toffset:8;\tsize:8;\tsigned:0;\n\tfield:char buf[];\toffset:16;\tsize:0;\tsigned:0;\n";

    #[test]
    fn parses_layouts_and_signedness() {
        let f = EventFormat::parse(SET_SPTE).unwrap();
        assert_eq!(f.id, 119);
        assert_eq!(f.fields["sptep"].offset, 24);
        assert_eq!(f.fields["level"].size, 1);
        assert!(f.fields["common_pid"].signed);
        assert!(!f.fields["gfn"].signed);
        assert_eq!(EventFormat::parse(PRINT).unwrap().fields["buf"].offset, 16);
        assert!(EventFormat::parse("name: x\n").is_err());
    }

    #[test]
    fn decodes_with_the_files_layout() {
        let mut moved = EventFormat::parse(SET_SPTE).unwrap();
        // A kernel with another layout: gfn after sptep.
        moved.fields.get_mut("gfn").unwrap().offset = 40;
        let f = Formats::new(&[moved]).unwrap();
        let mut p = vec![0u8; 48];
        p[0] = 119;
        p[4] = 7;
        p[16..24].copy_from_slice(&0x1234_5e67u64.to_le_bytes());
        p[24..32].copy_from_slice(&0x1_0000_0040u64.to_le_bytes());
        p[32] = 1;
        p[40..48].copy_from_slice(&0x400u64.to_le_bytes());
        assert_eq!(f.pid(&p), Some(7));
        assert_eq!(
            f.decode(&p),
            Some(RecordKind::SetSpte {
                gfn: 0x400,
                spte: 0x1234_5e67,
                level: 1,
                sptep: 0x1_0000_0040
            })
        );
        assert_eq!(f.decode(&p[..20]), None, "short payload");
        let mut missing = EventFormat::parse(SET_SPTE).unwrap();
        missing.fields.remove("sptep");
        assert!(Formats::new(&[missing]).is_err());
    }
}
