//! `rmaplab collect`: run a built-in workload in a guest on `/dev/kvm`, record what KVM's shadow
//! MMU did through a private tracefs instance, turn it into an rmaplab trace (core's importer),
//! add KVM's own counters at every phase boundary, and check that a replay at KVM's own array
//! size and era reproduces them.

pub mod guest;
pub mod peer;
pub mod plan;
pub mod qmp;
pub mod stats;
pub mod tracefs;
pub mod vmm;

use crate::interrupt;
use rmaplab_core::gen::Workload;
use rmaplab_core::import::format::{EventFormat, Formats};
use rmaplab_core::import::infer::{inferred_rules, InferStats as ImportStats, Inference};
use rmaplab_core::import::record::Record;
use rmaplab_core::import::ringbuf::{self, PageLayout};
use rmaplab_core::import::text::{parse_line, Line};
use rmaplab_core::replay::{ReplayOptions, ReplaySummary, Replayer};
use rmaplab_core::trace::{Event, EventKind, KvmParams, Memslot, TraceMeta};
use rmaplab_core::{Era, ModelConfig};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bytes of work list per vCPU (touch entries are 8 bytes, store entries 16).
pub const LIST_BYTES_PER_VCPU: u64 = 1 << 20;
/// Stats written into the trace at each phase end (the rest are summarised in the report).
pub const TRACE_STATS: [&str; 8] = [
    "max_mmu_rmap_size",
    "pages_4k",
    "pages_2m",
    "pages_1g",
    "mmu_pte_write",
    "mmu_shadow_zapped",
    "mmu_recycled",
    "mmu_cache_miss",
];
const MARK_CLEARS: &str = "rmaplab:pte-clears:";
const MARK_PHASE: &str = "rmaplab:phase-end:";
const MARK_END: &str = "rmaplab:end";

