//! Two traces side by side: the same configurations replayed from trace A (say a `collect`
//! trace, exact) and trace B (say a kvmmmu capture of the same run), every figure of the metric
//! registry compared, so what B's recording could not see shows as the figures that differ.
//! Both front-ends draw their comparison from [`compare`].

use crate::columns::{Better, Role, Row, Value, METRICS};
use crate::memory::HostShape;
use crate::replay::ConfigReport;
use serde::{Deserialize, Serialize};

/// One figure of one configuration in both traces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FigureDiff {
    /// The registry key (`max_rmap_size`, …).
    pub key: String,
    /// The table header.
    pub header: String,
    /// Trace A's figure, formatted and marked as the table shows it (`<=14`, `?`).
    pub a: String,
    /// Trace B's figure, likewise.
    pub b: String,
    /// B − A, when both are numbers.
    pub delta: Option<f64>,
    /// B / A − 1, when both are numbers and A is not 0.
    pub change: Option<f64>,
    /// Whether A and B show the same value and differ only in what it is: exact in one, a
    /// bound (`<=`) or unknown (`?`) in the other.
    pub same_value: bool,
}

impl FigureDiff {
    /// B − A as the front-ends write it: whole numbers without decimals, with the relative
    /// change when A is not 0 (`+1956 (+499%)`, `+0.24 (+584%)`); empty when either is not a
    /// number.
    pub fn delta_text(&self) -> String {
        let Some(d) = self.delta else {
            return String::new();
        };
        let d = if d.fract() == 0.0 {
            format!("{d:+.0}")
        } else {
            format!("{d:+.2}")
        };
        match self.change {
            Some(ch) => format!("{d} ({:+.0}%)", ch * 100.0),
            None => d,
        }
    }
}

/// One configuration in both traces: the figures that differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigDiff {
    /// The configuration's label (`14/head-insert`).
    pub label: String,
    /// Figures whose text differs between A and B, in registry order.
    pub differ: Vec<FigureDiff>,
    /// Figures compared.
    pub compared: usize,
}

/// The comparison of trace B against trace A.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Configurations replayed from both, in A's order.
    pub configs: Vec<ConfigDiff>,
    /// Labels replayed from A only.
    pub only_a: Vec<String>,
    /// Labels replayed from B only.
    pub only_b: Vec<String>,
}

impl Comparison {
    /// Figures that differ, over all configurations.
    pub fn differing(&self) -> usize {
        self.configs
            .iter()
            .flat_map(|c| &c.differ)
            .filter(|f| !f.same_value)
            .count()
    }

    /// Figures with the same value in both whose marks differ (a bound or an unknown in one,
    /// exact in the other), over all configurations.
    pub fn marked_only(&self) -> usize {
        self.configs
            .iter()
            .flat_map(|c| &c.differ)
            .filter(|f| f.same_value)
            .count()
    }

    /// Figures compared, over all configurations.
    pub fn compared(&self) -> usize {
        self.configs.iter().map(|c| c.compared).sum()
    }
}

/// Compare the configurations replayed from B (`b`) with the same ones from A (`a`), matched
/// by label, on `host`: every result figure of the registry, as the table writes it.
pub fn compare(a: &[ConfigReport], b: &[ConfigReport], host: HostShape) -> Comparison {
    let mut configs = Vec::new();
    let mut only_a = Vec::new();
    for ca in a {
        let Some(cb) = b.iter().find(|c| c.label == ca.label) else {
            only_a.push(ca.label.clone());
            continue;
        };
        let (ra, rb) = (Row::new(ca, host), Row::new(cb, host));
        let mut differ = Vec::new();
        let mut compared = 0;
        for m in METRICS
            .iter()
            .filter(|m| m.in_table && m.role == Role::Result)
        {
            compared += 1;
            let (va, vb) = (m.value(&ra), m.value(&rb));
            let (ta, tb) = (m.text_grouped(&ra), m.text_grouped(&rb));
            if ta == tb {
                continue;
            }
            // The same value as the table writes it, before any mark.
            let same_value = m.format_grouped(&va) == m.format_grouped(&vb);
            let numbers = match (&va, &vb) {
                (Value::Text(_), _) | (_, Value::Text(_)) => None,
                _ => va.as_f64().zip(vb.as_f64()),
            };
            differ.push(FigureDiff {
                key: m.key.to_string(),
                header: m.header.to_string(),
                a: ta,
                b: tb,
                delta: numbers.map(|(x, y)| y - x),
                change: numbers.and_then(|(x, y)| (x != 0.0).then(|| y / x - 1.0)),
                same_value,
            });
        }
        configs.push(ConfigDiff {
            label: ca.label.clone(),
            differ,
            compared,
        });
    }
    let only_b = b
        .iter()
        .filter(|c| !a.iter().any(|ca| ca.label == c.label))
        .map(|c| c.label.clone())
        .collect();
    Comparison {
        configs,
        only_a,
        only_b,
    }
}

