//! Real guests on /dev/kvm: each built-in workload is collected and its replay must reproduce
//! KVM's own counters; an interrupted collector must leave no tracefs instance and no output;
//! attach mode must record a VM run by a second rmaplab process.
//!
//! These need root, /dev/kvm and a shadow-paging host. Where those are missing every test here
//! prints `SKIPPED: <reason>` and returns (scripts/test.sh runs them with --nocapture so the
//! reason is visible).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing test panics: that is how it reports

mod common;

use common::{words, KVM_TODAY_JSON};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rmaplab");

fn why_not() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    if !Path::new("/dev/kvm").exists() {
        return Some("no /dev/kvm".into());
    }
    for (m, p) in [("kvm_intel", "ept"), ("kvm_amd", "npt")] {
        let v =
            std::fs::read_to_string(format!("/sys/module/{m}/parameters/{p}")).unwrap_or_default();
        if matches!(v.trim(), "Y" | "1") {
            return Some(format!(
                "{m}.{p} is on: guest memory never reaches the shadow MMU"
            ));
        }
    }
    None
}

macro_rules! require_kvm {
    () => {
        if let Some(why) = why_not() {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
}

/// [`require_kvm`], and QEMU with the tools that build its test guest.
macro_rules! require_kvm_and_qemu {
    () => {
        require_kvm!();
        if let Some(why) = why_no_qemu() {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn leftover_instances() -> Vec<String> {
    [
        "/sys/kernel/tracing/instances",
        "/sys/kernel/debug/tracing/instances",
    ]
    .iter()
    .filter_map(|d| std::fs::read_dir(d).ok())
    .flat_map(|rd| rd.filter_map(Result::ok))
    .map(|e| e.file_name().to_string_lossy().into_owned())
    .filter(|n| n.starts_with("rmaplab-"))
    .collect()
}

/// `rmaplab collect` of the command line `args` (after `collect -o FILE`) into `name`.rmap must
/// reproduce KVM's counters, and an independent replay of the file must agree; the replay's
/// JSON.
fn collect_and_check(args: &str, name: &str) -> serde_json::Value {
    let args = words(args);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(format!("{name}.rmap"));
    let mut full = vec!["collect", "--quiet", "-o", out.to_str().unwrap()];
    full.extend_from_slice(&args);
    let o = run(&full);
    let t = text(&o);
    assert!(o.status.success(), "collect {args:?} failed:\n{t}");
    assert!(t.contains("KVM counters reproduced"), "{t}");
    assert!(!t.contains("MISMATCH"), "{t}");
    // An independent replay of the written file agrees (strict: no anomaly, every stat).
    replay_json(&out, &["--strict"])
}

/// `rmaplab replay` of `trace` as KVM today, with `extra` options, which must succeed; its JSON.
fn replay_json(trace: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["replay", trace.to_str().unwrap()];
    args.extend(KVM_TODAY_JSON);
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(o.status.success(), "{args:?} failed:\n{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn real_kvm_alias_1002_gives_1001_and_recycles() {
    require_kvm!();
    let v = collect_and_check("alias --aliases 1002", "alias1002");
    assert_eq!(v[0]["max_rmap_size"], 1001);
    assert_eq!(v[0]["recycles"], 1);
    assert_eq!(v[0]["stat_mismatches"], 0);
    assert!(v[0]["stat_checks"].as_u64().unwrap() >= 4);
}

/// `--text-pipe` reads the instance's `trace_pipe` text and feeds core's text parser into the
/// same inference engine as the binary pages: the same counters must come out.
#[test]
fn real_kvm_text_pipe_matches_kvm_too() {
    require_kvm!();
    let v = collect_and_check(
        "--text-pipe fork --procs 8 --pages 64 --private 4 --vcpus 2",
        "fork-text",
    );
    assert_eq!(v[0]["stat_mismatches"], 0);
    assert!(v[0]["stat_checks"].as_u64().unwrap() >= 4);
}

#[test]
fn real_kvm_fork_on_two_vcpus() {
    require_kvm!();
    let v = collect_and_check("--vcpus 2 fork --procs 12 --pages 48 --private 4", "fork");
    assert_eq!(
        v[0]["max_rmap_size"], 11,
        "12 address spaces share each page"
    );
    assert!(v[0]["vcpus_seen"].as_u64().unwrap() >= 2);
}

#[test]
fn real_kvm_spread_and_churn() {
    require_kvm!();
    collect_and_check("--vcpus 2 spread --gfns 1500 --max-aliases 48", "spread");
    collect_and_check(
        "--vcpus 3 churn --cycles 6 --batch 150 --gfns 200 --spaces 6",
        "churn",
    );
}

fn wait_for_instance(pid: u32, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if leftover_instances()
            .iter()
            .any(|n| n == &format!("rmaplab-{pid}"))
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A collector running a long churn workload (until it is signalled).
fn spawn_long_collector(out: &Path) -> std::process::Child {
    Command::new(BIN)
        .args([
            "collect",
            "--quiet",
            "-o",
            out.to_str().unwrap(),
            "churn",
            "--cycles",
            "100000",
            "--batch",
            "200",
            "--gfns",
            "512",
            "--spaces",
            "8",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn real_kvm_interrupted_collector_cleans_up() {
    require_kvm!();
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("never.rmap");
        let mut child = spawn_long_collector(&out);
        assert!(
            wait_for_instance(child.id(), PATIENCE),
            "the collector never created its instance"
        );
        std::thread::sleep(Duration::from_millis(500));
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "signal {signal}");
        assert!(
            leftover_instances().is_empty(),
            "instances left: {:?}",
            leftover_instances()
        );
        assert!(!out.exists(), "partial output written");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "files left: {left:?}");
    }
}

#[test]
fn real_kvm_attach_records_another_vmm() {
    require_kvm!();
    let dir = tempfile::tempdir().unwrap();
    let vm_out = dir.path().join("vm.rmap");
    let mut vm = spawn_long_collector(&vm_out);
    assert!(wait_for_instance(vm.id(), PATIENCE));
    // Attach once the VMM holds its VM's stats fd: it opens it after creating the VM and
    // populating guest memory, so waiting for the kvm-vm fd alone races with that (and the
    // "at attach" stats mark below would then be missing).
    let has_stats_fd = |pid: u32| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| {
                d.flatten().any(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|l| l.to_string_lossy() == "anon_inode:kvm-vm-stats")
                })
            })
            .unwrap_or(false)
    };
    let t0 = std::time::Instant::now();
    while !has_stats_fd(vm.id()) && t0.elapsed() < PATIENCE {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        has_stats_fd(vm.id()),
        "the second rmaplab never opened its VM's stats fd"
    );
    let out = dir.path().join("attach.rmap");
    let pid = vm.id().to_string();
    // Not --quiet: its progress lines say why KVM's stats could not be read, if they could not.
    let attach = run(&[
        "collect",
        "--pid",
        &pid,
        "--duration",
        "1s",
        "-o",
        out.to_str().unwrap(),
    ]);
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(vm.id() as i32, libc::SIGINT) };
    let _ = vm.wait();
    assert!(attach.status.success(), "{}", text(&attach));
    let v = replay_json(&out, &[]);
    assert!(
        v[0]["allocations"].as_u64().unwrap() > 0,
        "attach recorded no rmap growth"
    );
    let o = run(&[
        "convert",
        out.to_str().unwrap(),
        dir.path().join("a.jsonl").to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let jsonl = std::fs::read_to_string(dir.path().join("a.jsonl")).unwrap();
    assert!(
        jsonl.lines().next().unwrap().contains("attach mode"),
        "metadata must say removals are partial"
    );
    // KVM's stats of the other process's VM, read through pidfd_getfd, start the trace as a
    // mark (never as `stat` events: a mid-run trace cannot reproduce absolute counters).
    let first_event: serde_json::Value =
        serde_json::from_str(jsonl.lines().nth(1).expect("an event")).unwrap();
    let label = first_event["label"].as_str().unwrap_or_default();
    assert!(
        label.starts_with("KVM stats of VM fd ")
            && label.contains(" at attach: ")
            && label.contains("pages_4k="),
        "first event: {first_event}; the collector said:\n{}",
        text(&attach)
    );
    let last_event: serde_json::Value =
        serde_json::from_str(jsonl.lines().last().expect("an event")).unwrap();
    assert!(
        last_event["label"]
            .as_str()
            .is_some_and(|l| l.contains(" at the end: ") && l.contains("max_mmu_rmap_size=")),
        "last event: {last_event}; the collector said:\n{}",
        text(&attach)
    );
    assert!(!jsonl.contains("\"ev\":\"stat\""));
    assert!(leftover_instances().is_empty());
}

/// The VMM the QMP tests drive: Debian's QEMU (`scripts/setup-tools.sh --qemu` installs it).
const QEMU: &str = "qemu-system-x86_64";

/// Why the QMP tests cannot run here, if they cannot: QEMU, or the assembler and linker that
/// build the test guest, missing.
fn why_no_qemu() -> Option<String> {
    let runs = |b: &str| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !runs(QEMU) {
        return Some(format!(
            "{QEMU} not found (scripts/setup-tools.sh --qemu installs Debian's qemu-system-x86)"
        ));
    }
    ["gcc", "ld", "objcopy"]
        .into_iter()
        .find(|b| !runs(b))
        .map(|b| format!("{b} not found: it builds the multiboot test guest"))
}

/// The tiny multiboot guest of tests/qemu (ring 3: 1500 aliases of one frame, then 512
/// distinct frames), built as the 32-bit ELF QEMU's -kernel loads.
fn multiboot_guest(dir: &Path) -> std::path::PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/qemu");
    let o = dir.join("mb.o");
    let elf64 = dir.join("mb64.elf");
    let elf = dir.join("mb.elf");
    let ok = |c: &mut Command| c.status().is_ok_and(|s| s.success());
    assert!(ok(Command::new("gcc")
        .args(["-DDELAY=1000", "-DSPREAD=512", "-c"])
        .arg(src.join("mb.S"))
        .arg("-o")
        .arg(&o)));
    assert!(ok(Command::new("ld")
        .arg("-T")
        .arg(src.join("link.ld"))
        .arg("-o")
        .arg(&elf64)
        .arg(&o)
        .stderr(Stdio::null())));
    assert!(ok(Command::new("objcopy")
        .args(["-O", "elf32-i386"])
        .arg(&elf64)
        .arg(&elf)));
    elf
}

/// How long any wait may take before a test gives up: generous, because emulated firmware
/// under PVM is slow and the machine may be busy; every wait ends as soon as its condition
/// holds, so this is a backstop, never a guess at how long something takes.
const PATIENCE: Duration = Duration::from_secs(600);

/// Wait until `cond` holds, at most `limit`; whether it did.
fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// QEMU started paused (`-S`, so nothing runs before rmaplab attaches) with `-no-shutdown`
/// (the VM stays after the guest powers off) and a QMP socket in `dir`; `kernel` is a multiboot
/// ELF, or `None` for SeaBIOS alone with nothing to boot. Returns once the socket exists.
fn start_paused_qemu(
    dir: &Path,
    kernel: Option<&Path>,
) -> (std::process::Child, std::path::PathBuf) {
    let sock = dir.join("qmp.sock");
    let mut cmd = Command::new(QEMU);
    cmd.args([
        "-enable-kvm",
        "-cpu",
        "qemu64",
        "-m",
        "64",
        "-S",
        "-no-reboot",
        "-no-shutdown",
    ])
    .args([
        "-display", "none", "-serial", "null", "-monitor", "none", "-nic", "none",
    ])
    .arg("-qmp")
    .arg(format!("unix:{},server=on,wait=off", sock.display()))
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    if let Some(k) = kernel {
        cmd.arg("-kernel").arg(k);
    }
    let vm = cmd.spawn().unwrap();
    assert!(
        wait_until(PATIENCE, || sock.exists()),
        "QEMU never created its QMP socket"
    );
    (vm, sock)
}

/// `collect --qmp --until-shutdown` of a QEMU started paused (-S -no-shutdown): rmaplab finds
/// QEMU's pid and vCPU threads through QMP, resumes the VM once tracing runs, records until the
/// guest powers off (however long SeaBIOS takes: the bound is only a backstop), reads KVM's
/// stats with query-stats, quits QEMU, and the replay of the trace reproduces the stats.
#[test]
fn real_kvm_qmp_collect_until_shutdown_reproduces_kvm_counters() {
    require_kvm_and_qemu!();
    let dir = tempfile::tempdir().unwrap();
    let elf = multiboot_guest(dir.path());
    let (mut vm, sock) = start_paused_qemu(dir.path(), Some(&elf));
    let out = dir.path().join("qemu.rmap");
    let bound = format!("{}s", PATIENCE.as_secs());
    let o = run(&[
        "collect",
        "--qmp",
        sock.to_str().unwrap(),
        "--until-shutdown",
        "--duration",
        &bound,
        "-o",
        out.to_str().unwrap(),
    ]);
    let t = text(&o);
    // rmaplab quit QEMU once the guest was off: it ends by itself.
    let quit = wait_until(PATIENCE, || vm.try_wait().unwrap().is_some());
    let _ = vm.kill();
    let qemu_out = vm.wait_with_output().unwrap();
    let qemu_said = String::from_utf8_lossy(&qemu_out.stderr);
    assert!(o.status.success(), "{t}\nQEMU: {qemu_said}");
    assert!(quit, "QEMU still ran after the recording:\n{t}");
    assert!(t.contains("from its first instruction"), "{t}");
    assert!(t.contains("the guest shut down after"), "{t}");
    assert!(t.contains("KVM stats (QMP) at the end"), "{t}");
    assert!(!t.contains("no SPTEs"), "{t}");
    assert!(
        leftover_instances().is_empty(),
        "tracefs instance left behind"
    );
    let v = replay_json(&out, &[]);
    let c = &v[0];
    // An attached recording cannot see the SPTEs KVM drops on the guest's own page-table
    // writes: its figures are bounds, said so even when KVM's counters are reproduced.
    assert!(t.contains("warning: NOT EXACT"), "{t}");
    assert_eq!(c["exact"], false, "{c}");
    assert!(c["stat_checks"].as_u64().unwrap() >= 4, "{c}");
    assert_eq!(c["stat_mismatches"], 0);
    // 1500 aliases of one frame: KVM recycles the rmap at the 1002nd.
    assert_eq!(c["max_rmap_size"], 1001);
    assert_eq!(c["recycles"], 1);
}

/// A recording of a VM that never leaves its firmware (SeaBIOS with nothing to boot, emulated
/// in ring 0: no SPTEs at all) must not read as a success: it warns "no SPTEs", and `--strict`
/// fails, in `collect` and in `replay` of the written trace.
#[test]
fn real_kvm_qmp_recording_of_firmware_only_says_no_sptes() {
    require_kvm_and_qemu!();
    let dir = tempfile::tempdir().unwrap();
    let (mut vm, sock) = start_paused_qemu(dir.path(), None);
    let out = dir.path().join("bios.rmap");
    let args = |strict: bool| {
        let mut a = vec![
            "collect",
            "--qmp",
            sock.to_str().unwrap(),
            "--duration",
            "1s",
            "-o",
            out.to_str().unwrap(),
        ];
        if strict {
            a.push("--strict");
        }
        a
    };
    let strict = run(&args(true));
    let plain = run(&args(false));
    let _ = vm.kill();
    let _ = vm.wait();
    let t = text(&strict);
    assert_eq!(strict.status.code(), Some(3), "{t}");
    assert!(t.contains("warning: no SPTEs"), "{t}");
    let t = text(&plain);
    assert!(plain.status.success(), "{t}");
    assert!(t.contains("warning: no SPTEs"), "{t}");
    let mut replay = vec!["replay", out.to_str().unwrap()];
    replay.extend(KVM_TODAY_JSON);
    let o = run(&replay);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("warning: no SPTEs"), "{}", text(&o));
    replay.push("--strict");
    let o = run(&replay);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}
