//! The metric registry: every per-configuration result the front-ends show — its key (CSV and
//! JSON), table header, unit, meaning and decimals — defined once. The CLI's table, CSV and
//! JSON and the page's table and CSV are all drawn from [`METRICS`], so a column cannot exist in
//! one and be forgotten in another.

use crate::exactness::{self, Dependence, Exactness};
use crate::memory::{Footprint, HostShape};
use crate::recommend::work_per_op;
use crate::replay::ConfigReport;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// What a metric counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// A name or setting.
    Text,
    /// A plain count (allocations, events, entries).
    Count,
    /// Bytes.
    Bytes,
    /// 4 KiB slab pages.
    Pages,
    /// Descriptors visited, per operation.
    DescsPerOp,
    /// Distinct 64-byte cache lines touched, per operation.
    LinesPerOp,
}

impl Unit {
    /// The unit as a chart axis or header suffix names it.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Text => "",
            Unit::Count => "count",
            Unit::Bytes => "bytes",
            Unit::Pages => "4 KiB pages",
            Unit::DescsPerOp => "descriptors per operation",
            Unit::LinesPerOp => "cache lines per operation",
        }
    }
}

/// Which way a metric is better, for marking the best value in a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Better {
    /// Smaller is better (memory, work, allocations).
    Lower,
    /// Not a figure of merit (settings, counts that only describe the trace).
    Neither,
}

/// One metric's value for one configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// An integer.
    Int(u64),
    /// A real number.
    Float(f64),
    /// A name or setting.
    Text(String),
}

impl Value {
    /// The value as a number (text is not a number).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(v) => Some(*v as f64),
            Value::Float(v) => Some(*v),
            Value::Text(_) => None,
        }
    }
}

/// What a metric is computed from: one configuration's report and its footprint on the host.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// The replay's report.
    pub report: &'a ConfigReport,
    /// Its memory on the host.
    pub footprint: Footprint,
    /// The host.
    pub host: HostShape,
}

impl<'a> Row<'a> {
    /// The row for `report` on `host`.
    pub fn new(report: &'a ConfigReport, host: HostShape) -> Self {
        Row {
            report,
            footprint: Footprint::of(report, host),
            host,
        }
    }
}

/// One per-configuration result.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// CSV column and JSON key.
    pub key: &'static str,
    /// Short table header.
    pub header: &'static str,
    /// Unit.
    pub unit: Unit,
    /// What it means, one sentence (tooltips, `--help`, docs).
    pub doc: &'static str,
    /// Decimals shown.
    pub decimals: u8,
    /// Shown in the compact tables (CLI table, the page); every metric is in CSV and JSON.
    pub in_table: bool,
    /// Which way is better.
    pub better: Better,
    /// What the column is: the configuration's own settings, or a result of the replay.
    pub role: Role,
    /// A value above 0 is a warning (an anomaly, a dry allocation): the front-ends mark it.
    pub warn_nonzero: bool,
    value: fn(&Row<'_>) -> Value,
}

/// What a column of the registry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The configuration's name (the row header of every table).
    Label,
    /// A setting of the configuration or what follows from it alone (its object size): equal
    /// in two traces replayed through the same configuration.
    Setting,
    /// What the replay found.
    Result,
}

impl Metric {
    /// The metric's value for `row`.
    pub fn value(&self, row: &Row<'_>) -> Value {
        (self.value)(row)
    }

    /// The value as text, with this metric's decimals.
    pub fn format(&self, v: &Value) -> String {
        match v {
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format!("{f:.prec$}", prec = usize::from(self.decimals)),
            Value::Text(t) => t.clone(),
        }
    }

    /// `v` for reading on a page: as [`Metric::format`], integers with thousands separators
    /// (`41,781,216`). Exports keep [`Metric::format`]'s plain digits.
    pub fn format_grouped(&self, v: &Value) -> String {
        match v {
            Value::Int(i) => group_thousands(*i),
            // Whole numbers written without decimals read the same way.
            Value::Float(f) if self.decimals == 0 && f.is_finite() && *f >= 0.0 => {
                group_thousands(f.round() as u64)
            }
            v => self.format(v),
        }
    }

    /// [`Metric::text`] for reading on a page or in a comparison: thousands separated
    /// ([`Metric::format_grouped`]), marked the same way.
    pub fn text_grouped(&self, row: &Row<'_>) -> String {
        self.marked(row, &self.format_grouped(&self.value(row)))
    }

