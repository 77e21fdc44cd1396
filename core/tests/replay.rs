//! Replay-level tests: KVM's stat semantics, multi-configuration equivalence, the trace
//! encodings' losslessness, anomalies.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing test panics: that is how it reports

use rmaplab_core::gen::{generate_vec, meta_for, GenOptions, Workload};
use rmaplab_core::replay::{config_matrix, ReplayError, ReplayOptions, Replayer};
use rmaplab_core::trace::{
    binary, decode_all, jsonl, Event, EventCtx, EventKind, Memslot, RmapId, RmapKind, SpteId,
    TraceMeta, VcpuId,
};
use rmaplab_core::{Era, ModelConfig};

fn gfn_ctx(gfn: u64) -> EventCtx {
    EventCtx {
        vcpu: Some(VcpuId(0)),
        gfn: Some(gfn),
        level: Some(1),
        kind: Some(RmapKind::Gfn),
    }
}

/// A replay of a header-less trace through KVM today.
fn today() -> Replayer {
    Replayer::new(
        TraceMeta::default(),
        &[ModelConfig::kvm_today()],
        ReplayOptions::default(),
    )
    .unwrap()
}

/// [`today`], stopping at the first anomaly.
fn today_strict() -> Replayer {
    Replayer::new(
        TraceMeta::default(),
        &[ModelConfig::kvm_today()],
        ReplayOptions { strict: true },
    )
    .unwrap()
}

#[test]
fn one_page_aliased_1002_times_gives_1001_and_an_emptied_rmap() {
    // The host measurement: max_mmu_rmap_size = N-1, capped at 1001; the 1002nd mapping of one
    // gfn empties its rmap.
    let mut events: Vec<Event> = (0..1002u64)
        .map(|i| Event::add(RmapId(0x400), SpteId(0x1000 + i)).with_ctx(gfn_ctx(0x400)))
        .collect();
    events.push(Event::new(EventKind::Stat {
        name: "max_mmu_rmap_size".into(),
        value: 1001,
    }));
    events.push(Event::new(EventKind::Stat {
        name: "pages_4k".into(),
        value: 0,
    }));
    let configs = config_matrix(
        &[2, 3, 14],
        &[Era::TailAppend, Era::HeadInsert],
        40,
        14,
        Some(1000),
    );
    let mut r = Replayer::new(TraceMeta::default(), &configs, ReplayOptions::default()).unwrap();
    r.feed_all(&events).unwrap();
    r.check_invariants().unwrap();
    let s = r.finish();
    assert!(s.stats_match(), "{:?}", s.stat_checks);
    assert_eq!(s.stat_checks.len(), 2);
    for c in &s.configs {
        assert_eq!(c.max_rmap_size, 1001, "{}", c.label);
        assert_eq!(c.recycles, 1, "{}", c.label);
        assert_eq!(c.live_descs, 0, "{}", c.label);
        assert_eq!(c.frees, c.allocations, "{}", c.label);
        assert_eq!(c.anomalies, 0);
    }
    // 1001 aliases only: no recycle, max 1000.
    let mut r = today();
    r.feed_all(&events[..1001]).unwrap();
    let s = r.finish();
    assert_eq!(s.configs[0].max_rmap_size, 1000);
    assert_eq!(s.configs[0].recycles, 0);
    assert_eq!(s.configs[0].live_descs, 1001u64.div_ceil(14));
}

#[test]
fn many_configurations_in_one_pass_equal_one_at_a_time() {
    let w = Workload::Churn {
        cycles: 30,
        batch: 200,
        gfns: 64,
        spaces: 40,
    };
    let opts = GenOptions { vcpus: 3, seed: 11 };
    let events = generate_vec(&w, &opts);
    let meta = meta_for(&w, &opts, "test");
    let configs = config_matrix(&[2, 3, 4, 8, 14], &Era::ALL, 40, 14, Some(1000));
    let mut all = Replayer::new(meta.clone(), &configs, ReplayOptions::default()).unwrap();
    for (i, e) in events.iter().enumerate() {
        all.feed(e).unwrap();
        if i % 97 == 0 {
            all.check_invariants().unwrap();
        }
    }
    let together = all.finish();
    for (i, cfg) in configs.iter().enumerate() {
        let alone = Replayer::replay_all(meta.clone(), &[*cfg], &events).unwrap();
        assert_eq!(alone.configs[0], together.configs[i], "{}", cfg.label());
    }
    assert!(together.configs.iter().all(|c| c.anomalies == 0));
}

#[test]
fn encodings_convert_losslessly_and_binary_is_small() {
    let workloads = Workload::samples();
    for w in workloads {
        // Random churn jumps between frames and address spaces on every event: no id locality
        // to exploit, so it is checked for losslessness only.
        let realistic = !matches!(w, Workload::Churn { .. });
        let opts = GenOptions { vcpus: 4, seed: 3 };
        let events = generate_vec(&w, &opts);
        let meta = meta_for(&w, &opts, "test");
        let bin = binary::encode_all(&meta, &events);
        let mut text = Vec::new();
        jsonl::write_header(&meta, &mut text);
        for e in &events {
            jsonl::write_event(e, &mut text);
        }
        let (m1, e1) = decode_all(&bin).unwrap();
        let (m2, e2) = decode_all(&text).unwrap();
        assert_eq!((&m1, &e1), (&meta, &events));
        assert_eq!((&m2, &e2), (&meta, &events));
        let header = binary::PREAMBLE_LEN + serde_json::to_vec(&meta).unwrap().len();
        let per_event = (bin.len() - header) as f64 / events.len() as f64;
        if realistic {
            assert!(per_event <= 4.0, "{}: {per_event:.2} bytes/event", w.name());
        }
    }
}

