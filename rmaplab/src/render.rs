//! Rendering replay results, size tables and list dumps as text tables (the columns come from
//! core's metric registry; CSV and JSON are written by core too).

use rmaplab_core::changelog::text_table;
use rmaplab_core::columns::{table_metrics, Row};
use rmaplab_core::config::KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE;
use rmaplab_core::histogram::RmapHistogram;
use rmaplab_core::memory::HostShape;
use rmaplab_core::replay::{ReplaySummary, RmapDump};
use rmaplab_core::rmap::HeadKind;
use rmaplab_core::sizes::{SizeRow, SPLIT_DESC_CACHE_CAPACITY, SPLIT_DESC_CACHE_MIN_NR_OBJECTS};
use std::fmt::Write;

/// A left-aligned first column and right-aligned others (core's table renderer, unsplit).
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    text_table(header, rows, usize::MAX)
}

/// The human-readable replay report; memory figures for `host`.
pub fn replay_table(s: &ReplaySummary, host: HostShape) -> String {
    let mut out = String::new();
    let m = &s.meta;
    let _ = writeln!(
        out,
        "trace: {} events ({} add, {} remove, {} zap, {} walk, {} fault, {} stat, {} mark)",
        s.events,
        s.counts.add,
        s.counts.remove,
        s.counts.zap,
        s.counts.walk,
        s.counts.fault,
        s.counts.stat,
        s.counts.mark
    );
    let mut prov: Vec<String> = m
        .provenance()
        .into_iter()
        .map(|(what, v)| format!("{what}: {v}"))
        .collect();
    if let Some(t) = m.tdp {
        prov.push(format!("tdp: {}", if t { "on" } else { "off" }));
    }
    if !prov.is_empty() {
        let _ = writeln!(out, "{}", prov.join("; "));
    }
    out.push('\n');
    let metrics: Vec<_> = table_metrics().collect();
    let header: Vec<&str> = metrics.iter().map(|m| m.header).collect();
    let rows: Vec<Vec<String>> = s
        .configs
        .iter()
        .map(|c| {
            let row = Row::new(c, host);
            metrics.iter().map(|m| m.text(&row)).collect()
        })
        .collect();
    out.push_str(&table(&header, &rows));
    let _ = writeln!(
        out,
        "\nmemory for {} vCPUs per VM and {} per host (--vcpus, --vms); columns:",
        host.vcpus,
        if host.vms == 1 {
            "1 VM".to_string()
        } else {
            format!("{} VMs", host.vms)
        }
    );
    for m in metrics.iter().skip(1) {
        let _ = writeln!(out, "  {:<13} {}", m.header, m.doc);
    }
    if s.configs.iter().any(|c| !c.vm_peak_descs.is_empty()) {
        out.push_str("
per VM (the trace holds several; B/VM and pages/VM are the worst VM's): descriptors at each VM's own peak
");
        for c in &s.configs {
            let vms: Vec<String> = c
                .vm_peak_descs
                .iter()
                .enumerate()
                .map(|(i, p)| format!("VM {i} {p}"))
                .collect();
            let _ = writeln!(out, "  {:<14}  {}", c.label, vms.join(", "));
        }
    }
    if !s.stat_checks.is_empty() {
        let bad: Vec<_> = s.stat_checks.iter().filter(|c| !c.matches).collect();
        let _ = writeln!(
            out,
            "\nKVM's own counters: {} checked, {} reproduced, {} MISMATCHED",
            s.stat_checks.len(),
            s.stat_checks.len() - bad.len(),
            bad.len()
        );
        for c in s.stat_checks.iter().filter(|c| !c.matches).take(20) {
            let _ = writeln!(
                out,
                "  MISMATCH at event {}: {} — KVM says {}, the model says {}",
                c.event, c.name, c.kvm, c.model
            );
        }
        if let Some(last) = s.stat_checks.last() {
            let _ = writeln!(
                out,
                "  last: {} = {} (KVM) vs {} (model) at event {}",
                last.name, last.kvm, last.model, last.event
            );
        }
    }
    if !s.notes.is_empty() {
        out.push_str("\nnotes:\n");
        for n in &s.notes {
            let _ = writeln!(out, "  - {n}");
        }
    }
    let _ = writeln!(
        out,
        "\nrmap sizes when the rmaps held the most entries ({}), as debugfs mmu_rmaps_stat prints them (column = ffs(count)):",
        s.peak_entries
    );
    out.push_str(&s.histogram_at_peak.kernel_text());
    out.push_str(&log2_text(&s.histogram_at_peak));
    out.push_str("\nat the end of the trace:\n");
    out.push_str(&s.histogram.kernel_text());
    out
}

fn log2_text(h: &RmapHistogram) -> String {
    let labels = RmapHistogram::log2_labels();
    let mut out = String::from("true log2 histogram (non-empty rmaps):\n");
    let mut header = vec!["level"];
    header.extend(labels.iter().map(String::as_str));
    let rows: Vec<Vec<String>> = ["4K", "2M", "1G"]
        .iter()
        .zip(h.log2.iter())
        .map(|(l, row)| {
            let mut r = vec![(*l).to_string()];
            r.extend(row.iter().map(u64::to_string));
            r
        })
        .collect();
    out.push_str(&table(&header, &rows));
    out
}

/// `rmaplab sizes` as a table.
pub fn sizes_table(rows: &[SizeRow]) -> String {
    let header = [
        "entries",
        "obj bytes",
        "objs/4K page",
        "cache objs",
        "per-vCPU cache B",
        "vCPUs",
        "all caches B",
        "cache pages",
        "extra vs smallest B",
        "split cache B",
    ];
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.entries.to_string(),
                r.desc_bytes.to_string(),
                r.objs_per_slab_page.to_string(),
                r.cache_capacity.to_string(),
                r.per_vcpu_cache_bytes.to_string(),
                r.vcpus.to_string(),
                r.total_cache_bytes.to_string(),
                r.cache_slab_pages.to_string(),
                r.extra_vs_smallest_bytes.to_string(),
                r.split_cache_bytes.to_string(),
            ]
        })
        .collect();
    let mut out = table(&header, &body);
    if let (Some(small), Some(_)) = (rows.iter().min_by_key(|r| r.entries), rows.first()) {
        let _ = writeln!(
            out,
            "\nobject = {} B header + 8 B x entries ({} era); each extra entry costs 8 B x {} objects x {} vCPUs = {} B;",
            small.desc_bytes - 8 * small.entries,
            small.era,
            small.cache_capacity,
            small.vcpus,
            8 * small.cache_capacity * small.vcpus
        );
        let _ = writeln!(
            out,
            "cache pages = 4 KiB slab pages the vCPUs' full caches pin ({} objects of this size to a page);\n\
             split cache = the per-VM eager page-split cache at its real fill, {SPLIT_DESC_CACHE_CAPACITY} objects\n\
             (SPLIT_DESC_CACHE_MIN_NR_OBJECTS {SPLIT_DESC_CACHE_MIN_NR_OBJECTS} + {KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE}), held while eager page splitting runs.",
            small.objs_per_slab_page
        );
    }
    out
}