    /// Whether `row`'s value of this metric may be called the best of its column: only where
    /// it is exact (the row is, or the metric does not depend on removals); a bound or an
    /// unknown is never the best.
    pub fn may_be_best(&self, row: &Row<'_>) -> bool {
        row.report.exactness.is_exact() || self.dependence() == Dependence::Independent
    }

    /// The metric's text for `row`, marked as a bound (`<=`) or unknown (`?`) when the row's
    /// figures are not exact and this metric depends on removals the trace may miss.
    pub fn text(&self, row: &Row<'_>) -> String {
        self.marked(row, &self.format(&self.value(row)))
    }

    /// `text` (this metric's value for `row`, formatted) marked for what it is.
    pub fn marked(&self, row: &Row<'_>, text: &str) -> String {
        exactness::mark(text, self.dependence(), row.report.exactness.is_exact())
    }

    /// How this metric behaves when the trace may miss removals: list sizes, peaks and what is
    /// built on them are upper bounds; counts and costs that missing removals move either way
    /// are unknown; settings, object sizes and full caches do not depend on removals.
    pub fn dependence(&self) -> Dependence {
        match self.key {
            "live_descs"
            | "live_bytes"
            | "peak_descs"
            | "peak_bytes"
            | "unused_slots"
            | "unused_slots_at_peak"
            | "slab_objects_peak"
            | "slab_pages"
            | "vm_bytes"
            | "vm_slab_pages"
            | "vm_slab_bytes"
            | "host_bytes"
            | "host_slab_pages"
            | "max_rmap_size"
            | "descs_per_chain_at_peak" => Dependence::UpperBound,
            "allocations"
            | "cache_dry_allocs"
            | "slab_allocations"
            | "frees"
            | "avg_desc_bytes"
            | "cache_idle_bytes"
            | "cache_idle_bytes_peak"
            | "recycles"
            | "anomalies"
            | "add_descs_mean"
            | "add_descs_max"
            | "remove_descs_mean"
            | "remove_descs_max"
            | "walk_descs_mean"
            | "add_lines_mean"
            | "remove_lines_mean"
            | "zap_descs_mean"
            | "work_per_op"
            | "stat_mismatches" => Dependence::Unknown,
            _ => Dependence::Independent,
        }
    }
}

