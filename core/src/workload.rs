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
    /// Address space `space` unmaps its page `index` (a guest page-table write).
    Unmap {
        /// Address space.
        space: u64,
        /// Page index in that space.
        index: u64,
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

fn phase(label: impl Into<String>, kind: PhaseKind, ops: Vec<ScriptOp>) -> ScriptPhase {
    ScriptPhase {
        label: label.into(),
        kind,
        ops,
    }
}

fn unmaps(maps: &[ScriptOp]) -> Vec<ScriptOp> {
    maps.iter()
        .filter_map(|op| match *op {
            ScriptOp::Map { space, index, .. } => Some(ScriptOp::Unmap { space, index }),
            ScriptOp::Unmap { .. } => None,
        })
        .collect()
}

/// The script of `w` with random choices from `seed`.
pub fn script(w: &Workload, seed: u64) -> Script {
    let mut rng = SplitMix64::new(seed);
    match *w {
        Workload::Alias { aliases } => {
            // Alias i is PTE i of the alias page tables: consecutive SPTEs of one space.
            let maps: Vec<ScriptOp> = (0..aliases)
                .map(|index| ScriptOp::Map {
                    space: 0,
                    index,
                    frame: 0,
                })
                .collect();
            let un = unmaps(&maps);
            Script {
                spaces: 1,
                frames: 1,
                phases: vec![
                    phase("touch", PhaseKind::Setup, maps),
                    phase("unmap", PhaseKind::Unmap, un),
                ],
            }
        }
        Workload::Fork {
            procs,
            pages,
            private,
        } => {
            // Every address space maps the shared pages, then its own private ones; at exit the
            // children go first (the youngest first), the parent last.
            let maps_of = |p: u64| -> Vec<ScriptOp> {
                (0..pages)
                    .map(move |m| ScriptOp::Map {
                        space: p,
                        index: m,
                        frame: m,
                    })
                    .chain((0..private).map(move |k| ScriptOp::Map {
                        space: p,
                        index: pages + k,
                        frame: pages + p * private + k,
                    }))
                    .collect()
            };
            let maps: Vec<ScriptOp> = (0..procs).flat_map(maps_of).collect();
            let exit: Vec<ScriptOp> = (0..procs).rev().flat_map(|p| unmaps(&maps_of(p))).collect();
            Script {
                spaces: procs.max(1),
                frames: pages + procs * private,
                phases: vec![
                    phase("touch", PhaseKind::Setup, maps),
                    phase("exit", PhaseKind::Unmap, exit),
                ],
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
            let maps: Vec<ScriptOp> = (0..deepest)
                .flat_map(|a| {
                    counts
                        .iter()
                        .enumerate()
                        .filter(move |(_, &k)| k > a)
                        .map(move |(g, _)| ScriptOp::Map {
                            space: a,
                            index: g as u64,
                            frame: g as u64,
                        })
                })
                .collect();
            let un = unmaps(&maps);
            Script {
                spaces: deepest.max(1),
                frames: gfns,
                phases: vec![
                    phase("touch", PhaseKind::Setup, maps),
                    phase("unmap", PhaseKind::Unmap, un),
                ],
            }
        }
        Workload::Churn {
            cycles,
            batch,
            gfns,
            spaces,
        } => {
            let mut churn = ChurnScript::new(&mut rng, gfns, spaces);
            let mut phases = Vec::new();
            let pair_map = |(g, s): (u64, u64)| ScriptOp::Map {
                space: s,
                index: g,
                frame: g,
            };
            let pair_unmap = |(g, s): (u64, u64)| ScriptOp::Unmap { space: s, index: g };
            // Each address space does its share of a phase in one go (the collector runs one
            // guest job per space), spaces in index order; the pairs keep their drawn order
            // within a space.
            let by_space = |mut pairs: Pairs| {
                pairs.sort_by_key(|&(_, s)| s);
                pairs
            };
            for c in 0..cycles {
                let (maps, un) = churn.cycle(batch);
                let (maps, un) = (by_space(maps), by_space(un));
                phases.push(phase(
                    format!("cycle {c} map"),
                    PhaseKind::Map,
                    maps.into_iter().map(pair_map).collect(),
                ));
                phases.push(phase(
                    format!("cycle {c} unmap"),
                    PhaseKind::Unmap,
                    un.into_iter().map(pair_unmap).collect(),
                ));
            }
            phases.push(phase(
                "teardown",
                PhaseKind::Unmap,
                by_space(churn.teardown())
                    .into_iter()
                    .map(pair_unmap)
                    .collect(),
            ));
            Script {
                spaces: spaces.max(1),
                frames: gfns,
                phases,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_map_is_undone_by_the_end() {
        let ws = [
            Workload::Alias { aliases: 5 },
            Workload::Fork {
                procs: 3,
                pages: 4,
                private: 2,
            },
            Workload::Spread {
                gfns: 50,
                max_aliases: 8,
                skew_tenths: 12,
            },
            Workload::Churn {
                cycles: 4,
                batch: 20,
                gfns: 16,
                spaces: 3,
            },
        ];
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
                    ScriptOp::Unmap { space, index } => {
                        assert!(live.remove(&(space, index)), "{w:?}: unmapped unmapped");
                    }
                }
            }
            assert!(live.is_empty(), "{w:?} leaves {} mapped", live.len());
        }
    }
}
