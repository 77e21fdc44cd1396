//! Measures replay throughput and prints Markdown tables for `docs/benchmarks.md`
//! (`scripts/bench-report.sh` runs it with the browser and collector measurements).
//!
//! Every figure is the median of paired, interleaved runs, so a noisy neighbour slows the
//! compared variants alike and the ratios stay stable.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark aborts on a broken setup

use rmaplab_core::replay::{benchmark_configs, benchmark_sizes_head_insert, Replayer};
use rmaplab_core::trace::{
    binary, decode_all, Event, EventKind, RmapId, SpteId, TraceDecoder, TraceMeta,
};
use rmaplab_core::{Era, ModelConfig};
use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

const RUNS: usize = 15;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Run each closure RUNS times, interleaved; return each one's median seconds.
fn paired(fs: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    let mut times = vec![Vec::new(); fs.len()];
    for _ in 0..RUNS {
        for (i, f) in fs.iter_mut().enumerate() {
            let t = Instant::now();
            f();
            times[i].push(t.elapsed().as_secs_f64());
        }
    }
    times.into_iter().map(median).collect()
}

fn replay(meta: &TraceMeta, events: &[Event], cfgs: &[ModelConfig]) {
    black_box(Replayer::replay_all(meta.clone(), cfgs, events).unwrap());
}

/// The straightforward baseline: a `Vec` of SPTEs per rmap, swap-remove on removal.
fn naive(events: &[Event]) {
    let mut lists: HashMap<RmapId, Vec<SpteId>> = HashMap::new();
    for e in events {
        match e.kind {
            EventKind::Add { rmap, spte } => lists.entry(rmap).or_default().push(spte),
            EventKind::Remove { rmap, spte } => {
                if let Some(l) = lists.get_mut(&rmap) {
                    if let Some(i) = l.iter().position(|&s| s == spte) {
                        l.swap_remove(i);
                    }
                }
            }
            EventKind::Zap { rmap } => {
                lists.remove(&rmap);
            }
            _ => {}
        }
    }
    black_box(lists.len());
}

fn mev(n: usize, secs: f64) -> String {
    format!("{:.2}", n as f64 / secs / 1e6)
}

