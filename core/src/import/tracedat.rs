//! trace-cmd's `trace.dat`, file format versions 6 and 7 (trace-cmd 2.x / 3.x), and the
//! "tracing data" block perf.data embeds (the v6 header layout): the header page layout, the
//! embedded event `format` files, saved cmdlines, and the per-CPU ring-buffer pages (v7:
//! option sections, zstd/zlib-compressed sections and chunked compressed CPU data), decoded
//! with [`super::ringbuf`] and merged across CPUs by timestamp.

use super::compress::{self, CompressError, MAX_DECOMPRESSED};
use super::format::{EventFormat, FormatError, Formats};
use super::record::{Record, RecordKind};
use super::ringbuf::{decode_page, PageLayout, RingBufError};

/// The first 10 bytes of a trace.dat and of perf's tracing data: `\x17\x08\x44tracing`.
pub const MAGIC: [u8; 10] = *b"\x17\x08Dtracing";
/// v7 section flag: compressed.
const SECTION_COMPRESSED: u16 = 1;
/// v7 option ids (trace-cmd.dat.v7(5)).
const OPT_DONE: u16 = 0;
const OPT_BUFFER: u16 = 3;
const OPT_UNAME: u16 = 5;
const OPT_VERSION: u16 = 9;
const OPT_HEADER_INFO: u16 = 16;
const OPT_FTRACE_EVENTS: u16 = 17;
const OPT_EVENT_FORMATS: u16 = 18;
/// Most option sections followed (a loop guard).
const MAX_OPTION_SECTIONS: usize = 1024;
/// Most CPUs one buffer may list.
const MAX_CPUS: u32 = 1 << 16;

/// Errors reading a trace.dat.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceDatError {
    /// The file ends inside a structure.
    #[error("trace.dat truncated at byte {at}: expected {what}")]
    Truncated {
        /// Offset.
        at: usize,
        /// What was being read.
        what: &'static str,
    },
    /// A structure has an impossible value.
    #[error("trace.dat byte {at}: {what}")]
    Bad {
        /// Offset.
        at: usize,
        /// What is wrong.
        what: String,
    },
    /// A file format version rmaplab does not read.
    #[error("trace.dat file format version {0:?}: rmaplab reads versions 6 and 7")]
    Version(String),
    /// A compressed section could not be decompressed.
    #[error("trace.dat compressed data: {0}")]
    Compress(#[from] CompressError),
    /// An embedded event format lacks a field rmaplab needs.
    #[error("trace.dat event formats: {0}")]
    Format(#[from] FormatError),
    /// A ring-buffer page is inconsistent.
    #[error("trace.dat CPU {cpu} data, page {page}: {error}")]
    Page {
        /// CPU.
        cpu: u32,
        /// Page index in that CPU's data.
        page: usize,
        /// What is wrong.
        error: RingBufError,
    },
}

/// A bounds-checked reader over a byte slice.
#[derive(Debug, Clone)]
pub(crate) struct Cur<'a> {
    pub data: &'a [u8],
    pub pos: usize,
    pub be: bool,
}

