//! Bring-your-own captures (core/tests/fixtures/captures, see its README): every capture of a
//! guest run replays to the same figures as rmaplab's own trace of that run (`*.collect.rmap`,
//! whose replay reproduces KVM's counters), or is refused with what to record instead.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing test panics: that is how it reports

mod common;

use common::{rmaplab, stderr, KVM_TODAY_JSON};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/fixtures/captures")
        .join(name)
}

/// The figures an import must reproduce.
#[derive(Debug, PartialEq, Eq)]
struct Figures {
    allocations: u64,
    frees: u64,
    peak_descs: u64,
    max_rmap_size: u64,
    recycles: u64,
}

fn replay(path: &str, extra: &[&str]) -> (Figures, serde_json::Value, String) {
    let mut args = vec!["replay", path];
    args.extend(KVM_TODAY_JSON);
    args.extend_from_slice(extra);
    let o = rmaplab(&args);
    assert!(o.status.success(), "rmaplab {args:?}: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let c = &v[0];
    let n = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("{k} in {c}"));
    (
        Figures {
            allocations: n("allocations"),
            frees: n("frees"),
            peak_descs: n("peak_descs"),
            max_rmap_size: n("max_rmap_size"),
            recycles: n("recycles"),
        },
        c.clone(),
        stderr(&o),
    )
}

/// The ground truth: rmaplab's own trace of the run, which must reproduce KVM's counters.
fn truth(name: &str) -> Figures {
    let (f, c, _) = replay(fixture(name).to_str().unwrap(), &[]);
    assert!(
        c["stat_checks"].as_u64().unwrap() >= 8,
        "{name}: KVM's stats recorded"
    );
    assert_eq!(c["stat_mismatches"], 0, "{name}: the model reproduces KVM");
    f
}

#[test]
fn trace_cmd_captures_replay_to_the_ground_truth() {
    let want = truth("tc-fork16v2.collect.rmap");
    assert_eq!(
        want.max_rmap_size, 13,
        "KVM's max_mmu_rmap_size for this run"
    );
    for (name, format) in [
        ("tc-fork16v2.dat", "trace.dat v7 (zstd)"),
        // `trace-cmd convert --file-version 6` and `--compression none` of it, zstd-packed.
        ("tc-fork16v2.v6.dat.zst", "trace.dat v6"),
        ("tc-fork16v2.v7-uncompressed.dat.zst", "trace.dat v7:"),
        ("tc-fork16v2.tracefs.txt.gz", "kvmmmu text"),
        ("tc-fork16v2.report-R.txt.gz", "raw key=value"),
        ("tc-fork16v2.report-N.txt.gz", "raw key=value"),
    ] {
        let (got, _, err) = replay(fixture(name).to_str().unwrap(), &[]);
        assert_eq!(got, want, "{name}\n{err}");
        assert!(
            err.contains(format),
            "{name}: the import report names the format: {err}"
        );
        assert!(!err.contains("LOST"), "{name}: {err}");
    }
}

#[test]
fn perf_captures_replay_to_the_ground_truth() {
    let want = truth("perf-fork16v2.collect.rmap");
    for name in ["perf-fork16v2.data", "perf-fork16v2.script.txt.gz"] {
        let (got, _, err) = replay(fixture(name).to_str().unwrap(), &[]);
        assert_eq!(got, want, "{name}\n{err}");
    }
    let small = truth("perf-alias3.collect.rmap");
    let (got, _, err) = replay(fixture("perf-alias3.data").to_str().unwrap(), &[]);
    assert_eq!(got, small, "{err}");
    // perf.data records the process id with every sample: VMs are told apart by it.
    let (_, _, err) = replay(fixture("perf-fork16v2.data").to_str().unwrap(), &[]);
    assert!(err.contains("process id (tgid)"), "{err}");
}

#[test]
fn per_cpu_text_concatenated_is_merged_by_timestamp() {
    let want = truth("tc-fork16v2.collect.rmap");
    let (got, _, err) = replay(
        fixture("tc-fork16v2.report-R-cpu0then1.txt.zst")
            .to_str()
            .unwrap(),
        &[],
    );
    assert!(err.contains("merged by timestamp"), "{err}");
    assert_eq!(got, want, "{err}");
}

