//! A capture read in passes, in bounded memory: nothing of the file is held, only the live
//! state of the inference and per-thread facts.
//!
//! 1. **Count** (every capture): the records in time order where the format gives it for free
//!    (trace.dat's CPUs merged, perf.data's rounds), in file order for text — what is in the
//!    capture, its threads, where text's timestamps step back, and, with no process ids, the
//!    inference run as one VM to link threads that shared shadow pages.
//! 2. **Link** (text in several runs, no process ids): that inference again in time order.
//! 3. **Pin** (several VMs, no process ids, threads that only zap): which VM each such thread
//!    tears down.
//! 4. **Infer** (unless pass 1's inference is already the answer): the inference's counts,
//!    which the metadata carries and the refusals need, before any event is given out.
//! 5. **Emit**: the inference again, its events handed out as they come.

use super::compress::{Ruzstd, ZstdFactory};
use super::infer::{self, Inference, VmMap};
use super::perfdata::{PerfDataFile, PerfRecords};
use super::record::{Record, RecordKind};
use super::text::Line;
use super::text_stream::{self, LineReader, Merge, Opener, Run, RunFinder};
use super::tracedat::{TraceDatFile, TraceDatRecords};
use super::vms::{self, TaskFacts};
use super::{
    format, CaptureFormat, ImportError, ImportOptions, ImportReport, LostAt, VmInfo,
    MAX_LOST_LISTED, META_KEY,
};
use crate::input::source::Shared;
use crate::trace::{Event, TraceMeta};

/// A capture file, its headers read.
enum File<'a> {
    TraceDat(TraceDatFile<'a>),
    PerfData(PerfDataFile<'a>),
    Text { open: Opener<'a>, runs: Vec<Run> },
}

/// One pass's records.
enum Records<'a> {
    TraceDat(TraceDatRecords<'a>),
    PerfData(Box<PerfRecords<'a>>),
    TextLines {
        lines: LineReader<'a>,
        last_ts: Option<u64>,
    },
    TextMerge(Merge<'a>),
}

impl Records<'_> {
    fn next(&mut self) -> Result<Option<Record>, ImportError> {
        match self {
            Records::TraceDat(r) => Ok(r.next_record()?),
            Records::PerfData(r) => Ok(r.next_record()?),
            Records::TextLines { lines, last_ts } => {
                while let Some(item) = lines.next_item()? {
                    if let Some(r) = text_stream::record_of(item.parsed, last_ts) {
                        return Ok(Some(r));
                    }
                }
                Ok(None)
            }
            Records::TextMerge(m) => m.next_record(),
        }
    }
}

impl<'a> File<'a> {
    /// A pass over the records in time order.
    fn ordered(&self) -> Result<Records<'a>, ImportError> {
        Ok(match self {
            File::TraceDat(f) => Records::TraceDat(f.records(true)),
            File::PerfData(f) => Records::PerfData(Box::new(f.records()?)),
            File::Text { open, runs } if runs.len() <= 1 => Records::TextLines {
                lines: LineReader::new(open(0).map_err(|e| text_stream::io_error(&e))?, 0, 0, None),
                last_ts: None,
            },
            File::Text { open, runs } => Records::TextMerge(Merge::new(open, runs)?),
        })
    }

    fn format(&self) -> CaptureFormat {
        match self {
            File::TraceDat(_) => CaptureFormat::TraceDat,
            File::PerfData(_) => CaptureFormat::PerfData,
            File::Text { .. } => CaptureFormat::Text,
        }
    }
}

/// Kinds of records counted (every [`RecordKind`] but `Lost`).
const KINDS: usize = 5;

/// A kind of record the counting pass counts, its index in [`Count::kinds`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counted {
    /// `kvm_mmu_set_spte`.
    SetSpte,
    /// `kvm_mmu_get_page`.
    GetPage,
    /// `kvm_mmu_prepare_zap_page`.
    ZapPage,
    /// `kvm_mmu_pagetable_walk`.
    Walk,
    /// A trace marker (or a lost-event marker).
    Marker,
}

impl Counted {
    /// Every kind, in [`Count::kinds`] order.
    const ALL: [Counted; KINDS] = [
        Counted::SetSpte,
        Counted::GetPage,
        Counted::ZapPage,
        Counted::Walk,
        Counted::Marker,
    ];

    /// The kind of `k`.
    fn of(k: &RecordKind) -> Self {
        match k {
            RecordKind::SetSpte { .. } => Counted::SetSpte,
            RecordKind::GetPage { .. } => Counted::GetPage,
            RecordKind::ZapPage { .. } => Counted::ZapPage,
            RecordKind::Walk { .. } => Counted::Walk,
            RecordKind::Mark(_) | RecordKind::Lost(_) => Counted::Marker,
        }
    }

    /// Its name in the import report (the kernel's event name).
    fn name(self) -> &'static str {
        match self {
            Counted::SetSpte => format::EV_SET_SPTE,
            Counted::GetPage => format::EV_GET_PAGE,
            Counted::ZapPage => format::EV_ZAP_PAGE,
            Counted::Walk => format::EV_WALK,
            Counted::Marker => "trace_marker",
        }
    }
}

