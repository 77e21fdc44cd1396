//! Bring-your-own capture: every kvmmmu capture a KVM developer already makes — tracefs text,
//! `trace-cmd report` (default, `-R`, `-N`, `-l`, `--ts-diff`), `perf script`, `trace.dat`
//! (v6/v7, compressed), `perf.data`, and `.gz` / `.zst` compressed text — parsed into typed
//! [`record::Record`]s, put in time order, split by VM, and turned into rmaplab events by the
//! one inference engine ([`infer`]). A capture that cannot be turned into numbers rmaplab can
//! stand behind is refused with an [`ImportError`] that says what to record instead.

pub mod compress;
pub mod format;
pub mod infer;
pub mod perfdata;
pub mod record;
pub mod report;
pub mod ringbuf;
pub mod text;
pub mod tracedat;

pub use report::{ImportReport, LostAt, VmInfo};

use crate::config::RMAP_RECYCLE_THRESHOLD;
use crate::trace::{Event, TraceMeta};
use infer::{Inference, VmMap};
use record::{Record, RecordKind};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

/// Longest text line accepted.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Lost-event places listed in a report (the total is always counted).
const MAX_LOST_LISTED: usize = 16;
/// Key of the import report in a trace's metadata.
pub const META_KEY: &str = "import";

/// What to record instead, for refusals.
pub const HOW_TO_RECORD: &str = "record the kvmmmu events kvm_mmu_set_spte, kvm_mmu_get_page and kvm_mmu_prepare_zap_page of every vCPU thread, e.g. `trace-cmd record -e kvmmmu` (then give rmaplab the trace.dat, or `trace-cmd report -R` text), `perf record -e 'kvmmmu:*'` (the perf.data or `perf script` text), or `rmaplab collect --pid PID`; `trace-cmd record -P PID` follows one thread only: list every vCPU thread with -P each";

/// Why a capture was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// `trace-cmd report`'s default output: libtraceevent's kvm plugin drops the gfn of zapped
    /// shadow pages, so removals cannot be inferred.
    #[error("line {line}: {error}. This is `trace-cmd report` output formatted by libtraceevent's kvm plugin, which drops what rmaplab needs to infer removals; refusing rather than reporting wrong numbers. Give rmaplab the trace.dat itself, or `trace-cmd report -R` (raw fields), or the kernel's own text (`trace-cmd show`, tracefs `trace`)")]
    PluginForm {
        /// 1-based line.
        line: u64,
        /// The line's problem.
        error: text::LineError,
    },
    /// A kvmmmu line whose fields could not be read.
    #[error("line {line}: {error}")]
    BadLine {
        /// 1-based line.
        line: u64,
        /// The line's problem.
        error: text::LineError,
    },
    /// Text that is not UTF-8.
    #[error("line {line}: not UTF-8 text; kvmmmu text is ASCII")]
    NotUtf8 {
        /// 1-based line.
        line: u64,
    },
    /// A line longer than [`MAX_LINE_BYTES`].
    #[error("line {line}: longer than {MAX_LINE_BYTES} bytes: not kvmmmu text")]
    LineTooLong {
        /// 1-based line.
        line: u64,
    },
    /// trace.dat could not be read.
    #[error("{0}")]
    TraceDat(#[from] tracedat::TraceDatError),
    /// perf.data could not be read.
    #[error("{0}")]
    PerfData(String),
    /// Compressed input could not be decompressed.
    #[error("{0}")]
    Compress(#[from] compress::CompressError),
    /// No kvmmmu events at all.
    #[error("the {format} holds no kvmmmu events ({lines} lines/records read): {HOW_TO_RECORD}")]
    NoKvmmmu {
        /// The capture's format.
        format: String,
        /// What was read.
        lines: u64,
    },
    /// kvmmmu events, but no `kvm_mmu_set_spte` became an add.
    #[error("the {format} has {set_spte} kvm_mmu_set_spte events but none could be used as an rmap add ({other} other kvmmmu events): {HOW_TO_RECORD}")]
    NoAdds {
        /// The capture's format.
        format: String,
        /// set_spte records seen.
        set_spte: u64,
        /// Other kvmmmu records.
        other: u64,
    },
    /// The capture lacks the events removals are inferred from.
    #[error("the {format} has kvm_mmu_set_spte but no kvm_mmu_get_page / kvm_mmu_prepare_zap_page events, so no removal can be inferred and every number would be inflated: {HOW_TO_RECORD}")]
    NoShadowPages {
        /// The capture's format.
        format: String,
    },
    /// `--vm` named a process that is not in the capture.
    #[error("--vm {vm}: no VM with that process or thread id in the capture; VMs found: {found}")]
    NoSuchVm {
        /// Requested id.
        vm: u64,
        /// What the capture has.
        found: String,
    },
    /// More VMs than rmap ids can keep apart.
    #[error("the capture holds {0} VMs; rmaplab keeps at most {max} apart: pick one with --vm", max = infer::MAX_VMS)]
    TooManyVms(usize),
}

/// How an import proceeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportOptions {
    /// `RMAP_RECYCLE_THRESHOLD` applied to the engine's own state.
    pub recycle_threshold: Option<u64>,
    /// Keep only this VM: a VMM process id (tgid) or any of its vCPU thread ids.
    pub vm: Option<u64>,
    /// Treat every task as one VM (no VM separation).
    pub one_vm: bool,
    /// Keep sptep physical addresses as SPTE ids.
    pub raw_addresses: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            recycle_threshold: Some(RMAP_RECYCLE_THRESHOLD),
            vm: None,
            one_vm: false,
            raw_addresses: false,
        }
    }
}

