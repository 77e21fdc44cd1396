//! Each built-in workload defined once, as a script of map and unmap steps in phases. `rmaplab
//! gen` ([`crate::gen::generate`]) turns a script into trace events; `rmaplab collect` turns
//! the same script into guest page tables, ring-3 touches and ring-0 page-table stores, so a
//! generated trace and a collected one describe the same workload.

use crate::gen::{SplitMix64, Workload};

/// One step of a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScriptOp {
    /// Address space `space` maps its page `index` to data frame `frame` and touches it (the
    /// fault that makes KVM install the SPTE).
    Map {
        /// Address space.
        space: u64,
        /// Page (and PTE) index in that space.
        index: u64,
        /// Data frame, counted from the first.
        frame: u64,
    },
    /// Address space `space` unmaps its page `index`, which maps `frame` (a guest page-table
    /// write).
    Unmap {
        /// Address space.
        space: u64,
        /// Page index in that space.
        index: u64,
        /// The data frame it mapped.
        frame: u64,
    },
}

/// What a phase does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseKind {
    /// Maps that exist before the guest runs (the collector builds them into the initial page
    /// tables), then touches.
    Setup,
    /// Maps made while the guest runs (the collector stores the PTEs from the guest), then
    /// touches.
    Map,
    /// Unmaps (guest page-table writes).
    Unmap,
}

/// Steps that run together (a trace mark names each; the collector reads KVM's stats after).
/// A phase's ops are all maps ([`PhaseKind::Setup`], [`PhaseKind::Map`]) or all unmaps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptPhase {
    /// Its name.
    pub label: String,
    /// What it does.
    pub kind: PhaseKind,
    /// The steps, in order.
    pub ops: Vec<ScriptOp>,
}

/// A workload as steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// Address spaces used.
    pub spaces: u64,
    /// Data frames used.
    pub frames: u64,
    /// The phases, in order.
    pub phases: Vec<ScriptPhase>,
}

/// Alias counts of the `spread` workload: P(k >= m) ~ m^-alpha, clamped to `1..=max_aliases`.
pub fn spread_counts(rng: &mut SplitMix64, gfns: u64, max_aliases: u64, alpha: f64) -> Vec<u64> {
    (0..gfns)
        .map(|_| {
            let k = (rng.unit().powf(-1.0 / alpha)).floor() as u64;
            k.clamp(1, max_aliases.max(1))
        })
        .collect()
}

/// (frame, address space) pairs.
pub type Pairs = Vec<(u64, u64)>;

/// The `churn` workload's choices: per cycle, the (frame, space) pairs newly mapped and then
/// those unmapped.
#[derive(Debug)]
pub struct ChurnScript<'a> {
    rng: &'a mut SplitMix64,
    gfns: u64,
    spaces: u64,
    mapped: Vec<(u64, u64)>,
    present: std::collections::HashSet<(u64, u64)>,
}

impl<'a> ChurnScript<'a> {
    /// A script over `gfns` frames and `spaces` address spaces.
    pub fn new(rng: &'a mut SplitMix64, gfns: u64, spaces: u64) -> Self {
        ChurnScript {
            rng,
            gfns: gfns.max(1),
            spaces: spaces.max(1),
            mapped: Vec::new(),
            present: Default::default(),
        }
    }

    /// One cycle: try `batch` random maps (skipping pairs already mapped), then unmap each
    /// mapped pair with probability 1/2.
    pub fn cycle(&mut self, batch: u64) -> (Pairs, Pairs) {
        let mut maps = Vec::new();
        for _ in 0..batch {
            let g = self.rng.below(self.gfns);
            let s = self.rng.below(self.spaces);
            if self.present.insert((g, s)) {
                self.mapped.push((g, s));
                maps.push((g, s));
            }
        }
        let mut unmaps = Vec::new();
        let mut i = 0;
        while i < self.mapped.len() {
            if self.rng.below(2) == 0 {
                let p = self.mapped.swap_remove(i);
                self.present.remove(&p);
                unmaps.push(p);
            } else {
                i += 1;
            }
        }
        (maps, unmaps)
    }

    /// Everything still mapped, for the final tear-down.
    pub fn teardown(self) -> Vec<(u64, u64)> {
        self.mapped
    }
}

/// One item of a script as it streams: a phase begins, or a step of the current phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptItem<'a> {
    /// A phase begins.
    Phase {
        /// Its name.
        label: &'a str,
        /// What it does.
        kind: PhaseKind,
    },
    /// A step of the current phase.
    Op(ScriptOp),
}

