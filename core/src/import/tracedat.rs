//! trace-cmd's `trace.dat`, file format versions 6 and 7 (trace-cmd 2.x / 3.x), and the
//! "tracing data" block perf.data embeds (the v6 header layout): the header page layout, the
//! embedded event `format` files, saved cmdlines, and the per-CPU ring-buffer pages (v7:
//! option sections, zstd/zlib-compressed sections and chunked compressed CPU data), decoded
//! with [`super::ringbuf`] and merged across CPUs by timestamp.

use super::compress::{self, CompressError, Ruzstd, ZstdFactory, ZstdFrames};
use super::format::read_uint;
use super::format::{EventFormat, FormatError, Formats};
use super::record::{Record, RecordKind};
use super::ringbuf::{decode_page, PageLayout, RingBufError};
use crate::input::source::Shared;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{Read, Seek};
use std::rc::Rc;

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
    /// Reading the file failed.
    #[error("trace.dat byte {at}: cannot read: {error}")]
    Read {
        /// Offset.
        at: u64,
        /// The I/O error.
        error: String,
    },
    /// The front-end stopped the read (Ctrl-C, Cancel).
    #[error("stopped")]
    Stopped,
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
    /// v7: the data is a list of compressed chunks.
    compressed: bool,
}

/// A decoded trace.dat, read whole ([`read`]; tests and tools — imports stream with
/// [`TraceDatFile`]).
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

/// First bytes read for the header blocks; doubled while they do not fit, up to
/// [`MAX_HEADER_BYTES`].
const FIRST_HEADER_READ: usize = 1 << 20;
/// Most bytes the header blocks (formats, kallsyms, printk formats, cmdlines) may take.
const MAX_HEADER_BYTES: usize = 1 << 28;
/// Most bytes of one v7 section (formats, options) or one compressed chunk's output.
const MAX_SECTION_BYTES: usize = 1 << 28;
/// Ring-buffer pages read at once from uncompressed CPU data.
const PAGES_PER_READ: usize = 16;

/// An I/O failure while reading at `at` (a stop asked by the front-end stays a stop).
fn io_error(at: u64, e: &std::io::Error, what: &'static str) -> TraceDatError {
    if crate::input::source::is_stopped(e) {
        TraceDatError::Stopped
    } else if e.kind() == std::io::ErrorKind::UnexpectedEof {
        TraceDatError::Truncated {
            at: usize::try_from(at).unwrap_or(usize::MAX),
            what,
        }
    } else {
        TraceDatError::Read {
            at,
            error: e.to_string(),
        }
    }
}

/// What every CPU cursor decodes pages with.
#[derive(Debug)]
struct Decoding {
    formats: Formats,
    layout: PageLayout,
    page_size: usize,
    compression: Option<String>,
    big_endian: bool,
}

/// A trace.dat opened for streaming: the headers are read, the CPU data stays in the file and
/// is read page by page by [`TraceDatFile::records`].
#[derive(Debug)]
pub struct TraceDatFile<'a> {
    src: Shared<'a>,
    /// File format version (`6`, `7`).
    pub version: String,
    /// Compression (`zstd`, `zlib`), if the file is compressed.
    pub compression: Option<String>,
    /// trace-cmd's version, where recorded.
    pub tracecmd_version: Option<String>,
    /// `uname` of the traced host, where recorded.
    pub uname: Option<String>,
    /// Whether the capture's formats include `kvm_mmu_set_spte`.
    pub has_set_spte: bool,
    decoding: Rc<Decoding>,
    cpus: Vec<CpuData>,
    /// Makes each CPU cursor's zstd decoder.
    zstd: ZstdFactory,
}

/// The first bytes of the file, as many as the header blocks need (v6 keeps them in one run
/// from the start).
fn header_prefix<T>(
    src: &Shared<'_>,
    len: u64,
    parse: impl Fn(&[u8]) -> Result<T, TraceDatError>,
) -> Result<T, TraceDatError> {
    let mut want = FIRST_HEADER_READ;
    loop {
        let data = src
            .read_up_to(0, want)
            .map_err(|e| io_error(0, &e, "the header"))?;
        match parse(&data) {
            Err(TraceDatError::Truncated { .. })
                if (data.len() as u64) < len && want < MAX_HEADER_BYTES =>
            {
                want = want.saturating_mul(4).min(MAX_HEADER_BYTES);
            }
            Err(TraceDatError::Truncated { .. }) if (data.len() as u64) < len => {
                return Err(TraceDatError::Bad {
                    at: 0,
                    what: format!("header blocks larger than {MAX_HEADER_BYTES} bytes"),
                })
            }
            r => return r,
        }
    }
}

