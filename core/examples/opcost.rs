//! Instruction-count harness for the replay path (run under callgrind; see
//! `scripts/bench-report.sh`). Each mode decodes the trace first (except `decode`, which measures
//! exactly that), then runs one `#[inline(never)]` function named `measured_*`, so
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured_*'` counts only
//! the measured work. Divide the instructions by the operations printed.
//!
//! Usage: `opcost MODE TRACE [ENTRIES] [ERA]`, MODE one of
//! - `decode`: binary decode of the whole file (events are counted, not kept);
//! - `baseline`: the minimal list-only implementation in `rmaplab_core::baseline`;
//! - `rmapset`: [`RmapSet`] list operations alone (rmap ids used as indices);
//! - `replay`: one configuration through [`Replayer`], every metric on;
//! - `replay8`: the eight configurations 2, 3, 4, 14 × both eras in one pass.

#![allow(clippy::print_stdout)] // the harness reports on stdout

use anyhow::{bail, Context, Result};
use rmaplab_core::baseline::MinimalRmaps;
use rmaplab_core::replay::{config_matrix, ReplayOptions, Replayer};
use rmaplab_core::rmap::RmapSet;
use rmaplab_core::trace::{Event, EventKind, TraceDecoder, TraceMeta};
use rmaplab_core::{Era, ModelConfig};
use std::hint::black_box;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(mode), Some(path)) = (args.first(), args.get(1)) else {
        bail!("usage: opcost decode|baseline|rmapset|replay|replay8 TRACE [ENTRIES] [ERA]");
    };
    let entries: usize = args.get(2).map_or(Ok(14), |s| s.parse())?;
    let era: Era = args
        .get(3)
        .map_or(Ok(Era::HeadInsert), |s| s.parse())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    if mode == "decode" {
        let n = measured_decode(&bytes)?;
        println!("{n} events");
        return Ok(());
    }
    let (meta, events) = rmaplab_core::trace::decode_all(&bytes)?;
    let ops = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::Add { .. } | EventKind::Remove { .. } | EventKind::Zap { .. }
            )
        })
        .count();
    let cfg = ModelConfig::new(entries, era)?;
    match mode.as_str() {
        "baseline" => black_box(measured_baseline(entries, &events)?),
        "rmapset" => black_box(measured_rmapset(cfg, &events)?),
        "replay" => black_box(measured_replay(meta, &[cfg], &events)?),
        "replay8" => {
            let cfgs = config_matrix(
                &[2, 3, 4, 14],
                &[Era::TailAppend, Era::HeadInsert],
                40,
                14,
                Some(1000),
            );
            black_box(measured_replay(meta, &cfgs, &events)?)
        }
        other => bail!("unknown mode {other}"),
    };
    println!("{} events, {ops} list operations", events.len());
    Ok(())
}

#[inline(never)]
fn measured_decode(bytes: &[u8]) -> Result<u64> {
    let mut d = TraceDecoder::new();
    d.push(bytes)?;
    let mut n = 0u64;
    while let Some(e) = d.next_event()? {
        black_box(&e);
        n += 1;
    }
    while let Some(e) = d.finish()? {
        black_box(&e);
        n += 1;
    }
    Ok(n)
}

fn index(rmap: u64) -> Result<usize> {
    usize::try_from(rmap).context("rmap id too large for an index")
}

#[inline(never)]
fn measured_baseline(entries: usize, events: &[Event]) -> Result<u64> {
    let mut m = MinimalRmaps::new(entries);
    for e in events {
        match e.kind {
            EventKind::Add { rmap, spte } => {
                m.add(index(rmap)?, spte);
            }
            EventKind::Remove { rmap, spte } => {
                m.remove(index(rmap)?, spte)
                    .context("remove of an absent spte")?;
            }
            EventKind::Zap { rmap } => {
                m.zap(index(rmap)?);
            }
            _ => {}
        }
    }
    Ok(m.live_descs() as u64)
}

#[inline(never)]
fn measured_rmapset(cfg: ModelConfig, events: &[Event]) -> Result<u64> {
    let mut set = RmapSet::new(cfg);
    for e in events {
        match e.kind {
            EventKind::Add { rmap, spte } => {
                set.rmap_add(0, index(rmap)?, spte)?;
            }
            EventKind::Remove { rmap, spte } => {
                set.pte_list_remove(index(rmap)?, spte)?;
            }
            EventKind::Zap { rmap } => {
                set.kvm_zap_all_rmap_sptes(index(rmap)?);
            }
            _ => {}
        }
    }
    Ok(set.counters.live_descs)
}

#[inline(never)]
fn measured_replay(meta: TraceMeta, cfgs: &[ModelConfig], events: &[Event]) -> Result<u64> {
    let mut r = Replayer::new(meta, cfgs, ReplayOptions::default())?;
    r.feed_all(events)?;
    let s = r.finish();
    Ok(s.configs.iter().map(|c| c.peak_descs).sum())
}