impl Comparison {
    /// One sentence: whether B agrees with A, or in how many figures it differs (no final
    /// punctuation).
    pub fn summary(&self, name_a: &str, name_b: &str) -> String {
        let (compared, configs) = (self.compared(), configurations(self.configs.len()));
        let marked = match self.marked_only() {
            0 => String::new(),
            1 => "; 1 more has the same value but is a bound or an unknown in one of them (marked <= or ?)".to_string(),
            m => format!("; {m} more have the same value but are bounds or unknowns in one of them (marked <= or ?)"),
        };
        match self.differing() {
            0 if marked.is_empty() => format!(
                "B ({name_b}) and A ({name_a}) agree on all {compared} figures of the {configs} both replayed"
            ),
            0 => format!(
                "B ({name_b}) and A ({name_a}) agree in value on all {compared} figures of the {configs} both replayed{marked}"
            ),
            n => format!(
                "B ({name_b}) differs from A ({name_a}) in the value of {n} of {compared} figures over the {configs} both replayed{marked}"
            ),
        }
    }

    /// The comparison as plain text: a summary line, then one line per figure that differs
    /// (`14/head-insert  max rmap size  A 14  B <=14  +0.00`), for the CLI.
    pub fn text(&self, name_a: &str, name_b: &str) -> String {
        use std::fmt::Write;
        let mut out = self.summary(name_a, name_b);
        let rows_follow = self.configs.iter().any(|c| !c.differ.is_empty());
        out.push_str(if rows_follow { ":\n" } else { "\n" });
        let rows: Vec<[String; 5]> = self
            .configs
            .iter()
            .flat_map(|c| {
                c.differ.iter().map(|f| {
                    [
                        c.label.clone(),
                        f.header.clone(),
                        f.a.clone(),
                        f.b.clone(),
                        f.delta_text(),
                    ]
                })
            })
            .collect();
        if !rows.is_empty() {
            let head = ["config", "figure", "A", "B", "B - A"].map(String::from);
            let mut w = [0usize; 5];
            for r in std::iter::once(&head).chain(&rows) {
                for (k, cell) in r.iter().enumerate() {
                    w[k] = w[k].max(cell.chars().count());
                }
            }
            for r in std::iter::once(&head).chain(&rows) {
                let line = format!(
                    "{:<w0$}  {:<w1$}  {:>w2$}  {:>w3$}  {}",
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    w0 = w[0],
                    w1 = w[1],
                    w2 = w[2],
                    w3 = w[3]
                );
                let _ = writeln!(out, "{}", line.trim_end());
            }
        }
        if !self.only_a.is_empty() {
            let _ = writeln!(out, "only in A: {}", self.only_a.join(", "));
        }
        if !self.only_b.is_empty() {
            let _ = writeln!(out, "only in B: {}", self.only_b.join(", "));
        }
        out
    }
}

/// `n` configurations, in words (`1 configuration`, `14 configurations`).
pub fn configurations(n: usize) -> String {
    if n == 1 {
        "1 configuration".to_string()
    } else {
        format!("{n} configurations")
    }
}