impl<'a> TraceDatFile<'a> {
    /// Read the headers of the trace.dat `src` holds.
    pub fn open(src: Shared<'a>) -> Result<Self, TraceDatError> {
        let len = src.len().map_err(|e| io_error(0, &e, "the file size"))?;
        let pre = header_prefix(&src, len, |d| preamble(&mut Cur::new(d, false)))?;
        let mut out = TraceDatFile {
            src,
            version: pre.version.clone(),
            compression: None,
            tracecmd_version: None,
            uname: None,
            has_set_spte: false,
            decoding: Rc::new(Decoding {
                formats: Formats::default(),
                layout: PageLayout::default(),
                page_size: pre.page_size,
                compression: None,
                big_endian: pre.big_endian,
            }),
            cpus: Vec::new(),
            zstd: Ruzstd::factory,
        };
        let (headers, cpus, compression) = match pre.version.as_str() {
            "6" => {
                let (h, cpus) = header_prefix(&out.src, len, |d| {
                    let mut cur = Cur::new(d, false);
                    preamble(&mut cur)?;
                    let h = TracingHeaders::parse_v6(&mut cur, true)?;
                    Ok((h, read_v6_buffers(&mut cur)?))
                })?;
                (h, cpus, None)
            }
            "7" => out.read_v7(len, pre.big_endian)?,
            v => return Err(TraceDatError::Version(v.to_string())),
        };
        let mut formats = Formats::new(&headers.formats)?;
        formats.big_endian = pre.big_endian;
        out.has_set_spte = formats.has_set_spte();
        out.compression.clone_from(&compression);
        out.decoding = Rc::new(Decoding {
            formats,
            layout: headers.page_layout.unwrap_or_default(),
            page_size: pre.page_size,
            compression,
            big_endian: pre.big_endian,
        });
        for c in &cpus {
            if !c.compressed && c.offset.checked_add(c.size).is_none_or(|e| e > len) {
                return Err(TraceDatError::Truncated {
                    at: usize::try_from(c.offset).unwrap_or(usize::MAX),
                    what: "CPU data",
                });
            }
        }
        out.cpus = cpus;
        Ok(out)
    }

    /// Decode compressed CPU data with `zstd`'s decoders instead of core's own.
    pub fn use_zstd(&mut self, zstd: ZstdFactory) {
        self.zstd = zstd;
    }

