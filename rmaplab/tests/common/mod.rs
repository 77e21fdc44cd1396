//! Helpers the command-line test files share: run the `rmaplab` binary and read its output.

#![allow(dead_code)] // reason: each test file uses its own subset of these helpers

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Run `rmaplab` with `args`.
pub fn rmaplab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rmaplab"))
        .args(args)
        .output()
        .expect("run rmaplab")
}

/// Its stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Its stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run `rmaplab` with `args`, which must succeed; its stdout.
pub fn ok(args: &[&str]) -> String {
    let o = rmaplab(args);
    assert!(
        o.status.success(),
        "rmaplab {args:?} failed: {}",
        stderr(&o)
    );
    stdout(&o)
}

/// A path as `&str` (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// A file of the repository, by its path from the repository root.
pub fn repo(p: &str) -> PathBuf {
    let mut d = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    d.pop();
    d.push(p);
    d
}

/// Replay options for one configuration, KVM's today (14 entries, head-insert), as JSON.
pub const KVM_TODAY_JSON: [&str; 6] = [
    "--entries",
    "14",
    "--era",
    "head-insert",
    "--format",
    "json",
];

/// A command line's words (split on spaces; test paths have none).
pub fn words(line: &str) -> Vec<&str> {
    line.split(' ').filter(|w| !w.is_empty()).collect()
}

/// An add event as a JSON Lines trace line.
pub fn add(rmap: u64, spte: u64) -> String {
    format!(r#"{{"ev":"add","rmap":{rmap},"spte":{spte}}}"#)
}

/// A remove event as a JSON Lines trace line.
pub fn remove(rmap: u64, spte: u64) -> String {
    format!(r#"{{"ev":"remove","rmap":{rmap},"spte":{spte}}}"#)
}

/// A JSON Lines trace in `dir` named `name`: the minimal header, then `events` (one JSON object
/// per line, as [`add`] and [`remove`] write them).
pub fn jsonl_trace(dir: &Path, name: &str, events: &[String]) -> PathBuf {
    let path = dir.join(name);
    let mut text = String::from("{\"format\":\"rmaplab-trace\",\"version\":1}\n");
    for e in events {
        text.push_str(e);
        text.push('\n');
    }
    std::fs::write(&path, text).expect("write a test trace");
    path
}
