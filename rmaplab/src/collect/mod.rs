//! `rmaplab collect`: run a built-in workload in a guest on `/dev/kvm`, record what KVM's shadow
//! MMU did through a private tracefs instance, turn it into an rmaplab trace (core's importer),
//! add KVM's own counters at every phase boundary, and check that a replay at KVM's own array
//! size and era reproduces them.

pub mod attach;
pub mod guest;
pub mod host;
pub mod meta;
pub mod peer;
pub mod plan;
pub mod qmp;
pub mod recorder;
pub mod spool;
pub mod stats;
pub mod tracefs;
pub mod vmm;

pub use attach::{attach_with, AfterPowerOff, AttachOptions, AttachSource, PidSource, QmpSource};
pub use host::preflight;
use recorder::{spawn_raw_reader, spawn_text_reader, Injection, Injections};

use crate::interrupt;
use rmaplab_core::gen::Workload;
use rmaplab_core::import::infer::InferStats as ImportStats;
use rmaplab_core::paging;
use rmaplab_core::replay::Replayer;
use rmaplab_core::trace::{Memslot, TraceMeta};
use rmaplab_core::ModelConfig;
use std::sync::Arc;
use std::time::Instant;

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
pub(crate) const MARK_CLEARS: &str = "rmaplab:pte-clears:";
pub(crate) const MARK_PHASE: &str = "rmaplab:phase-end:";
pub(crate) const MARK_END: &str = "rmaplab:end";

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
    /// The process to attach to cannot be read (it is gone, or not ours to trace).
    #[error("process {pid}: {error} (is it running?)")]
    ProcessGone {
        /// Its id.
        pid: u32,
        /// What reading `/proc/PID/task` said.
        error: std::io::Error,
    },
    /// The kernel's description of a kvmmmu event (its tracefs `format` file) could not be read.
    #[error("the kernel's kvmmmu event format: {0}")]
    EventFormat(String),
    /// A thread of the collector panicked while holding shared state (a bug in rmaplab).
    #[error("internal error: a collector thread panicked")]
    Poisoned,
    /// The guest needs too much memory.
    #[error(transparent)]
    Guest(#[from] guest::GuestError),
    /// QEMU's QMP socket.
    #[error(transparent)]
    Qmp(#[from] qmp::QmpError),
    /// `--until-shutdown`: QEMU refused to keep the VM at the guest's power-off.
    #[error("--until-shutdown: QEMU would not keep the VM when the guest powers off ({0}); it needs QEMU 6.0 or later (QMP set-action) — with an older QEMU start it with -no-shutdown and record with --duration instead")]
    NoShutdownAction(qmp::QmpError),
    /// The VM behind the QMP socket has already powered off: there is nothing left to record.
    #[error("the guest behind this QMP socket has already powered off (QEMU's status is \"shutdown\"): start QEMU again (paused, with -S) and attach before it runs")]
    AlreadyOff,
    /// The temporary files a recording goes to as it is read.
    #[error("the recording's temporary file (in $TMPDIR): {0}")]
    Spool(std::io::Error),
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
    /// Events, spooled to a temporary file as they were recorded.
    pub events: spool::EventSpool,
    /// What the importer inferred.
    pub import: ImportStats,
    /// Seconds the guest ran (all phases).
    pub guest_seconds: f64,
    /// KVM's stats at the end of the last phase.
    pub final_stats: Vec<(String, u64)>,
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
    let events = spool::EventSpool::new().map_err(CollectError::Spool)?;
    let reader = if opts.text_pipe {
        spawn_text_reader(
            instance.pipe()?,
            injections.clone(),
            opts.raw_addresses,
            events,
        )
    } else {
        spawn_raw_reader(&instance, injections.clone(), opts.raw_addresses, events)?
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
                .map(|w| (paging::frame_of(w.0), paging::entry_index_of(w.0)))
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
    let mut meta = meta::host_meta(
        "kvmmmu tracefs (rmaplab collect)",
        "collect",
        opts.raw_addresses,
    );
    meta.tdp = Some(false);
    meta.vcpus = Some(vcpus as u32);
    meta.workload = Some(opts.workload.describe());
    meta.memslots = vec![Memslot {
        base_gfn: 0,
        pages: mem_bytes / guest::PAGE,
    }];
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
        .map_err(|_| CollectError::Poisoned)?
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

/// A replay at the trace's own kernel configuration (else KVM today), to check the recording
/// reproduces KVM's counters.
pub fn validator(meta: &TraceMeta) -> Result<Replayer, rmaplab_core::replay::ReplayError> {
    let mut cfg = ModelConfig::kvm_today();
    if let Some(k) = &meta.kvm {
        if let Some(n) = k.pte_list_ext {
            cfg.entries = n;
        }
        if let Some(e) = k.era {
            cfg.era = e;
        }
    }
    Replayer::new(
        meta.clone(),
        &[cfg],
        rmaplab_core::replay::ReplayOptions::default(),
    )
}