/// What the counting pass gathers.
struct Count {
    report: ImportReport,
    facts: TaskFacts,
    /// The inference as one VM, while no record had a process id.
    link: Option<Inference>,
    /// Whether `link` saw the records in time order.
    link_ordered: bool,
    raw_roles: bool,
    /// Records counted (lost-event markers too).
    records: u64,
    /// Records of each kind, by [`Counted`] (`kinds[Counted::SetSpte as usize]`).
    kinds: [u64; KINDS],
    /// With process ids, the last pass's inference run ahead, its VM map built as process ids
    /// first appear (what grouping by process id gives, when the records come in time order).
    spec: Option<Speculation>,
}

/// The final inference run during the counting pass (see [`Count::spec`]).
struct Speculation {
    engine: Inference,
    vm_of_tgid: infer::HashMap<u64, u32>,
    /// Threads that zapped before their first task event: if one turns out to be a vCPU
    /// thread, the full map would have placed its zap in its VM, and the run is not the answer.
    early_zappers: infer::HashSet<u64>,
}

impl Count {
    fn new(opts: &ImportOptions) -> Self {
        let mut link = Inference::new(opts.recycle_threshold, VmMap::default());
        link.raw_addresses = opts.raw_addresses;
        link.defer_zapper_links = true;
        Count {
            report: ImportReport::default(),
            facts: TaskFacts::default(),
            link: (!opts.one_vm).then_some(link),
            link_ordered: true,
            raw_roles: false,
            records: 0,
            kinds: [0; KINDS],
            spec: (!opts.one_vm && opts.vm.is_none()).then(|| {
                let mut engine = Inference::new(opts.recycle_threshold, VmMap::default());
                engine.raw_addresses = opts.raw_addresses;
                Speculation {
                    engine,
                    vm_of_tgid: infer::HashMap::default(),
                    early_zappers: infer::HashSet::default(),
                }
            }),
        }
    }

    /// Count one record; `lost_listed` when the format lists lost events itself.
    fn note(&mut self, r: &Record, lost_listed: bool) {
        self.records += 1;
        match r.kind {
            RecordKind::Lost(n) => {
                self.report.lost_events += n;
                if !lost_listed && self.report.lost_at.len() < MAX_LOST_LISTED {
                    self.report.lost_at.push(LostAt {
                        cpu: r.cpu,
                        ts_ns: r.ts,
                        line: None,
                        count: Some(n),
                    });
                }
            }
            ref k => {
                self.kinds[Counted::of(k) as usize] += 1;
                if let RecordKind::GetPage { sp } | RecordKind::ZapPage { sp } = k {
                    self.raw_roles |= sp.role <= u64::from(u32::MAX);
                }
            }
        }
        self.facts.note(r);
        if let Some(sp) = self.spec.as_mut() {
            let tid = r.task.tid;
            if vms::is_task_event(&r.kind) {
                if !sp.engine.has_vm(tid) {
                    let tgid = r.task.tgid.unwrap_or(tid);
                    let n = sp.vm_of_tgid.len() as u32;
                    let vm = *sp.vm_of_tgid.entry(tgid).or_insert(n);
                    sp.engine.set_vm(tid, vm);
                }
            } else if matches!(r.kind, RecordKind::ZapPage { .. }) && !sp.engine.has_vm(tid) {
                sp.early_zappers.insert(tid);
            }
            sp.engine.on_record(r);
            while sp.engine.pop().is_some() {}
        }
        if self.facts.has_tgid {
            self.link = None;
        } else if self.records > SPECULATE_UNTIL_TGID {
            // No process ids so far: grouping will be by links, not worth running ahead.
            self.spec = None;
        }
        if let Some(l) = self.link.as_mut() {
            l.on_record(r);
            while l.pop().is_some() {}
        }
    }
}