#[test]
fn the_kvm_plugin_form_is_refused_with_the_remedy() {
    let o = rmaplab(&[
        "replay",
        fixture("tc-fork16v2.report.txt.gz").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("kvm plugin") && err.contains("trace-cmd report -R"),
        "{err}"
    );
    assert!(o.stdout.is_empty(), "no table for a refused capture");
}

/// `rmaplab replay` of a text capture `text`, which must be refused with no table; its stderr.
fn refused_text_capture(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("capture.txt");
    std::fs::write(&p, text).unwrap();
    let o = rmaplab(&["replay", p.to_str().unwrap()]);
    assert!(!o.status.success(), "{text}");
    assert!(o.stdout.is_empty(), "no table for a refused capture");
    stderr(&o)
}

#[test]
fn captures_without_kvmmmu_events_are_refused() {
    let err = refused_text_capture(
        "cpus=2\n   bash-100 [000] 5.000001: sched_switch: prev_comm=bash prev_pid=100\n   bash-100 [000] 5.000002: sys_enter: NR 1\n",
    );
    assert!(
        err.contains("no kvmmmu events") && err.contains("-e kvmmmu"),
        "{err}"
    );
    // Only set_spte-less kvmmmu lines: no adds.
    let err = refused_text_capture(
        "vcpu0-1 [000] 5.000001: kvm_mmu_get_page: sp gen 0 gfn 4 l1 8-byte q0 wux nxe ad root 0 sync new\n",
    );
    assert!(err.contains("kvm_mmu_set_spte"), "{err}");
}

#[test]
fn lost_events_warn_and_strict_refuses() {
    let want = truth("tc-alias1500-drops.collect.rmap");
    assert_eq!((want.max_rmap_size, want.recycles), (1001, 1));
    for name in [
        "tc-alias1500-drops.dat",
        "tc-alias1500-drops.report-R.txt.gz",
    ] {
        let path = fixture(name);
        let path = path.to_str().unwrap();
        let (_, _, err) = replay(path, &[]);
        assert!(
            err.contains("LOST EVENTS") && err.contains("--strict refuses"),
            "{name}: {err}"
        );
        let o = rmaplab(&["replay", path, "--strict"]);
        assert!(!o.status.success(), "{name}: --strict must refuse");
        assert!(stderr(&o).contains("lost"), "{}", stderr(&o));
        // import --strict: refused, and no output file.
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.rmap");
        let o = rmaplab(&["import", path, "-o", out.to_str().unwrap(), "--strict"]);
        assert!(!o.status.success());
        assert!(!out.exists(), "no partial output");
        // Without --strict the import keeps the report (and the loss) in the trace.
        let o = rmaplab(&["import", path, "-o", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = rmaplab(&["replay", out.to_str().unwrap(), "--strict"]);
        assert!(
            !o.status.success(),
            "replay --strict of the imported trace refuses too"
        );
    }
}

/// The multi-VM capture with the second VM's timestamps shifted onto the first's, as two VMs
/// running at once on a busy host would interleave.
fn overlapping_two_vms(dir: &std::path::Path) -> PathBuf {
    let text = {
        let gz = std::fs::read(fixture("twovm.tracefs.txt.gz")).unwrap();
        let plain = rmaplab_core::import::compress::gzip(&gz, 1 << 30).unwrap();
        String::from_utf8(plain).unwrap()
    };
    // VM threads as the fixture README gives them: the second VM is VMM 4394 / vCPU 4402.
    let ts = |l: &str| -> Option<f64> {
        l.split_whitespace()
            .find_map(|t| t.strip_suffix(':')?.parse::<f64>().ok())
    };
    let second = |l: &str| l.contains("-4402 ") || l.contains("-4394 ");
    let first_a = text.lines().filter(|l| !second(l)).find_map(ts).unwrap();
    let first_b = text.lines().filter(|l| second(l)).find_map(ts).unwrap();
    assert!(first_b > first_a + 0.001, "the VMs ran one after the other");
    let shift = first_b - first_a;
    let mut shifted = String::new();
    for l in text.lines() {
        match ts(l) {
            Some(t) if second(l) => {
                let old = format!("{t:.6}:");
                let new = format!("{:.6}:", t - shift + 0.000_000_5);
                shifted.push_str(&l.replacen(&old, &new, 1));
            }
            _ => shifted.push_str(l),
        }
        shifted.push('\n');
    }
    let p = dir.join("twovm-overlapping.txt");
    std::fs::write(&p, shifted).unwrap();
    p
}

#[test]
fn two_vms_at_once_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let p = overlapping_two_vms(dir.path());
    let p = p.to_str().unwrap();
    let (got, c, err) = replay(p, &[]);
    assert!(err.contains("VMs: 2"), "{err}");
    // Figures per VM: each VM's own peak (the same guest in both), and the memory per VM is
    // one VM's (1 vCPU, its own lists), not both VMs' together.
    assert_eq!(c["vm_peak_descs"], serde_json::json!([43, 43]), "{c}");
    assert_eq!(c["metrics"]["vcpus"], 1, "{c}");
    assert!(
        err.contains("merged by timestamp"),
        "the shift interleaves them: {err}"
    );
    // KVM: max_mmu_rmap_size 599 in each VM, no recycle.
    assert_eq!((got.max_rmap_size, got.recycles), (599, 0), "{err}");
    // Each VMM thread that tears its VM down (it only zaps) is that VM's, not the other's
    // whose pages have the same gfns and roles: every descriptor is freed.
    assert_eq!((got.allocations, got.frees), (86, 86), "{err}");
    for (vmm, vcpu) in [("4395", "4398"), ("4394", "4402")] {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("{vmm},{vcpu}"))
                    || l.contains(&format!("{vcpu},{vmm}"))),
            "VMM {vmm} with vCPU {vcpu}: {err}"
        );
    }
    assert_eq!(
        err.matches("max_mmu_rmap_size 599").count(),
        2,
        "per VM: {err}"
    );
    // Merged into one VM (what rmaplab did before), the same capture shows a recycle that
    // never happened: the check above can fail.
    let (merged, _, _) = replay(p, &["--one-vm"]);
    assert!(
        merged.recycles >= 1 && merged.max_rmap_size > 599,
        "{merged:?}"
    );
    // --vm keeps one VM: half the adds.
    let (one, c, err) = replay(p, &["--vm", "4402"]);
    assert_eq!(one.max_rmap_size, 599, "{err}");
    let (_, all, _) = replay(p, &[]);
    assert_eq!(
        c["add_cost"]["descs"]["count"].as_u64().unwrap() * 2,
        all["add_cost"]["descs"]["count"].as_u64().unwrap()
    );
    // The VMM's pid (a thread that only zaps, at teardown) names its VM too, frees included.
    let (vmm, _, err) = replay(p, &["--vm", "4394"]);
    assert_eq!(
        (vmm.allocations, vmm.frees, vmm.peak_descs),
        (43, 43, 43),
        "{err}"
    );
    assert!(err.contains("kept VM 1 only"), "{err}");
    let o = rmaplab(&["replay", p, "--vm", "999999"]);
    assert!(
        !o.status.success() && stderr(&o).contains("VMs found"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn kvm_stats_given_at_import_are_checked_by_the_replay() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("perf.rmap");
    let import_with = |stat: &str| {
        let o = rmaplab(&[
            "import",
            fixture("perf-fork16v2.data").to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--kvm-stat",
            stat,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    };
    // KVM's cumulative maximum for this run (the record log's stats were read before the VM
    // was destroyed; the capture runs past that, so only the maximum still holds).
    import_with("max_mmu_rmap_size=13");
    let (_, c, _) = replay(out.to_str().unwrap(), &[]);
    assert_eq!(c["stat_checks"], 1);
    assert_eq!(c["stat_mismatches"], 0);
    // A wrong value is caught.
    import_with("max_mmu_rmap_size=14");
    let o = rmaplab(&["replay", out.to_str().unwrap(), "--strict"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("does not reproduce KVM's counters"),
        "{}",
        stderr(&o)
    );
}

/// A capture of a guest that unmaps by writing its own page tables (the churn workload; KVM
/// drops those SPTEs with no kvmmmu event) must not become a confident wrong answer: its figures
/// are marked not exact on every configuration, the bounds hold against the ground truth, the
/// recommendation is withheld, and `--strict` refuses it in import, replay and report.
#[test]
fn a_capture_that_misses_removals_is_marked_not_exact_and_never_recommends() {
    let truth_path = fixture("churn9-3ev.collect.rmap");
    let (want, c, _) = replay(truth_path.to_str().unwrap(), &[]);
    assert_eq!(c["exact"], true, "rmaplab's own guest is exact");
    assert_eq!(c["stat_mismatches"], 0);
    let dat = fixture("churn9-3ev.dat");
    let dat = dat.to_str().unwrap();
    let o = rmaplab(&["replay", dat, "--entries", "2,14", "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning: NOT EXACT"), "{}", stderr(&o));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for c in rows.as_array().unwrap() {
        assert_eq!(c["exact"], false, "{}", c["label"]);
        let ne = &c["not_exact"];
        let has = |list: &str, key: &str| {
            ne[list]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k.as_str() == Some(key))
        };
        assert!(
            has("bounds", "peak_descs") && has("bounds", "max_rmap_size"),
            "{ne}"
        );
        assert!(
            has("unknown", "allocations") && has("unknown", "work_per_op"),
            "{ne}"
        );
        assert!(
            ne["why"][0].as_str().unwrap().contains("page tables"),
            "{ne}"
        );
    }
    // The bounds hold: the model keeps SPTEs KVM dropped, never fewer.
    let (got, _, _) = replay(dat, &[]);
    assert!(got.peak_descs >= want.peak_descs, "{got:?} vs {want:?}");
    assert!(
        got.max_rmap_size >= want.max_rmap_size,
        "{got:?} vs {want:?}"
    );
    // CSV and the table mark the bounds and the unknowns.
    let csv = rmaplab(&["replay", dat, "--format", "csv"]);
    let csv = String::from_utf8_lossy(&csv.stdout).into_owned();
    let row = csv.lines().nth(1).unwrap();
    assert!(row.contains(",<=") && row.contains("?,"), "{row}");
    // No size is recommended from bounds.
    let o = rmaplab(&["report", dat]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("No recommendation: the figures are not exact"),
        "{text}"
    );
    assert!(!text.contains("Recommendation."), "{text}");
    // --strict refuses it everywhere.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("churn.rmap");
    let o = rmaplab(&["import", dat, "-o", out.to_str().unwrap(), "--strict"]);
    assert!(!o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("not be exact"), "{}", stderr(&o));
    assert!(!out.exists(), "a refused import leaves no file");
    for cmd in ["replay", "report"] {
        let o = rmaplab(&[cmd, dat, "--strict"]);
        assert_eq!(o.status.code(), Some(3), "{cmd}: {}", stderr(&o));
    }
}