/// `--dump-lists` as text.
pub fn dump_text(label: &str, dumps: &[RmapDump]) -> String {
    let mut out = format!(
        "non-empty rmaps at the end under {label}: {}\n",
        dumps.len()
    );
    for d in dumps {
        let level = match d.level {
            1 => "4K".to_string(),
            2 => "2M".to_string(),
            3 => "1G".to_string(),
            l => format!("level {l}"),
        };
        let gfn = d.gfn.map_or_else(|| "?".to_string(), |g| format!("{g:#x}"));
        let kind = match d.kind {
            rmaplab_core::RmapKind::Gfn => "gfn rmap",
            rmaplab_core::RmapKind::Parent => "parent list",
        };
        let _ = write!(
            out,
            "rmap {:#x} ({kind}, gfn {gfn}, {level}): {} entries, head ",
            d.rmap, d.count
        );
        match d.list.head() {
            HeadKind::Empty => out.push_str("empty\n"),
            HeadKind::Single => {
                let _ = writeln!(out, "= spte {:#x}", d.list.single().unwrap_or_default());
            }
            HeadKind::Many => {
                let _ = writeln!(out, "= MANY -> {} descriptors", d.list.descs().len());
                for (i, desc) in d.list.descs().iter().enumerate() {
                    let _ = write!(
                        out,
                        "  desc {i} (object {}): spte_count {}",
                        desc.object, desc.spte_count
                    );
                    if let Some(t) = desc.tail_count {
                        let _ = write!(out, ", tail_count {t}");
                    }
                    out.push(':');
                    for s in &desc.sptes {
                        let _ = write!(out, " {s:#x}");
                    }
                    out.push('\n');
                }
            }
        }
    }
    out
}
