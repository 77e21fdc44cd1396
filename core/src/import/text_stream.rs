//! kvmmmu text read as a stream: lines one at a time ([`LineReader`], the one line splitter of
//! text captures), passes over the file in file order (counting) or in time order.
//!
//! Time order without holding the file: the counting pass notes where the timestamps step
//! back — each such place starts a *run* of lines in time order (per-CPU blocks concatenated,
//! as `trace-cmd report --cpu 0` then `--cpu 1` give). An ordered pass reads every run with a
//! cursor of its own and merges them by timestamp, ties in file order: exactly what a stable
//! sort of the whole file by timestamp gives. Text whose order steps back more than
//! [`MAX_RUNS`] times is refused with the fix.

use super::record::{Record, RecordKind};
use super::text::{self, Line, LineError};
use super::{ImportError, MAX_LINE_BYTES};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::BufRead;

/// Most runs in time order a text capture may have (each takes a cursor and its buffer in an
/// ordered pass).
pub const MAX_RUNS: usize = 1024;

/// Opens the text at a byte offset of the (decompressed) text.
pub type Opener<'a> = Box<dyn Fn(u64) -> std::io::Result<Box<dyn BufRead + 'a>> + 'a>;

/// One line's meaning, with where it was.
#[derive(Debug)]
pub struct Item {
    /// 1-based line number.
    pub line: u64,
    /// Byte offset of the line's start.
    pub offset: u64,
    /// The line, parsed.
    pub parsed: Line,
}

/// Splits text into lines and parses each (the length limit and UTF-8 checked).
pub struct LineReader<'a> {
    inner: Box<dyn BufRead + 'a>,
    buf: Vec<u8>,
    line: u64,
    offset: u64,
    /// Stop before this byte offset (the next run's start), if set.
    end: Option<u64>,
    /// The number of the file's last line when it has no newline: a capture cut mid-line
    /// (a copy stopped short, a full disk). That line is left out, since its last field may be
    /// cut short into a different value.
    pub cut_line: Option<u64>,
}

impl std::fmt::Debug for LineReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineReader")
            .field("line", &self.line)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

/// An I/O error as an import error (a stop stays a stop).
pub fn io_error(e: &std::io::Error) -> ImportError {
    if crate::input::source::is_stopped(e) {
        ImportError::Stopped
    } else {
        ImportError::Read(e.to_string())
    }
}

impl<'a> LineReader<'a> {
    /// Lines of `inner`, the first being line `line + 1` at byte `offset`.
    pub fn new(inner: Box<dyn BufRead + 'a>, line: u64, offset: u64, end: Option<u64>) -> Self {
        LineReader {
            inner,
            buf: Vec::with_capacity(256),
            line,
            offset,
            end,
            cut_line: None,
        }
    }

    /// Lines read.
    pub fn lines(&self) -> u64 {
        self.line
    }

    /// The next line, parsed; `None` at the end.
    pub fn next_item(&mut self) -> Result<Option<Item>, ImportError> {
        if self.end.is_some_and(|e| self.offset >= e) {
            return Ok(None);
        }
        self.buf.clear();
        let limit = MAX_LINE_BYTES as u64 + 1;
        let n = std::io::Read::take(&mut *self.inner, limit)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| io_error(&e))?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        let line = self.line;
        let offset = self.offset;
        self.offset += n as u64;
        let mut body = &self.buf[..];
        if body.last() == Some(&b'\n') {
            body = &body[..body.len() - 1];
        } else if n as u64 == limit {
            return Err(ImportError::LineTooLong { line });
        } else {
            // Only the file's last line can end without a newline.
            self.cut_line = Some(line);
            return Ok(None);
        }
        if body.len() > MAX_LINE_BYTES {
            return Err(ImportError::LineTooLong { line });
        }
        let t = std::str::from_utf8(body).map_err(|_| ImportError::NotUtf8 { line })?;
        let parsed = match text::parse_line(t.trim_end_matches('\r')) {
            Ok(p) => p,
            Err(error @ LineError::PluginForm(_)) => {
                return Err(ImportError::PluginForm { line, error })
            }
            Err(error) => return Err(ImportError::BadLine { line, error }),
        };
        Ok(Some(Item {
            line,
            offset,
            parsed,
        }))
    }
}