/// Records read without a process id before the counting pass stops running the last pass's
/// inference ahead.
const SPECULATE_UNTIL_TGID: u64 = 4096;

/// Run `engine` over one time-ordered pass (only the VM `keep`'s tasks when set), dropping
/// its events.
fn dry_run(
    file: &File<'_>,
    engine: &mut Inference,
    vms: &VmMap,
    keep: Option<u32>,
) -> Result<(), ImportError> {
    let mut recs = file.ordered()?;
    while let Some(r) = recs.next()? {
        if kept(&r, vms, keep) {
            engine.on_record(&r);
            while engine.pop().is_some() {}
        }
    }
    Ok(())
}

/// Whether `keep` (a VM index) keeps record `r`: zaps, marks and lost markers are not tied to
/// a vCPU and are kept (a zap of another VM's page finds nothing this VM holds).
fn kept(r: &Record, vms: &VmMap, keep: Option<u32>) -> bool {
    match keep {
        Some(k) => !vms::is_task_event(&r.kind) || vms.vm_of_tid.get(&r.task.tid) == Some(&k),
        None => true,
    }
}

/// A kvmmmu capture being imported: [`CaptureStream::open`] runs the passes that must see the
/// whole capture first and builds the metadata; [`CaptureStream::next_batch`] then hands out
/// the events of the last pass as they are inferred.
pub struct CaptureStream<'a> {
    src: Shared<'a>,
    file: File<'a>,
    meta: TraceMeta,
    engine: Inference,
    vms: VmMap,
    keep: Option<u32>,
    records: Option<Records<'a>>,
    pass: u32,
    passes: u32,
}

impl std::fmt::Debug for CaptureStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureStream")
            .field("pass", &self.pass)
            .field("passes", &self.passes)
            .finish_non_exhaustive()
    }
}

