//! The recording: reader threads that turn a tracefs instance's per-CPU buffers (or its text
//! pipe) into core importer records, and the sink that turns those into trace events while
//! applying the collector's injections — its own page-table writes and KVM's stats — where
//! their marks appear in the kernel's event stream.

use super::spool::EventSpool;
use super::{tracefs, CollectError, MARK_END};
use rmaplab_core::import::format::{EventFormat, Formats};
use rmaplab_core::import::infer::{InferStats as ImportStats, Inference};
use rmaplab_core::import::record::Record;
use rmaplab_core::import::ringbuf::{self, PageLayout};
use rmaplab_core::import::text::{parse_line, Line};
use rmaplab_core::trace::{Event, EventKind};
use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub(super) struct Injection {
    /// Guest PTEs the workload cleared, as (gfn of the guest page-table page, PTE index in
    /// it): the collector knows every such write, so their SPTEs' removals are certain.
    pub(super) clears: Vec<(u64, u64)>,
    /// A phase ended: its name and KVM's stats then.
    pub(super) phase: Option<(String, Vec<(String, u64)>)>,
}

pub(super) type Injections = Arc<Mutex<HashMap<String, Injection>>>;

/// Turns importer output into trace events, applying the collector's injections (its own
/// page-table writes, KVM's stats) where their marks appear in the kernel's event stream.
pub(super) struct EventSink {
    imp: Inference,
    /// `trace_pipe` text not yet split into lines.
    text: Vec<u8>,
    events: EventSpool,
    inj: Injections,
    done: bool,
}

impl EventSink {
    pub(super) fn new(inj: Injections, raw_addresses: bool, events: EventSpool) -> Self {
        let mut imp = Inference::default();
        imp.raw_addresses = raw_addresses;
        EventSink {
            imp,
            text: Vec::new(),
            events,
            inj,
            done: false,
        }
    }

    pub(super) fn drain(&mut self) -> Result<(), String> {
        while let Some(ev) = self.imp.pop() {
            self.accept(ev)?;
        }
        Ok(())
    }

    pub(super) fn accept(&mut self, ev: Event) -> Result<(), String> {
        let EventKind::Mark { label } = &ev.kind else {
            return self.spool(&ev);
        };
        if label == MARK_END {
            self.done = true;
            return Ok(());
        }
        if !label.starts_with("rmaplab:") {
            return self.spool(&ev);
        }
        let injected = self
            .inj
            .lock()
            .map_err(|_| "poisoned")?
            .remove(label.as_str());
        let Some(injected) = injected else {
            return Ok(());
        };
        for (gfn, idx) in injected.clears {
            self.imp.guest_pte_cleared(gfn, idx);
        }
        while let Some(e) = self.imp.pop() {
            self.spool(&e)?;
        }
        if let Some((phase, stats)) = injected.phase {
            self.spool(&Event::new(EventKind::Mark {
                label: format!("{phase} done"),
            }))?;
            for (name, value) in stats {
                self.spool(&Event::new(EventKind::Stat { name, value }))?;
            }
        }
        Ok(())
    }

    fn spool(&mut self, ev: &Event) -> Result<(), String> {
        self.events
            .push(ev)
            .map_err(|e| format!("the recording's temporary file: {e}"))
    }

    pub(super) fn feed(&mut self, r: &Record) -> Result<(), String> {
        self.imp.on_record(r);
        self.drain()
    }

    /// Kernel `trace_pipe` text: feed every complete line.
    pub(super) fn push_text(&mut self, chunk: &[u8]) -> Result<(), String> {
        self.text.extend_from_slice(chunk);
        while let Some(nl) = self.text.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.text.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line);
            match parse_line(line.trim_end()) {
                Ok(Line::Record(r)) => self.feed(&r)?,
                Ok(Line::Lost(n)) => self.imp.on_lost(n.unwrap_or(1)),
                Ok(_) => {}
                Err(e) => return Err(format!("trace_pipe: {e}")),
            }
            if self.done {
                break;
            }
        }
        Ok(())
    }
}

type ReaderResult = Result<(EventSpool, ImportStats), String>;

