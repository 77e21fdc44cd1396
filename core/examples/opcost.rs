//! Instruction-count harness for the replay path (run under callgrind; see
//! `scripts/bench-report.sh`). Each mode decodes the trace first (except `decode`, which measures
//! exactly that), then runs one `#[inline(never)]` function named `measured_*`, so
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured_*'` counts only
//! the measured work. Divide the instructions by the operations printed.
//!
//! Usage: `opcost gen SEED OPS HEADS OUT` writes the harsh stream (see [`generate`]) as an
//! rmaplab binary trace; `opcost MODE TRACE [ENTRIES] [ERA]` measures, MODE one of
//! - `decode`: binary decode of the whole file in batches of [`BATCH`] events (counted, not
//!   kept);
//! - `baseline`: the minimal list-only implementation in `rmaplab_core::baseline`;
//! - `rmapset`: [`RmapSet`] list operations alone (rmap ids used as indices);
//! - `floor`: what any replay of a trace must do, and nothing more: the trace's SPTE and rmap
//!   ids resolved through two hash maps (which rmap holds each SPTE, which dense index each
//!   rmap has, indices reused when an rmap empties — the replay's membership, with its hasher)
//!   and the minimal list code; no metric, no cost record;
//! - `replay`: one configuration through [`Replayer`], every metric on;
//! - `replay8`: the eight configurations 2, 3, 4, 14 × both eras in one pass.

#![allow(clippy::print_stdout)] // the harness reports on stdout

use anyhow::{bail, Context, Result};
use rmaplab_core::baseline::MinimalRmaps;
use rmaplab_core::input::reader::BATCH;
use rmaplab_core::replay::{benchmark_configs, IdHasher, ReplayOptions, Replayer};
use rmaplab_core::rmap::{RmapIndex, RmapSet};
use rmaplab_core::trace::{Event, EventKind, RmapId, SpteId, TraceDecoder, TraceMeta};
use rmaplab_core::{Era, ModelConfig};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::hint::black_box;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(mode), Some(path)) = (args.first(), args.get(1)) else {
        bail!("usage: opcost decode|baseline|rmapset|floor|replay|replay8 TRACE [ENTRIES] [ERA] | opcost gen SEED OPS HEADS OUT");
    };
    if mode == "gen" {
        let num = |i: usize| -> Result<u64> {
            args.get(i)
                .context("usage: opcost gen SEED OPS HEADS OUT")?
                .parse()
                .context("SEED, OPS and HEADS are numbers")
        };
        let out = args
            .get(4)
            .context("usage: opcost gen SEED OPS HEADS OUT")?;
        let events = generate(num(1)?, num(2)?, num(3)?);
        let bytes = rmaplab_core::trace::binary::encode_all(&TraceMeta::default(), &events);
        std::fs::write(out, bytes).with_context(|| format!("writing {out}"))?;
        println!("{} events", events.len());
        return Ok(());
    }
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
    let result = match mode.as_str() {
        "baseline" => black_box(measured_lists(MinimalRmaps::new(entries), &events)?),
        "rmapset" => black_box(measured_lists(RmapSet::new(cfg), &events)?),
        "floor" => black_box(measured_lists(Floor::new(entries), &events)?),
        "replay" => black_box(measured_replay(meta, &[cfg], &events)?),
        "replay8" => {
            let cfgs = benchmark_configs();
            black_box(measured_replay(meta, &cfgs, &events)?)
        }
        other => bail!("unknown mode {other}"),
    };
    // Live descriptors at the end (summed over configurations for the replays): the list
    // modes agree with each other on one stream, a check that each did the same operations.
    println!(
        "{} events, {ops} list operations, {result} live descriptors at the end",
        events.len()
    );
    Ok(())
}

/// The harsh stream: `ops` list operations over `heads` rmaps. Each picks an rmap at random;
/// 60 % of them (and every one on an empty rmap) add a fresh SPTE, 39.5 % remove a random member,
/// 0.5 % zap the whole rmap. SPTE ids are random draws below 10^7 times `heads` plus the rmap, so
/// an SPTE sits in one rmap at a time and ids are as scattered as sptep addresses. About 1.2 M
/// SPTEs are live at the end of 3 M operations over 100 k rmaps. (The same mix as the stream the
/// kernel's own list code was measured on; the draws differ.)
pub fn generate(seed: u64, ops: u64, heads: u64) -> Vec<Event> {
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        // splitmix64
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let heads = heads.max(1);
    let mut live: Vec<Vec<u64>> = vec![Vec::new(); heads as usize];
    let mut taken = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(ops as usize);
    for _ in 0..ops {
        let h = next() % heads;
        let list = &mut live[h as usize];
        let r = next() % 1000;
        if r < 600 || list.is_empty() {
            let s = loop {
                let s = (1 + next() % 9_999_999) * heads + h;
                if taken.insert(s) {
                    break s;
                }
            };
            list.push(s);
            out.push(Event::add(RmapId(h), SpteId(s)));
        } else if r < 995 {
            let at = (next() % list.len() as u64) as usize;
            let s = list.swap_remove(at);
            taken.remove(&s);
            out.push(Event::remove(RmapId(h), SpteId(s)));
        } else {
            for s in list.drain(..) {
                taken.remove(&s);
            }
            out.push(Event::new(EventKind::Zap { rmap: RmapId(h) }));
        }
    }
    out
}

