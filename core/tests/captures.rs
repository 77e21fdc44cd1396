//! The capture readers on real files (core/tests/fixtures/captures) and on every damaged
//! version of them a test can cheaply make: each answers with values or an error, never a
//! panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing test panics: that is how it reports

use rmaplab_core::import::record::RecordKind;
use rmaplab_core::import::{import_all, perfdata, tracedat, CaptureFormat, ImportOptions};

mod common;

/// The bytes of `tests/fixtures/captures/{name}`.
fn fixture(name: &str) -> Vec<u8> {
    common::fixture("captures", name)
}

fn set_sptes(records: &[rmaplab_core::import::record::Record]) -> usize {
    records
        .iter()
        .filter(|r| matches!(r.kind, RecordKind::SetSpte { .. }))
        .count()
}

#[test]
fn trace_dat_v7_zstd_reads_both_cpus_in_time_order() {
    let dat = tracedat::read(&fixture("tc-fork16v2.dat")).unwrap();
    assert_eq!(dat.version, "7");
    assert_eq!(dat.compression.as_deref(), Some("zstd"));
    assert_eq!(dat.cpus, 2);
    assert!(dat.has_set_spte);
    // trace-cmd report of this file prints 8752 kvm_mmu_set_spte lines.
    assert_eq!(set_sptes(&dat.records), 8752);
    assert!(dat.records.windows(2).all(|w| w[0].ts <= w[1].ts));
    assert_eq!(tracedat::lost_total(&dat.records), 0);
}

#[test]
fn trace_dat_counts_the_pages_missed_events() {
    let dat = tracedat::read(&fixture("tc-alias1500-drops.dat")).unwrap();
    // `trace-cmd report` shows `[EVENTS DROPPED]` (count unknown) and `[580 EVENTS DROPPED]`.
    assert_eq!(tracedat::lost_total(&dat.records), 581);
}

#[test]
fn perf_data_reads_samples_with_pid_and_tid() {
    let pd = perfdata::read(&fixture("perf-fork16v2.data")).unwrap();
    // perf record reported 8929 samples; perf script prints 8752 set_spte lines.
    assert_eq!(pd.samples, 8929);
    assert_eq!(set_sptes(&pd.records), 8752);
    assert!(pd.records.iter().all(|r| r.task.tgid.is_some()));
    assert!(pd.records.windows(2).all(|w| w[0].ts <= w[1].ts));
}

/// Deterministic byte damage: truncations and flipped bytes.
fn damaged(data: &[u8], cuts: usize, flips: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in 1..=cuts {
        out.push(data[..data.len() * i / (cuts + 1)].to_vec());
    }
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..flips {
        let mut d = data.to_vec();
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = (x % d.len() as u64) as usize;
            d[at] ^= (x >> 32) as u8 | 1;
        }
        out.push(d);
    }
    out
}

#[test]
fn damaged_trace_dat_and_perf_data_are_errors_not_panics() {
    for (name, format) in [
        ("tc-fork16v2.dat", CaptureFormat::TraceDat),
        ("perf-fork16v2.data", CaptureFormat::PerfData),
    ] {
        let data = fixture(name);
        for d in damaged(&data, 64, 64) {
            let _ = import_all(format, &d, ImportOptions::default());
        }
    }
}

/// Inputs the fuzzers found that once crashed a reader (a panic or an abort inside the
/// reader), named after the fuzz target that found them: each is now answered — with an error
/// where the input is broken in what rmaplab reads (`huge` counts), or with values where the
/// broken part is one rmaplab skips.
#[test]
fn fuzz_regressions_are_answered_without_a_crash() {
    let dir = format!(
        "{}/tests/fixtures/fuzz-regressions",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&path).unwrap();
        let failed = if name.starts_with("binary_decode-") {
            // As the binary_decode target feeds it: the first byte is the chunk size.
            let body = data.get(1..).unwrap_or_default();
            let mut dec = rmaplab_core::trace::TraceDecoder::new();
            dec.push(body)
                .and_then(|()| loop {
                    if dec.finish()?.is_none() {
                        break Ok(());
                    }
                })
                .is_err()
        } else if name.starts_with("perf_data-") {
            perfdata::read(&data).is_err()
                && import_all(CaptureFormat::PerfData, &data, ImportOptions::default()).is_err()
        } else if name.starts_with("trace_dat-") {
            tracedat::read(&data).is_err()
                && import_all(CaptureFormat::TraceDat, &data, ImportOptions::default()).is_err()
        } else {
            panic!("{name}: name it after its fuzz target");
        };
        if name.contains("huge") {
            assert!(failed, "{name} is answered with an error");
        }
        seen += 1;
    }
    assert!(seen >= 2);
}