fn main() {
    let default_trace = std::env::args().nth(1);
    let (meta, events) = rmaplab_core::gen::benchmark_mix();
    let n = events.len();
    println!(
        "### Replay throughput (generated mixed trace: {n} events; spread + fork storm + churn)\n"
    );
    println!("| configuration | M events/s | time vs 14/head-insert |");
    println!("|---|---|---|");
    let singles: Vec<ModelConfig> = [2usize, 3, 4, 8, 14, 16]
        .iter()
        .flat_map(|&e| {
            [Era::HeadInsert, Era::TailAppend].map(|era| ModelConfig::new(e, era).unwrap())
        })
        .collect();
    // All configurations interleaved in one paired run, so the ratio column is stable even
    // when the machine's speed drifts between rounds.
    let (meta_ref, events_ref) = (&meta, &events);
    let mut runs: Vec<_> = singles
        .iter()
        .map(|c| move || replay(meta_ref, events_ref, std::slice::from_ref(c)))
        .collect();
    let mut refs: Vec<&mut dyn FnMut()> = runs.iter_mut().map(|f| f as _).collect();
    let t = paired(&mut refs);
    let today = singles
        .iter()
        .position(|c| *c == ModelConfig::kvm_today())
        .unwrap();
    for (c, secs) in singles.iter().zip(&t) {
        println!(
            "| {} | {} | {:.2}× |",
            c.label(),
            mev(n, *secs),
            secs / t[today]
        );
    }
    let eight_hi = benchmark_sizes_head_insert();
    let eight_mix = benchmark_configs();
    let one = [ModelConfig::kvm_today()];
    let t = paired(&mut [
        &mut || replay(&meta, &events, &one),
        &mut || replay(&meta, &events, &eight_hi),
        &mut || replay(&meta, &events, &eight_mix),
        &mut || naive(&events),
    ]);
    println!("\n### One pass, many configurations\n");
    println!("| run | seconds | M events/s | vs one configuration |");
    println!("|---|---|---|---|");
    println!(
        "| 14/head-insert alone | {:.3} | {} | 1.00× |",
        t[0],
        mev(n, t[0])
    );
    println!(
        "| 8 head-insert sizes in one pass | {:.3} | {} | {:.2}× (8 separate passes: 8×) |",
        t[1],
        mev(n, t[1]),
        t[1] / t[0]
    );
    println!(
        "| 4 sizes × 2 eras in one pass | {:.3} | {} | {:.2}× |",
        t[2],
        mev(n, t[2]),
        t[2] / t[0]
    );
    println!("\n### The model against a plain `Vec` per rmap (same event stream)\n");
    println!("| run | seconds | ratio |");
    println!("|---|---|---|");
    println!(
        "| `HashMap<rmap, Vec<spte>>`, swap-remove | {:.3} | 1.00× |",
        t[3]
    );
    println!(
        "| rmaplab model, 14/head-insert, all metrics | {:.3} | {:.1}× |",
        t[0],
        t[0] / t[3]
    );

    println!("\n### Binary decoding\n");
    println!("| trace | events | bytes | bytes/event | decode M events/s |");
    println!("|---|---|---|---|---|");
    let mut traces: Vec<(String, Vec<u8>)> =
        vec![("generated mixed".into(), binary::encode_all(&meta, &events))];
    if let Some(p) = default_trace {
        traces.insert(
            0,
            (
                "playground default (captured)".into(),
                std::fs::read(&p).unwrap(),
            ),
        );
    }
    for (name, bytes) in &traces {
        let (m, ev) = decode_all(bytes).unwrap();
        let header = binary::PREAMBLE_LEN + serde_json::to_vec(&m).unwrap().len();
        let t = paired(&mut [&mut || {
            let mut d = TraceDecoder::new();
            d.push(bytes).unwrap();
            let mut k = 0;
            while let Some(e) = d.next_event().unwrap() {
                black_box(&e);
                k += 1;
            }
            while d.finish().unwrap().is_some() {
                k += 1;
            }
            black_box(k);
        }]);
        println!(
            "| {name} | {} | {} | {:.2} | {} |",
            ev.len(),
            bytes.len(),
            (bytes.len() - header) as f64 / ev.len() as f64,
            mev(ev.len(), t[0])
        );
    }

    captures();
}

/// Import speed of each capture format on the real captures of one guest run.
fn captures() {
    use rmaplab_core::import::{compress, import_all, CaptureFormat, ImportOptions};
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/captures/");
    println!("\n### Capture import (bring your own capture)\n");
    println!("The fork capture of one guest run in each format (`core/tests/fixtures/captures/`), imported in memory (parse, time order, VM split, inference); text forms decompressed first.\n");
    println!("| capture | bytes | kvmmmu records | rmaplab events | M records/s | MB/s |");
    println!("|---|---|---|---|---|---|");
    for (name, format) in [
        ("tc-fork16v2.dat", CaptureFormat::TraceDat),
        ("perf-fork16v2.data", CaptureFormat::PerfData),
        ("tc-fork16v2.tracefs.txt.gz", CaptureFormat::Text),
        ("tc-fork16v2.report-R.txt.gz", CaptureFormat::Text),
        ("perf-fork16v2.script.txt.gz", CaptureFormat::Text),
    ] {
        let Ok(raw) = std::fs::read(format!("{dir}{name}")) else {
            continue;
        };
        let bytes = if name.ends_with(".gz") {
            compress::gzip(&raw, compress::MAX_DECOMPRESSED).unwrap()
        } else {
            raw
        };
        let (meta, events) = import_all(format, &bytes, ImportOptions::default()).unwrap();
        let report = rmaplab_core::import::ImportReport::from_meta(&meta).unwrap();
        let records: u64 = report.events_read.values().sum();
        let t = paired(&mut [&mut || {
            black_box(import_all(format, black_box(&bytes), ImportOptions::default()).unwrap());
        }]);
        println!(
            "| {} | {} | {records} | {} | {:.2} | {:.0} |",
            name.trim_end_matches(".gz"),
            bytes.len(),
            events.len(),
            records as f64 / t[0] / 1e6,
            bytes.len() as f64 / t[0] / 1e6
        );
    }
}