/// Text parsing state.
#[derive(Debug, Default)]
struct TextState {
    buf: Vec<u8>,
    pos: usize,
    line: u64,
    records: Vec<Record>,
    report: ImportReport,
}

impl TextState {
    fn push(&mut self, chunk: &[u8]) -> Result<(), ImportError> {
        crate::trace::push_chunk(&mut self.buf, &mut self.pos, chunk);
        self.pump(false)
    }

    fn pump(&mut self, at_end: bool) -> Result<(), ImportError> {
        loop {
            let rest = &self.buf[self.pos..];
            let (end, next) = match rest.iter().position(|&b| b == b'\n') {
                Some(nl) => (self.pos + nl, self.pos + nl + 1),
                None if at_end && !rest.is_empty() => (self.buf.len(), self.buf.len()),
                None => {
                    if rest.len() > MAX_LINE_BYTES {
                        return Err(ImportError::LineTooLong {
                            line: self.line + 1,
                        });
                    }
                    return Ok(());
                }
            };
            if end - self.pos > MAX_LINE_BYTES {
                return Err(ImportError::LineTooLong {
                    line: self.line + 1,
                });
            }
            self.line += 1;
            let line = self.line;
            let parsed = std::str::from_utf8(&self.buf[self.pos..end])
                .map_err(|_| ImportError::NotUtf8 { line })
                .map(|t| text::parse_line(t.trim_end_matches('\r')));
            self.pos = next;
            match parsed? {
                Ok(text::Line::Record(r)) => {
                    *self
                        .report
                        .events_read
                        .entry(kind_name(&r.kind).into())
                        .or_default() += 1;
                    self.records.push(r);
                }
                Ok(text::Line::Lost(n)) => {
                    let count = n.unwrap_or(1);
                    self.records.push(Record {
                        ts: self.records.last().and_then(|r| r.ts),
                        cpu: None,
                        task: record::Task::default(),
                        kind: RecordKind::Lost(count),
                    });
                    if self.report.lost_at.len() < MAX_LOST_LISTED {
                        self.report.lost_at.push(LostAt {
                            cpu: None,
                            ts_ns: None,
                            line: Some(line),
                            count: n,
                        });
                    }
                }
                Ok(text::Line::OtherKvmmmu(name)) => {
                    *self.report.events_unused.entry(name).or_default() += 1;
                }
                Ok(text::Line::Other) => self.report.lines_skipped += 1,
                Err(error @ text::LineError::PluginForm(_)) => {
                    return Err(ImportError::PluginForm { line, error })
                }
                Err(error) => return Err(ImportError::BadLine { line, error }),
            }
        }
    }
}

