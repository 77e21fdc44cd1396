//! The CLI's machine-readable outputs, pinned: CSV and JSON of `replay` and `sizes`, and
//! `report --format markdown`, on a generated trace, must equal the files in
//! `tests/snapshots/`. A change of output is then a reviewed change of those files:
//! `RMAPLAB_BLESS_SNAPSHOTS=1 cargo test -p rmaplab --test snapshots` rewrites them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing test panics: that is how it reports

mod common;

use common::{ok, s, words};
use std::path::PathBuf;

fn snapshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots")
}

#[test]
fn machine_readable_outputs_match_their_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("fork.rmap");
    let t = s(&trace);
    ok(&words(&format!(
        "gen --vcpus 2 fork --procs 9 --pages 20 --private 2 -o {t}"
    )));
    // Each snapshot and the command line that prints it (`TRACE` stands for the trace).
    let cases = [
        (
            "replay.csv",
            "replay TRACE --quiet --entries 2,14 --format csv",
        ),
        (
            "replay.json",
            "replay TRACE --quiet --entries 2,14 --era head-insert --format json",
        ),
        ("sizes.csv", "sizes --entries 2,4,14 --vcpus 8 --format csv"),
        (
            "sizes.json",
            "sizes --entries 2,4,14 --vcpus 8 --format json",
        ),
        (
            "report.md",
            "report TRACE --quiet --entries 2,4,14 --era head-insert --vms 4 --format markdown",
        ),
    ]
    .map(|(name, line)| (name, line.replace("TRACE", t)));
    let bless = std::env::var_os("RMAPLAB_BLESS_SNAPSHOTS").is_some();
    let mut stale = Vec::new();
    for (name, line) in &cases {
        // The trace's path is the one part of the output that differs between runs.
        let got = ok(&words(line)).replace(t, "fork.rmap");
        let path = snapshot_dir().join(name);
        if bless {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (bless to create it)", path.display()));
        if got != want {
            stale.push(format!("{name}: `rmaplab {line}` printed\n{got}"));
        }
    }
    assert!(
        stale.is_empty(),
        "{} snapshot(s) differ (RMAPLAB_BLESS_SNAPSHOTS=1 rewrites them after review):\n{}",
        stale.len(),
        stale.join("\n")
    );
}
