//! `rmaplab report`: the replay's answer as text a KVM developer can paste into a changelog or a
//! reply — plain text wrapped at 72 columns, or Markdown. The playground's "Copy as changelog
//! text" calls the same function, so both say the same thing.

use crate::columns::{metric_by_key, Row};
use crate::import::ImportReport;
use crate::memory::HostShape;
use crate::recommend::Recommendation;
use crate::replay::ReplaySummary;
use crate::sizes::SPLIT_DESC_CACHE_CAPACITY;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// Columns of plain-text output.
pub const TEXT_WIDTH: usize = 72;

/// Metrics of the memory table, by registry key.
pub const MEMORY_COLUMNS: [&str; 6] = [
    "desc_bytes",
    "cache_bytes_per_vcpu",
    "peak_bytes",
    "vm_bytes",
    "vm_slab_pages",
    "host_bytes",
];

/// Metrics of the work table, by registry key.
pub const WORK_COLUMNS: [&str; 6] = [
    "add_descs_mean",
    "remove_descs_mean",
    "work_per_op",
    "allocations",
    "cache_dry_allocs",
    "recycles",
];

/// Output flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportFormat {
    /// Plain text wrapped at [`TEXT_WIDTH`] columns.
    Text,
    /// Markdown (headings, pipe tables).
    Markdown,
}

/// What the report is about.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    /// The replay.
    pub summary: &'a ReplaySummary,
    /// The trace's file name.
    pub trace_name: &'a str,
    /// Positions in `summary.configs` of the configurations asked for (the tables show these;
    /// the recommendation's extra candidates appear only in its own line).
    pub shown: &'a [usize],
    /// The host the memory figures are for.
    pub host: HostShape,
    /// Whether `host.vcpus` came from the trace (else the user gave it).
    pub vcpus_from_trace: bool,
    /// The recommendation, when the candidates were replayed.
    pub recommendation: Option<&'a Recommendation>,
}

/// Greedy word wrap of one paragraph at `width` columns, continuation lines indented by
/// `indent` spaces.
pub fn wrap(text: &str, width: usize, indent: usize) -> String {
    let mut out = String::new();
    let mut col = 0;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if col > 0 && col + 1 + len > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            col = indent;
        } else if col > 0 {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += len;
    }
    out.push('\n');
    out
}