impl<'a> Cur<'a> {
    pub fn new(data: &'a [u8], be: bool) -> Self {
        Cur { data, pos: 0, be }
    }

    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], TraceDatError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or(TraceDatError::Truncated { at: self.pos, what })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn uint(&mut self, n: usize, what: &'static str) -> Result<u64, TraceDatError> {
        let at = self.pos;
        let b = self.bytes(n, what)?;
        super::format::read_uint(b, 0, n, self.be).ok_or(TraceDatError::Truncated { at, what })
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, TraceDatError> {
        Ok(self.bytes(1, what)?[0])
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16, TraceDatError> {
        Ok(self.uint(2, what)? as u16)
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, TraceDatError> {
        Ok(self.uint(4, what)? as u32)
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, TraceDatError> {
        self.uint(8, what)
    }

    pub fn cstr(&mut self, what: &'static str) -> Result<&'a str, TraceDatError> {
        let rest = &self.data[self.pos.min(self.data.len())..];
        let nul = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(TraceDatError::Truncated { at: self.pos, what })?;
        let s = std::str::from_utf8(&rest[..nul]).map_err(|_| TraceDatError::Bad {
            at: self.pos,
            what: format!("{what} is not UTF-8"),
        })?;
        self.pos += nul + 1;
        Ok(s)
    }

    /// A `u64` size then that many bytes, as text.
    fn sized_text(&mut self, wide: bool, what: &'static str) -> Result<String, TraceDatError> {
        let n = if wide {
            self.u64(what)?
        } else {
            u64::from(self.u32(what)?)
        };
        let n = usize::try_from(n).map_err(|_| TraceDatError::Truncated { at: self.pos, what })?;
        Ok(String::from_utf8_lossy(self.bytes(n, what)?).into_owned())
    }

    fn expect(&mut self, tag: &'static [u8], what: &'static str) -> Result<(), TraceDatError> {
        let at = self.pos;
        if self.bytes(tag.len(), what)? != tag {
            return Err(TraceDatError::Bad {
                at,
                what: format!("expected {what}"),
            });
        }
        Ok(())
    }
}

/// What the v6-layout header blocks hold.
#[derive(Debug, Clone, Default)]
pub struct TracingHeaders {
    /// The ring-buffer page header layout (`header_page`).
    pub page_layout: Option<PageLayout>,
    /// Every embedded event format, with its subsystem.
    pub formats: Vec<EventFormat>,
}

impl TracingHeaders {
    fn header_page(&mut self, cur: &mut Cur<'_>) -> Result<(), TraceDatError> {
        cur.expect(b"header_page\0", "header_page")?;
        let page = cur.sized_text(true, "header_page text")?;
        cur.expect(b"header_event\0", "header_event")?;
        cur.sized_text(true, "header_event text")?;
        self.page_layout = Some(PageLayout::from_header_page(&page, cur.be));
        Ok(())
    }

    fn ftrace_formats(&mut self, cur: &mut Cur<'_>) -> Result<(), TraceDatError> {
        let n = cur.u32("ftrace format count")?;
        for _ in 0..n {
            let text = cur.sized_text(true, "ftrace format")?;
            if let Ok(mut f) = EventFormat::parse(&text) {
                f.system = Some("ftrace".into());
                self.formats.push(f);
            }
        }
        Ok(())
    }

    fn event_formats(&mut self, cur: &mut Cur<'_>) -> Result<(), TraceDatError> {
        let systems = cur.u32("event system count")?;
        for _ in 0..systems {
            let system = cur.cstr("event system name")?.to_string();
            let n = cur.u32("event count")?;
            for _ in 0..n {
                let text = cur.sized_text(true, "event format")?;
                if let Ok(mut f) = EventFormat::parse(&text) {
                    f.system = Some(system.clone());
                    self.formats.push(f);
                }
            }
        }
        Ok(())
    }

    /// Parse the v6 sequence after the fixed header: header page, ftrace formats, event
    /// formats, kallsyms, printk formats and (when `cmdlines`) the saved cmdlines.
    pub(crate) fn parse_v6(cur: &mut Cur<'_>, cmdlines: bool) -> Result<Self, TraceDatError> {
        let mut h = TracingHeaders::default();
        h.header_page(cur)?;
        h.ftrace_formats(cur)?;
        h.event_formats(cur)?;
        cur.sized_text(false, "kallsyms")?;
        cur.sized_text(false, "printk formats")?;
        if cmdlines {
            cur.sized_text(true, "saved cmdlines")?;
        }
        Ok(h)
    }
}

/// The fixed start of a trace.dat / tracing-data block.
#[derive(Debug, Clone)]
pub(crate) struct Preamble {
    pub version: String,
    pub big_endian: bool,
    pub page_size: usize,
}

pub(crate) fn preamble(cur: &mut Cur<'_>) -> Result<Preamble, TraceDatError> {
    cur.expect(&MAGIC, "the trace.dat magic")?;
    let version = cur.cstr("file version")?.to_string();
    let endian = cur.u8("endianness")?;
    cur.be = endian == 1;
    cur.u8("long size")?;
    let page_size = cur.u32("page size")? as usize;
    if !(1024..=(1 << 20)).contains(&page_size) {
        return Err(TraceDatError::Bad {
            at: cur.pos - 4,
            what: format!("page size {page_size}"),
        });
    }
    Ok(Preamble {
        version,
        big_endian: cur.be,
        page_size,
    })
}

/// Per-CPU data of one buffer.
#[derive(Debug, Clone)]
struct CpuData {
    cpu: u32,
    offset: u64,
    size: u64,
}

/// A decoded trace.dat.
#[derive(Debug, Clone, Default)]
pub struct TraceDat {
    /// File format version (`6`, `7`).
    pub version: String,
    /// Compression (`zstd`, `zlib`), if the file is compressed.
    pub compression: Option<String>,
    /// trace-cmd's version, where recorded.
    pub tracecmd_version: Option<String>,
    /// `uname` of the traced host, where recorded.
    pub uname: Option<String>,
    /// CPUs with data.
    pub cpus: usize,
    /// Every kvmmmu record and lost-event marker, merged across CPUs by timestamp.
    pub records: Vec<Record>,
    /// Whether the capture's formats include `kvm_mmu_set_spte`.
    pub has_set_spte: bool,
}

fn usize_of(v: u64, at: usize, what: &'static str) -> Result<usize, TraceDatError> {
    usize::try_from(v).map_err(|_| TraceDatError::Truncated { at, what })
}

/// Read a whole trace.dat.
pub fn read(data: &[u8]) -> Result<TraceDat, TraceDatError> {
    let mut cur = Cur::new(data, false);
    let pre = preamble(&mut cur)?;
    let mut out = TraceDat {
        version: pre.version.clone(),
        ..TraceDat::default()
    };
    let (headers, buffers, compression) = match pre.version.as_str() {
        "6" => {
            let h = TracingHeaders::parse_v6(&mut cur, true)?;
            (h, read_v6_buffers(&mut cur)?, None)
        }
        "7" => read_v7(&mut cur, &mut out)?,
        v => return Err(TraceDatError::Version(v.to_string())),
    };
    out.compression.clone_from(&compression);
    let mut formats = Formats::new(&headers.formats)?;
    formats.big_endian = pre.big_endian;
    out.has_set_spte = formats.has_set_spte();
    let layout = headers.page_layout.unwrap_or_default();
    let mut per_cpu: Vec<Vec<Record>> = Vec::new();
    for (compressed, cpus) in &buffers {
        for c in cpus {
            let at = usize_of(c.offset, 0, "CPU data offset")?;
            let size = usize_of(c.size, at, "CPU data size")?;
            let raw = data
                .get(at..at.saturating_add(size))
                .ok_or(TraceDatError::Truncated {
                    at,
                    what: "CPU data",
                })?;
            let pages = match (&compression, compressed) {
                // The recorded size counts the compressed bytes only, not the chunk headers:
                // the chunk list is read from the offset on.
                (Some(alg), true) => decompress_chunks(&data[at..], alg, pre.big_endian, at)?,
                _ => raw.to_vec(),
            };
            let mut recs = Vec::new();
            for (i, page) in pages.chunks(pre.page_size).enumerate() {
                decode_page(page, layout, &formats, Some(c.cpu), &mut recs).map_err(|error| {
                    TraceDatError::Page {
                        cpu: c.cpu,
                        page: i,
                        error,
                    }
                })?;
            }
            if !recs.is_empty() {
                out.cpus += 1;
            }
            per_cpu.push(recs);
        }
    }
    out.records = merge_by_time(per_cpu);
    Ok(out)
}

/// Merge per-CPU record lists (each in time order) into one, stable for equal times.
pub fn merge_by_time(per_cpu: Vec<Vec<Record>>) -> Vec<Record> {
    let mut all: Vec<Record> = per_cpu.into_iter().flatten().collect();
    all.sort_by_key(|r| r.ts.unwrap_or(0));
    all
}

fn decompress_chunks(raw: &[u8], alg: &str, be: bool, at: usize) -> Result<Vec<u8>, TraceDatError> {
    let mut cur = Cur::new(raw, be);
    let n = cur.u32("chunk count")?;
    let mut out = Vec::new();
    for _ in 0..n {
        let csize = cur.u32("chunk compressed size")? as usize;
        let usize_ = cur.u32("chunk size")? as usize;
        let chunk = cur
            .bytes(csize, "compressed chunk")
            .map_err(|_| TraceDatError::Truncated {
                at: at + cur.pos,
                what: "compressed chunk",
            })?;
        let room = MAX_DECOMPRESSED.saturating_sub(out.len()).min(usize_);
        out.extend_from_slice(&compress::by_name(alg, chunk, room)?);
    }
    Ok(out)
}

fn read_v6_buffers(cur: &mut Cur<'_>) -> Result<Vec<(bool, Vec<CpuData>)>, TraceDatError> {
    let cpus = cur.u32("CPU count")?;
    if cpus > MAX_CPUS {
        return Err(TraceDatError::Bad {
            at: cur.pos - 4,
            what: format!("{cpus} CPUs"),
        });
    }
    loop {
        let at = cur.pos;
        let tag = cur.bytes(10, "section tag")?;
        match tag {
            b"options  \0" => loop {
                let id = cur.u16("option id")?;
                if id == OPT_DONE {
                    break;
                }
                let size = cur.u32("option size")? as usize;
                cur.bytes(size, "option data")?;
            },
            b"flyrecord\0" => {
                let mut list = Vec::new();
                for cpu in 0..cpus {
                    let offset = cur.u64("CPU data offset")?;
                    let size = cur.u64("CPU data size")?;
                    list.push(CpuData { cpu, offset, size });
                }
                return Ok(vec![(false, list)]);
            }
            b"latency  \0" => {
                return Err(TraceDatError::Bad {
                    at,
                    what: "a latency-tracer capture holds text, not kvmmmu events".into(),
                })
            }
            _ => {
                return Err(TraceDatError::Bad {
                    at,
                    what: "expected options or flyrecord".into(),
                })
            }
        }
    }
}

/// A v7 section's content (decompressed when flagged).
fn section<'a>(
    data: &'a [u8],
    offset: u64,
    be: bool,
    compression: &Option<String>,
    expect_id: Option<u16>,
) -> Result<(u16, std::borrow::Cow<'a, [u8]>), TraceDatError> {
    let at = usize_of(offset, 0, "section offset")?;
    let mut cur = Cur::new(data, be);
    cur.pos = at.min(data.len());
    if at > data.len() {
        return Err(TraceDatError::Truncated {
            at,
            what: "section",
        });
    }
    let id = cur.u16("section id")?;
    let flags = cur.u16("section flags")?;
    cur.u32("section description")?;
    let size = usize_of(cur.u64("section size")?, cur.pos, "section size")?;
    if let Some(e) = expect_id.filter(|&e| e != id) {
        return Err(TraceDatError::Bad {
            at,
            what: format!("section id {id}, expected {e}"),
        });
    }
    if flags & SECTION_COMPRESSED != 0 {
        let csize = cur.u32("compressed size")? as usize;
        let usize_ = cur.u32("uncompressed size")? as usize;
        let body = cur.bytes(csize, "compressed section")?;
        let alg = compression.as_deref().ok_or(TraceDatError::Bad {
            at,
            what: "compressed section in an uncompressed file".into(),
        })?;
        let out = compress::by_name(alg, body, usize_.min(MAX_DECOMPRESSED))?;
        Ok((id, std::borrow::Cow::Owned(out)))
    } else {
        let body = cur.bytes(size, "section data")?;
        Ok((id, std::borrow::Cow::Borrowed(body)))
    }
}

type V7 = (TracingHeaders, Vec<(bool, Vec<CpuData>)>, Option<String>);

fn read_v7(cur: &mut Cur<'_>, out: &mut TraceDat) -> Result<V7, TraceDatError> {
    let data = cur.data;
    let be = cur.be;
    let alg = cur.cstr("compression name")?.to_string();
    cur.cstr("compression version")?;
    let compression = (alg != "none" && !alg.is_empty()).then_some(alg);
    let mut next = cur.u64("first options offset")?;
    let mut headers = TracingHeaders::default();
    let mut buffers = Vec::new();
    let mut seen = 0;
    while next != 0 {
        seen += 1;
        if seen > MAX_OPTION_SECTIONS {
            return Err(TraceDatError::Bad {
                at: next as usize,
                what: "options sections form a loop".into(),
            });
        }
        let (_, body) = section(data, next, be, &compression, Some(OPT_DONE))?;
        next = 0;
        let mut oc = Cur::new(&body, be);
        while oc.pos < body.len() {
            let id = oc.u16("option id")?;
            let size = oc.u32("option size")? as usize;
            let opt = oc.bytes(size, "option data")?;
            let mut o = Cur::new(opt, be);
            match id {
                OPT_DONE => {
                    next = o.u64("next options offset").unwrap_or(0);
                    break;
                }
                OPT_HEADER_INFO => {
                    let (_, s) = section(data, o.u64("offset")?, be, &compression, None)?;
                    headers.header_page(&mut Cur::new(&s, be))?;
                }
                OPT_FTRACE_EVENTS => {
                    let (_, s) = section(data, o.u64("offset")?, be, &compression, None)?;
                    headers.ftrace_formats(&mut Cur::new(&s, be))?;
                }
                OPT_EVENT_FORMATS => {
                    let (_, s) = section(data, o.u64("offset")?, be, &compression, None)?;
                    headers.event_formats(&mut Cur::new(&s, be))?;
                }
                OPT_BUFFER => {
                    let sec = o.u64("buffer section offset")?;
                    o.cstr("buffer name")?;
                    o.cstr("buffer clock")?;
                    o.u32("buffer page size")?;
                    let n = o.u32("buffer CPU count")?;
                    if n > MAX_CPUS {
                        return Err(TraceDatError::Bad {
                            at: sec as usize,
                            what: format!("{n} CPUs"),
                        });
                    }
                    let mut list = Vec::new();
                    for _ in 0..n {
                        let cpu = o.u32("CPU id")?;
                        let offset = o.u64("CPU data offset")?;
                        let size = o.u64("CPU data size")?;
                        list.push(CpuData { cpu, offset, size });
                    }
                    // The buffer section's own header says whether its data is compressed.
                    let mut sc = Cur::new(data, be);
                    sc.pos = usize_of(sec, 0, "buffer section")?.min(data.len());
                    sc.u16("buffer section id")?;
                    let flags = sc.u16("buffer section flags")?;
                    buffers.push((flags & SECTION_COMPRESSED != 0, list));
                }
                OPT_UNAME => out.uname = o.cstr("uname").ok().map(str::to_string),
                OPT_VERSION => out.tracecmd_version = o.cstr("version").ok().map(str::to_string),
                _ => {}
            }
        }
    }
    Ok((headers, buffers, compression))
}

/// Count of lost-event markers and events they name.
pub fn lost_total(records: &[Record]) -> u64 {
    records
        .iter()
        .map(|r| match r.kind {
            RecordKind::Lost(n) => n,
            _ => 0,
        })
        .sum()
}