#[inline(never)]
fn measured_decode(bytes: &[u8]) -> Result<u64> {
    let mut d = TraceDecoder::new();
    d.push(bytes)?;
    let mut n = 0u64;
    let mut batch = Vec::with_capacity(BATCH);
    while d.next_batch(&mut batch, BATCH)? > 0 {
        black_box(&batch);
        n += batch.len() as u64;
        batch.clear();
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

fn rmap_index(rmap: u64) -> Result<RmapIndex> {
    u32::try_from(rmap)
        .map(RmapIndex)
        .context("rmap id too large for an rmap index")
}

/// The list operations of a stream, for the two list-only implementations measured.
trait ListOps {
    fn add(&mut self, rmap: u64, spte: u64) -> Result<()>;
    fn remove(&mut self, rmap: u64, spte: u64) -> Result<()>;
    fn zap(&mut self, rmap: u64) -> Result<()>;
    fn live_descs(&self) -> u64;
}

impl ListOps for MinimalRmaps {
    fn add(&mut self, rmap: u64, spte: u64) -> Result<()> {
        MinimalRmaps::add(self, index(rmap)?, spte);
        Ok(())
    }
    fn remove(&mut self, rmap: u64, spte: u64) -> Result<()> {
        MinimalRmaps::remove(self, index(rmap)?, spte).context("remove of an absent spte")
    }
    fn zap(&mut self, rmap: u64) -> Result<()> {
        MinimalRmaps::zap(self, index(rmap)?);
        Ok(())
    }
    fn live_descs(&self) -> u64 {
        MinimalRmaps::live_descs(self) as u64
    }
}

impl ListOps for RmapSet {
    fn add(&mut self, rmap: u64, spte: u64) -> Result<()> {
        self.rmap_add(0, rmap_index(rmap)?, spte)?;
        Ok(())
    }
    fn remove(&mut self, rmap: u64, spte: u64) -> Result<()> {
        Ok(self.pte_list_remove(rmap_index(rmap)?, spte)?)
    }
    fn zap(&mut self, rmap: u64) -> Result<()> {
        self.kvm_zap_all_rmap_sptes(rmap_index(rmap)?);
        Ok(())
    }
    fn live_descs(&self) -> u64 {
        self.counters.live_descs
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// The `floor` mode: ids resolved as the replay's membership resolves them, then the minimal
/// list code on dense indices.
struct Floor {
    lists: MinimalRmaps,
    /// SPTE id → dense index of the rmap holding it.
    sptes: IdMap<u32>,
    /// Rmap id → dense index.
    ids: IdMap<u32>,
    /// Per dense index: its rmap id and entries (the index is released at 0).
    rmaps: Vec<(u64, u64)>,
    free: Vec<u32>,
}

impl Floor {
    fn new(entries: usize) -> Self {
        Floor {
            lists: MinimalRmaps::new(entries),
            sptes: IdMap::default(),
            ids: IdMap::default(),
            rmaps: Vec::new(),
            free: Vec::new(),
        }
    }

    fn changed(&mut self, d: u32, delta: i64) -> Result<()> {
        let slot = self
            .rmaps
            .get_mut(d as usize)
            .context("dense index out of range")?;
        slot.1 = slot.1.wrapping_add_signed(delta);
        if slot.1 == 0 {
            self.ids.remove(&slot.0);
            self.free.push(d);
        }
        Ok(())
    }
}

impl ListOps for Floor {
    fn add(&mut self, rmap: u64, spte: u64) -> Result<()> {
        let Entry::Vacant(v) = self.sptes.entry(spte) else {
            bail!("add of an SPTE already in an rmap");
        };
        let d = match self.ids.entry(rmap) {
            Entry::Occupied(o) => *o.get(),
            Entry::Vacant(slot) => {
                let d = match self.free.pop() {
                    Some(d) => {
                        self.rmaps[d as usize] = (rmap, 0);
                        d
                    }
                    None => {
                        self.rmaps.push((rmap, 0));
                        u32::try_from(self.rmaps.len() - 1).context("too many rmaps")?
                    }
                };
                *slot.insert(d)
            }
        };
        v.insert(d);
        self.lists.add(d as usize, spte);
        self.changed(d, 1)
    }
    fn remove(&mut self, rmap: u64, spte: u64) -> Result<()> {
        let d = self
            .sptes
            .remove(&spte)
            .context("remove of an absent spte")?;
        if self.rmaps.get(d as usize).map(|r| r.0) != Some(rmap) {
            bail!("remove from the wrong rmap");
        }
        self.lists
            .remove(d as usize, spte)
            .context("remove of an absent spte")?;
        self.changed(d, -1)
    }
    fn zap(&mut self, rmap: u64) -> Result<()> {
        let Some(&d) = self.ids.get(&rmap) else {
            return Ok(());
        };
        let victims = self.lists.entries(d as usize);
        for s in &victims {
            self.sptes.remove(s);
        }
        self.lists.zap(d as usize);
        self.changed(d, -(victims.len() as i64))
    }
    fn live_descs(&self) -> u64 {
        self.lists.live_descs() as u64
    }
}

#[inline(never)]
fn measured_lists<L: ListOps>(mut lists: L, events: &[Event]) -> Result<u64> {
    for e in events {
        match e.kind {
            EventKind::Add { rmap, spte } => lists.add(rmap.0, spte.0)?,
            EventKind::Remove { rmap, spte } => lists.remove(rmap.0, spte.0)?,
            EventKind::Zap { rmap } => lists.zap(rmap.0)?,
            _ => {}
        }
    }
    Ok(lists.live_descs())
}

#[inline(never)]
fn measured_replay(meta: TraceMeta, cfgs: &[ModelConfig], events: &[Event]) -> Result<u64> {
    let mut r = Replayer::new(meta, cfgs, ReplayOptions::default())?;
    r.feed_all(events)?;
    let s = r.finish();
    Ok(s.configs.iter().map(|c| c.live_descs).sum())
}