/// One CPU's `trace_pipe_raw` pages as read, spooled to an unnamed temporary file (each a
/// `u32` length, then the bytes), so a long recording holds none of them in memory.
type PageSpool = BufWriter<std::fs::File>;

/// Reads the instance while the guest runs.
pub(super) enum Reader {
    /// `trace_pipe` text through core's importer.
    Text {
        handle: std::thread::JoinHandle<ReaderResult>,
        stop: Arc<AtomicBool>,
    },
    /// `per_cpu/cpuN/trace_pipe_raw` pages, decoded with the `format` files, merged by time.
    Raw {
        threads: Vec<std::thread::JoinHandle<Result<PageSpool, String>>>,
        stop: Arc<AtomicBool>,
        inj: Injections,
        raw_addresses: bool,
        formats: Box<Formats>,
        events: Box<EventSpool>,
    },
}

pub(super) fn spawn_text_reader(
    pipe: std::fs::File,
    inj: Injections,
    raw_addresses: bool,
    events: EventSpool,
) -> Reader {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut pipe = pipe;
        let mut sink = EventSink::new(inj, raw_addresses, events);
        let mut buf = vec![0u8; 1 << 20];
        while !sink.done {
            let n =
                tracefs::read_some(&mut pipe, &mut buf).map_err(|e| format!("trace_pipe: {e}"))?;
            if n == 0 {
                if stop2.load(Ordering::Relaxed) {
                    return Err("stopped before the end marker".into());
                }
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            sink.push_text(&buf[..n])?;
        }
        Ok((sink.events, sink.imp.stats))
    });
    Reader::Text { handle, stop }
}

pub(super) fn spawn_raw_reader(
    instance: &tracefs::Instance,
    inj: Injections,
    raw_addresses: bool,
    events: EventSpool,
) -> Result<Reader, CollectError> {
    let mut parsed = Vec::new();
    for ev in [
        "kvmmmu/kvm_mmu_set_spte",
        "kvmmmu/kvm_mmu_get_page",
        "kvmmmu/kvm_mmu_prepare_zap_page",
        "kvmmmu/kvm_mmu_pagetable_walk",
        "ftrace/print",
    ] {
        let text = instance.format(ev)?;
        parsed
            .push(EventFormat::parse(&text).map_err(|e| CollectError::EventFormat(e.to_string()))?);
    }
    let formats = Formats::new(&parsed).map_err(|e| CollectError::EventFormat(e.to_string()))?;
    let layout = PageLayout::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for cpu in instance.cpus()? {
        let mut pipe = instance.raw_pipe(cpu)?;
        let mut out: PageSpool = BufWriter::new(tempfile::tempfile().map_err(CollectError::Spool)?);
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            let mut page = vec![0u8; ringbuf::PAGE_SIZE];
            let mut idle_after_stop = 0;
            loop {
                let n = tracefs::read_some(&mut pipe, &mut page)
                    .map_err(|e| format!("cpu{cpu} trace_pipe_raw: {e}"))?;
                if n == 0 {
                    if stop.load(Ordering::Relaxed) {
                        idle_after_stop += 1;
                        if idle_after_stop > 5 {
                            return Ok(out);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                }
                idle_after_stop = 0;
                let len = u32::try_from(n).map_err(|_| format!("cpu{cpu}: a page of {n} bytes"))?;
                out.write_all(&len.to_le_bytes())
                    .and_then(|()| out.write_all(&page[..n]))
                    .map_err(|e| format!("cpu{cpu}: the recording's temporary file: {e}"))?;
            }
        }));
    }
    let _ = layout;
    Ok(Reader::Raw {
        threads,
        stop,
        inj,
        raw_addresses,
        formats: Box::new(formats),
        events: Box::new(events),
    })
}

impl Reader {
    pub(super) fn stop(&self) {
        match self {
            Reader::Text { stop, .. } | Reader::Raw { stop, .. } => {
                stop.store(true, Ordering::Relaxed)
            }
        }
    }

    pub(super) fn is_finished(&self) -> bool {
        match self {
            Reader::Text { handle, .. } => handle.is_finished(),
            Reader::Raw { threads, .. } => threads.iter().all(|t| t.is_finished()),
        }
    }

