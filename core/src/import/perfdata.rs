//! `perf.data` (`PERFILE2`) from `perf record -e 'kvmmmu:*'`: tracepoint samples whose
//! `PERF_SAMPLE_RAW` payloads are decoded with the event formats embedded in the file's
//! tracing-data feature section; `PERF_RECORD_LOST` / `LOST_SAMPLES` are counted.
//!
//! The container is read by `linux-perf-data` (default features off, so it builds for wasm32
//! without a C zstd): a maintained reader of perf.data used by samply, which also orders
//! records by time across CPUs using perf's `FINISHED_ROUND` markers. What it does not do —
//! the tracing-data block and the payload layouts — rmaplab reads itself
//! ([`super::tracedat::TracingHeaders`], [`super::format::Formats`]).

use super::format::{FormatError, Formats};
pub use super::perf_records::PerfRecords;
use super::record::Record;
use super::tracedat::{preamble, Cur, TraceDatError, TracingHeaders};
use crate::input::source::Shared;
use linux_perf_data::{Feature, PerfFileReader};
use std::rc::Rc;

/// perf.data magic.
pub const MAGIC: [u8; 8] = *b"PERFILE2";
/// perf's tracing-data version that added saved cmdlines.
const VERSION_WITH_CMDLINES: &str = "0.6";

/// Errors reading a perf.data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PerfDataError {
    /// The container is malformed.
    #[error("perf.data: {0}")]
    Container(String),
    /// The file has no tracing-data section (it was not recorded with tracepoints).
    #[error("perf.data has no tracing data: it holds no tracepoint samples; record with perf record -e 'kvmmmu:*'")]
    NoTracingData,
    /// The tracing-data section is malformed.
    #[error("perf.data tracing data: {0}")]
    TracingData(#[from] TraceDatError),
    /// An embedded event format lacks a field rmaplab needs.
    #[error("perf.data event formats: {0}")]
    Format(#[from] FormatError),
    /// The front-end stopped the read (Ctrl-C, Cancel).
    #[error("stopped")]
    Stopped,
}

/// A decoded perf.data.
#[derive(Debug, Clone, Default)]
pub struct PerfData {
    /// `perf --version` of the recorder, where recorded.
    pub perf_version: Option<String>,
    /// Kernel release, where recorded.
    pub os_release: Option<String>,
    /// Samples read (any event).
    pub samples: u64,
    /// kvmmmu records and lost-event markers, in time order.
    pub records: Vec<Record>,
    /// Whether the capture's formats include `kvm_mmu_set_spte`.
    pub has_set_spte: bool,
}

fn container<E: std::fmt::Display>(e: E) -> PerfDataError {
    PerfDataError::Container(e.to_string())
}

/// Size of the fixed `perf_file_header` (magic, size, attr_size, three sections, feature bits).
const HEADER_SIZE: u64 = 104;
/// Offset of the data section's `perf_file_section` in the header.
const DATA_SECTION_AT: usize = 40;
/// Bytes of one `perf_file_section` (offset, size).
const SECTION_SIZE: u64 = 16;
/// Feature bits in the header (`HEADER_FEAT_BITS`).
const FEATURE_BITS: u32 = 256;
/// Largest `perf_event_attr` size accepted (the kernel's is 136 today).
const MAX_ATTR_SIZE: u64 = 4096;
/// `HEADER_EVENT_DESC`: the feature whose counts the container reader trusts.
const FEATURE_EVENT_DESC: u32 = 12;

/// Walk `HEADER_EVENT_DESC` (`u32 nr, u32 attr_size`, then per event the attr, `u32 nr_ids`, a
/// `u32`-length string and `nr_ids` u64 ids): every count must fit in what remains, since the
/// container reader allocates by them before reading.
fn check_event_desc(sec: &[u8]) -> Result<(), String> {
    let u32_at = |at: usize| {
        super::format::read_uint(sec, at, 4, false).ok_or_else(|| "truncated".to_string())
    };
    let nr = u32_at(0)?;
    let attr_size = u32_at(4)?;
    if attr_size == 0 || attr_size > MAX_ATTR_SIZE {
        return Err(format!("attribute size {attr_size}"));
    }
    let mut pos: u64 = 8;
    let len = sec.len() as u64;
    for _ in 0..nr {
        pos += attr_size;
        let nr_ids = u32_at(pos as usize)?;
        let str_len = u32_at(pos as usize + 4)?;
        pos += 8 + str_len;
        pos = pos.saturating_add(nr_ids.saturating_mul(8));
        if pos > len {
            return Err("counts run past the section".into());
        }
    }
    Ok(())
}

fn le_u64(data: &[u8], at: usize) -> u64 {
    super::format::read_uint(data, at, 8, false).unwrap_or(u64::MAX)
}

/// Most bytes of the event description section checked (it holds one attribute per event).
const MAX_EVENT_DESC: u64 = 1 << 24;
/// Bytes of buffered reading over the data section.
const READ_BUFFER: usize = 1 << 16;

pub(super) fn io(e: &std::io::Error) -> PerfDataError {
    if crate::input::source::is_stopped(e) {
        PerfDataError::Stopped
    } else {
        PerfDataError::Container(format!("cannot read: {e}"))
    }
}

/// Check that every section the header names lies inside the file before the container reader
/// allocates buffers of the sizes it names (a hostile header must be an error, not an
/// allocation of exabytes).
fn check_header(src: &Shared<'_>, len: u64) -> Result<(), PerfDataError> {
    let bad = |what: &str| PerfDataError::Container(format!("header: {what}"));
    if len < HEADER_SIZE {
        return Err(bad("shorter than the perf.data header"));
    }
    let mut data = [0u8; HEADER_SIZE as usize];
    src.read_exact_at(0, &mut data).map_err(|e| io(&e))?;
    let header_size = le_u64(&data, 8);
    let attr_size = le_u64(&data, 16);
    if header_size < HEADER_SIZE || header_size > len {
        return Err(bad(&format!("header size {header_size}")));
    }
    if attr_size == 0 || attr_size > MAX_ATTR_SIZE {
        return Err(bad(&format!("attribute size {attr_size}")));
    }
    let within = |off: u64, size: u64| off.checked_add(size).is_some_and(|end| end <= len);
    for (i, name) in ["attributes", "data", "event types"].iter().enumerate() {
        let at = 24 + i * SECTION_SIZE as usize;
        if !within(le_u64(&data, at), le_u64(&data, at + 8)) {
            return Err(bad(&format!("{name} section outside the file")));
        }
    }
    // The feature sections' table follows the data section: one entry per set bit, in bit
    // order.
    let table = le_u64(&data, 40).saturating_add(le_u64(&data, 48));
    let mut n = 0u64;
    for bit in 0..FEATURE_BITS {
        if le_u64(&data, 72 + 8 * (bit / 64) as usize) & (1 << (bit % 64)) == 0 {
            continue;
        }
        let at = table.saturating_add(n * SECTION_SIZE);
        n += 1;
        if !within(at, SECTION_SIZE) {
            return Err(bad("feature table outside the file"));
        }
        let mut entry = [0u8; SECTION_SIZE as usize];
        src.read_exact_at(at, &mut entry).map_err(|e| io(&e))?;
        let (off, size) = (le_u64(&entry, 0), le_u64(&entry, 8));
        if !within(off, size) {
            return Err(bad("a feature section lies outside the file"));
        }
        if bit == FEATURE_EVENT_DESC {
            if size > MAX_EVENT_DESC {
                return Err(bad(&format!("event description section of {size} bytes")));
            }
            let sec = src.read_up_to(off, size as usize).map_err(|e| io(&e))?;
            check_event_desc(&sec)
                .map_err(|what| bad(&format!("event description section: {what}")))?;
        }
    }
    Ok(())
}

/// A perf.data opened for streaming: the header and the tracing data are read; the samples
/// are read by [`PerfDataFile::records`] in perf's own time order.
#[derive(Debug)]
pub struct PerfDataFile<'a> {
    src: Shared<'a>,
    formats: Rc<Formats>,
    /// `perf --version` of the recorder, where recorded.
    pub perf_version: Option<String>,
    /// Kernel release, where recorded.
    pub os_release: Option<String>,
    /// Whether the capture's formats include `kvm_mmu_set_spte`.
    pub has_set_spte: bool,
}