/// Errors of `collect`.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// Not root.
    #[error("rmaplab collect needs root: it creates a tracefs instance and reads kvmmmu events (run it with sudo)")]
    NotRoot,
    /// A TDP host: guest mappings never reach the shadow MMU.
    #[error("{0}: guest memory is mapped by EPT/NPT and never reaches the shadow MMU's rmaps. rmaps are used only with shadow paging: reload the module with ept=0 (kvm_intel) or npt=0 (kvm_amd), or trace a nested (L2) guest with `rmaplab collect --pid`")]
    Tdp(String),
    /// Tracing setup.
    #[error(transparent)]
    TraceFs(#[from] tracefs::TraceFsError),
    /// The VMM.
    #[error(transparent)]
    Vmm(#[from] vmm::VmmError),
    /// KVM stats.
    #[error(transparent)]
    Stats(#[from] stats::StatsError),
    /// The kernel dropped events.
    #[error("the kernel lost {0} trace events (its per-CPU buffer overflowed): rerun with a larger --buffer-kb or a smaller workload; a trace with holes cannot be trusted")]
    Lost(u64),
    /// The reader failed.
    #[error("reading the trace: {0}")]
    Reader(String),
    /// The guest needs too much memory.
    #[error(transparent)]
    Guest(#[from] guest::GuestError),
    /// QEMU's QMP socket.
    #[error(transparent)]
    Qmp(#[from] qmp::QmpError),
    /// Ctrl-C.
    #[error("interrupted")]
    Interrupted,
}

/// Settings.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    /// The workload.
    pub workload: Workload,
    /// vCPUs.
    pub vcpus: usize,
    /// Seed.
    pub seed: u64,
    /// Per-CPU trace buffer in KiB.
    pub buffer_kb: u64,
    /// Keep kernel addresses.
    pub raw_addresses: bool,
    /// Shadow-page limit (`KVM_SET_NR_MMU_PAGES`); `None` keeps KVM's default for the guest size.
    pub mmu_pages: Option<u64>,
    /// Read `trace_pipe` text instead of the per-CPU binary `trace_pipe_raw`.
    pub text_pipe: bool,
}

/// What a collection produced.
#[derive(Debug)]
pub struct Collected {
    /// Metadata.
    pub meta: TraceMeta,
    /// Events.
    pub events: Vec<Event>,
    /// What the importer inferred.
    pub import: ImportStats,
    /// Seconds the guest ran (all phases).
    pub guest_seconds: f64,
    /// KVM's stats at the end of the last phase.
    pub final_stats: Vec<(String, u64)>,
}

#[derive(Debug, Default)]
struct Injection {
    clears: Vec<(u64, u64)>,
    phase: Option<(String, Vec<(String, u64)>)>,
}

type Injections = Arc<Mutex<HashMap<String, Injection>>>;

fn sysfs(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// `uname -r`.
pub fn kernel_release() -> Option<String> {
    sysfs("/proc/sys/kernel/osrelease")
}

/// The loaded KVM vendor module, if any.
pub fn vendor_module() -> Option<String> {
    ["kvm_intel", "kvm_amd", "kvm_pvm"]
        .into_iter()
        .find(|m| std::path::Path::new("/sys/module").join(m).exists())
        .map(str::to_string)
}

fn tdp_enabled() -> Option<String> {
    let yes = |v: Option<String>| v.is_some_and(|v| v == "Y" || v == "1");
    if yes(sysfs("/sys/module/kvm_intel/parameters/ept")) {
        return Some("kvm_intel has ept=Y".into());
    }
    if yes(sysfs("/sys/module/kvm_amd/parameters/npt")) {
        return Some("kvm_amd has npt=1".into());
    }
    None
}

/// KVM's list parameters for a kernel release: 14 entries since v5.15; head-insert since v6.4.
pub fn kvm_params_for(release: &str) -> Option<KvmParams> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    let major: u32 = it.next()?.parse().ok()?;
    let minor: u32 = it.next()?.parse().ok()?;
    let v = (major, minor);
    let (n, era) = if v >= (6, 4) {
        (14, Era::HeadInsert)
    } else if v >= (5, 15) {
        (14, Era::TailAppend)
    } else {
        (3, Era::NullTerminated)
    };
    Some(KvmParams {
        pte_list_ext: Some(n),
        era: Some(era),
    })
}

/// Check the host can run a collection, with errors that say what to do.
pub fn preflight() -> Result<(), CollectError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(CollectError::NotRoot);
    }
    if let Some(why) = tdp_enabled() {
        return Err(CollectError::Tdp(why));
    }
    Ok(())
}

/// Turns importer output into trace events, applying the collector's injections (its own
/// page-table writes, KVM's stats) where their marks appear in the kernel's event stream.
struct Sink {
    imp: Inference,
    /// `trace_pipe` text not yet split into lines.
    text: Vec<u8>,
    events: Vec<Event>,
    inj: Injections,
    done: bool,
}

impl Sink {
    fn new(inj: Injections, raw_addresses: bool) -> Self {
        let mut imp = Inference::default();
        imp.raw_addresses = raw_addresses;
        Sink {
            imp,
            text: Vec::new(),
            events: Vec::new(),
            inj,
            done: false,
        }
    }

    fn drain(&mut self) -> Result<(), String> {
        while let Some(ev) = self.imp.pop() {
            self.accept(ev)?;
        }
        Ok(())
    }

    fn accept(&mut self, ev: Event) -> Result<(), String> {
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

    fn feed(&mut self, r: &Record) -> Result<(), String> {
        self.imp.on_record(r);
        self.drain()
    }

    /// Kernel `trace_pipe` text: feed every complete line.
    fn push_text(&mut self, chunk: &[u8]) -> Result<(), String> {
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
enum Reader {
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

fn spawn_text_reader(pipe: std::fs::File, inj: Injections, raw_addresses: bool) -> Reader {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut pipe = pipe;
        let mut sink = Sink::new(inj, raw_addresses);
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

fn spawn_raw_reader(
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
        parsed.push(EventFormat::parse(&text).map_err(|e| CollectError::Reader(e.to_string()))?);
    }
    let formats = Formats::new(&parsed).map_err(|e| CollectError::Reader(e.to_string()))?;
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
    fn stop(&self) {
        match self {
            Reader::Text { stop, .. } | Reader::Raw { stop, .. } => {
                stop.store(true, Ordering::Relaxed)
            }
        }
    }

    fn is_finished(&self) -> bool {
        match self {
            Reader::Text { handle, .. } => handle.is_finished(),
            Reader::Raw { threads, .. } => threads.iter().all(|t| t.is_finished()),
        }
    }

    /// Wait for the reader after the end marker was written.
    fn finish(self, abort: &dyn Fn() -> bool) -> ReaderResult {
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
                let mut sink = Sink::new(inj, raw_addresses);
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

/// Metadata every collected trace starts from: its source and the inference rules.
fn collect_meta(source: &str) -> TraceMeta {
    TraceMeta {
        source: Some(source.to_string()),
        tool: Some(concat!("rmaplab ", env!("CARGO_PKG_VERSION"), " collect").into()),
        inferred: inferred_rules(),
        ..TraceMeta::default()
    }
}

/// Run the workload and return the trace.
pub fn collect(opts: &CollectOptions, progress: &dyn Fn(&str)) -> Result<Collected, CollectError> {
    preflight()?;
    let vcpus = opts.vcpus.max(1);
    let list_bytes = LIST_BYTES_PER_VCPU * vcpus as u64;
    let plan = plan::plan(&opts.workload, vcpus, opts.seed, list_bytes);
    let lists_gpa = (plan.tables.end() + guest::PAGE - 1) & !(guest::PAGE - 1);
    let mem_bytes = (plan.data_gpa + plan.frames * guest::PAGE + (2 << 20) - 1) & !((2 << 20) - 1);
    if mem_bytes > guest::IDENTITY_BYTES {
        return Err(guest::GuestError::TooBig {
            need: mem_bytes,
            max: guest::IDENTITY_BYTES,
        }
        .into());
    }
    let instance = tracefs::Instance::create(opts.buffer_kb)?;
    let vm = vmm::Vm::new(mem_bytes, plan.tables.image())?;
    if let Some(n) = opts.mmu_pages {
        vm.set_nr_mmu_pages(n)?;
    }
    let stats_reader = stats::StatsReader::new(vm.stats_fd()?)?;
    progress(&format!(
        "guest: {} MiB, {} address spaces, {} data frames, {} vCPUs",
        mem_bytes >> 20,
        plan.spaces.len(),
        plan.frames,
        vcpus
    ));
    let mut handles = Vec::new();
    for v in 0..vcpus {
        handles.push(vm.spawn_vcpu(v)?);
    }
    // SAFETY: gettid has no preconditions.
    let main_tid = unsafe { libc::gettid() };
    let mut tids: Vec<i32> = handles.iter().map(|h| h.tid).collect();
    tids.push(main_tid);
    let injections: Injections = Arc::default();
    let reader = if opts.text_pipe {
        spawn_text_reader(instance.pipe()?, injections.clone(), opts.raw_addresses)
    } else {
        spawn_raw_reader(&instance, injections.clone(), opts.raw_addresses)?
    };
    instance.start(&tids)?;
    let started = Instant::now();
    let mut final_stats = Vec::new();
    let run = (|| -> Result<(), CollectError> {
        for (i, phase) in plan.phases.iter().enumerate() {
            progress(&format!(
                "phase {}/{}: {}",
                i + 1,
                plan.phases.len(),
                phase.label
            ));
            let clears: Vec<(u64, u64)> = phase
                .per_vcpu
                .iter()
                .flatten()
                .filter_map(|s| match s {
                    plan::Step::Store { writes, .. } => Some(writes),
                    plan::Step::Touch { .. } => None,
                })
                .flatten()
                .filter(|w| w.1 == 0)
                .map(|w| (w.0 >> 12, (w.0 & 0xfff) / 8))
                .collect();
            if !clears.is_empty() {
                inject(
                    &injections,
                    &instance,
                    format!("{MARK_CLEARS}{i}"),
                    Injection {
                        clears,
                        phase: None,
                    },
                )?;
            }
            run_phase(&vm, &handles, phase, lists_gpa)?;
            let now = stats_reader.read()?;
            let keep: Vec<(String, u64)> = now
                .iter()
                .filter(|(n, _)| TRACE_STATS.contains(&n.as_str()))
                .cloned()
                .collect();
            final_stats = now;
            let injection = Injection {
                clears: Vec::new(),
                phase: Some((phase.label.clone(), keep)),
            };
            inject(
                &injections,
                &instance,
                format!("{MARK_PHASE}{i}"),
                injection,
            )?;
        }
        Ok(())
    })();
    let guest_seconds = started.elapsed().as_secs_f64();
    drop(handles);
    if run.is_ok() {
        progress("destroying the VM");
    }
    // The stats fd holds a VM reference: close it first so the VM's teardown (its shadow-page
    // zaps) happens now, while the trace is still recording.
    drop(stats_reader);
    drop(vm);
    let end = instance.mark(MARK_END);
    let failed = run.is_err() || end.is_err();
    let joined = reader.finish(&|| failed || interrupt::requested());
    drop(instance);
    run?;
    end?;
    let (events, import) = joined.map_err(CollectError::Reader)?;
    if import.lost_events > 0 {
        return Err(CollectError::Lost(import.lost_events));
    }
    let mut meta = collect_meta("kvmmmu tracefs (rmaplab collect)");
    meta.anonymised = Some(!opts.raw_addresses);
    meta.kernel = kernel_release();
    meta.vendor_module = vendor_module();
    meta.tdp = Some(false);
    meta.vcpus = Some(vcpus as u32);
    meta.workload = Some(opts.workload.describe());
    meta.tool = Some(concat!("rmaplab ", env!("CARGO_PKG_VERSION"), " collect").into());
    meta.fault_events = Some(true);
    meta.memslots = vec![Memslot {
        base_gfn: 0,
        pages: mem_bytes / guest::PAGE,
    }];
    meta.kvm = meta.kernel.as_deref().and_then(kvm_params_for);
    meta.inferred.push("removals for the guest page-table writes the workload performed (ring-0 PTE clears) are inferred by the collector, which knows every write it made".into());
    meta.extra.insert("seed".into(), opts.seed.into());
    meta.extra.insert(
        "nr_mmu_pages".into(),
        opts.mmu_pages
            .map_or_else(|| "kvm-default".into(), serde_json::Value::from),
    );
    Ok(Collected {
        meta,
        events,
        import,
        guest_seconds,
        final_stats,
    })
}

/// Register an injection, then write its mark (the reader applies it when the mark arrives).
fn inject(
    injections: &Injections,
    instance: &tracefs::Instance,
    label: String,
    what: Injection,
) -> Result<(), CollectError> {
    injections
        .lock()
        .map_err(|_| CollectError::Reader("poisoned".into()))?
        .insert(label.clone(), what);
    instance.mark(&label)?;
    Ok(())
}

fn run_phase(
    vm: &vmm::Vm,
    handles: &[vmm::VcpuHandle],
    phase: &plan::Phase,
    lists_gpa: u64,
) -> Result<(), CollectError> {
    // Flatten each vCPU's steps into list-sized chunks, then run them in lockstep rounds.
    let mut queues: Vec<std::collections::VecDeque<(vmm::Job, Vec<u8>)>> = Vec::new();
    for (v, steps) in phase.per_vcpu.iter().enumerate() {
        let list = lists_gpa + v as u64 * LIST_BYTES_PER_VCPU;
        let mut q = std::collections::VecDeque::new();
        for s in steps {
            match s {
                plan::Step::Touch { cr3, vas } => {
                    for c in vas.chunks((LIST_BYTES_PER_VCPU / 8) as usize) {
                        let bytes = c.iter().flat_map(|v| v.to_le_bytes()).collect();
                        q.push_back((
                            vmm::Job {
                                cr3: *cr3,
                                routine: vmm::Routine::Touch,
                                list,
                                count: c.len() as u64,
                            },
                            bytes,
                        ));
                    }
                }
                plan::Step::Store { cr3, writes } => {
                    for c in writes.chunks((LIST_BYTES_PER_VCPU / 16) as usize) {
                        let bytes = c
                            .iter()
                            .flat_map(|(a, v)| a.to_le_bytes().into_iter().chain(v.to_le_bytes()))
                            .collect();
                        q.push_back((
                            vmm::Job {
                                cr3: *cr3,
                                routine: vmm::Routine::Store,
                                list,
                                count: c.len() as u64,
                            },
                            bytes,
                        ));
                    }
                }
            }
        }
        queues.push(q);
    }
    loop {
        if interrupt::requested() {
            return Err(CollectError::Interrupted);
        }
        let mut running = Vec::new();
        for (v, q) in queues.iter_mut().enumerate() {
            if let Some((job, bytes)) = q.pop_front() {
                if job.count == 0 {
                    continue;
                }
                vm.write(job.list, &bytes)?;
                handles[v].submit(job)?;
                running.push(v);
            }
        }
        if running.is_empty() && queues.iter().all(|q| q.is_empty()) {
            return Ok(());
        }
        for v in running {
            handles[v].wait()?;
        }
    }
}

/// Threads of process `pid`.
fn threads_of(pid: u32) -> std::io::Result<Vec<i32>> {
    let mut tids = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        if let Some(t) = e?.file_name().to_str().and_then(|n| n.parse().ok()) {
            tids.push(t);
        }
    }
    Ok(tids)
}

/// Where attach mode reads KVM's stats, and how it controls the VM around the recording.
pub trait AttachSource {
    /// The VMM's process id.
    fn pid(&self) -> u32;
    /// What is recorded, for messages ("process 1234", "QEMU 1234 via QMP").
    fn what(&self) -> String;
    /// KVM's stats now, each set labelled ("VM fd 12", "QMP query-stats").
    fn stats(&mut self, when: &str, progress: &dyn Fn(&str)) -> Vec<(String, peer::Stats)>;
    /// Tracing runs (QMP: resume a VM that QEMU started paused with -S).
    fn recording(&mut self, _progress: &dyn Fn(&str)) -> Result<(), CollectError> {
        Ok(())
    }
    /// Tracing is about to stop (QMP: pause the VM, so the end stats match the trace).
    fn ending(&mut self, _progress: &dyn Fn(&str)) {}
    /// The end stats were read (QMP: resume a VM that was running).
    fn ended(&mut self, _progress: &dyn Fn(&str)) {}
    /// Whether the recording saw the VM from its first instruction, so KVM's counters at the
    /// end are absolute facts the replay must reproduce.
    fn covers_first_instruction(&self) -> bool {
        false
    }
}

/// Attach by pid: KVM's stats from the VM stats fds the VMM holds itself.
#[derive(Debug)]
pub struct PidSource {
    /// The VMM.
    pub pid: u32,
}

impl AttachSource for PidSource {
    fn pid(&self) -> u32 {
        self.pid
    }

    fn what(&self) -> String {
        format!("process {}", self.pid)
    }

    fn stats(&mut self, when: &str, progress: &dyn Fn(&str)) -> Vec<(String, peer::Stats)> {
        let pid = self.pid;
        match peer::vm_stats(pid) {
            Ok(v) if v.is_empty() => {
                progress(&format!(
                    "no KVM stats {when}: process {pid} holds no VM stats fd (KVM answers VM ioctls only to the VM's creator, so rmaplab can read only stats fds the VMM opened itself with KVM_GET_STATS_FD; for QEMU use --qmp)"
                ));
                Vec::new()
            }
            Ok(v) => v
                .into_iter()
                .map(|(fd, values)| {
                    progress(&format!(
                        "KVM stats of VM fd {fd} {when}: {}",
                        peer::summary(&values)
                    ));
                    (format!("VM fd {fd}"), values)
                })
                .collect(),
            Err(e) => {
                progress(&format!("no KVM stats {when}: {e}"));
                Vec::new()
            }
        }
    }
}

/// Attach to QEMU through its QMP socket: pid from the socket, KVM's stats from
/// `query-stats target=vm`, a VM started with -S resumed once tracing runs.
#[derive(Debug)]
pub struct QmpSource {
    qmp: qmp::Qmp,
    pid: u32,
    prelaunch: bool,
    was_running: bool,
    resumed: bool,
}

impl QmpSource {
    /// Connect to `socket`.
    pub fn connect(socket: &std::path::Path) -> Result<Self, CollectError> {
        let mut q = qmp::Qmp::connect(socket)?;
        let pid = q.peer_pid()?;
        let st = q.status()?;
        Ok(QmpSource {
            qmp: q,
            pid,
            prelaunch: st.status == "prelaunch",
            was_running: st.running,
            resumed: false,
        })
    }

    /// vCPU thread ids.
    pub fn vcpu_threads(&mut self) -> Vec<u32> {
        self.qmp.vcpu_threads().unwrap_or_default()
    }
}

impl AttachSource for QmpSource {
    fn pid(&self) -> u32 {
        self.pid
    }

    fn what(&self) -> String {
        format!("QEMU process {} via QMP", self.pid)
    }

    fn stats(&mut self, when: &str, progress: &dyn Fn(&str)) -> Vec<(String, peer::Stats)> {
        match self.qmp.vm_stats() {
            Ok(v) if v.is_empty() => {
                progress(&format!("no KVM stats {when}: QMP query-stats returned none (QEMU 7.1 or later reports them)"));
                Vec::new()
            }
            Ok(v) => {
                progress(&format!("KVM stats (QMP) {when}: {}", peer::summary(&v)));
                vec![("QMP query-stats".into(), v)]
            }
            Err(e) => {
                progress(&format!("no KVM stats {when}: {e}"));
                Vec::new()
            }
        }
    }

    fn recording(&mut self, progress: &dyn Fn(&str)) -> Result<(), CollectError> {
        if !self.was_running {
            progress(if self.prelaunch {
                "resuming the VM QEMU started paused (-S): the recording covers it from its first instruction"
            } else {
                "resuming the paused VM"
            });
            self.qmp.cont()?;
            self.resumed = true;
        }
        Ok(())
    }

    fn ending(&mut self, progress: &dyn Fn(&str)) {
        if let Err(e) = self.qmp.stop() {
            progress(&format!("could not pause the VM before the end stats: {e}"));
        }
    }

    fn ended(&mut self, progress: &dyn Fn(&str)) {
        // Leave the VM as it was found: running, unless it was paused mid-run.
        if self.was_running || self.resumed {
            if let Err(e) = self.qmp.cont() {
                progress(&format!("could not resume the VM: {e}"));
            }
        }
    }

    fn covers_first_instruction(&self) -> bool {
        self.prelaunch
    }
}

/// How attach mode records.
#[derive(Debug, Clone, Copy)]
pub struct AttachOptions {
    /// How long to record (less if the VMM exits).
    pub duration: Duration,
    /// Per-CPU trace buffer in KiB.
    pub buffer_kb: u64,
    /// Keep sptep physical addresses.
    pub raw_addresses: bool,
    /// Read `trace_pipe` text instead of the binary pages.
    pub text_pipe: bool,
}

/// Record the kvmmmu events of every thread of the VMM `source` names for the options'
/// duration (or until it exits), reading KVM's stats from `source` at the start and the end.
pub fn attach_with(
    source: &mut dyn AttachSource,
    opts: &AttachOptions,
    progress: &dyn Fn(&str),
) -> Result<Collected, CollectError> {
    preflight()?;
    let AttachOptions {
        duration,
        buffer_kb,
        raw_addresses: raw,
        text_pipe,
    } = *opts;
    let pid = source.pid();
    let what = source.what();
    let mut tids = threads_of(pid)
        .map_err(|e| CollectError::Reader(format!("process {pid}: {e} (is it running?)")))?;
    let start_stats = source.stats("at attach", progress);
    let instance = tracefs::Instance::create(buffer_kb)?;
    let reader = if text_pipe {
        spawn_text_reader(instance.pipe()?, Arc::default(), raw)
    } else {
        spawn_raw_reader(&instance, Arc::default(), raw)?
    };
    instance.start(&tids)?;
    progress(&format!(
        "recording {} threads of {what} for up to {:.0} s",
        tids.len(),
        duration.as_secs_f64()
    ));
    source.recording(progress)?;
    let started = Instant::now();
    let alive = || std::path::Path::new(&format!("/proc/{pid}")).exists();
    while started.elapsed() < duration && alive() && !interrupt::requested() {
        std::thread::sleep(Duration::from_millis(50));
        // Follow threads the VMM starts later (vCPU threads, hot-plug).
        if let Ok(mut now) = threads_of(pid) {
            now.sort_unstable();
            tids.sort_unstable();
            if now != tids {
                tids = now;
                instance.set_pids(&tids)?;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let exited = !alive();
    if !exited {
        source.ending(progress);
    }
    let end = instance.mark(MARK_END);
    let failed = end.is_err();
    let joined = reader.finish(&|| failed || interrupt::requested());
    drop(instance);
    let end_stats = if exited {
        progress(&format!("{what} exited: no KVM stats at the end"));
        Vec::new()
    } else {
        let s = source.stats("at the end", progress);
        source.ended(progress);
        s
    };
    if interrupt::requested() {
        return Err(CollectError::Interrupted);
    }
    end?;
    let (recorded, import) = joined.map_err(CollectError::Reader)?;
    if import.lost_events > 0 {
        return Err(CollectError::Lost(import.lost_events));
    }
    let exact = source.covers_first_instruction();
    let mark = |when: &str, (label, values): &(String, peer::Stats)| {
        Event::new(EventKind::Mark {
            label: format!("KVM stats of {label} {when}: {}", peer::summary(values)),
        })
    };
    let mut events = Vec::with_capacity(recorded.len() + start_stats.len() + end_stats.len());
    events.extend(start_stats.iter().map(|v| mark("at attach", v)));
    events.extend(recorded);
    events.extend(end_stats.iter().map(|v| mark("at the end", v)));
    if exact {
        // The recording saw the VM from its first instruction: KVM's counters at the end are
        // facts the replay must reproduce, as for rmaplab's own guests.
        if let [(_, values)] = end_stats.as_slice() {
            for (name, value) in values {
                if TRACE_STATS.contains(&name.as_str()) {
                    events.push(Event::new(EventKind::Stat {
                        name: name.clone(),
                        value: *value,
                    }));
                }
            }
        }
    }
    let final_stats = match end_stats.as_slice() {
        [(_, values)] => values.clone(),
        _ => Vec::new(),
    };
    let mut meta = collect_meta("kvmmmu tracefs (rmaplab collect --pid)");
    meta.anonymised = Some(!raw);
    meta.kernel = kernel_release();
    meta.vendor_module = vendor_module();
    meta.tdp = Some(tdp_enabled().is_some());
    meta.workload = Some(format!("{what}, {seconds:.1} s"));
    meta.tool = Some(concat!("rmaplab ", env!("CARGO_PKG_VERSION"), " collect --pid").into());
    meta.fault_events = Some(true);
    meta.kvm = meta.kernel.as_deref().and_then(kvm_params_for);
    if exact {
        meta.inferred.push("attach mode from the VM's first instruction (QEMU started with -S, resumed by rmaplab once tracing ran): adds are exact; removals are known at shadow-page granularity (zapped shadow pages) and from re-faults — removals by the guest's own page-table writes are not seen; KVM's counters at the end (QMP query-stats, read with the VM paused) are recorded as stat events, so the replay checks them".into());
    } else {
        meta.inferred.push("attach mode: adds are exact; removals are known only at shadow-page granularity (zapped shadow pages) and from re-faults — removals by the guest's own page-table writes before the end are not seen; the trace starts mid-run, so removals of SPTEs added before it are skipped; KVM's stats of the process's VMs at the start and the end (from the VMM's own KVM_GET_STATS_FD fds, duplicated with pidfd_getfd, or QMP query-stats) are recorded as marks, not as stat events, because a trace that starts mid-run cannot reproduce absolute counters".into());
    }
    Ok(Collected {
        meta,
        events,
        import,
        guest_seconds: seconds,
        final_stats,
    })
}

/// Replay `events` at the trace's own kernel configuration (else KVM today).
pub fn validate(
    meta: &TraceMeta,
    events: &[Event],
) -> Result<ReplaySummary, rmaplab_core::replay::ReplayError> {
    let mut cfg = ModelConfig::kvm_today();
    if let Some(k) = &meta.kvm {
        if let Some(n) = k.pte_list_ext {
            cfg.entries = n;
        }
        if let Some(e) = k.era {
            cfg.era = e;
        }
    }
    let mut r = Replayer::new(meta.clone(), &[cfg], ReplayOptions::default())?;
    r.feed_all(events)?;
    Ok(r.finish())
}