    /// Wait for the reader after the end marker was written.
    pub(super) fn finish(self, abort: &dyn Fn() -> bool) -> ReaderResult {
        if matches!(self, Reader::Raw { .. }) {
            // Raw readers drain their CPUs and stop once idle.
            self.stop();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.is_finished() {
            if Instant::now() > deadline || abort() {
                self.stop();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if abort() {
            // Interrupted or failed: the caller reports why and writes nothing, so merging and
            // importing what was read would only delay the exit (and the instance's removal).
            return Err("recording stopped before the end marker".into());
        }
        match self {
            Reader::Text { handle, .. } => handle
                .join()
                .map_err(|_| "the reader thread panicked".to_string())?,
            Reader::Raw {
                threads,
                inj,
                raw_addresses,
                formats,
                events,
                ..
            } => {
                let mut cursors = Vec::new();
                for (cpu, t) in threads.into_iter().enumerate() {
                    let spool = t
                        .join()
                        .map_err(|_| "a reader thread panicked".to_string())??;
                    cursors.push(PageCursor::new(spool, cpu, &formats)?);
                }
                // Merge the CPUs' streams by the ring buffer's clock (ties: lower CPU first).
                let mut sink = EventSink::new(inj, raw_addresses, *events);
                let mut heap = std::collections::BinaryHeap::new();
                for (i, c) in cursors.iter_mut().enumerate() {
                    if let Some(ts) = c.head_ts()? {
                        heap.push(std::cmp::Reverse((ts, i)));
                    }
                }
                while let Some(std::cmp::Reverse((_, i))) = heap.pop() {
                    let c = &mut cursors[i];
                    if let Some(rec) = c.recs.pop_front() {
                        sink.feed(&rec)?;
                    }
                    if sink.done {
                        break;
                    }
                    if let Some(ts) = c.head_ts()? {
                        heap.push(std::cmp::Reverse((ts, i)));
                    }
                }
                if !sink.done {
                    return Err("the end marker never arrived in trace_pipe_raw".into());
                }
                Ok((sink.events, sink.imp.stats))
            }
        }
    }
}

/// One CPU's spooled pages, decoded a page at a time.
struct PageCursor<'f> {
    file: BufReader<std::fs::File>,
    cpu: usize,
    formats: &'f Formats,
    page: Vec<u8>,
    recs: std::collections::VecDeque<Record>,
}

impl<'f> PageCursor<'f> {
    fn new(spool: PageSpool, cpu: usize, formats: &'f Formats) -> Result<Self, String> {
        let tmp = |e: std::io::Error| format!("cpu{cpu}: the recording's temporary file: {e}");
        let mut file = spool.into_inner().map_err(|e| tmp(e.into_error()))?;
        file.rewind().map_err(tmp)?;
        Ok(PageCursor {
            file: BufReader::with_capacity(1 << 16, file),
            cpu,
            formats,
            page: vec![0; ringbuf::PAGE_SIZE],
            recs: std::collections::VecDeque::new(),
        })
    }

    /// The timestamp of this CPU's next record (reading pages until one has a record).
    fn head_ts(&mut self) -> Result<Option<u64>, String> {
        let cpu = self.cpu;
        let tmp = |e: std::io::Error| format!("cpu{cpu}: the recording's temporary file: {e}");
        while self.recs.is_empty() {
            let mut len = [0u8; 4];
            match self.file.read_exact(&mut len) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(tmp(e)),
            }
            let n = u32::from_le_bytes(len) as usize;
            self.page.resize(n, 0);
            self.file.read_exact(&mut self.page).map_err(tmp)?;
            let mut out = Vec::new();
            ringbuf::decode_page(
                &self.page,
                PageLayout::default(),
                self.formats,
                u32::try_from(cpu).ok(),
                &mut out,
            )
            .map_err(|e| format!("cpu{cpu}: {e}"))?;
            self.recs.extend(out);
        }
        Ok(self.recs.front().map(|r| r.ts.unwrap_or(0)))
    }
}
