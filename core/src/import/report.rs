//! What an import saw and decided, kept in the trace's metadata (under [`super::META_KEY`]) and
//! printed by `import`, `replay` and the playground.

use super::infer::InferStats;
use super::{MAX_LOST_LISTED, META_KEY};
use crate::trace::TraceMeta;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a capture said events were lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostAt {
    /// CPU, where known.
    pub cpu: Option<u32>,
    /// Timestamp (ns), where known.
    pub ts_ns: Option<u64>,
    /// Text line, for text captures.
    pub line: Option<u64>,
    /// Events lost (`None`: the capture did not say how many; counted as 1).
    pub count: Option<u64>,
}

/// One VM found in a capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmInfo {
    /// Index in rmap ids.
    pub index: u32,
    /// VMM process id, where the capture records it.
    pub tgid: Option<u64>,
    /// Its threads that produced kvmmmu events (vCPUs, and VMM threads that zapped pages).
    pub tids: Vec<u64>,
    /// Of those, the threads that installed SPTEs (vCPUs).
    pub vcpus: u32,
    /// KVM's `max_mmu_rmap_size` for this VM as the capture shows it (the largest rmap size
    /// before an add; KVM keeps the stat per VM).
    pub max_rmap_size: u64,
}

/// What an import read, used, skipped and inferred — printed by `import` and `replay`, kept in
/// the trace's metadata under [`META_KEY`], shown in the playground.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// The capture's format, e.g. `trace.dat v7 (zstd)`.
    pub format: String,
    /// Text lines read (text captures).
    pub lines: Option<u64>,
    /// Text lines that were not kvmmmu events (headers, other events).
    pub lines_skipped: u64,
    /// kvmmmu records read, per event.
    pub events_read: BTreeMap<String, u64>,
    /// kvmmmu events rmaplab does not use, per event.
    pub events_unused: BTreeMap<String, u64>,
    /// What the inference did.
    pub inference: InferStats,
    /// Events the capture says were lost (unknown counts count 1).
    pub lost_events: u64,
    /// Where (the first few).
    pub lost_at: Vec<LostAt>,
    /// Records that were out of time order in the file and were merged by timestamp.
    pub reordered: u64,
    /// How VMs were told apart.
    pub vm_rule: String,
    /// The VMs found.
    pub vms: Vec<VmInfo>,
    /// The VM kept by `--vm`, if one was chosen.
    pub kept_vm: Option<u32>,
    /// Warnings, one sentence each.
    pub warnings: Vec<String>,
}

impl ImportReport {
    /// The report from a trace's metadata, if it has one.
    pub fn from_meta(meta: &TraceMeta) -> Option<Self> {
        serde_json::from_value(meta.extra.get(META_KEY)?.clone()).ok()
    }

    /// Human-readable lines.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let read: Vec<String> = self
            .events_read
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let lines = self
            .lines
            .map(|l| format!("{l} lines ({} not kvmmmu events); ", self.lines_skipped))
            .unwrap_or_default();
        out.push(format!(
            "import: {}: {lines}kvmmmu events read: {}",
            self.format,
            if read.is_empty() {
                "none".into()
            } else {
                read.join(", ")
            }
        ));
        if !self.events_unused.is_empty() {
            let u: Vec<String> = self
                .events_unused
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            out.push(format!("  not used: {}", u.join(", ")));
        }
        let i = &self.inference;
        out.push(format!(
            "  adds {}; removals inferred: {} from zapped shadow pages, {} pfn/gfn replacements, {} from re-faults; recycle zaps {}; SPTE pages with no shadow page known {}; zapped pages that held no traced SPTE {}",
            i.adds, i.zap_removes, i.replaced, i.inferred_drops, i.recycles, i.unmatched_pages, i.zaps_unmatched
        ));
        if i.zaps_attributed_by_idleness > 0 {
            out.push(format!(
                "  attributed: {} zaps by a thread outside every VM (a VMM tearing its VM down) of a shadow page several VMs held were given to the VM whose vCPUs had been idle longest, and the thread pinned to it; record process ids (perf, or tracefs options/record-tgid) to know instead",
                i.zaps_attributed_by_idleness
            ));
        }
        if self.reordered > 0 {
            out.push(format!(
                "  order: {} events were out of time order in the file and were merged by timestamp",
                self.reordered
            ));
        }
        let vms: Vec<String> = self
            .vms
            .iter()
            .map(|v| {
                let who = v
                    .tgid
                    .map(|t| format!("pid {t}"))
                    .unwrap_or_else(|| format!("VM {}", v.index));
                let tids: Vec<String> = v.tids.iter().map(u64::to_string).collect();
                format!(
                    "{who}: {} vCPUs (threads {}), max_mmu_rmap_size {}",
                    v.vcpus,
                    tids.join(","),
                    v.max_rmap_size
                )
            })
            .collect();
        out.push(format!(
            "  VMs: {} — {}{}",
            self.vms.len(),
            vms.join("; "),
            self.kept_vm
                .map(|k| format!("; kept VM {k} only"))
                .unwrap_or_default()
        ));
        out.push(format!("  VMs told apart by: {}", self.vm_rule));
        if self.lost_events > 0 {
            let places: Vec<String> = self
                .lost_at
                .iter()
                .map(|l| {
                    let mut at = Vec::new();
                    if let Some(line) = l.line {
                        at.push(format!("line {line}"));
                    }
                    if let Some(cpu) = l.cpu {
                        at.push(format!("CPU {cpu}"));
                    }
                    if let Some(ts) = l.ts_ns {
                        at.push(format!("{:.6} s", ts as f64 / 1e9));
                    }
                    let n = l
                        .count
                        .map_or_else(|| "an unknown number".to_string(), |n| n.to_string());
                    format!("{n} at {}", at.join(" "))
                })
                .collect();
            let more = if self.lost_at.len() == MAX_LOST_LISTED {
                ", …"
            } else {
                ""
            };
            out.push(format!(
                "  LOST EVENTS: {} ({}{more})",
                self.lost_events,
                places.join("; ")
            ));
        }
        for w in &self.warnings {
            out.push(format!("  warning: {w}"));
        }
        out
    }
}