/// Where a run in time order starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// Byte offset of its first line.
    pub offset: u64,
    /// Lines before it.
    pub lines_before: u64,
}

/// The record a line stands for, the lost-event count taking the time of the record before.
pub fn record_of(parsed: Line, last_ts: &mut Option<u64>) -> Option<Record> {
    match parsed {
        Line::Record(r) => {
            if r.ts.is_some() {
                *last_ts = r.ts;
            }
            Some(r)
        }
        Line::Lost(n) => Some(Record {
            ts: *last_ts,
            cpu: None,
            task: super::record::Task::default(),
            kind: RecordKind::Lost(n.unwrap_or(1)),
        }),
        Line::OtherKvmmmu(_) | Line::Other => None,
    }
}

/// Finds the runs in time order as records go by in file order.
#[derive(Debug, Default)]
pub struct RunFinder {
    runs: Vec<Run>,
    last_key: u64,
    /// Records with a timestamp below one before them (what a sort would move).
    pub reordered: u64,
    max_ts: u64,
}

impl RunFinder {
    /// Note the record of `item` (its key is its timestamp, or 0 without one).
    pub fn note(&mut self, item_offset: u64, line: u64, r: &Record) {
        let key = r.ts.unwrap_or(0);
        if self.runs.is_empty() || key < self.last_key {
            self.runs.push(Run {
                offset: item_offset,
                lines_before: line - 1,
            });
        }
        self.last_key = key;
        if let Some(ts) = r.ts {
            if ts < self.max_ts {
                self.reordered += 1;
            }
            self.max_ts = self.max_ts.max(ts);
        }
    }

    /// The runs found.
    pub fn runs(&self) -> &[Run] {
        &self.runs
    }
}

/// One run's cursor in an ordered pass.
struct RunCursor<'a> {
    lines: LineReader<'a>,
    last_ts: Option<u64>,
    head: Option<Record>,
}

impl RunCursor<'_> {
    fn advance(&mut self) -> Result<(), ImportError> {
        self.head = None;
        while let Some(item) = self.lines.next_item()? {
            if let Some(r) = record_of(item.parsed, &mut self.last_ts) {
                self.head = Some(r);
                break;
            }
        }
        Ok(())
    }
}

/// An ordered pass over text with its runs merged.
pub struct Merge<'a> {
    cursors: Vec<RunCursor<'a>>,
    heap: BinaryHeap<Reverse<(u64, usize)>>,
}

impl std::fmt::Debug for Merge<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Merge")
            .field("runs", &self.cursors.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Merge<'a> {
    /// A merge of `runs`, each opened with `open`.
    pub fn new(open: &Opener<'a>, runs: &[Run]) -> Result<Self, ImportError> {
        if runs.len() > MAX_RUNS {
            return Err(ImportError::Unordered { runs: runs.len() });
        }
        let mut cursors = Vec::with_capacity(runs.len());
        let mut heap = BinaryHeap::with_capacity(runs.len());
        for (i, run) in runs.iter().enumerate() {
            let end = runs.get(i + 1).map(|r| r.offset);
            let inner = open(run.offset).map_err(|e| io_error(&e))?;
            let mut c = RunCursor {
                lines: LineReader::new(inner, run.lines_before, run.offset, end),
                last_ts: None,
                head: None,
            };
            c.advance()?;
            if let Some(r) = &c.head {
                heap.push(Reverse((r.ts.unwrap_or(0), i)));
            }
            cursors.push(c);
        }
        Ok(Merge { cursors, heap })
    }

    /// The next record in time order.
    pub fn next_record(&mut self) -> Result<Option<Record>, ImportError> {
        let Some(Reverse((_, i))) = self.heap.pop() else {
            return Ok(None);
        };
        let c = &mut self.cursors[i];
        let r = c.head.take();
        c.advance()?;
        if let Some(h) = &c.head {
            self.heap.push(Reverse((h.ts.unwrap_or(0), i)));
        }
        Ok(r)
    }
}