    /// The records of every CPU: merged by timestamp when `ordered` (equal timestamps in CPU
    /// order, then file order), else CPU after CPU (cheaper, for counting).
    pub fn records(&self, ordered: bool) -> TraceDatRecords<'a> {
        let cursors = self
            .cpus
            .iter()
            .map(|c| CpuCursor::new(c, &self.src, Rc::clone(&self.decoding), self.zstd))
            .collect();
        TraceDatRecords {
            cursors,
            ordered,
            heap: BinaryHeap::new(),
            started: false,
            current: 0,
        }
    }

    fn read_v7(&mut self, len: u64, be: bool) -> Result<V7, TraceDatError> {
        let (compression, first) = header_prefix(&self.src, len, |d| {
            let mut cur = Cur::new(d, be);
            preamble(&mut cur)?;
            let alg = cur.cstr("compression name")?.to_string();
            cur.cstr("compression version")?;
            let compression = (alg != "none" && !alg.is_empty()).then_some(alg);
            Ok((compression, cur.u64("first options offset")?))
        })?;
        let mut next = first;
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
            let (_, body) = self.section(next, len, be, &compression, Some(OPT_DONE))?;
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
                        let (_, s) = self.section(o.u64("offset")?, len, be, &compression, None)?;
                        headers.header_page(&mut Cur::new(&s, be))?;
                    }
                    OPT_FTRACE_EVENTS => {
                        let (_, s) = self.section(o.u64("offset")?, len, be, &compression, None)?;
                        headers.ftrace_formats(&mut Cur::new(&s, be))?;
                    }
                    OPT_EVENT_FORMATS => {
                        let (_, s) = self.section(o.u64("offset")?, len, be, &compression, None)?;
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
                        // The buffer section's own header says whether its data is compressed.
                        let mut flags = [0u8; 4];
                        self.src
                            .read_exact_at(sec, &mut flags)
                            .map_err(|e| io_error(sec, &e, "buffer section"))?;
                        let flags = read_uint(&flags, 2, 2, be).unwrap_or(0) as u16;
                        let compressed = flags & SECTION_COMPRESSED != 0;
                        for _ in 0..n {
                            let cpu = o.u32("CPU id")?;
                            let offset = o.u64("CPU data offset")?;
                            let size = o.u64("CPU data size")?;
                            buffers.push(CpuData {
                                cpu,
                                offset,
                                size,
                                compressed: compressed && compression.is_some(),
                            });
                        }
                    }
                    OPT_UNAME => self.uname = o.cstr("uname").ok().map(str::to_string),
                    OPT_VERSION => {
                        self.tracecmd_version = o.cstr("version").ok().map(str::to_string)
                    }
                    _ => {}
                }
            }
        }
        Ok((headers, buffers, compression))
    }

    /// A v7 section's content (decompressed when flagged).
    fn section(
        &self,
        offset: u64,
        len: u64,
        be: bool,
        compression: &Option<String>,
        expect_id: Option<u16>,
    ) -> Result<(u16, Vec<u8>), TraceDatError> {
        let at = usize_of(offset, 0, "section offset")?;
        if offset > len {
            return Err(TraceDatError::Truncated {
                at,
                what: "section",
            });
        }
        let mut head = [0u8; SECTION_HEADER];
        self.src
            .read_exact_at(offset, &mut head)
            .map_err(|e| io_error(offset, &e, "section header"))?;
        let mut cur = Cur::new(&head, be);
        let id = cur.u16("section id")?;
        let flags = cur.u16("section flags")?;
        cur.u32("section description")?;
        let size = cur.u64("section size")?;
        if let Some(e) = expect_id.filter(|&e| e != id) {
            return Err(TraceDatError::Bad {
                at,
                what: format!("section id {id}, expected {e}"),
            });
        }
        let body_at = offset + SECTION_HEADER as u64;
        let read = |n: u64, what: &'static str| -> Result<Vec<u8>, TraceDatError> {
            if body_at.checked_add(n).is_none_or(|e| e > len) {
                return Err(TraceDatError::Truncated {
                    at: usize_of(body_at, at, what)?,
                    what,
                });
            }
            let n = usize_of(n, at, what)?;
            if n > MAX_SECTION_BYTES {
                return Err(TraceDatError::Bad {
                    at,
                    what: format!("a section of {n} bytes"),
                });
            }
            let mut v = vec![0; n];
            self.src
                .read_exact_at(body_at, &mut v)
                .map_err(|e| io_error(body_at, &e, what))?;
            Ok(v)
        };
        if flags & SECTION_COMPRESSED != 0 {
            let sizes = read(8, "compressed section sizes")?;
            let mut c = Cur::new(&sizes, be);
            let csize = u64::from(c.u32("compressed size")?);
            let usize_ = c.u32("uncompressed size")? as usize;
            let whole = read(8 + csize, "compressed section")?;
            let alg = compression.as_deref().ok_or(TraceDatError::Bad {
                at,
                what: "compressed section in an uncompressed file".into(),
            })?;
            let out = compress::by_name(alg, &whole[8..], usize_.min(MAX_SECTION_BYTES))?;
            Ok((id, out))
        } else {
            Ok((id, read(size, "section data")?))
        }
    }
}

/// Bytes of a v7 section header: id, flags, description, size.
const SECTION_HEADER: usize = 16;

