//! The `rmaplab` binary end to end: every command, and bad input answered with a clear error,
//! no panic and no partial output file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing test panics: that is how it reports

mod common;

use common::{add, jsonl_trace, ok, remove, rmaplab, s, stderr, stdout, words};
use std::path::Path;
use std::process::Output;

#[test]
fn sizes_prints_the_seeds_numbers() {
    let out = ok(&words("sizes --entries 2,4,14 --vcpus 8 --format json"));
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows[0]["desc_bytes"], 32);
    assert_eq!(rows[2]["desc_bytes"], 128);
    assert_eq!(rows[0]["per_vcpu_cache_bytes"], 1280);
    assert_eq!(rows[2]["per_vcpu_cache_bytes"], 5120);
    assert_eq!(rows[1]["extra_vs_smallest_bytes"], 16 * 40 * 8);
    let table = ok(&["sizes", "--entries", "2,4,14", "--vcpus", "8"]);
    assert!(table.contains("5120") && table.contains("1280"), "{table}");
}

/// `rmaplab gen alias --aliases N`, then `rmaplab replay --format json` of it through the given
/// sizes and eras: the rows, and the trace (written into `dir`).
fn alias_replay_rows(
    dir: &Path,
    aliases: u64,
    entries: &str,
    eras: &str,
) -> (Vec<serde_json::Value>, std::path::PathBuf) {
    let trace = dir.join("alias.rmap");
    ok(&[
        "gen",
        "alias",
        "--aliases",
        &aliases.to_string(),
        "-o",
        s(&trace),
    ]);
    let out = ok(&[
        "replay",
        s(&trace),
        "--entries",
        entries,
        "--era",
        eras,
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    (v.as_array().unwrap().clone(), trace)
}

#[test]
fn alias_1002_replays_to_kvms_numbers_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, trace) =
        alias_replay_rows(dir.path(), 1002, "2,3,4,8,14", "tail-append,head-insert");
    assert_eq!(rows.len(), 10);
    for r in &rows {
        for key in [
            "entries",
            "era",
            "desc_bytes",
            "allocations",
            "slab_allocations",
            "frees",
            "peak_descs",
            "peak_bytes",
            "max_rmap_size",
            "recycles",
            "anomalies",
        ] {
            assert!(r.get(key).is_some(), "missing {key}");
        }
        assert_eq!(r["max_rmap_size"], 1001);
        assert_eq!(r["recycles"], 1);
        assert_eq!(r["anomalies"], 0);
    }
    let csv = ok(&["replay", s(&trace), "--format", "csv"]);
    assert_eq!(csv.lines().count(), 1 + 10);
    let table = ok(&["replay", s(&trace)]);
    assert!(table.contains("14/head-insert"));
    assert!(table.contains("Rmap_Count:\t0\t1\t2-3"));
}

#[test]
fn convert_round_trips_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("t.rmap");
    let text = dir.path().join("t.jsonl");
    let back = dir.path().join("back.rmap");
    ok(&[
        "gen",
        "--vcpus",
        "3",
        "churn",
        "--cycles",
        "20",
        "--batch",
        "100",
        "-o",
        s(&bin),
    ]);
    ok(&["convert", s(&bin), s(&text)]);
    ok(&["convert", s(&text), s(&back)]);
    assert_eq!(std::fs::read(&bin).unwrap(), std::fs::read(&back).unwrap());
    let first = std::fs::read_to_string(&text).unwrap();
    assert!(first.starts_with("{\"format\":\"rmaplab-trace\",\"version\":1"));
}

#[test]
fn dump_lists_shows_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let events = [add(5, 1), add(5, 2), add(5, 3), add(6, 4)];
    let trace = jsonl_trace(dir.path(), "t.jsonl", &events);
    // Implicit faults fill vCPU 0's cache with objects 0..40; it hands out the last first.
    let out = ok(&[
        "replay",
        s(&trace),
        "--dump-lists",
        "--entries",
        "2",
        "--era",
        "head-insert",
    ]);
    assert!(out.contains("rmap 0x5"), "{out}");
    assert!(
        out.contains("desc 0 (object 38): spte_count 1, tail_count 2: 0x3"),
        "{out}"
    );
    assert!(
        out.contains("desc 1 (object 39): spte_count 2, tail_count 0: 0x1 0x2"),
        "{out}"
    );
    assert!(
        out.contains("rmap 0x6 (gfn rmap, gfn ?, 4K): 1 entries, head = spte 0x4"),
        "{out}"
    );
    let o = rmaplab(&["replay", s(&trace), "--dump-lists"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("single --entries"));
}