#[allow(clippy::too_many_arguments)] // reason: one positional row per metric keeps the table below readable
const fn metric(
    key: &'static str,
    header: &'static str,
    unit: Unit,
    decimals: u8,
    in_table: bool,
    better: Better,
    doc: &'static str,
    value: fn(&Row<'_>) -> Value,
) -> Metric {
    Metric {
        key,
        header,
        unit,
        doc,
        decimals,
        in_table,
        better,
        role: Role::Result,
        warn_nonzero: false,
        value,
    }
}

impl Metric {
    /// This column is the configuration's name.
    const fn label(mut self) -> Self {
        self.role = Role::Label;
        self
    }

    /// This column is a setting of the configuration (or follows from it alone).
    const fn setting(mut self) -> Self {
        self.role = Role::Setting;
        self
    }

    /// A value above 0 in this column is a warning.
    const fn warns(mut self) -> Self {
        self.warn_nonzero = true;
        self
    }

    /// Whether `v` is a value this column warns about.
    pub fn warns_at(&self, v: &Value) -> bool {
        self.warn_nonzero && v.as_f64().is_some_and(|x| x > 0.0)
    }
}

use Better::{Lower, Neither};
use Unit::{Bytes, Count, DescsPerOp, LinesPerOp, Pages, Text};

/// Every per-configuration metric, in column order.
pub static METRICS: &[Metric] = &[
    metric("label", "config", Text, 0, true, Neither, "entries/era, `seed:` when the seed's rule chose the size, `+lazy-topup` under the when-rmaps-used top-up policy", |r| Value::Text(r.report.label.clone())).label(),
    metric("entries", "N", Count, 0, false, Neither, "entries per descriptor", |r| Value::Int(r.report.entries as u64)).setting(),
    metric("era", "era", Text, 0, false, Neither, "kernel era of the list code", |r| Value::Text(r.report.era.to_string())).setting(),
    metric("topup", "top-up", Text, 0, false, Neither, "when vCPU caches are topped up: always (KVM) or when-rmaps-used (the seed's patch 4)", |r| Value::Text(r.report.topup.to_string())).setting(),
    metric("cache_capacity", "cache cap", Count, 0, false, Neither, "per-vCPU cache capacity", |r| Value::Int(r.report.cache_capacity as u64)).setting(),
    metric("cache_min", "cache min", Count, 0, false, Neither, "per-vCPU cache top-up minimum", |r| Value::Int(r.report.cache_min as u64)).setting(),
    metric("recycle_threshold", "recycle", Text, 0, false, Neither, "RMAP_RECYCLE_THRESHOLD, or off", |r| Value::Text(r.report.recycle_threshold.map_or_else(|| "off".to_string(), |t| t.to_string()))).setting(),
    metric("desc_bytes", "obj B", Bytes, 0, true, Lower, "sizeof(struct pte_list_desc): 16 + 8N (8 + 8N before v5.15)", |r| Value::Int(r.report.desc_bytes as u64)).setting(),
    metric("objs_per_slab_page", "objs/page", Count, 0, false, Neither, "objects per 4 KiB slab page", |r| Value::Int(r.report.objs_per_slab_page as u64)).setting(),
    metric("allocations", "allocs", Count, 0, true, Lower, "descriptors the list code took from vCPU caches", |r| Value::Int(r.report.allocations)),
    metric("cache_dry_allocs", "dry allocs", Count, 0, true, Lower, "allocations that found their vCPU's cache empty (KVM WARNs and falls back to an atomic allocation): what a small capacity risks", |r| Value::Int(r.report.empty_cache_allocations)).warns(),
    metric("slab_allocations", "slab allocs", Count, 0, true, Lower, "objects the caches (and dry allocations) pulled from the slab", |r| Value::Int(r.report.slab_allocations)),
    metric("frees", "frees", Count, 0, false, Lower, "descriptors freed to the slab", |r| Value::Int(r.report.frees)),
    metric("live_descs", "live descs", Count, 0, false, Lower, "descriptors in lists at the end", |r| Value::Int(r.report.live_descs)),
    metric("live_bytes", "live B", Bytes, 0, false, Lower, "descriptor bytes in lists at the end", |r| Value::Int(r.report.live_bytes)),
    metric("peak_descs", "peak descs", Count, 0, false, Lower, "descriptors in lists at their peak", |r| Value::Int(r.report.peak_descs)),
    metric("peak_bytes", "peak B", Bytes, 0, true, Lower, "descriptor bytes in lists at their peak", |r| Value::Int(r.report.peak_bytes)),
    metric("avg_desc_bytes", "avg B", Bytes, 0, true, Lower, "mean descriptor bytes in lists over the trace", |r| Value::Float(r.report.avg_desc_bytes)),
    metric("unused_slots", "unused", Count, 0, false, Lower, "empty entry slots in live descriptors at the end", |r| Value::Int(r.report.unused_slots)),
    metric("unused_slots_at_peak", "unused@peak", Count, 0, true, Lower, "empty entry slots in live descriptors when descriptors peaked", |r| Value::Int(r.report.unused_slots_at_peak)),
    metric("slab_objects_peak", "slab objs peak", Count, 0, false, Lower, "peak objects allocated from the slab, in lists and idle in the caches of the vCPUs the trace used", |r| Value::Int(r.report.slab_objects_peak)),
    metric("slab_pages", "slab pages", Pages, 0, false, Lower, "slab pages the replay carved for those objects (LIFO reuse, pages never returned)", |r| Value::Int(r.report.slab_pages)),
    metric("cache_idle_bytes", "idle cache B", Bytes, 0, false, Lower, "bytes left idle in vCPU caches at the end", |r| Value::Int(r.report.cache_idle_bytes)),
    metric("cache_idle_bytes_peak", "idle cache peak B", Bytes, 0, false, Lower, "peak bytes idle in vCPU caches", |r| Value::Int(r.report.cache_idle_bytes_peak)),
    metric("vcpus_seen", "vCPUs seen", Count, 0, false, Neither, "vCPUs whose caches the trace used", |r| Value::Int(r.report.vcpus_seen as u64)),
    metric("vcpus", "vCPUs", Count, 0, false, Neither, "vCPUs per VM the memory figures are for (the trace's, unless given)", |r| Value::Int(r.host.vcpus)),
    metric("vms", "VMs", Count, 0, false, Neither, "VMs per host the host figures are for", |r| Value::Int(r.host.vms)),
    metric("cache_bytes_per_vcpu", "cache B/vCPU", Bytes, 0, true, Lower, "one vCPU's full cache: capacity x object size (0 under when-rmaps-used while the VM has no rmaps)", |r| Value::Int(r.footprint.cache_bytes_per_vcpu)),
    metric("caches_bytes_per_vm", "caches B/VM", Bytes, 0, true, Lower, "all vCPUs' full caches", |r| Value::Int(r.footprint.caches_bytes_per_vm)),
    metric("split_cache_bytes", "split cache B", Bytes, 0, false, Lower, "the VM's eager page-split cache at its real fill (553 objects), while splitting runs", |r| Value::Int(r.footprint.split_cache_bytes)),
    metric("vm_bytes", "B/VM", Bytes, 0, true, Lower, "per VM at its worst: lists at the peak + full vCPU caches + the split cache", |r| Value::Int(r.footprint.vm_bytes)),
    metric("cache_slab_pages", "cache pages", Pages, 0, true, Lower, "4 KiB slab pages the VM's full vCPU caches pin", |r| Value::Int(r.footprint.cache_slab_pages)),
    metric("vm_slab_pages", "pages/VM", Pages, 0, true, Lower, "4 KiB slab pages holding the VM's objects at its worst (lists at the peak, full caches, split cache)", |r| Value::Int(r.footprint.vm_slab_pages)),
    metric("vm_slab_bytes", "page B/VM", Bytes, 0, false, Lower, "pages/VM in bytes: what the VM's descriptors cost the host", |r| Value::Int(r.footprint.vm_slab_bytes)),
    metric("host_bytes", "B/host", Bytes, 0, false, Lower, "bytes for all VMs of the host", |r| Value::Int(r.footprint.host_bytes)),
    metric("host_slab_pages", "pages/host", Pages, 0, false, Lower, "4 KiB slab pages for all VMs of the host", |r| Value::Int(r.footprint.host_slab_pages)),
    metric("max_rmap_size", "max rmap", Count, 0, true, Neither, "KVM's max_mmu_rmap_size: the largest list size seen before an add", |r| Value::Int(r.report.max_rmap_size)),
    metric("stat_checks", "stat checks", Count, 0, false, Neither, "KVM counters this configuration was compared against", |r| Value::Int(r.report.stat_checks)),
    metric("stat_mismatches", "stat mismatches", Count, 0, false, Lower, "of those, how many it did not reproduce", |r| Value::Int(r.report.stat_mismatches)),
    metric("recycles", "recycles", Count, 0, true, Neither, "rmaps zapped by the recycle rule", |r| Value::Int(r.report.recycles)),
    metric("anomalies", "anomalies", Count, 0, true, Lower, "events that cannot happen in the kernel (skipped)", |r| Value::Int(r.report.anomalies)).warns(),
    metric("add_descs_mean", "descs/add", DescsPerOp, 2, true, Lower, "descriptors visited per add", |r| Value::Float(r.report.add_cost.descs.mean())),
    metric("add_descs_max", "max descs/add", Count, 0, false, Lower, "most descriptors one add visited", |r| Value::Int(r.report.add_cost.descs.max)),
    metric("remove_descs_mean", "descs/remove", DescsPerOp, 2, true, Lower, "descriptors visited per remove", |r| Value::Float(r.report.remove_cost.descs.mean())),
    metric("remove_descs_max", "max descs/remove", Count, 0, false, Lower, "most descriptors one remove visited", |r| Value::Int(r.report.remove_cost.descs.max)),
    metric("walk_descs_mean", "descs/walk", DescsPerOp, 2, false, Lower, "descriptors visited per walk event", |r| Value::Float(r.report.walk_cost.descs.mean())),
    metric("descs_per_chain_at_peak", "descs/chain", DescsPerOp, 2, true, Lower, "descriptors a full walk of a multi-entry rmap visits, at the peak", |r| Value::Float(r.report.descs_per_chain_at_peak)),
    metric("add_lines_mean", "lines/add", LinesPerOp, 2, true, Lower, "distinct 64-byte cache lines touched per add", |r| Value::Float(r.report.add_cost.lines.mean())),
    metric("remove_lines_mean", "lines/remove", LinesPerOp, 2, true, Lower, "distinct 64-byte cache lines touched per remove", |r| Value::Float(r.report.remove_cost.lines.mean())),
    metric("zap_descs_mean", "descs/zap", DescsPerOp, 2, false, Lower, "descriptors visited per whole-list zap", |r| Value::Float(r.report.zap_cost.descs.mean())),
    metric("work_per_op", "work/op", DescsPerOp, 2, true, Lower, "descriptors visited per list operation (adds, removes, zaps, walks together)", |r| Value::Float(work_per_op(r.report))),
];

/// The metric with `key`.
pub fn metric_by_key(key: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| m.key == key)
}