/// One CPU's data, read page by page (compressed data chunk by chunk).
struct CpuCursor<'a> {
    cpu: u32,
    src: Shared<'a>,
    decoding: Rc<Decoding>,
    compressed: bool,
    /// Uncompressed: bytes of CPU data not yet read. Compressed: chunks not yet read
    /// (`None` before the chunk count is read).
    left: u64,
    chunks_left: Option<u32>,
    /// Bytes read and not yet decoded as pages.
    buf: Vec<u8>,
    buf_at: usize,
    page: usize,
    recs: VecDeque<Record>,
    done: bool,
    /// Whether any page held a record.
    had_records: bool,
    /// Makes the zstd decoder, on the first compressed chunk.
    make_zstd: ZstdFactory,
    /// The zstd decoder, kept from chunk to chunk (its tables are reused).
    zstd: Option<Box<dyn ZstdFrames>>,
    /// The compressed chunk being read (reused).
    chunk: Vec<u8>,
}

impl<'a> CpuCursor<'a> {
    fn new(c: &CpuData, src: &Shared<'a>, decoding: Rc<Decoding>, make_zstd: ZstdFactory) -> Self {
        CpuCursor {
            cpu: c.cpu,
            src: src.at(c.offset),
            decoding,
            compressed: c.compressed,
            left: c.size,
            chunks_left: None,
            buf: Vec::new(),
            buf_at: 0,
            page: 0,
            recs: VecDeque::new(),
            done: false,
            had_records: false,
            make_zstd,
            zstd: None,
            chunk: Vec::new(),
        }
    }

    fn read_exact(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), TraceDatError> {
        let at = self.src.stream_position().unwrap_or(0);
        self.src.read_exact(buf).map_err(|e| io_error(at, &e, what))
    }

    /// Read more CPU data into the buffer; `false` at its end.
    fn fill(&mut self) -> Result<bool, TraceDatError> {
        self.buf.drain(..self.buf_at);
        self.buf_at = 0;
        let d = Rc::clone(&self.decoding);
        if !self.compressed {
            if self.left == 0 {
                return Ok(false);
            }
            let n = (d.page_size * PAGES_PER_READ)
                .min(usize::try_from(self.left).unwrap_or(usize::MAX));
            let old = self.buf.len();
            self.buf.resize(old + n, 0);
            let mut chunk = std::mem::take(&mut self.buf);
            let r = self.read_exact(&mut chunk[old..], "CPU data");
            self.buf = chunk;
            r?;
            self.left -= n as u64;
            return Ok(true);
        }
        let be = d.big_endian;
        let left = match self.chunks_left {
            Some(n) => n,
            None => {
                let mut n = [0u8; 4];
                self.read_exact(&mut n, "chunk count")?;
                read_uint(&n, 0, 4, be).unwrap_or(0) as u32
            }
        };
        if left == 0 {
            self.chunks_left = Some(0);
            return Ok(false);
        }
        self.chunks_left = Some(left - 1);
        let mut sizes = [0u8; 8];
        self.read_exact(&mut sizes, "chunk sizes")?;
        let csize = read_uint(&sizes, 0, 4, be).unwrap_or(0) as usize;
        let usize_ = read_uint(&sizes, 4, 4, be).unwrap_or(0) as usize;
        if csize > MAX_SECTION_BYTES {
            return Err(TraceDatError::Bad {
                at: self.src.stream_position().unwrap_or(0) as usize,
                what: format!("a compressed chunk of {csize} bytes"),
            });
        }
        let mut chunk = std::mem::take(&mut self.chunk);
        chunk.resize(csize, 0);
        let r = self.read_exact(&mut chunk, "compressed chunk");
        self.chunk = chunk;
        r?;
        let alg = d.compression.as_deref().unwrap_or("none");
        let limit = usize_.min(MAX_SECTION_BYTES);
        if alg == "zstd" {
            // Straight into the buffer, the decoder's tables reused: the chunk says how large
            // it decompresses, and more is an error.
            let make = self.make_zstd;
            self.zstd
                .get_or_insert_with(make)
                .decode_frames(&self.chunk, &mut self.buf, limit)?;
        } else {
            let out = compress::by_name(alg, &self.chunk, limit)?;
            self.buf.extend_from_slice(&out);
        }
        Ok(true)
    }