/// Whether a figure that differs is better or worse in B, for the ones where lower is better
/// (`None`: not a figure of merit, or not numbers).
pub fn b_is_lower_better(f: &FigureDiff) -> Option<bool> {
    let m = METRICS.iter().find(|m| m.key == f.key)?;
    match m.better {
        Better::Lower => f.delta.map(|d| d < 0.0),
        Better::Neither => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::Replayer;
    use crate::trace::{RmapId, SpteId};
    use crate::{Era, Event, ModelConfig, TraceMeta};

    fn replay(events: &[Event], cfgs: &[ModelConfig]) -> Vec<ConfigReport> {
        let mut r = Replayer::new(
            TraceMeta::default(),
            cfgs,
            crate::replay::ReplayOptions::default(),
        )
        .unwrap();
        for e in events {
            r.feed(e).unwrap();
        }
        r.finish().configs
    }

    /// A trace that misses removals (B) against the one that saw them (A): the figures that
    /// depend on removals differ, the configuration's own settings never do, and a trace
    /// compared with itself differs nowhere.
    #[test]
    fn a_trace_that_misses_removals_differs_where_removals_count() {
        let cfgs = [
            ModelConfig::new(2, Era::HeadInsert).unwrap(),
            ModelConfig::kvm_today(),
        ];
        let adds: Vec<Event> = (0..40)
            .map(|i| Event::add(RmapId(i % 3), SpteId(100 + i)))
            .collect();
        let mut a_events = adds.clone();
        a_events.extend((0..30).map(|i| Event::remove(RmapId(i % 3), SpteId(100 + i))));
        a_events.extend(adds.iter().take(10).cloned());
        let mut b_events = adds.clone();
        b_events.extend(adds.iter().take(10).map(|e| {
            let mut e = e.clone();
            if let crate::EventKind::Add { spte, .. } = &mut e.kind {
                spte.0 += 1000;
            }
            e
        }));
        let a = replay(&a_events, &cfgs);
        let b = replay(&b_events, &cfgs);
        let host = HostShape {
            vcpus: 4,
            vms: 1,
            traced_vms: false,
        };
        let same = compare(&a, &a, host);
        assert_eq!(same.differing(), 0);
        assert!(same.compared() > 10);
        let c = compare(&a, &b, host);
        assert!(c.only_a.is_empty() && c.only_b.is_empty());
        let keys: Vec<&str> = c.configs[0].differ.iter().map(|f| f.key.as_str()).collect();
        assert!(keys.contains(&"max_rmap_size"), "{keys:?}");
        let role = |k: &str| METRICS.iter().find(|m| m.key == k).map(|m| m.role);
        assert!(
            keys.iter().all(|k| role(k) == Some(Role::Result)),
            "{keys:?}"
        );
        let max = c.configs[0]
            .differ
            .iter()
            .find(|f| f.key == "max_rmap_size")
            .unwrap();
        assert!(max.delta.is_some_and(|d| d > 0.0), "{max:?}");
        assert_eq!(
            b_is_lower_better(max),
            None,
            "a list size is not a figure of merit"
        );
        let text = c.text("a.rmap", "b.dat");
        assert!(
            text.starts_with("B (b.dat) differs from A (a.rmap) in "),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("2/head-insert") && l.contains("max")),
            "{text}"
        );
        assert!(same.text("a", "a").contains("agree on all"));
        // The same trace marked not exact: every figure that depends on removals keeps its
        // value but becomes a bound or an unknown; the summary says so, not "differs".
        let mut inexact = a.clone();
        for c in &mut inexact {
            c.exactness.unseen = crate::exactness::UnseenRemoval::ALL.to_vec();
        }
        let marked = compare(&a, &inexact, host);
        assert_eq!(marked.differing(), 0);
        assert!(marked.marked_only() > 0);
        assert!(marked.configs[0].differ.iter().all(|f| f.same_value));
        let summary = marked.summary("a", "b");
        assert!(summary.contains("agree in value on all"), "{summary}");
        assert!(summary.contains("bounds or unknowns"), "{summary}");
        // Configurations in one trace only are named, not compared.
        let c = compare(&a[..1], &b, host);
        assert_eq!(c.only_b, vec![b[1].label.clone()]);
        assert!(c.text("a", "b").contains("only in B: 14/head-insert"));
    }
}
