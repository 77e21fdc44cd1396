//! Rendering replay results, size tables and list dumps as text tables, CSV and JSON.

use rmaplab_core::histogram::RmapHistogram;
use rmaplab_core::replay::{ConfigReport, ReplaySummary, RmapDump};
use rmaplab_core::rmap::HeadKind;
use rmaplab_core::sizes::SizeRow;
use std::fmt::Write;

/// A left-aligned first column and right-aligned others.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        for (i, c) in cells.iter().enumerate() {
            if i == 0 {
                let _ = write!(out, "{:<w$}", c, w = widths[i]);
            } else {
                let _ = write!(out, "  {:>w$}", c, w = widths[i]);
            }
        }
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
        &mut out,
    );
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

fn f2(v: f64) -> String {
    format!("{v:.2}")
}

const REPLAY_COLUMNS: [&str; 18] = [
    "config",
    "obj B",
    "allocs",
    "slab allocs",
    "frees",
    "peak descs",
    "peak bytes",
    "avg bytes",
    "unused@peak",
    "idle cache B",
    "max rmap",
    "recycles",
    "anomalies",
    "descs/add",
    "descs/remove",
    "descs/chain@peak",
    "lines/add",
    "lines/remove",
];

fn replay_row(c: &ConfigReport) -> Vec<String> {
    vec![
        c.label.clone(),
        c.desc_bytes.to_string(),
        c.allocations.to_string(),
        c.slab_allocations.to_string(),
        c.frees.to_string(),
        c.peak_descs.to_string(),
        c.peak_bytes.to_string(),
        format!("{:.0}", c.avg_desc_bytes),
        c.unused_slots_at_peak.to_string(),
        c.cache_idle_bytes.to_string(),
        c.max_rmap_size.to_string(),
        c.recycles.to_string(),
        c.anomalies.to_string(),
        f2(c.add_cost.descs.mean()),
        f2(c.remove_cost.descs.mean()),
        f2(c.descs_per_chain_at_peak),
        f2(c.add_cost.lines.mean()),
        f2(c.remove_cost.lines.mean()),
    ]
}

/// The human-readable replay report.
pub fn replay_table(s: &ReplaySummary) -> String {
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
    let mut prov = Vec::new();
    if let Some(w) = &m.workload {
        prov.push(format!("workload: {w}"));
    }
    if let Some(src) = &m.source {
        prov.push(format!("source: {src}"));
    }
    if let Some(k) = &m.kernel {
        prov.push(format!("kernel: {k}"));
    }
    if let Some(v) = &m.vendor_module {
        prov.push(format!("module: {v}"));
    }
    if let Some(t) = m.tdp {
        prov.push(format!("tdp: {}", if t { "on" } else { "off" }));
    }
    if !prov.is_empty() {
        let _ = writeln!(out, "{}", prov.join("; "));
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = s.configs.iter().map(replay_row).collect();
    out.push_str(&table(&REPLAY_COLUMNS, &rows));
    out.push_str(
        "\nallocs = descriptors taken from vCPU caches; slab allocs = objects the caches pulled from the slab;\n\
         idle cache B = bytes left in vCPU caches at the end; descs/chain@peak = descriptors a full walk of a multi-entry rmap visits, at the peak.\n",
    );
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

/// CSV with one row per configuration.
pub fn replay_csv(s: &ReplaySummary) -> String {
    let mut out = String::from(
        "label,entries,era,cache_capacity,cache_min,recycle_threshold,desc_bytes,objs_per_slab_page,allocations,empty_cache_allocations,slab_allocations,frees,live_descs,live_bytes,peak_descs,peak_bytes,avg_desc_bytes,unused_slots,unused_slots_at_peak,slab_objects_peak,slab_pages,cache_idle_bytes,cache_idle_bytes_peak,vcpus_seen,cache_bytes_per_vcpu,max_rmap_size,stat_checks,stat_mismatches,recycles,anomalies,add_descs_mean,add_descs_max,remove_descs_mean,remove_descs_max,walk_descs_mean,descs_per_chain_at_peak,add_lines_mean,remove_lines_mean,zap_descs_mean\n",
    );
    for c in &s.configs {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.2},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.4},{},{:.4},{},{:.4},{:.4},{:.4},{:.4},{:.4}",
            c.label, c.entries, c.era, c.cache_capacity, c.cache_min,
            c.recycle_threshold.map_or_else(|| "off".to_string(), |t| t.to_string()),
            c.desc_bytes, c.objs_per_slab_page, c.allocations, c.empty_cache_allocations,
            c.slab_allocations, c.frees, c.live_descs, c.live_bytes, c.peak_descs, c.peak_bytes,
            c.avg_desc_bytes, c.unused_slots, c.unused_slots_at_peak, c.slab_objects_peak,
            c.slab_pages, c.cache_idle_bytes, c.cache_idle_bytes_peak, c.vcpus_seen,
            c.cache_bytes_per_vcpu, c.max_rmap_size, c.stat_checks, c.stat_mismatches, c.recycles,
            c.anomalies, c.add_cost.descs.mean(), c.add_cost.descs.max, c.remove_cost.descs.mean(),
            c.remove_cost.descs.max, c.walk_cost.descs.mean(), c.descs_per_chain_at_peak,
            c.add_cost.lines.mean(), c.remove_cost.lines.mean(), c.zap_cost.descs.mean()
        );
    }
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
                r.extra_vs_smallest_bytes.to_string(),
                r.split_cache_bytes.to_string(),
            ]
        })
        .collect();
    let mut out = table(&header, &body);
    if let (Some(small), Some(_)) = (rows.iter().min_by_key(|r| r.entries), rows.first()) {
        let _ = writeln!(
            out,
            "\nobject = 16 B header + 8 B x entries ({} era); each extra entry costs 8 B x {} objects x {} vCPUs = {} B;",
            small.era,
            small.cache_capacity,
            small.vcpus,
            8 * small.cache_capacity * small.vcpus
        );
        let _ = writeln!(
            out,
            "split cache = the per-VM eager page-split cache of 513 objects (nested MMUs)."
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
        match d.list.head {
            HeadKind::Empty => out.push_str("empty\n"),
            HeadKind::Single => {
                let _ = writeln!(out, "= spte {:#x}", d.list.single.unwrap_or_default());
            }
            HeadKind::Many => {
                let _ = writeln!(out, "= MANY -> {} descriptors", d.list.descs.len());
                for (i, desc) in d.list.descs.iter().enumerate() {
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