    /// Decode pages until some records are ready; `false` at the end of the CPU's data.
    fn next_page(&mut self) -> Result<bool, TraceDatError> {
        loop {
            if self.done {
                return Ok(false);
            }
            let page_size = self.decoding.page_size;
            let have = self.buf.len() - self.buf_at;
            let page_end = if have >= page_size {
                Some(self.buf_at + page_size)
            } else if !self.fill()? {
                self.done = true;
                // A last partial page is decoded as it is (an error if too short).
                (self.buf.len() > self.buf_at).then_some(self.buf.len())
            } else {
                continue;
            };
            let Some(end) = page_end else {
                return Ok(false);
            };
            let d = &self.decoding;
            let mut out = Vec::new();
            decode_page(
                &self.buf[self.buf_at..end],
                d.layout,
                &d.formats,
                Some(self.cpu),
                &mut out,
            )
            .map_err(|error| TraceDatError::Page {
                cpu: self.cpu,
                page: self.page,
                error,
            })?;
            self.buf_at = end;
            self.page += 1;
            if !out.is_empty() {
                self.had_records = true;
                self.recs.extend(out);
                return Ok(true);
            }
        }
    }

    /// The next record of this CPU.
    fn next(&mut self) -> Result<Option<Record>, TraceDatError> {
        if self.recs.is_empty() && !self.next_page()? {
            return Ok(None);
        }
        Ok(self.recs.pop_front())
    }
}

/// The records of a [`TraceDatFile`], pulled one at a time.
pub struct TraceDatRecords<'a> {
    cursors: Vec<CpuCursor<'a>>,
    ordered: bool,
    /// Ordered: the head record of every CPU with one, keyed by (timestamp, CPU position).
    heap: BinaryHeap<Reverse<(u64, usize)>>,
    started: bool,
    /// Unordered: the CPU being read.
    current: usize,
}

impl std::fmt::Debug for TraceDatRecords<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceDatRecords")
            .field("cpus", &self.cursors.len())
            .field("ordered", &self.ordered)
            .finish_non_exhaustive()
    }
}

impl TraceDatRecords<'_> {
    /// CPUs whose pages read so far held a record.
    pub fn cpus_with_data(&self) -> usize {
        self.cursors.iter().filter(|c| c.had_records).count()
    }

    fn push_head(&mut self, i: usize) -> Result<(), TraceDatError> {
        let c = &mut self.cursors[i];
        if c.recs.is_empty() && !c.next_page()? {
            return Ok(());
        }
        if let Some(r) = c.recs.front() {
            self.heap.push(Reverse((r.ts.unwrap_or(0), i)));
        }
        Ok(())
    }

    /// The next record: in time order when ordered.
    pub fn next_record(&mut self) -> Result<Option<Record>, TraceDatError> {
        if !self.ordered {
            while let Some(c) = self.cursors.get_mut(self.current) {
                if let Some(r) = c.next()? {
                    return Ok(Some(r));
                }
                self.current += 1;
            }
            return Ok(None);
        }
        if !self.started {
            self.started = true;
            for i in 0..self.cursors.len() {
                self.push_head(i)?;
            }
        }
        let Some(Reverse((_, i))) = self.heap.pop() else {
            return Ok(None);
        };
        let r = self.cursors[i].recs.pop_front();
        self.push_head(i)?;
        Ok(r)
    }
}

/// Read a whole trace.dat held in memory (records merged by time).
pub fn read(data: &[u8]) -> Result<TraceDat, TraceDatError> {
    let src = Shared::new(
        Box::new(std::io::Cursor::new(data)),
        Some(data.len() as u64),
        None,
    );
    let f = TraceDatFile::open(src)?;
    let mut recs = f.records(true);
    let mut records = Vec::new();
    while let Some(r) = recs.next_record()? {
        records.push(r);
    }
    Ok(TraceDat {
        version: f.version.clone(),
        compression: f.compression.clone(),
        tracecmd_version: f.tracecmd_version.clone(),
        uname: f.uname.clone(),
        cpus: recs.cpus_with_data(),
        records,
        has_set_spte: f.has_set_spte,
    })
}

fn read_v6_buffers(cur: &mut Cur<'_>) -> Result<Vec<CpuData>, TraceDatError> {
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
                    list.push(CpuData {
                        cpu,
                        offset,
                        size,
                        compressed: false,
                    });
                }
                return Ok(list);
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

type V7 = (TracingHeaders, Vec<CpuData>, Option<String>);

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