/// A plain-text table: first column left-aligned, the others right-aligned, two spaces apart.
/// When the whole table would be wider than `max_width`, its columns are split over several
/// tables that each repeat the first column.
pub fn text_table(header: &[&str], rows: &[Vec<String>], max_width: usize) -> String {
    let ncols = header.len();
    let widths: Vec<usize> = (0..ncols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .chain(std::iter::once(header[i].chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    // Group columns 1.. into chunks that fit beside column 0.
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    let mut width = widths.first().copied().unwrap_or(0);
    for i in 1..ncols {
        let w = widths[i] + 2;
        match chunks.last_mut() {
            Some(c) if width + w <= max_width => c.push(i),
            _ => {
                chunks.push(vec![i]);
                width = widths[0];
            }
        }
        width += w;
    }
    if chunks.is_empty() {
        chunks.push(Vec::new());
    }
    let mut out = String::new();
    for (k, chunk) in chunks.iter().enumerate() {
        if k > 0 {
            out.push('\n');
        }
        let cols: Vec<usize> = std::iter::once(0).chain(chunk.iter().copied()).collect();
        let line = |cells: &dyn Fn(usize) -> String, out: &mut String| {
            let mut s = String::new();
            for &i in &cols {
                let c = cells(i);
                if i == 0 {
                    let _ = write!(s, "{:<w$}", c, w = widths[i]);
                } else {
                    let _ = write!(s, "  {:>w$}", c, w = widths[i]);
                }
            }
            out.push_str(s.trim_end());
            out.push('\n');
        };
        line(&|i| header[i].to_string(), &mut out);
        line(&|i| "-".repeat(widths[i]), &mut out);
        for r in rows {
            line(&|i| r.get(i).cloned().unwrap_or_default(), &mut out);
        }
    }
    out
}

fn md_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n", header.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        header
            .iter()
            .enumerate()
            .map(|(i, _)| if i == 0 { " --- |" } else { " ---: |" })
            .collect::<String>()
    );
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    out
}

struct Doc {
    format: ReportFormat,
    out: String,
}

impl Doc {
    fn heading(&mut self, h: &str) {
        match self.format {
            ReportFormat::Text => {
                let text = wrap(h, TEXT_WIDTH, 0);
                let longest = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
                let _ = writeln!(self.out, "{}{}", text, "=".repeat(longest));
            }
            ReportFormat::Markdown => {
                let _ = writeln!(self.out, "### {h}");
            }
        }
        self.out.push('\n');
    }

    fn para(&mut self, text: &str) {
        match self.format {
            ReportFormat::Text => self.out.push_str(&wrap(text, TEXT_WIDTH, 0)),
            ReportFormat::Markdown => {
                self.out.push_str(text);
                self.out.push('\n');
            }
        }
        self.out.push('\n');
    }

    fn bullets(&mut self, items: &[String]) {
        for i in items {
            match self.format {
                ReportFormat::Text => {
                    self.out.push_str("  - ");
                    self.out.push_str(&wrap(i, TEXT_WIDTH - 4, 4));
                }
                ReportFormat::Markdown => {
                    let _ = writeln!(self.out, "- {i}");
                }
            }
        }
        self.out.push('\n');
    }

    fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        match self.format {
            ReportFormat::Text => self.out.push_str(&text_table(header, rows, TEXT_WIDTH)),
            ReportFormat::Markdown => self.out.push_str(&md_table(header, rows)),
        }
        self.out.push('\n');
    }
}

fn registry_table(input: &ReportInput<'_>, keys: &[&str]) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let metrics: Vec<_> = keys.iter().filter_map(|k| metric_by_key(k)).collect();
    let mut header = vec!["config"];
    header.extend(metrics.iter().map(|m| m.header));
    let rows = input
        .shown
        .iter()
        .filter_map(|&i| input.summary.configs.get(i))
        .map(|c| {
            let row = Row::new(c, input.host);
            let mut r = vec![c.label.clone()];
            r.extend(metrics.iter().map(|m| m.text(&row)));
            r
        })
        .collect();
    (header, rows)
}

