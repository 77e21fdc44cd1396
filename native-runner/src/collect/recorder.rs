//! The recording: reader threads that turn a tracefs instance's per-CPU buffers (or its text
//! pipe) into core importer records, and the sink that turns those into trace events while
//! applying the collector's injections — its own page-table writes and KVM's stats — where
//! their marks appear in the kernel's event stream.

use super::{tracefs, CollectError, MARK_END};
use rmaplab_core::import::format::{EventFormat, Formats};
use rmaplab_core::import::infer::{InferStats as ImportStats, Inference};
use rmaplab_core::import::record::Record;
use rmaplab_core::import::ringbuf::{self, PageLayout};
use rmaplab_core::import::text::{parse_line, Line};
use rmaplab_core::trace::{Event, EventKind};
use std::collections::HashMap;
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
    events: Vec<Event>,
    inj: Injections,
    done: bool,
}

impl EventSink {
    pub(super) fn new(inj: Injections, raw_addresses: bool) -> Self {
        let mut imp = Inference::default();
        imp.raw_addresses = raw_addresses;
        EventSink {
            imp,
            text: Vec::new(),
            events: Vec::new(),
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
            self.events.push(ev);
            return Ok(());
        };
        if label == MARK_END {
            self.done = true;
            return Ok(());
        }
        if !label.starts_with("rmaplab:") {
            self.events.push(ev);
            return Ok(());
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
            self.events.push(e);
        }
        if let Some((phase, stats)) = injected.phase {
            self.events.push(Event::new(EventKind::Mark {
                label: format!("{phase} done"),
            }));
            for (name, value) in stats {
                self.events
                    .push(Event::new(EventKind::Stat { name, value }));
            }
        }
        Ok(())
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

type ReaderResult = Result<(Vec<Event>, ImportStats), String>;

/// Reads the instance while the guest runs.
pub(super) enum Reader {
    /// `trace_pipe` text through core's importer.
    Text {
        handle: std::thread::JoinHandle<ReaderResult>,
        stop: Arc<AtomicBool>,
    },
    /// `per_cpu/cpuN/trace_pipe_raw` pages, decoded with the `format` files, merged by time.
    Raw {
        threads: Vec<std::thread::JoinHandle<Result<Vec<Record>, String>>>,
        stop: Arc<AtomicBool>,
        inj: Injections,
        raw_addresses: bool,
    },
}

pub(super) fn spawn_text_reader(
    pipe: std::fs::File,
    inj: Injections,
    raw_addresses: bool,
) -> Reader {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut pipe = pipe;
        let mut sink = EventSink::new(inj, raw_addresses);
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
        let formats = formats.clone();
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            let mut out = Vec::new();
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
                ringbuf::decode_page(
                    &page[..n],
                    layout,
                    &formats,
                    u32::try_from(cpu).ok(),
                    &mut out,
                )
                .map_err(|e| format!("cpu{cpu}: {e}"))?;
            }
        }));
    }
    Ok(Reader::Raw {
        threads,
        stop,
        inj,
        raw_addresses,
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
                ..
            } => {
                let mut all = Vec::new();
                for (cpu, t) in threads.into_iter().enumerate() {
                    let recs = t
                        .join()
                        .map_err(|_| "a reader thread panicked".to_string())??;
                    all.extend(
                        recs.into_iter()
                            .enumerate()
                            .map(|(i, r)| (r.ts.unwrap_or(0), cpu, i, r)),
                    );
                }
                // Merge the CPUs' streams by the ring buffer's clock.
                all.sort_unstable_by_key(|(ts, cpu, i, _)| (*ts, *cpu, *i));
                let mut sink = EventSink::new(inj, raw_addresses);
                for (_, _, _, rec) in all {
                    sink.feed(&rec)?;
                    if sink.done {
                        break;
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