fn kind_name(k: &RecordKind) -> &'static str {
    match k {
        RecordKind::SetSpte { .. } => format::EV_SET_SPTE,
        RecordKind::GetPage { .. } => format::EV_GET_PAGE,
        RecordKind::ZapPage { .. } => format::EV_ZAP_PAGE,
        RecordKind::Walk { .. } => format::EV_WALK,
        RecordKind::Mark(_) => "trace_marker",
        RecordKind::Lost(_) => "lost",
    }
}

/// Which capture a [`CaptureImporter`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaptureFormat {
    /// Any of the text forms ([`text`]).
    Text,
    /// trace-cmd's trace.dat.
    TraceDat,
    /// perf.data.
    PerfData,
}

/// Importer for one capture: push bytes, then [`CaptureImporter::finish`]; events come out
/// after the whole capture is read (they must be put in time order and split by VM first).
#[derive(Debug)]
pub struct CaptureImporter {
    format: CaptureFormat,
    opts: ImportOptions,
    text: TextState,
    bytes: Vec<u8>,
    out: VecDeque<Event>,
    meta: Option<TraceMeta>,
}

impl CaptureImporter {
    /// A new importer for `format`.
    pub fn new(format: CaptureFormat, opts: ImportOptions) -> Self {
        CaptureImporter {
            format,
            opts,
            text: TextState::default(),
            bytes: Vec::new(),
            out: VecDeque::new(),
            meta: None,
        }
    }

    /// Feed input.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), ImportError> {
        match self.format {
            CaptureFormat::Text => self.text.push(chunk),
            _ => {
                self.bytes.extend_from_slice(chunk);
                Ok(())
            }
        }
    }

    /// The metadata, once [`CaptureImporter::finish`] ran.
    pub fn meta(&self) -> Option<&TraceMeta> {
        self.meta.as_ref()
    }

    /// The next event, once finished.
    pub fn pop(&mut self) -> Option<Event> {
        self.out.pop_front()
    }

    /// End of input: parse (binary formats), order, split VMs, infer.
    pub fn finish(&mut self) -> Result<(), ImportError> {
        if self.meta.is_some() {
            return Ok(());
        }
        let mut meta = TraceMeta::default();
        let (records, mut report) = match self.format {
            CaptureFormat::Text => {
                self.text.pump(true)?;
                let mut report = std::mem::take(&mut self.text.report);
                report.lines = Some(self.text.line);
                report.format = text_format_name(&self.text.records);
                (std::mem::take(&mut self.text.records), report)
            }
            CaptureFormat::TraceDat => {
                let dat = tracedat::read(&self.bytes)?;
                self.bytes = Vec::new();
                let compression = in_parens(dat.compression.as_deref());
                let format = format!("trace.dat v{}{compression}", dat.version);
                let report = whole_capture_report(format, &dat.records);
                if let Some(u) = &dat.uname {
                    meta.kernel = u.split_whitespace().nth(2).map(str::to_string);
                }
                (dat.records, report)
            }
            CaptureFormat::PerfData => {
                let pd = perfdata::read(&self.bytes)
                    .map_err(|e| ImportError::PerfData(e.to_string()))?;
                self.bytes = Vec::new();
                let version = pd.perf_version.as_deref().map(|v| format!("perf {v}"));
                let format = format!("perf.data{}", in_parens(version.as_deref()));
                let report = whole_capture_report(format, &pd.records);
                meta.kernel.clone_from(&pd.os_release);
                (pd.records, report)
            }
        };
        let events = process(records, &mut report, &self.opts)?;
        self.out = events.into();
        meta.source = Some(format!("kvmmmu capture: {}", report.format));
        meta.anonymised = Some(!self.opts.raw_addresses);
        meta.tool = Some(concat!("rmaplab ", env!("CARGO_PKG_VERSION"), " importer").into());
        meta.inferred = infer::inferred_rules();
        // A capture of someone else's guest cannot show the SPTEs KVM drops on the guest's
        // page-table writes or at the sync of unsync pages (docs/removal-paths.md).
        meta.unseen_removals = crate::exactness::UnseenRemoval::ALL.to_vec();
        let kept: Vec<&VmInfo> = match report.kept_vm {
            Some(k) => report.vms.iter().filter(|v| v.index == k).collect(),
            None => report.vms.iter().collect(),
        };
        // vCPUs per VM: the largest VM's (the memory figures are per VM, at the worst VM).
        meta.vcpus = Some(kept.iter().map(|v| v.vcpus).max().unwrap_or(1).max(1));
        if let Ok(v) = serde_json::to_value(&report) {
            meta.extra.insert(META_KEY.into(), v);
        }
        self.meta = Some(meta);
        Ok(())
    }
}