/// The metrics of the compact tables.
pub fn table_metrics() -> impl Iterator<Item = &'static Metric> {
    METRICS.iter().filter(|m| m.in_table)
}

/// Quote a CSV field when it needs it (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// CSV, one row per configuration, every metric (the CLI's `--format csv` and the page's CSV
/// download).
pub fn csv(configs: &[ConfigReport], host: HostShape) -> String {
    let mut out = METRICS.iter().map(|m| m.key).collect::<Vec<_>>().join(",");
    out.push('\n');
    for c in configs {
        let row = Row::new(c, host);
        let cells: Vec<String> = METRICS
            .iter()
            .map(|m| {
                let v = m.value(&row);
                // CSV keeps more precision than the tables.
                let text = match v {
                    Value::Float(f) => format!("{f:.4}"),
                    other => m.format(&other),
                };
                csv_field(&m.marked(&row, &text))
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join(","));
    }
    out
}

/// Every metric of one configuration as a JSON object (key → value), for `--format json`.
pub fn json_metrics(
    c: &ConfigReport,
    host: HostShape,
) -> serde_json::Map<String, serde_json::Value> {
    let row = Row::new(c, host);
    METRICS
        .iter()
        .map(|m| {
            let v = match m.value(&row) {
                Value::Int(i) => serde_json::Value::from(i),
                Value::Float(f) => serde_json::Value::from(f),
                Value::Text(t) => serde_json::Value::from(t),
            };
            (m.key.to_string(), v)
        })
        .collect()
}

/// One configuration in the JSON results: its whole report, plus every registry metric under
/// `metrics`, and whether they are exact.
#[derive(Debug, Clone, Serialize)]
pub struct JsonConfig<'a> {
    /// The report.
    #[serde(flatten)]
    pub report: &'a ConfigReport,
    /// Every metric, by key.
    pub metrics: serde_json::Map<String, serde_json::Value>,
    /// Whether every metric is exact (the trace holds every removal, or KVM's counters rule the
    /// missing ones out).
    pub exact: bool,
    /// When not exact: which metrics are upper bounds, which are unknown, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_exact: Option<NotExact>,
}