impl<'a> PerfDataFile<'a> {
    /// Check the perf.data `src` holds and read its tracing data.
    pub fn open(src: Shared<'a>) -> Result<Self, PerfDataError> {
        let len = src.len().map_err(|e| io(&e))?;
        check_header(&src, len)?;
        let PerfFileReader { perf_file, .. } =
            PerfFileReader::parse_file(std::io::BufReader::with_capacity(READ_BUFFER, src.at(0)))
                .map_err(container)?;
        let tracing = perf_file
            .feature_section_data(Feature::TRACING_DATA)
            .ok_or(PerfDataError::NoTracingData)?;
        let mut cur = Cur::new(tracing, false);
        let pre = preamble(&mut cur)?;
        let headers = TracingHeaders::parse_v6(&mut cur, pre.version == VERSION_WITH_CMDLINES)?;
        let mut formats = Formats::new(&headers.formats)?;
        formats.big_endian = pre.big_endian;
        Ok(PerfDataFile {
            perf_version: perf_file
                .feature_section_data(Feature::VERSION)
                .and_then(header_string),
            os_release: perf_file
                .feature_section_data(Feature::OSRELEASE)
                .and_then(header_string),
            has_set_spte: formats.has_set_spte(),
            formats: Rc::new(formats),
            src,
        })
    }

    /// A pass over the samples, in time order (perf's `FINISHED_ROUND` rule).
    pub fn records(&self) -> Result<PerfRecords<'a>, PerfDataError> {
        let PerfFileReader { perf_file, .. } = PerfFileReader::parse_file(
            std::io::BufReader::with_capacity(READ_BUFFER, self.src.at(0)),
        )
        .map_err(container)?;
        let mut head = [0u8; HEADER_SIZE as usize];
        self.src.read_exact_at(0, &mut head).map_err(|e| io(&e))?;
        PerfRecords::new(
            &perf_file,
            self.src.at(0),
            le_u64(&head, DATA_SECTION_AT),
            le_u64(&head, DATA_SECTION_AT + 8),
            Rc::clone(&self.formats),
            READ_BUFFER,
        )
    }
}

/// Read a whole perf.data held in memory.
pub fn read(data: &[u8]) -> Result<PerfData, PerfDataError> {
    let src = Shared::new(
        Box::new(std::io::Cursor::new(data)),
        Some(data.len() as u64),
        None,
    );
    let f = PerfDataFile::open(src)?;
    let mut recs = f.records()?;
    let mut records = Vec::new();
    while let Some(r) = recs.next_record()? {
        records.push(r);
    }
    Ok(PerfData {
        perf_version: f.perf_version.clone(),
        os_release: f.os_release.clone(),
        samples: recs.samples,
        records,
        has_set_spte: f.has_set_spte,
    })
}

/// A `perf_header_string` (`u32 len`, then `len` bytes, NUL-padded), bounds-checked.
fn header_string(sec: &[u8]) -> Option<String> {
    let len = super::format::read_uint(sec, 0, 4, false)? as usize;
    let bytes = sec.get(4..4usize.checked_add(len)?)?;
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
}
