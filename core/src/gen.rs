//! Deterministic synthetic traces, so the model can be explored without hardware.
//!
//! Every workload is a pure function of its parameters and seed; events are emitted through a
//! callback, so traces of any length stream without being held in memory.

use crate::config::RMAP_RECYCLE_THRESHOLD;
use crate::trace::VcpuId;
use crate::trace::{Event, EventCtx, EventKind, Memslot, RmapId, RmapKind, SpteId, TraceMeta};
use crate::workload::{stream, ScriptItem, ScriptOp};
use serde::{Deserialize, Serialize};

/// First gfn the generators use for data pages.
pub const GEN_BASE_GFN: u64 = 0x1000;
/// SPTE ids are `space × SPTES_PER_SPACE + index`: one range per address space, so the SPTEs of
/// consecutive pages of one address space have consecutive ids, as sptep addresses in one
/// shadow page table do.
pub const SPTES_PER_SPACE: u64 = 1 << 20;

pub use crate::workload::{
    Workload, DEFAULT_ALIASES, DEFAULT_BATCH, DEFAULT_CHURN_GFNS, DEFAULT_CYCLES,
    DEFAULT_MAX_ALIASES, DEFAULT_PRIVATE_PAGES, DEFAULT_PROCS, DEFAULT_SHARED_PAGES,
    DEFAULT_SKEW_TENTHS, DEFAULT_SPACES, DEFAULT_SPREAD_GFNS,
};

/// `splitmix64`: a tiny, well-mixed deterministic generator.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }

    /// Uniform in `(0, 1]`.
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
}

/// Generator settings shared by all workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenOptions {
    /// vCPUs the work is spread over (round robin per address space / mapping).
    pub vcpus: u32,
    /// Seed for the random choices.
    pub seed: u64,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions { vcpus: 1, seed: 1 }
    }
}

/// Metadata of a generated trace.
pub fn meta_for(w: &Workload, opts: &GenOptions, tool: &str) -> TraceMeta {
    let mut meta = TraceMeta {
        source: Some("synthetic".into()),
        workload: Some(w.describe()),
        tool: Some(tool.to_string()),
        vcpus: Some(opts.vcpus.max(1)),
        fault_events: Some(true),
        anonymised: Some(false),
        memslots: vec![Memslot {
            base_gfn: GEN_BASE_GFN,
            pages: w.frames().max(1),
        }],
        ..TraceMeta::default()
    };
    meta.extra
        .insert("seed".into(), serde_json::Value::from(opts.seed));
    meta
}

struct Emitter<'a> {
    out: &'a mut dyn FnMut(Event),
    vcpus: u32,
    /// SPTEs present per gfn, to apply KVM's recycle rule: a trace records what KVM did, and
    /// KVM never removes an SPTE its recycle zap already dropped.
    live: std::collections::HashMap<u64, std::collections::HashSet<u64>>,
}

impl Emitter<'_> {
    fn ctx(&self, gfn: u64, vcpu: VcpuId) -> EventCtx {
        EventCtx {
            vcpu: Some(vcpu),
            gfn: Some(gfn),
            level: Some(1),
            kind: Some(RmapKind::Gfn),
        }
    }

    fn vcpu_of(&self, space: u64) -> VcpuId {
        VcpuId((space % u64::from(self.vcpus.max(1))) as u32)
    }

    fn fault(&mut self, vcpu: VcpuId) {
        (self.out)(Event::new(EventKind::Fault { vcpu }));
    }

    fn map(&mut self, gfn: u64, space: u64, index: u64) {
        let vcpu = self.vcpu_of(space);
        self.fault(vcpu);
        let ctx = self.ctx(gfn, vcpu);
        let spte = spte_id(space, index);
        // A 4K gfn rmap's id is its gfn.
        (self.out)(Event::add(RmapId(gfn), SpteId(spte)).with_ctx(ctx));
        let set = self.live.entry(gfn).or_default();
        if set.len() as u64 > RMAP_RECYCLE_THRESHOLD {
            // __rmap_add zaps the whole rmap.
            self.live.remove(&gfn);
        } else {
            set.insert(spte);
        }
    }

    fn unmap(&mut self, gfn: u64, space: u64, index: u64) {
        let spte = spte_id(space, index);
        let Some(set) = self.live.get_mut(&gfn) else {
            return;
        };
        if !set.remove(&spte) {
            return;
        }
        if set.is_empty() {
            self.live.remove(&gfn);
        }
        let vcpu = self.vcpu_of(space);
        let ctx = self.ctx(gfn, vcpu);
        (self.out)(Event::remove(RmapId(gfn), SpteId(spte)).with_ctx(ctx));
    }

    fn mark(&mut self, label: &str) {
        (self.out)(Event::new(EventKind::Mark {
            label: label.into(),
        }));
    }
}