/// The metrics a trace that may miss removals cannot give exactly (the JSON schema is in
/// `docs/removal-paths.md`, section 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotExact {
    /// Keys of the metrics that are upper bounds.
    pub bounds: Vec<String>,
    /// Keys of the metrics that are unknown (missing removals move them either way).
    pub unknown: Vec<String>,
    /// Why, one sentence per removal path the trace may miss.
    pub why: Vec<String>,
    /// What to record for exact figures.
    pub fix: String,
}

impl NotExact {
    /// The metrics `exactness` leaves bounded or unknown, or `None` when it is exact.
    pub fn of(exactness: &Exactness) -> Option<Self> {
        if exactness.is_exact() {
            return None;
        }
        let keys = |d: Dependence| {
            METRICS
                .iter()
                .filter(|m| m.dependence() == d)
                .map(|m| m.key.to_string())
                .collect()
        };
        Some(NotExact {
            bounds: keys(Dependence::UpperBound),
            unknown: keys(Dependence::Unknown),
            why: exactness.why(),
            fix: exactness::HOW_TO_GET_EXACT.to_string(),
        })
    }
}

/// The JSON results (the CLI's `--format json` and the page's JSON download).
pub fn json_rows(configs: &[ConfigReport], host: HostShape) -> Vec<JsonConfig<'_>> {
    configs
        .iter()
        .map(|c| JsonConfig {
            report: c,
            metrics: json_metrics(c, host),
            exact: c.exactness.is_exact(),
            not_exact: NotExact::of(&c.exactness),
        })
        .collect()
}