/// Stream the script of `w` with random choices from `seed`, item by item, in bounded memory
/// (`rmaplab gen` writes traces of any length from it).
pub fn stream(w: &Workload, seed: u64, out: &mut dyn FnMut(ScriptItem<'_>)) {
    let mut rng = SplitMix64::new(seed);
    let phase = |out: &mut dyn FnMut(ScriptItem<'_>), label: &str, kind: PhaseKind| {
        out(ScriptItem::Phase { label, kind });
    };
    let map = |space, index, frame| {
        ScriptItem::Op(ScriptOp::Map {
            space,
            index,
            frame,
        })
    };
    let unmap = |space, index, frame| {
        ScriptItem::Op(ScriptOp::Unmap {
            space,
            index,
            frame,
        })
    };
    match *w {
        Workload::Alias { aliases } => {
            // Alias i is PTE i of the alias page tables: consecutive SPTEs of one space.
            phase(out, "touch", PhaseKind::Setup);
            for i in 0..aliases {
                out(map(0, i, 0));
            }
            phase(out, "unmap", PhaseKind::Unmap);
            for i in 0..aliases {
                out(unmap(0, i, 0));
            }
        }
        Workload::Fork {
            procs,
            pages,
            private,
        } => {
            // Every address space maps the shared pages, then its own private ones; at exit the
            // children go first (the youngest first), the parent last.
            let pages_of = |p: u64| {
                (0..pages)
                    .map(|m| (m, m))
                    .chain((0..private).map(move |k| (pages + k, pages + p * private + k)))
            };
            phase(out, "touch", PhaseKind::Setup);
            for p in 0..procs {
                for (index, frame) in pages_of(p) {
                    out(map(p, index, frame));
                }
            }
            phase(out, "exit", PhaseKind::Unmap);
            for p in (0..procs).rev() {
                for (index, frame) in pages_of(p) {
                    out(unmap(p, index, frame));
                }
            }
        }
        Workload::Spread {
            gfns,
            max_aliases,
            skew_tenths,
        } => {
            let alpha = skew_tenths.max(1) as f64 / 10.0;
            let counts = spread_counts(&mut rng, gfns, max_aliases, alpha);
            let deepest = counts.iter().copied().max().unwrap_or(1);
            // Address space a maps every frame that has more than a aliases, in frame order.
            let each = |out: &mut dyn FnMut(ScriptItem<'_>), unmapping: bool| {
                for a in 0..deepest {
                    for (g, &k) in counts.iter().enumerate() {
                        if k > a {
                            let g = g as u64;
                            out(if unmapping {
                                unmap(a, g, g)
                            } else {
                                map(a, g, g)
                            });
                        }
                    }
                }
            };
            phase(out, "touch", PhaseKind::Setup);
            each(out, false);
            phase(out, "unmap", PhaseKind::Unmap);
            each(out, true);
        }
        Workload::Churn {
            cycles,
            batch,
            gfns,
            spaces,
        } => {
            let mut churn = ChurnScript::new(&mut rng, gfns, spaces);
            // Each address space does its share of a phase in one go (the collector runs one
            // guest job per space), spaces in index order; the pairs keep their drawn order
            // within a space.
            let by_space = |mut pairs: Pairs| {
                pairs.sort_by_key(|&(_, s)| s);
                pairs
            };
            for c in 0..cycles {
                let (maps, un) = churn.cycle(batch);
                phase(out, &format!("cycle {c} map"), PhaseKind::Map);
                for (g, s) in by_space(maps) {
                    out(map(s, g, g));
                }
                phase(out, &format!("cycle {c} unmap"), PhaseKind::Unmap);
                for (g, s) in by_space(un) {
                    out(unmap(s, g, g));
                }
            }
            phase(out, "teardown", PhaseKind::Unmap);
            for (g, s) in by_space(churn.teardown()) {
                out(unmap(s, g, g));
            }
        }
    }
}

/// The whole script of `w` with random choices from `seed` (for workloads that fit a guest:
/// the collector's plans).
pub fn script(w: &Workload, seed: u64) -> Script {
    let mut phases: Vec<ScriptPhase> = Vec::new();
    let (mut spaces, mut frames) = (1u64, 1u64);
    stream(w, seed, &mut |item| match item {
        ScriptItem::Phase { label, kind } => phases.push(ScriptPhase {
            label: label.to_string(),
            kind,
            ops: Vec::new(),
        }),
        ScriptItem::Op(op) => {
            if let ScriptOp::Map { space, frame, .. } = op {
                spaces = spaces.max(space + 1);
                frames = frames.max(frame + 1);
            }
            if let Some(p) = phases.last_mut() {
                p.ops.push(op);
            }
        }
    });
    Script {
        spaces,
        frames,
        phases,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_map_is_undone_by_the_end() {
        let ws = Workload::samples();
        for w in &ws {
            let s = script(w, 7);
            let mut live = std::collections::HashSet::new();
            for (p, op) in s
                .phases
                .iter()
                .flat_map(|p| p.ops.iter().map(move |o| (p, o)))
            {
                assert_eq!(
                    matches!(op, ScriptOp::Unmap { .. }),
                    p.kind == PhaseKind::Unmap,
                    "{w:?}: {op:?} in a {:?} phase",
                    p.kind
                );
                match *op {
                    ScriptOp::Map {
                        space,
                        index,
                        frame,
                    } => {
                        assert!(space < s.spaces && frame < s.frames.max(1), "{w:?}");
                        assert!(live.insert((space, index)), "{w:?}: mapped twice");
                    }
                    ScriptOp::Unmap { space, index, .. } => {
                        assert!(live.remove(&(space, index)), "{w:?}: unmapped unmapped");
                    }
                }
            }
            assert!(live.is_empty(), "{w:?} leaves {} mapped", live.len());
        }
    }
}