impl<'a> CaptureStream<'a> {
    /// Open a capture of `format` held by `src`. `open_text` opens text at a byte offset of
    /// its (decompressed) content; it is needed for [`CaptureFormat::Text`] only. `zstd`
    /// makes the decoders of a trace.dat's compressed CPU data.
    pub fn open(
        src: Shared<'a>,
        format: CaptureFormat,
        open_text: Option<Opener<'a>>,
        zstd: ZstdFactory,
        opts: ImportOptions,
    ) -> Result<Self, ImportError> {
        let mut meta = TraceMeta::default();
        let file = match format {
            CaptureFormat::TraceDat => {
                let mut f = TraceDatFile::open(src.at(0))?;
                f.use_zstd(zstd);
                if let Some(u) = &f.uname {
                    meta.kernel = u.split_whitespace().nth(2).map(str::to_string);
                }
                File::TraceDat(f)
            }
            CaptureFormat::PerfData => {
                let f = PerfDataFile::open(src.at(0))?;
                meta.kernel.clone_from(&f.os_release);
                File::PerfData(f)
            }
            CaptureFormat::Text => {
                let open = match open_text {
                    Some(o) => o,
                    None => {
                        let s = src.at(0);
                        Box::new(move |at| {
                            let r = std::io::BufReader::with_capacity(1 << 16, s.at(at));
                            Ok(Box::new(r) as Box<dyn std::io::BufRead + 'a>)
                        })
                    }
                };
                File::Text {
                    open,
                    runs: Vec::new(),
                }
            }
        };
        let mut s = CaptureStream {
            src,
            file,
            meta,
            engine: Inference::default(),
            vms: VmMap::default(),
            keep: None,
            records: None,
            pass: 0,
            passes: 2,
        };
        s.prepare(opts)?;
        Ok(s)
    }

    fn begin(&mut self, stage: &'static str) {
        self.pass += 1;
        self.passes = self.passes.max(self.pass);
        self.src.begin_pass(stage, self.pass, self.passes);
    }

    /// Pass 1: count.
    fn count(&mut self, opts: &ImportOptions) -> Result<Count, ImportError> {
        self.begin("import: counting");
        let mut c = Count::new(opts);
        match &mut self.file {
            File::Text { open, runs } => {
                let mut lines =
                    LineReader::new(open(0).map_err(|e| text_stream::io_error(&e))?, 0, 0, None);
                let mut finder = RunFinder::default();
                let mut last_ts = None;
                while let Some(item) = lines.next_item()? {
                    match item.parsed {
                        Line::OtherKvmmmu(name) => {
                            *c.report.events_unused.entry(name).or_default() += 1;
                            continue;
                        }
                        Line::Other => {
                            c.report.lines_skipped += 1;
                            continue;
                        }
                        Line::Lost(n) if c.report.lost_at.len() < MAX_LOST_LISTED => {
                            c.report.lost_at.push(LostAt {
                                cpu: None,
                                ts_ns: None,
                                line: Some(item.line),
                                count: n,
                            });
                        }
                        _ => {}
                    }
                    if let Some(r) = text_stream::record_of(item.parsed, &mut last_ts) {
                        finder.note(item.offset, item.line, &r);
                        c.note(&r, true);
                    }
                }
                c.report.lines = Some(lines.lines());
                if let Some(line) = lines.cut_line {
                    c.report.warnings.push(format!(
                        "the capture ends in the middle of line {line} (no newline after it): the file was cut short, and that line was left out, since its last field may be cut too; the figures are of the capture up to line {}",
                        line - 1
                    ));
                }
                c.report.reordered = finder.reordered;
                *runs = finder.runs().to_vec();
                c.link_ordered = runs.len() <= 1;
                c.report.format = if c.raw_roles {
                    "kvmmmu text (raw key=value fields)".into()
                } else {
                    "kvmmmu text".into()
                };
            }
            File::TraceDat(f) => {
                let compression = in_parens(f.compression.as_deref());
                c.report.format = format!("trace.dat v{}{compression}", f.version);
                let mut recs = f.records(true);
                while let Some(r) = recs.next_record()? {
                    c.note(&r, false);
                }
            }
            File::PerfData(f) => {
                let version = f.perf_version.as_deref().map(|v| format!("perf {v}"));
                c.report.format = format!("perf.data{}", in_parens(version.as_deref()));
                let mut recs = f.records()?;
                while let Some(r) = recs.next_record()? {
                    c.note(&r, false);
                }
            }
        }
        for (kind, n) in Counted::ALL.iter().zip(c.kinds) {
            if n > 0 {
                c.report.events_read.insert(kind.name().into(), n);
            }
        }
        Ok(c)
    }

    /// Every pass but the last; the metadata.
    fn prepare(&mut self, opts: ImportOptions) -> Result<(), ImportError> {
        let Count {
            mut report,
            facts,
            link,
            link_ordered,
            records,
            spec,
            kinds,
            ..
        } = self.count(&opts)?;
        if report.reordered > 0 {
            report.warnings.push(format!(
                "{} events were out of time order (per-CPU blocks concatenated?) and were merged by timestamp; events on different CPUs with equal timestamps keep file order",
                report.reordered
            ));
        }
        if report.lost_events > 0 {
            report.warnings.push(format!(
                "the capture lost {} events: rmaps are missing adds and removals, so every figure is a lower or upper bound, not exact; record again with a larger buffer (trace-cmd record -b, perf record -m) — --strict refuses this trace",
                report.lost_events
            ));
        }
        let count = |k: Counted| kinds[k as usize];
        let set_spte = count(Counted::SetSpte);
        // kvmmmu records other than adds (markers are not kvmmmu events).
        let others: u64 = [Counted::GetPage, Counted::ZapPage, Counted::Walk]
            .into_iter()
            .map(count)
            .sum::<u64>()
            + report.events_unused.values().sum::<u64>();
        if set_spte == 0 && others == 0 {
            return Err(ImportError::NoKvmmmu {
                format: report.format.clone(),
                lines: report.lines.unwrap_or(records),
            });
        }
        if set_spte == 0 {
            return Err(ImportError::NoAdds {
                format: report.format.clone(),
                set_spte,
                other: others,
            });
        }
        if count(Counted::GetPage) == 0 && count(Counted::ZapPage) == 0 {
            return Err(ImportError::NoShadowPages {
                format: report.format.clone(),
            });
        }
        let zap_only = facts.zap_only();
        // VMs.
        let mut groups: Vec<(Option<u64>, Vec<u64>)>;
        // Pass 1's inference, when it is the final pass's answer (one VM found by links).
        let mut reusable = None;
        if opts.one_vm {
            report.vm_rule = vms::RULE_ONE_VM.into();
            groups = vec![(None, facts.all_tids())];
        } else if facts.has_tgid {
            report.vm_rule = vms::RULE_TGID.into();
            groups = facts.by_tgid();
        } else {
            report.vm_rule = vms::RULE_LINKS.into();
            let mut link = match link {
                Some(l) if link_ordered => l,
                _ => {
                    self.begin("import: linking threads");
                    let mut l = Inference::new(opts.recycle_threshold, VmMap::default());
                    l.raw_addresses = opts.raw_addresses;
                    l.zap_only = zap_only.clone();
                    dry_run(&self.file, &mut l, &VmMap::default(), None)?;
                    l
                }
            };
            link.resolve_links(&zap_only);
            groups = link.linked_tasks().into_iter().map(|g| (None, g)).collect();
            if groups.len() == 1 && opts.vm.is_none() {
                reusable = Some(link);
            }
        }
        if groups.len() > infer::MAX_VMS as usize {
            return Err(ImportError::TooManyVms(groups.len()));
        }
        let mut vms = VmMap::default();
        for (i, (_, tids)) in groups.iter().enumerate() {
            for &t in tids {
                vms.vm_of_tid.insert(t, i as u32);
            }
        }
        let linked = !opts.one_vm && !facts.has_tgid;
        // Tasks that only zap are not linked: with one VM they are its (its teardown); with
        // several, a pass pins each to the VM whose pages it zaps.
        if linked && groups.len() == 1 {
            for &t in &zap_only {
                if !groups[0].1.contains(&t) {
                    groups[0].1.push(t);
                }
                vms.vm_of_tid.insert(t, 0);
            }
            groups[0].1.sort_unstable();
        }
        let mut attributed = 0;
        if linked && groups.len() > 1 && !zap_only.is_empty() {
            self.passes += 1;
            self.begin("import: pinning teardown threads to their VMs");
            let mut dry = Inference::new(opts.recycle_threshold, vms.clone());
            dry_run(&self.file, &mut dry, &vms, None)?;
            for &t in &zap_only {
                if let Some(&vm) = dry.zapper_vm.get(&t) {
                    vms.vm_of_tid.insert(t, vm);
                    if let Some(g) = groups.get_mut(vm as usize) {
                        g.1.push(t);
                        g.1.sort_unstable();
                    }
                }
            }
            attributed = dry.stats.zaps_attributed_by_idleness;
        }
        report.vms = groups
            .iter()
            .enumerate()
            .map(|(i, (tgid, tids))| VmInfo {
                index: i as u32,
                tgid: *tgid,
                tids: tids.clone(),
                vcpus: tids.iter().filter(|t| facts.installers.contains(t)).count() as u32,
                max_rmap_size: 0,
            })
            .collect();
        let keep = match opts.vm {
            None => None,
            Some(id) => match report
                .vms
                .iter()
                .find(|v| v.tgid == Some(id) || v.tids.contains(&id))
            {
                Some(v) => Some(v.index),
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
            },
        };
        report.kept_vm = keep;
        // With process ids and records in time order, the counting pass ran the last pass's
        // inference already, unless a thread zapped before its first task event.
        if reusable.is_none() && facts.has_tgid && link_ordered && keep.is_none() && !opts.one_vm {
            if let Some(sp) = spec {
                if sp
                    .early_zappers
                    .iter()
                    .all(|t| !vms.vm_of_tid.contains_key(t))
                    && sp.vm_of_tgid.len() == groups.len()
                {
                    reusable = Some(sp.engine);
                }
            }
        }
        // The engine of the last pass, and its counts before any event is given out.
        let (engine_vms, stats_engine) = match reusable {
            // Pass 1's inference was that engine: one VM found by links (as one VM, the
            // zap-only threads only zapping), or the VMs by process id.
            Some(link) if facts.has_tgid => (vms.clone(), link),
            Some(link) => (VmMap::default(), link),
            None => {
                self.passes += 1;
                self.begin("import: inferring removals");
                let mut e = Inference::new(opts.recycle_threshold, vms.clone());
                e.raw_addresses = opts.raw_addresses;
                dry_run(&self.file, &mut e, &vms, keep)?;
                (vms.clone(), e)
            }
        };
        report.inference = stats_engine.stats;
        report.inference.zaps_attributed_by_idleness += attributed;
        for v in &mut report.vms {
            v.max_rmap_size = stats_engine
                .max_rmap_size
                .get(&v.index)
                .copied()
                .unwrap_or(0);
        }
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
        self.finish_meta(&report, &opts);
        let mut engine = Inference::new(opts.recycle_threshold, engine_vms.clone());
        engine.raw_addresses = opts.raw_addresses;
        if engine_vms.vm_of_tid.is_empty() {
            engine.zap_only = zap_only;
        }
        self.engine = engine;
        self.vms = engine_vms;
        self.keep = keep;
        self.begin("import: emitting events");
        self.records = Some(self.file.ordered()?);
        Ok(())
    }

    fn finish_meta(&mut self, report: &ImportReport, opts: &ImportOptions) {
        let meta = &mut self.meta;
        meta.source = Some(format!("kvmmmu capture: {}", report.format));
        meta.anonymised = Some(!opts.raw_addresses);
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
        if let Ok(v) = serde_json::to_value(report) {
            meta.extra.insert(META_KEY.into(), v);
        }
    }

    /// The trace's metadata (with the import report).
    pub fn meta(&self) -> &TraceMeta {
        &self.meta
    }

    /// Which capture this is.
    pub fn format(&self) -> CaptureFormat {
        self.file.format()
    }

    /// Up to `max` more events appended to `out`; how many (0 at the end).
    pub fn next_batch(&mut self, out: &mut Vec<Event>, max: usize) -> Result<usize, ImportError> {
        let start = out.len();
        while out.len() - start < max {
            if let Some(e) = self.engine.pop() {
                out.push(e);
                continue;
            }
            let Some(recs) = self.records.as_mut() else {
                break;
            };
            match recs.next()? {
                Some(r) => {
                    if kept(&r, &self.vms, self.keep) {
                        self.engine.on_record(&r);
                    }
                }
                None => self.records = None,
            }
        }
        Ok(out.len() - start)
    }
}

/// ` (what)`, or nothing.
fn in_parens(what: Option<&str>) -> String {
    what.map(|w| format!(" ({w})")).unwrap_or_default()
}

/// Import a whole in-memory capture (tests, fuzzing, benchmarks).
pub fn import_all(
    format: CaptureFormat,
    bytes: &[u8],
    opts: ImportOptions,
) -> Result<(TraceMeta, Vec<Event>), ImportError> {
    let src = Shared::new(
        Box::new(std::io::Cursor::new(bytes)),
        Some(bytes.len() as u64),
        None,
    );
    let mut s = CaptureStream::open(src, format, None, Ruzstd::factory, opts)?;
    let mut events = Vec::new();
    while s.next_batch(&mut events, usize::MAX)? > 0 {}
    Ok((s.meta.clone(), events))
}