/// The best value of each metric over `configs` (`None` for metrics with no better side).
pub fn best_values(configs: &[ConfigReport], host: HostShape) -> Vec<Option<f64>> {
    let rows: Vec<Row<'_>> = configs.iter().map(|c| Row::new(c, host)).collect();
    METRICS
        .iter()
        .map(|m| match m.better {
            Better::Neither => None,
            Better::Lower => {
                let values: Vec<f64> = rows
                    .iter()
                    .filter(|r| m.may_be_best(r))
                    .filter_map(|r| m.value(r).as_f64())
                    .collect();
                let lowest = values.iter().copied().fold(f64::INFINITY, f64::min);
                let highest = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                // A column where every row is equal has no best.
                (lowest < highest).then_some(lowest)
            }
        })
        .collect()
}

/// `v` with a comma between each group of three digits (`41,781,216`).
pub fn group_thousands(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::Replayer;
    use crate::trace::{RmapId, SpteId};
    use crate::{Era, Event, ModelConfig, TraceMeta};
    use std::collections::HashSet;

    fn reports() -> Vec<ConfigReport> {
        let cfgs = [
            ModelConfig::new(2, Era::HeadInsert).unwrap(),
            ModelConfig::kvm_today(),
        ];
        let evs: Vec<Event> = (0..40)
            .map(|i| Event::add(RmapId(i % 3), SpteId(100 + i)))
            .collect();
        Replayer::replay_all(TraceMeta::default(), &cfgs, &evs)
            .unwrap()
            .configs
    }

    #[test]
    fn keys_and_headers_are_unique_and_documented() {
        let keys: HashSet<_> = METRICS.iter().map(|m| m.key).collect();
        assert_eq!(keys.len(), METRICS.len());
        let headers: HashSet<_> = METRICS.iter().map(|m| m.header).collect();
        assert_eq!(headers.len(), METRICS.len());
        for m in METRICS {
            assert!(m.doc.len() > 10, "{} needs a doc", m.key);
            assert!(!m.key.contains(','), "{}", m.key);
        }
        assert_eq!(METRICS[0].key, "label");
    }

    #[test]
    fn csv_and_json_carry_every_metric_with_the_same_values() {
        let r = reports();
        let host = HostShape {
            vcpus: 4,
            vms: 2,
            traced_vms: false,
        };
        let csv = csv(&r, host);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        let header: Vec<&str> = lines[0].split(',').collect();
        assert_eq!(header.len(), METRICS.len());
        for (c, line) in r.iter().zip(&lines[1..]) {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells.len(), METRICS.len());
            let json = json_metrics(c, host);
            for (k, cell) in header.iter().zip(&cells) {
                let j = &json[*k];
                match j {
                    serde_json::Value::String(s) => assert_eq!(s, cell),
                    n => {
                        let a = n.as_f64().unwrap();
                        let b: f64 = cell.parse().unwrap();
                        assert!((a - b).abs() < 1e-3, "{k}: {a} vs {b}");
                    }
                }
            }
        }
        let vm = metric_by_key("caches_bytes_per_vm").unwrap();
        assert_eq!(vm.text(&Row::new(&r[1], host)), (4 * 40 * 128).to_string());
    }

    #[test]
    fn the_best_value_is_the_lowest() {
        let r = reports();
        let host = HostShape {
            vcpus: 1,
            vms: 1,
            traced_vms: false,
        };
        let best = best_values(&r, host);
        let i = METRICS.iter().position(|m| m.key == "desc_bytes").unwrap();
        assert_eq!(best[i], Some(32.0));
        let j = METRICS.iter().position(|m| m.key == "label").unwrap();
        assert_eq!(best[j], None);
        // A column where every configuration is equal marks no best.
        let same = best_values(&[r[0].clone(), r[0].clone()], host);
        assert_eq!(same[i], None);
        // A bound or an unknown is never the best; a figure that does not depend on removals
        // (the object size) still is.
        let mut inexact = r.clone();
        for c in &mut inexact {
            c.exactness.unseen = crate::exactness::UnseenRemoval::ALL.to_vec();
        }
        let best = best_values(&inexact, host);
        let peak = METRICS.iter().position(|m| m.key == "peak_bytes").unwrap();
        assert_eq!(best[peak], None);
        assert_eq!(best[i], Some(32.0));
    }

    #[test]
    fn integers_read_with_thousands_separators() {
        assert_eq!(group_thousands(41_781_216), "41,781,216");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1000), "1,000");
        assert_eq!(group_thousands(0), "0");
        let m = METRICS.iter().find(|m| m.key == "desc_bytes").unwrap();
        assert_eq!(m.format_grouped(&Value::Int(49_900)), "49,900");
        assert_eq!(m.format(&Value::Int(49_900)), "49900");
    }
}
