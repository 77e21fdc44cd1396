use super::*;
use crate::trace::{RmapId, SpteId};
use crate::Era;

/// Configurations that share a recycle threshold recycle at the same adds whatever their era
/// and size (the argument in `group.rs`): replayed together, each reports what it reports
/// replayed alone, on streams built to leave holes in the older eras' lists while the lists
/// hover around a small threshold.
#[test]
fn configurations_of_one_group_recycle_together() {
    for threshold in [3u64, 7, 20] {
        let configs: Vec<ModelConfig> = [2usize, 3, 4, 5, 14]
            .iter()
            .flat_map(|&n| {
                Era::ALL.iter().map(move |&era| ModelConfig {
                    recycle_threshold: Some(threshold),
                    ..ModelConfig::new(n, era).unwrap()
                })
            })
            .collect();
        let mut events = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64 ^ threshold;
        let mut live: Vec<Vec<u64>> = vec![Vec::new(); 4];
        let mut next = 0u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let r = (x % 4) as usize;
            // Mostly adds, removes from anywhere in the list (making holes), rare zaps.
            if x % 100 < 55 || live[r].is_empty() {
                next += 1;
                let s = next * 4 + r as u64;
                live[r].push(s);
                events.push(Event::add(RmapId(r as u64), SpteId(s)));
            } else if x % 100 < 99 {
                let at = ((x >> 20) as usize) % live[r].len();
                let s = live[r].swap_remove(at);
                events.push(Event::remove(RmapId(r as u64), SpteId(s)));
            } else {
                live[r].clear();
                events.push(Event::new(EventKind::Zap {
                    rmap: RmapId(r as u64),
                }));
            }
        }
        let mut together =
            Replayer::new(TraceMeta::default(), &configs, ReplayOptions::default()).unwrap();
        for (k, e) in events.iter().enumerate() {
            together.feed(e).unwrap();
            if k % 997 == 0 {
                together.check_invariants().unwrap();
            }
        }
        let together = together.finish();
        let mut recycles = 0;
        for (i, cfg) in configs.iter().enumerate() {
            let alone = Replayer::replay_all(TraceMeta::default(), &[*cfg], &events).unwrap();
            assert_eq!(
                together.configs[i],
                alone.configs[0],
                "{} at threshold {threshold}",
                cfg.label()
            );
            recycles += alone.configs[0].recycles;
        }
        assert!(recycles > 0, "the stream recycles at threshold {threshold}");
    }
}

/// Parts of a replay run apart and assembled report what one replay reports.
#[test]
fn parts_assemble_into_the_whole() {
    let (meta, events) = crate::gen::benchmark_mix_head(60_000);
    let configs = benchmark_configs();
    let whole = Replayer::replay_all(meta.clone(), &configs, &events).unwrap();
    let parts: Vec<ReplayPart> = [vec![5, 1, 7], vec![0, 2, 3], vec![4, 6]]
        .iter()
        .map(|p| {
            let mut r =
                Replayer::new_part(meta.clone(), &configs, p, ReplayOptions::default()).unwrap();
            r.feed_all(&events).unwrap();
            r.finish_part()
        })
        .collect();
    // A part survives a round trip through serde (as it would between web workers).
    let parts: Vec<ReplayPart> = parts
        .iter()
        .map(|p| serde_json::from_str(&serde_json::to_string(p).unwrap()).unwrap())
        .collect();
    assert_eq!(ReplaySummary::assemble(parts), whole);
}

/// A trace without a single add (a VM recorded before it mapped anything) says so in its notes
/// and through `made_no_sptes`, even when its stat events all "match"; one add and it does not.
#[test]
fn a_trace_of_no_adds_is_marked_as_no_result() {
    let cfg = [ModelConfig::kvm_today()];
    let stat = |v| {
        Event::new(EventKind::Stat {
            name: "max_mmu_rmap_size".into(),
            value: v,
        })
    };
    let empty = Replayer::replay_all(TraceMeta::default(), &cfg, &[stat(0)]).unwrap();
    assert!(empty.made_no_sptes());
    assert!(empty.stats_match());
    assert!(
        empty.notes.iter().any(|n| n == NO_SPTES),
        "{:?}",
        empty.notes
    );
    let one = [Event::add(RmapId(1), SpteId(1)), stat(0)];
    let one = Replayer::replay_all(TraceMeta::default(), &cfg, &one).unwrap();
    assert!(!one.made_no_sptes());
    assert!(!one.notes.iter().any(|n| n == NO_SPTES), "{:?}", one.notes);
}
