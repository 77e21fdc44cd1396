//! The README's command-line examples are real: every code block whose commands are all
//! `rmaplab …` or `cat FILE` is run, in order, in one scratch directory (a `cat FILE` block
//! writes the text shown as FILE), and each command's output must be exactly what the README
//! shows. `RMAPLAB_BLESS_README=1 cargo test -p rmaplab --test readme` rewrites the README
//! with the real output instead.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing test panics: that is how it reports

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    let mut d = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    d.pop();
    d
}

/// One `$ command` and the output shown under it.
struct Step {
    /// Line index of the `$ ` line.
    line: usize,
    command: String,
    /// Line indices of the shown output `[start, end)`.
    out: (usize, usize),
}

/// The runnable blocks: their steps, in README order.
fn blocks(lines: &[&str]) -> Vec<Vec<Step>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].starts_with("```") {
            i += 1;
            continue;
        }
        // Only plain fences hold examples (```sh blocks are instructions, not transcripts).
        let plain = lines[i] == "```";
        let start = i + 1;
        let mut end = start;
        while end < lines.len() && !lines[end].starts_with("```") {
            end += 1;
        }
        if !plain {
            i = end + 1;
            continue;
        }
        let mut steps: Vec<Step> = Vec::new();
        for (k, l) in lines.iter().enumerate().take(end).skip(start) {
            if let Some(cmd) = l.strip_prefix("$ ") {
                if let Some(s) = steps.last_mut() {
                    s.out.1 = k;
                }
                steps.push(Step {
                    line: k,
                    command: cmd.to_string(),
                    out: (k + 1, end),
                });
            }
        }
        let runnable = !steps.is_empty()
            && steps
                .iter()
                .all(|s| s.command.starts_with("rmaplab ") || s.command.starts_with("cat "));
        if runnable {
            out.push(steps);
        }
        i = end + 1;
    }
    out
}

fn run(dir: &Path, command: &str) -> String {
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    let o = Command::new(env!("CARGO_BIN_EXE_rmaplab"))
        .args(&args)
        .current_dir(dir)
        .output()
        .expect("run rmaplab");
    assert!(
        o.status.success(),
        "README example `{command}` failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&o.stderr));
    text
}

fn normalise(s: &str) -> String {
    s.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_string()
}

#[test]
fn readme_examples_print_what_the_readme_shows() {
    let path = repo().join("README.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let dir = tempfile::tempdir().unwrap();
    // Inputs the examples name.
    for (from, to) in [
        (
            "core/tests/fixtures/captures/tc-fork16v2.dat",
            "tc-fork16v2.dat",
        ),
        (
            "core/tests/fixtures/captures/churn9-3ev.collect.rmap",
            "churn9-3ev.collect.rmap",
        ),
        (
            "core/tests/fixtures/captures/churn9-3ev.dat",
            "churn9-3ev.dat",
        ),
        ("web/assets/default.rmap", "default.rmap"),
    ] {
        std::fs::copy(repo().join(from), dir.path().join(to)).unwrap();
    }
    let bless = std::env::var_os("RMAPLAB_BLESS_README").is_some();
    // (output line range, new text) for blessing.
    let mut replace: Vec<((usize, usize), String)> = Vec::new();
    let mut mismatches = Vec::new();
    let mut ran = 0;
    for steps in blocks(&lines) {
        for s in steps {
            let shown = lines[s.out.0..s.out.1].join("\n");
            if let Some(file) = s.command.strip_prefix("cat ") {
                std::fs::write(dir.path().join(file.trim()), format!("{shown}\n")).unwrap();
                continue;
            }
            let got = run(dir.path(), &s.command);
            ran += 1;
            if normalise(&got) != normalise(&shown) {
                mismatches.push(format!(
                    "README line {}: `{}` printed\n{}\n--- but the README shows ---\n{}",
                    s.line + 1,
                    s.command,
                    got,
                    shown
                ));
                replace.push((s.out, normalise(&got)));
            }
        }
    }
    assert!(ran >= 6, "only {ran} README commands found");
    if bless && !replace.is_empty() {
        let mut new: Vec<String> = Vec::new();
        let mut i = 0;
        for ((a, b), t) in &replace {
            new.extend(lines[i..*a].iter().map(|l| (*l).to_string()));
            new.extend(t.lines().map(str::to_string));
            i = *b;
        }
        new.extend(lines[i..].iter().map(|l| (*l).to_string()));
        std::fs::write(&path, new.join("\n") + "\n").unwrap();
        eprintln!("README.md: {} example outputs rewritten", replace.len());
        return;
    }
    assert!(
        mismatches.is_empty(),
        "{} README example(s) out of date (RMAPLAB_BLESS_README=1 rewrites them):\n\n{}",
        mismatches.len(),
        mismatches.join("\n\n")
    );
}