#[test]
fn n_below_two_is_refused_with_the_reason() {
    let o = rmaplab(&["sizes", "--entries", "1"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("two entries"), "{}", stderr(&o));
}

fn assert_clean_failure(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(o));
    let e = stderr(o);
    assert!(!e.contains("panicked"), "{e}");
    assert!(e.contains(needle), "expected {needle:?} in: {e}");
}

#[test]
fn bad_input_gets_a_clear_error_and_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.rmap");
    ok(&[
        "gen",
        "fork",
        "--procs",
        "4",
        "--pages",
        "10",
        "-o",
        s(&good),
    ]);
    let bytes = std::fs::read(&good).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "empty"),
        (
            "garbage",
            b"hello world\n".to_vec(),
            "unrecognised trace format",
        ),
        (
            "truncated",
            bytes[..bytes.len() / 2].to_vec(),
            "truncated at byte offset",
        ),
        (
            // The offset is of the decompressed bytes, which the error says: the .zst file
            // itself is smaller than the offset.
            "truncated-zstd",
            zstd::encode_all(&bytes[..bytes.len() / 2], 1).unwrap(),
            "(of the zstd-decompressed data; the compressed file itself is smaller)",
        ),
        (
            "wrong-magic",
            {
                let mut b = bytes.clone();
                b[7] = b'X';
                b
            },
            "unrecognised binary data",
        ),
        (
            "future",
            {
                let mut b = bytes.clone();
                b[8] = 9;
                b
            },
            "newer than this rmaplab",
        ),
        (
            "bad-json",
            b"{\"format\":\"rmaplab-trace\",\"version\":1}\n{\"ev\":\"add\",\"rmap\":1}\n".to_vec(),
            "line 2",
        ),
        (
            "not-utf8",
            b"{\"format\":\"rmaplab-trace\",\"version\":1}\n\xff\xfe\n".to_vec(),
            "line 2: not UTF-8",
        ),
    ];
    for (name, data, needle) in cases {
        let input = dir.path().join(format!("{name}.in"));
        std::fs::write(&input, &data).unwrap();
        let o = rmaplab(&["replay", s(&input)]);
        assert_clean_failure(&o, needle);
        let out = dir.path().join(format!("{name}.out.jsonl"));
        let o = rmaplab(&["convert", s(&input), s(&out)]);
        assert_clean_failure(&o, needle);
        assert!(!out.exists(), "{name}: partial output left behind");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let o = rmaplab(&["replay", s(&dir.path().join("missing.rmap"))]);
    assert_clean_failure(&o, "cannot read");
}

#[test]
fn a_10_mb_jsonl_line_is_refused_with_its_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("long.jsonl");
    let mut text =
        String::from("{\"format\":\"rmaplab-trace\",\"version\":1}\n{\"ev\":\"mark\",\"label\":\"");
    text.push_str(&"x".repeat(10 << 20));
    text.push_str("\"}\n");
    std::fs::write(&p, text).unwrap();
    let o = rmaplab(&["replay", s(&p)]);
    assert_clean_failure(&o, "line 2: line is longer than");
}

#[test]
fn many_adds_to_one_rmap_stay_bounded_by_the_recycle_rule() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, _) = alias_replay_rows(dir.path(), 200_000, "2,14", "tail-append,head-insert");
    assert_eq!(rows.len(), 4);
    for r in &rows {
        assert_eq!(r["max_rmap_size"], 1001);
        assert_eq!(r["recycles"], 200000 / 1002);
        assert!(
            r["peak_descs"].as_u64().unwrap() <= 501,
            "{}",
            r["peak_descs"]
        );
        assert_eq!(r["anomalies"], 0);
    }
}

/// Peak resident set size of the largest child this test process waited for, in KiB.
fn children_max_rss_kib() -> i64 {
    // SAFETY: getrusage only writes the zero-initialised struct we pass it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_CHILDREN is a valid selector and `ru` is a valid, writable rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    assert_eq!(rc, 0, "getrusage failed");
    ru.ru_maxrss
}