/// The SPTE id of mapping `index` in address space `space`.
pub fn spte_id(space: u64, index: u64) -> u64 {
    space
        .wrapping_mul(SPTES_PER_SPACE)
        .wrapping_add(index % SPTES_PER_SPACE)
}

/// Emit the workload's events in order: its [`crate::workload::script`], a mark per phase,
/// a fault and an add per map, a removal per unmap (unless KVM's recycle zap already dropped
/// that SPTE).
pub fn generate(w: &Workload, opts: &GenOptions, out: &mut dyn FnMut(Event)) {
    let mut e = Emitter {
        out,
        vcpus: opts.vcpus.max(1),
        live: std::collections::HashMap::new(),
    };
    stream(w, opts.seed, &mut |item| match item {
        ScriptItem::Phase { label, .. } => e.mark(label),
        ScriptItem::Op(ScriptOp::Map {
            space,
            index,
            frame,
        }) => e.map(GEN_BASE_GFN + frame, space, index),
        ScriptItem::Op(ScriptOp::Unmap {
            space,
            index,
            frame,
        }) => e.unmap(GEN_BASE_GFN + frame, space, index),
    });
}

/// The benchmarks' mixed trace (~0.5 M events): a skewed guest, a fork storm and churn on 4
/// vCPUs, one after the other; the metadata names the first part.
pub fn benchmark_mix() -> (TraceMeta, Vec<Event>) {
    let opts = GenOptions { vcpus: 4, seed: 42 };
    let parts = [
        Workload::Spread {
            gfns: 50_000,
            max_aliases: 256,
            skew_tenths: 15,
        },
        Workload::Fork {
            procs: 64,
            pages: 512,
            private: 32,
        },
        Workload::Churn {
            cycles: 50,
            batch: 1000,
            gfns: 4096,
            spaces: 32,
        },
    ];
    let mut events = Vec::new();
    for w in &parts {
        generate(w, &opts, &mut |e| events.push(e));
    }
    (meta_for(&parts[0], &opts, "benchmark mix"), events)
}

/// The first `n` events of [`benchmark_mix`] (its skewed guest), for tests that replay a
/// realistic stream many ways.
pub fn benchmark_mix_head(n: usize) -> (TraceMeta, Vec<Event>) {
    let (meta, mut events) = benchmark_mix();
    events.truncate(n);
    (meta, events)
}

/// Generate into a vector.
pub fn generate_vec(w: &Workload, opts: &GenOptions) -> Vec<Event> {
    let mut v = Vec::new();
    generate(w, opts, &mut |ev| v.push(ev));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic() {
        for w in Workload::samples() {
            let o = GenOptions { vcpus: 2, seed: 7 };
            assert_eq!(generate_vec(&w, &o), generate_vec(&w, &o), "{w:?}");
            let o2 = GenOptions { vcpus: 2, seed: 8 };
            // Alias and fork are fixed patterns; the seed drives spread and churn.
            if matches!(w, Workload::Spread { .. } | Workload::Churn { .. }) {
                assert_ne!(generate_vec(&w, &o), generate_vec(&w, &o2), "{w:?}");
            }
        }
    }

    /// Adds and removes of an alias workload of `aliases` mappings.
    fn alias_adds_and_removes(aliases: u64) -> (usize, usize) {
        let v = generate_vec(&Workload::Alias { aliases }, &GenOptions::default());
        let count = |add: bool| {
            v.iter()
                .filter(|e| match e.kind {
                    EventKind::Add { .. } => add,
                    EventKind::Remove { .. } => !add,
                    _ => false,
                })
                .count()
        };
        (count(true), count(false))
    }

    #[test]
    fn alias_counts() {
        assert_eq!(alias_adds_and_removes(5), (5, 5));
    }

    #[test]
    fn alias_past_the_threshold_removes_only_what_kvm_kept() {
        // The 1002nd add zaps all 1002; only the 1003rd is left to remove.
        assert_eq!(alias_adds_and_removes(1003), (1003, 1));
    }
}