fn text_format_name(records: &[Record]) -> String {
    let raw = records.iter().any(|r| {
        matches!(r.kind, RecordKind::GetPage { sp } | RecordKind::ZapPage { sp } if sp.role <= u64::from(u32::MAX))
    });
    if raw {
        "kvmmmu text (raw key=value fields)".into()
    } else {
        "kvmmmu text".into()
    }
}

/// The report of a capture read whole (`format` names it), its `records` counted.
fn whole_capture_report(format: String, records: &[Record]) -> ImportReport {
    let mut report = ImportReport {
        format,
        ..ImportReport::default()
    };
    count_records(records, &mut report);
    report
}

/// ` (what)`, or nothing.
fn in_parens(what: Option<&str>) -> String {
    what.map(|w| format!(" ({w})")).unwrap_or_default()
}

fn count_records(records: &[Record], report: &mut ImportReport) {
    for r in records {
        if let RecordKind::Lost(n) = r.kind {
            if report.lost_at.len() < MAX_LOST_LISTED {
                report.lost_at.push(LostAt {
                    cpu: r.cpu,
                    ts_ns: r.ts,
                    line: None,
                    count: Some(n),
                });
            }
        }
        *report
            .events_read
            .entry(kind_name(&r.kind).into())
            .or_default() += 1;
    }
    report.events_read.remove("lost");
}