/// The bad-input matrix's "50 M adds to one rmap" row: a 100 MB trace streams through with
/// memory bounded by the live state (one list of at most 1001 entries), and the recycle rule
/// zaps the list every 1001 adds as KVM's would. Head-insert only: tail-append walks the whole
/// list on every add, exactly as the kernel did, which the 200 000-add test above covers.
#[test]
fn fifty_million_adds_to_one_rmap_stream_in_bounded_memory() {
    let adds: u64 = 50_000_000;
    let dir = tempfile::tempdir().unwrap();
    let (rows, trace) = alias_replay_rows(dir.path(), adds, "2,14", "head-insert");
    let trace_bytes = std::fs::metadata(&trace).unwrap().len();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r["max_rmap_size"], 1001);
        assert_eq!(r["recycles"], adds / 1002);
        assert!(r["peak_descs"].as_u64().unwrap() <= 501);
        assert_eq!(r["anomalies"], 0);
    }
    let rss_kib = children_max_rss_kib();
    assert!(
        (rss_kib as u64) * 1024 < trace_bytes / 2,
        "replay of a {trace_bytes}-byte trace peaked at {rss_kib} KiB: it should stream"
    );
    eprintln!("50 M adds: trace {trace_bytes} bytes, largest child peak RSS {rss_kib} KiB");
}

/// `--strict` stops at the first impossible event whatever the thread count, names it, and the
/// results do not depend on `--threads`.
#[test]
fn strict_stops_at_the_first_anomaly_and_threads_do_not_change_results() {
    let dir = tempfile::tempdir().unwrap();
    let events = [add(1, 10), remove(1, 11), add(1, 12)];
    let bad = jsonl_trace(dir.path(), "bad.jsonl", &events);
    for threads in ["1", "2", "4"] {
        let o = rmaplab(&[
            "replay",
            s(&bad),
            "--strict",
            "--entries",
            "2,3,14",
            "--threads",
            threads,
        ]);
        assert_clean_failure(&o, "event 1: remove of spte 0xb that is in no rmap");
    }
    let trace = dir.path().join("fork.rmap");
    ok(&["gen", "--vcpus", "2", "fork", "-o", s(&trace)]);
    let replay = |threads: u32| {
        let line = format!("replay {} --entries 2,3,4,14 --format json", s(&trace));
        ok(&words(&format!("{line} --threads {threads}")))
    };
    assert_eq!(replay(1), replay(3));
    let o = rmaplab(&["replay", s(&trace), "--threads", "0"]);
    assert_eq!(o.status.code(), Some(2), "a usage error: {}", stderr(&o));
    assert!(stderr(&o).contains("--threads"), "{}", stderr(&o));
}

/// A trace without a single SPTE add (a VM recorded before it mapped anything) is no result:
/// `replay` and `report` warn "no SPTEs" on stderr whatever the format, `--strict` exits 3, and
/// a trace with adds gets no such warning.
#[test]
fn a_trace_of_no_sptes_warns_and_strict_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let empty = jsonl_trace(
        dir.path(),
        "empty.jsonl",
        &[r#"{"ev":"mark","label":"firmware only"}"#.to_string()],
    );
    for cmd in ["replay", "report"] {
        let o = rmaplab(&[cmd, s(&empty)]);
        assert!(o.status.success(), "{cmd}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("warning: no SPTEs: the trace holds no SPTE add"),
            "{cmd}: {}",
            stderr(&o)
        );
        let o = rmaplab(&[cmd, s(&empty), "--strict"]);
        assert_eq!(o.status.code(), Some(3), "{cmd}: {}", stderr(&o));
        assert!(stderr(&o).contains("--strict"), "{cmd}: {}", stderr(&o));
    }
    let o = rmaplab(&["replay", s(&empty), "--format", "json"]);
    assert!(stderr(&o).contains("warning: no SPTEs"), "{}", stderr(&o));
    let one = jsonl_trace(dir.path(), "one.jsonl", &[add(1, 10)]);
    let o = rmaplab(&["replay", s(&one), "--strict"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("no SPTEs"), "{}", stderr(&o));
    assert!(!stdout(&o).contains("no SPTEs"), "{}", stdout(&o));
}