#[test]
fn impossible_events_are_counted_or_refused_in_strict_mode() {
    let events = vec![
        Event::add(RmapId(1), SpteId(10)),
        Event::add(RmapId(1), SpteId(10)),
        Event::remove(RmapId(1), SpteId(99)),
        Event::add(RmapId(2), SpteId(10)),
        Event::remove(RmapId(2), SpteId(10)),
        Event::remove(RmapId(1), SpteId(10)),
    ];
    let mut r = today();
    r.feed_all(&events).unwrap();
    let s = r.finish();
    let a = &s.configs[0].anomaly_detail;
    assert_eq!(
        (
            a.add_duplicate,
            a.remove_unknown,
            a.add_in_other_rmap,
            a.remove_wrong_rmap
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(s.configs[0].anomalies, 4);
    assert!(s.notes.iter().any(|n| n.contains("could not happen")));
    let mut r = today_strict();
    let err = r.feed_all(&events).unwrap_err();
    assert!(
        matches!(err, ReplayError::Anomaly { index: 1, .. }),
        "{err}"
    );
}

#[test]
fn ids_at_u64_max_and_zero_work() {
    let events = vec![
        Event::add(RmapId(u64::MAX), SpteId(u64::MAX)),
        Event::add(RmapId(u64::MAX), SpteId(0)),
        Event::add(RmapId(0), SpteId(u64::MAX - 1)),
        Event::remove(RmapId(u64::MAX), SpteId(u64::MAX)),
    ];
    let mut r = today_strict();
    r.feed_all(&events).unwrap();
    r.check_invariants().unwrap();
    let dump = r.dump_lists(0);
    assert_eq!(dump.len(), 2);
    assert_eq!(dump[1].rmap, RmapId(u64::MAX));
    assert_eq!(dump[1].list.descs()[0].sptes, vec![0]);
}

#[test]
fn implicit_faults_are_reported() {
    let events = vec![
        Event::add(RmapId(1), SpteId(1)),
        Event::add(RmapId(1), SpteId(2)),
    ];
    let mut r = today();
    r.feed_all(&events).unwrap();
    let s = r.finish();
    assert_eq!(s.implicit_faults, 2);
    assert!(s.notes[0].contains("treated as following a fault"));
    let c = &s.configs[0];
    assert_eq!(c.slab_allocations, 40);
    assert_eq!(c.cache_idle_bytes, 39 * 128);
    assert_eq!(c.vcpus_seen, 1);
}

#[test]
fn histogram_from_replay_matches_kernel_text() {
    // gfn 0x10: 3 entries, 0x11: 6 entries, 0x12: 1; memslot of 16 pages at 0x10.
    let mut events = Vec::new();
    let mut s = 0;
    for (gfn, n) in [(0x10u64, 3), (0x11, 6), (0x12, 1)] {
        for _ in 0..n {
            s += 1;
            events.push(Event::add(RmapId(gfn), SpteId(s)).with_ctx(gfn_ctx(gfn)));
        }
    }
    let meta = TraceMeta {
        memslots: vec![Memslot {
            base_gfn: 0x10,
            pages: 16,
        }],
        ..TraceMeta::default()
    };
    let h = Replayer::replay_all(meta, &[ModelConfig::kvm_today()], &events)
        .unwrap()
        .histogram;
    assert_eq!(
        h.kernel_text().lines().nth(1),
        Some("Level=4K:\t13\t2\t1\t0\t0\t0\t0\t0\t0\t0\t0\t")
    );
}

#[test]
fn eras_agree_on_kvms_stat_even_though_tail_append_counts_skip_holes() {
    // Holes left in early descriptors make tail-append's pte_list_add return less than the
    // list's size, but the peak and the recycle points come out the same as head-insert's.
    let cfg = |era| ModelConfig {
        recycle_threshold: Some(20),
        ..ModelConfig::new(4, era).unwrap()
    };
    let mut events: Vec<Event> = (0..21).map(|i| Event::add(RmapId(7), SpteId(i))).collect();
    events.extend((0..6).map(|i| Event::remove(RmapId(7), SpteId(i * 3))));
    events.extend((100..130).map(|i| Event::add(RmapId(7), SpteId(i))));
    let mut r = Replayer::new(
        TraceMeta::default(),
        &[cfg(Era::HeadInsert), cfg(Era::TailAppend)],
        ReplayOptions::default(),
    )
    .unwrap();
    r.feed_all(&events).unwrap();
    r.check_invariants().unwrap();
    let s = r.finish();
    // 15 live after the removes; the 7th and the 29th new add see 21 > 20 entries.
    assert_eq!(s.configs[0].max_rmap_size, 21);
    assert_eq!(s.configs[0].recycles, 2);
    assert_eq!(s.configs[1].max_rmap_size, 21);
    assert_eq!(s.configs[1].recycles, 2);
}