/// Order, split by VM, infer, check.
fn process(
    mut records: Vec<Record>,
    report: &mut ImportReport,
    opts: &ImportOptions,
) -> Result<Vec<Event>, ImportError> {
    // Time order.
    let mut max_ts = 0;
    let mut reordered = 0;
    for r in &records {
        if let Some(ts) = r.ts {
            if ts < max_ts {
                reordered += 1;
            }
            max_ts = max_ts.max(ts);
        }
    }
    if reordered > 0 {
        records.sort_by_key(|r| r.ts.unwrap_or(0));
        report.reordered = reordered;
        report.warnings.push(format!(
            "{reordered} events were out of time order (per-CPU blocks concatenated?) and were merged by timestamp; events on different CPUs with equal timestamps keep file order"
        ));
    }
    report.lost_events = records
        .iter()
        .map(|r| match r.kind {
            RecordKind::Lost(n) => n,
            _ => 0,
        })
        .sum();
    if report.lost_events > 0 {
        report.warnings.push(format!(
            "the capture lost {} events: rmaps are missing adds and removals, so every figure is a lower or upper bound, not exact; record again with a larger buffer (trace-cmd record -b, perf record -m) — --strict refuses this trace",
            report.lost_events
        ));
    }
    let count = |name: &str| report.events_read.get(name).copied().unwrap_or(0);
    let set_spte = count(format::EV_SET_SPTE);
    let others: u64 = report
        .events_read
        .iter()
        .filter(|(k, _)| k.as_str() != format::EV_SET_SPTE && k.as_str() != "trace_marker")
        .map(|(_, v)| *v)
        .sum::<u64>()
        + report.events_unused.values().sum::<u64>();
    if set_spte == 0 && others == 0 {
        return Err(ImportError::NoKvmmmu {
            format: report.format.clone(),
            lines: report.lines.unwrap_or(records.len() as u64),
        });
    }
    if set_spte == 0 {
        return Err(ImportError::NoAdds {
            format: report.format.clone(),
            set_spte,
            other: others,
        });
    }
    if count(format::EV_GET_PAGE) == 0 && count(format::EV_ZAP_PAGE) == 0 {
        return Err(ImportError::NoShadowPages {
            format: report.format.clone(),
        });
    }
    // VMs.
    let has_tgid = records.iter().any(|r| r.task.tgid.is_some());
    let mut pass_one = None;
    let mut vms = VmMap::default();
    let mut groups: Vec<(Option<u64>, Vec<u64>)> = Vec::new();
    if opts.one_vm {
        report.vm_rule = "not separated (--one-vm): every task is one VM".into();
        let mut tids: Vec<u64> = Vec::new();
        for r in &records {
            if is_task_event(&r.kind) && !tids.contains(&r.task.tid) {
                tids.push(r.task.tid);
            }
        }
        tids.sort_unstable();
        groups.push((None, tids));
    } else if has_tgid {
        report.vm_rule = "process id (tgid) recorded with each event".into();
        let mut index: HashMap<u64, usize> = HashMap::new();
        for r in &records {
            if !is_task_event(&r.kind) {
                continue;
            }
            let tgid = r.task.tgid.unwrap_or(r.task.tid);
            let at = *index.entry(tgid).or_insert_with(|| {
                groups.push((Some(tgid), Vec::new()));
                groups.len() - 1
            });
            if !groups[at].1.contains(&r.task.tid) {
                groups[at].1.push(r.task.tid);
            }
        }
        for g in &mut groups {
            g.1.sort_unstable();
        }
    } else {
        report.vm_rule = "no process ids in this capture: vCPU threads that installed SPTEs in, or zapped, the same live shadow page are one VM; threads that never shared one are separate VMs (use --one-vm if a VM's vCPUs never shared a page)".into();
        // Pass 1, everything as one VM: which threads shared live shadow pages. With one
        // group its output is already the answer.
        let mut pass = Inference::new(opts.recycle_threshold, VmMap::default());
        pass.raw_addresses = opts.raw_addresses;
        pass.zap_only = zap_only_tasks(&records);
        let mut events = Vec::new();
        for r in &records {
            pass.on_record(r);
            while let Some(e) = pass.pop() {
                events.push(e);
            }
        }
        groups = pass.linked_tasks().into_iter().map(|g| (None, g)).collect();
        if groups.len() == 1 && opts.vm.is_none() {
            pass_one = Some((events, pass.stats, pass.max_rmap_size.clone()));
        }
    }
    if groups.len() > infer::MAX_VMS as usize {
        return Err(ImportError::TooManyVms(groups.len()));
    }
    for (i, (_, tids)) in groups.iter().enumerate() {
        for &t in tids {
            vms.vm_of_tid.insert(t, i as u32);
        }
    }
    // Tasks that only zap are not linked by the first pass: with one VM they are its (its
    // teardown); with several, the second pass pins each to the VM whose pages it zaps.
    let zap_only = zap_only_tasks(&records);
    if !opts.one_vm && !has_tgid && groups.len() == 1 {
        for &t in &zap_only {
            if !groups[0].1.contains(&t) {
                groups[0].1.push(t);
            }
        }
        groups[0].1.sort_unstable();
        for &t in &zap_only {
            vms.vm_of_tid.insert(t, 0);
        }
    }
    if !opts.one_vm && !has_tgid && groups.len() > 1 && !zap_only.is_empty() {
        // Several VMs: a pass over the capture pins each zap-only task to the VM whose pages
        // it zaps, so it is listed with that VM and `--vm` may name it (a VMM's pid).
        let mut dry = Inference::new(opts.recycle_threshold, vms.clone());
        for r in &records {
            dry.on_record(r);
            while dry.pop().is_some() {}
        }
        for &t in &zap_only {
            if let Some(&vm) = dry.zapper_vm.get(&t) {
                vms.vm_of_tid.insert(t, vm);
                if let Some(g) = groups.get_mut(vm as usize) {
                    g.1.push(t);
                    g.1.sort_unstable();
                }
            }
        }
        report.inference.zaps_attributed_by_idleness = dry.stats.zaps_attributed_by_idleness;
    }
    let installers: std::collections::HashSet<u64> = records
        .iter()
        .filter(|r| matches!(r.kind, RecordKind::SetSpte { .. }))
        .map(|r| r.task.tid)
        .collect();
    report.vms = groups
        .iter()
        .enumerate()
        .map(|(i, (tgid, tids))| VmInfo {
            index: i as u32,
            tgid: *tgid,
            tids: tids.clone(),
            vcpus: tids.iter().filter(|t| installers.contains(t)).count() as u32,
            max_rmap_size: 0,
        })
        .collect();
    let keep = match opts.vm {
        None => None,
        Some(id) => {
            let found = report
                .vms
                .iter()
                .find(|v| v.tgid == Some(id) || v.tids.contains(&id))
                .map(|v| v.index);
            match found {
                Some(k) => Some(k),
                None => {
                    let list: Vec<String> = report
                        .vms
                        .iter()
                        .map(|v| match v.tgid {
                            Some(t) => format!("pid {t}"),
                            None => format!("threads {:?}", v.tids),
                        })
                        .collect();
                    return Err(ImportError::NoSuchVm {
                        vm: id,
                        found: list.join("; "),
                    });
                }
            }
        }
    };
    report.kept_vm = keep;
    if let Some((events, stats, max)) = pass_one {
        report.inference = stats;
        set_max_rmap_sizes(report, &max);
        return finish_checks(events, report, set_spte, others);
    }
    let mut engine = Inference::new(opts.recycle_threshold, vms.clone());
    engine.raw_addresses = opts.raw_addresses;
    let mut events = Vec::new();
    for r in &records {
        if let Some(k) = keep {
            // Zaps, marks and lost markers are not tied to a vCPU: kept (a zap of another
            // VM's page finds nothing this VM holds).
            if is_task_event(&r.kind) && vms.vm_of_tid.get(&r.task.tid) != Some(&k) {
                continue;
            }
        }
        engine.on_record(r);
        while let Some(e) = engine.pop() {
            events.push(e);
        }
    }
    let attributed = report.inference.zaps_attributed_by_idleness;
    report.inference = engine.stats;
    report.inference.zaps_attributed_by_idleness += attributed;
    set_max_rmap_sizes(report, &engine.max_rmap_size);
    finish_checks(events, report, set_spte, others)
}

