//! `rmaplab report` end to end: its figures, parsed back from the text, equal what
//! `rmaplab replay --format json` says for the same trace and options; the text fits 72
//! columns; the seed's rule and the top-up policies show up as configurations.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing test panics: that is how it reports

use rmaplab_core::columns::METRICS;
use rmaplab_core::exactness;
use std::collections::HashMap;

mod common;

use common::{ok, rmaplab, words};

fn repo(p: &str) -> String {
    common::s(&common::repo(p)).to_string()
}

/// Every table of a plain-text report: label → header → cell.
fn parse_tables(text: &str) -> HashMap<String, HashMap<String, String>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut i = 0;
    while i + 1 < lines.len() {
        if lines[i].starts_with("config ") && lines[i + 1].starts_with("---") {
            // Column spans from the dashes line.
            let dashes = lines[i + 1];
            let mut spans = Vec::new();
            let mut start = None;
            for (k, ch) in dashes
                .char_indices()
                .chain(std::iter::once((dashes.len(), ' ')))
            {
                match (ch == '-', start) {
                    (true, None) => start = Some(k),
                    (false, Some(s)) => {
                        spans.push((s, k));
                        start = None;
                    }
                    _ => {}
                }
            }
            let cell = |l: &str, (a, b): (usize, usize)| {
                l.get(a..b.min(l.len())).unwrap_or("").trim().to_string()
            };
            let headers: Vec<String> = spans.iter().map(|&s| cell(lines[i], s)).collect();
            let mut j = i + 2;
            while j < lines.len() && !lines[j].trim().is_empty() {
                let label = cell(lines[j], spans[0]);
                let row = out.entry(label).or_default();
                for (h, &s) in headers.iter().zip(&spans).skip(1) {
                    row.insert(h.clone(), cell(lines[j], s));
                }
                j += 1;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

fn check_report_against_json(trace: &str, extra: &[&str]) -> String {
    let mut args = vec!["report", trace, "--quiet"];
    args.extend_from_slice(extra);
    let text = ok(&args);
    for l in text.lines() {
        assert!(l.chars().count() <= 72, "line over 72 columns: {l:?}");
    }
    let tables = parse_tables(&text);
    assert!(!tables.is_empty(), "{text}");
    let mut jargs = vec!["replay", trace, "--quiet", "--format", "json"];
    jargs.extend_from_slice(extra);
    let json: serde_json::Value = serde_json::from_str(&ok(&jargs)).unwrap();
    let configs = json.as_array().unwrap();
    assert_eq!(configs.len(), tables.len(), "{text}");
    let mut compared = 0;
    for c in configs {
        let label = c["label"].as_str().unwrap();
        let row = tables
            .get(label)
            .unwrap_or_else(|| panic!("{label} missing from the report:\n{text}"));
        for (header, cell) in row {
            let m = METRICS
                .iter()
                .find(|m| m.header == header)
                .unwrap_or_else(|| panic!("unknown column {header}"));
            let want = c["metrics"][m.key].as_f64().unwrap();
            // A trace that may miss removals marks bounds `<=N` and unknowns `N?`, as the
            // registry says for each metric; exact figures carry no mark.
            let exact = c["exact"].as_bool().unwrap();
            let number = match exactness::mark("", m.dependence(), exact).as_str() {
                "" => Some(cell.as_str()),
                exactness::BOUND_MARK => cell.strip_prefix(exactness::BOUND_MARK),
                _ => cell.strip_suffix(exactness::UNKNOWN_MARK),
            };
            let number = number.unwrap_or_else(|| {
                panic!(
                    "{label} {header}: {cell:?} is not marked as {:?}",
                    m.dependence()
                )
            });
            let got: f64 = number.parse().unwrap();
            let tol = 0.5 * 10f64.powi(-i32::from(m.decimals)) + 1e-9;
            assert!(
                (want - got).abs() <= tol,
                "{label} {header}: report {got}, replay {want}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 6 * configs.len(), "{compared}");
    text
}

#[test]
fn report_figures_equal_the_replays_on_the_default_trace() {
    let text = check_report_against_json(
        &repo("web/assets/default.rmap"),
        &["--entries", "2,4,14", "--era", "head-insert", "--vms", "3"],
    );
    assert!(text.contains("Recommendation. N = "), "{text}");
    assert!(text.contains("all 8 recorded in the trace"), "{text}");
    assert!(
        text.contains("for 4 vCPUs per VM (the trace's) and 3 VMs"),
        "{text}"
    );
    assert!(text.contains("TDP off"), "{text}");
}

#[test]
fn report_figures_equal_the_replays_on_a_trace_cmd_capture() {
    let text = check_report_against_json(
        &repo("core/tests/fixtures/captures/tc-fork16v2.dat"),
        &words("--entries 2,seed --tdp off --topup always,when-rmaps-used --vcpus 8"),
    );
    assert!(text.contains("seed:14/tail-append"), "{text}");
    assert!(text.contains("2/head-insert+lazy-topup"), "{text}");
    assert!(text.contains("for 8 vCPUs per VM (given)"), "{text}");
    // A capture cannot show every removal: bounds, and no size recommended from them.
    assert!(text.contains("NOT EXACT"), "{text}");
    assert!(
        text.contains("No recommendation: the figures are not exact"),
        "{text}"
    );
}

#[test]
fn markdown_has_headings_and_pipe_tables() {
    let md = ok(&[
        "report",
        &repo("web/assets/default.rmap"),
        "--quiet",
        "--format",
        "markdown",
        "--entries",
        "2,14",
    ]);
    assert!(md.starts_with("### "), "{md}");
    assert!(md.contains("| config | obj B |"), "{md}");
    assert!(md.contains("| 2/head-insert |"), "{md}");
}

#[test]
fn the_seeds_rule_needs_to_know_about_tdp() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("alias.rmap");
    let t = t.to_str().unwrap();
    ok(&["gen", "alias", "--aliases", "5", "-o", t]);
    let o = rmaplab(&["replay", t, "--quiet", "--entries", "seed"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--tdp on|off"), "{err}");
    let json: serde_json::Value = serde_json::from_str(&ok(&[
        "replay",
        t,
        "--quiet",
        "--entries",
        "seed",
        "--tdp",
        "on",
        "--era",
        "head-insert",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(json[0]["label"], "seed:2/head-insert");
    assert_eq!(json[0]["entries"], 2);
}

#[test]
fn csv_columns_are_the_registry() {
    let csv = ok(&[
        "replay",
        &repo("web/assets/default.rmap"),
        "--quiet",
        "--format",
        "csv",
        "--entries",
        "2,14",
    ]);
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let keys: Vec<&str> = METRICS.iter().map(|m| m.key).collect();
    assert_eq!(header, keys);
    // 2 sizes x 2 eras.
    assert_eq!(csv.lines().count(), 5);
    for l in csv.lines().skip(1) {
        assert_eq!(l.split(',').count(), keys.len(), "{l}");
    }
}