/// The report.
pub fn report(input: &ReportInput<'_>, format: ReportFormat) -> String {
    let s = input.summary;
    let m = &s.meta;
    let mut d = Doc {
        format,
        out: String::new(),
    };
    d.heading(&format!(
        "pte_list_desc array sizes measured on {}",
        input.trace_name
    ));

    let mut prov = vec![format!("Trace {}", input.trace_name)];
    for (what, v) in m.provenance() {
        prov.push(match what {
            "source" => format!("recorded from {v}"),
            "kernel" => format!("host kernel {v}"),
            _ => format!("{what} {v}"),
        });
    }
    prov.push(match m.tdp {
        Some(true) => "TDP on".to_string(),
        Some(false) => "TDP off (shadow paging)".to_string(),
        None => "TDP not recorded".to_string(),
    });
    let mut text = prov.join(", ");
    let _ = write!(
        text,
        ". {} events: {} adds, {} removes, {} zaps, {} faults. Replayed by rmaplab {} through each configuration below with KVM's list code of that era.",
        s.events,
        s.counts.add,
        s.counts.remove,
        s.counts.zap,
        s.counts.fault,
        env!("CARGO_PKG_VERSION")
    );
    d.para(&text);
    if let Some(w) = s.exactness.warning() {
        d.para(&w);
    }

    if let Some(imp) = ImportReport::from_meta(m) {
        if imp.lost_events > 0 {
            d.para(&format!(
                "WARNING: the capture lost {} events; figures may be low.",
                imp.lost_events
            ));
        }
    }
    let checks = &s.stat_checks;
    let bad = checks.iter().filter(|c| !c.matches).count();
    d.para(&if checks.is_empty() {
        "KVM's own counters: none recorded in the trace, so the replay could not be checked against them.".to_string()
    } else if bad == 0 {
        format!(
            "KVM's own counters: all {} recorded in the trace (max_mmu_rmap_size and friends) are reproduced exactly by the replay at the host's own array size and era.",
            checks.len()
        )
    } else {
        format!(
            "KVM's own counters: {bad} of {} recorded in the trace are NOT reproduced; treat the figures with care.",
            checks.len()
        )
    });

    let vcpus_src = if input.vcpus_from_trace {
        "the trace's"
    } else {
        "given"
    };
    let vms = if input.host.vms == 1 {
        "1 VM".to_string()
    } else {
        format!("{} VMs", input.host.vms)
    };
    d.para(&format!(
        "Memory, for {} vCPUs per VM ({vcpus_src}) and {vms} per host. Per VM: descriptors in lists at their peak, every vCPU's full pte_list_desc cache, and the eager page-split cache at its real fill of {SPLIT_DESC_CACHE_CAPACITY} objects; pages: 4 KiB slab pages, floor(4096 / object size) objects each.",
        input.host.vcpus
    ));
    let (h, rows) = registry_table(input, &MEMORY_COLUMNS);
    d.table(&h, &rows);

    d.para("Work: descriptors walked per list operation, allocations taken from the vCPU caches, those that found the cache empty (KVM WARNs), and rmaps zapped by the recycle rule.");
    let (h, rows) = registry_table(input, &WORK_COLUMNS);
    d.table(&h, &rows);

    match input.recommendation {
        Some(r) => {
            d.para(&format!("Recommendation. {}", r.sentence));
            let front: Vec<String> = r
                .candidates
                .iter()
                .filter(|c| c.pareto)
                .map(|c| {
                    format!(
                        "N={}: {} pages/VM, {:.2} descs/op",
                        c.entries,
                        c.vm_slab_bytes / crate::config::SLAB_PAGE_SIZE as u64,
                        c.work
                    )
                })
                .collect();
            d.para(&format!(
                "Pareto front of slab memory per VM against work, over N = 2..16 at {} whatever sizes were asked for: {}.",
                r.era,
                front.join("; ")
            ));
        }
        None if !s.exactness.is_exact() => d.para(&format!(
            "No recommendation: the figures are not exact, and an array size chosen from bounds could be the wrong one. {}",
            crate::exactness::HOW_TO_GET_EXACT
        )),
        None => d.para("No recommendation: the candidate sizes were not replayed."),
    }
    if !s.notes.is_empty() {
        d.bullets(&s.notes);
    }
    while d.out.ends_with("\n\n") {
        d.out.pop();
    }
    d.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_the_width() {
        let t = "a ".repeat(100);
        for l in wrap(&t, 10, 2).lines() {
            assert!(l.len() <= 10);
        }
        assert_eq!(wrap("one two", 72, 0), "one two\n");
        let mut d = Doc {
            format: ReportFormat::Text,
            out: String::new(),
        };
        d.heading(&"a long trace name ".repeat(10));
        assert!(
            d.out.lines().all(|l| l.chars().count() <= TEXT_WIDTH),
            "{}",
            d.out
        );
    }

    #[test]
    fn wide_tables_split_and_repeat_the_first_column() {
        let header = ["config", "aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc"];
        let rows = vec![vec![
            "14/head-insert".to_string(),
            "1".into(),
            "2".into(),
            "3".into(),
        ]];
        let t = text_table(&header, &rows, 40);
        assert!(t.lines().all(|l| l.len() <= 40), "{t}");
        assert_eq!(t.matches("14/head-insert").count(), 2);
        let one = text_table(&header, &rows, 80);
        assert_eq!(one.matches("14/head-insert").count(), 1);
    }
}