/// Tasks that zap shadow pages but never install an SPTE nor report a shadow page of their
/// own (a VMM thread tearing its VM down, a kernel worker).
fn zap_only_tasks(records: &[Record]) -> std::collections::HashSet<u64> {
    let mut zappers = std::collections::HashSet::new();
    let mut active = std::collections::HashSet::new();
    for r in records {
        match r.kind {
            RecordKind::ZapPage { .. } => {
                zappers.insert(r.task.tid);
            }
            RecordKind::SetSpte { .. } | RecordKind::GetPage { .. } => {
                active.insert(r.task.tid);
            }
            _ => {}
        }
    }
    zappers.retain(|t| *t != 0 && !active.contains(t));
    zappers
}

fn set_max_rmap_sizes(report: &mut ImportReport, max: &HashMap<u32, u64>) {
    for v in &mut report.vms {
        v.max_rmap_size = max.get(&v.index).copied().unwrap_or(0);
    }
}

/// The refusals and warnings that need the inference's counts.
fn finish_checks(
    events: Vec<Event>,
    report: &mut ImportReport,
    set_spte: u64,
    others: u64,
) -> Result<Vec<Event>, ImportError> {
    if report.inference.adds == 0 {
        return Err(ImportError::NoAdds {
            format: report.format.clone(),
            set_spte,
            other: others,
        });
    }
    if report.inference.unmatched_pages > 0 {
        report.warnings.push(format!(
            "{} SPTE pages could not be matched to their shadow page; zaps of those pages remove nothing (is kvm_mmu_get_page recorded?)",
            report.inference.unmatched_pages
        ));
    }
    Ok(events)
}

fn is_task_event(k: &RecordKind) -> bool {
    matches!(
        k,
        RecordKind::SetSpte { .. } | RecordKind::GetPage { .. } | RecordKind::Walk { .. }
    )
}

/// Import a whole in-memory capture.
pub fn import_all(
    format: CaptureFormat,
    bytes: &[u8],
    opts: ImportOptions,
) -> Result<(TraceMeta, Vec<Event>), ImportError> {
    let mut imp = CaptureImporter::new(format, opts);
    imp.push(bytes)?;
    imp.finish()?;
    let meta = imp.meta.clone().unwrap_or_default();
    Ok((meta, imp.out.into_iter().collect()))
}
