//! Replay throughput (events/s) with one and eight configurations in one pass, and binary
//! decode speed. Run: `cargo bench -p rmaplab-core --bench replay`.

#![allow(missing_docs)] // reason: criterion_group! generates an undocumented public function
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark aborts on a broken setup

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rmaplab_core::replay::{
    benchmark_configs, benchmark_sizes_head_insert, ReplayOptions, Replayer,
};
use rmaplab_core::trace::{binary, TraceDecoder};
use rmaplab_core::ModelConfig;
use std::hint::black_box;

fn replay(c: &mut Criterion) {
    let (meta, events) = rmaplab_core::gen::benchmark_mix();
    let mut g = c.benchmark_group("replay");
    g.sample_size(10);
    g.throughput(Throughput::Elements(events.len() as u64));
    let one = vec![ModelConfig::kvm_today()];
    let eight = benchmark_configs();
    let head8 = benchmark_sizes_head_insert();
    for (name, cfgs) in [
        ("1 config", &one),
        ("8 configs (4 sizes x 2 eras)", &eight),
        ("8 configs (head-insert)", &head8),
    ] {
        g.bench_with_input(BenchmarkId::from_parameter(name), cfgs, |b, cfgs| {
            b.iter(|| {
                let mut r = Replayer::new(meta.clone(), cfgs, ReplayOptions::default()).unwrap();
                r.feed_all(&events).unwrap();
                black_box(r.finish())
            })
        });
    }
    g.finish();
}

fn decode(c: &mut Criterion) {
    let (meta, events) = rmaplab_core::gen::benchmark_mix();
    let bytes = binary::encode_all(&meta, &events);
    eprintln!(
        "bench trace: {} events, {} bytes binary, {:.2} bytes/event",
        events.len(),
        bytes.len(),
        bytes.len() as f64 / events.len() as f64
    );
    let mut g = c.benchmark_group("decode");
    g.sample_size(20);
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("binary (1 MiB chunks)", |b| {
        b.iter(|| {
            let mut d = TraceDecoder::new();
            let mut n = 0u64;
            for chunk in bytes.chunks(1 << 20) {
                d.push(chunk).unwrap();
                while let Some(e) = d.next_event().unwrap() {
                    black_box(&e);
                    n += 1;
                }
            }
            while let Some(e) = d.finish().unwrap() {
                black_box(&e);
                n += 1;
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, replay, decode);
criterion_main!(benches);
