//! Each built-in workload defined once: its parameters ([`Workload`], also the workload
//! subcommand of `rmaplab gen` and `rmaplab collect`) and its script of map and unmap steps in
//! phases. `rmaplab gen` ([`crate::gen::generate`]) turns a script into trace events; `rmaplab
//! collect` turns the same script into guest page tables, ring-3 touches and ring-0 page-table
//! stores, so a generated trace and a collected one describe the same workload.

use crate::config::RMAP_RECYCLE_THRESHOLD;
use crate::gen::SplitMix64;
use serde::{Deserialize, Serialize};

/// `alias`'s default: two past KVM's recycle threshold, so the recycle zap happens.
pub const DEFAULT_ALIASES: u64 = RMAP_RECYCLE_THRESHOLD + 2;
/// `fork`'s default address spaces.
pub const DEFAULT_PROCS: u64 = 64;
/// `fork`'s default shared pages.
pub const DEFAULT_SHARED_PAGES: u64 = 256;
/// `fork`'s default private pages per address space.
pub const DEFAULT_PRIVATE_PAGES: u64 = 16;
/// `spread`'s default guest frames.
pub const DEFAULT_SPREAD_GFNS: u64 = 100_000;
/// `spread`'s default largest alias count.
pub const DEFAULT_MAX_ALIASES: u64 = 512;
/// `spread`'s default tail exponent × 10.
pub const DEFAULT_SKEW_TENTHS: u64 = 15;
/// `churn`'s default rounds.
pub const DEFAULT_CYCLES: u64 = 100;
/// `churn`'s default mappings per round.
pub const DEFAULT_BATCH: u64 = 1000;
/// `churn`'s default guest frames.
pub const DEFAULT_CHURN_GFNS: u64 = 4096;
/// `churn`'s default address spaces.
pub const DEFAULT_SPACES: u64 = 32;

/// A synthetic workload and its parameters. With the `clap` feature it is also the workload
/// subcommand of `rmaplab gen` and `rmaplab collect` (its docs are their help, the defaults
/// above theirs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "workload", rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::Subcommand))]
pub enum Workload {
    /// One guest page mapped at `aliases` virtual addresses (each touched), then unmapped.
    Alias {
        /// Mappings of the page.
        #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_ALIASES))]
        aliases: u64,
    },
    /// `procs` address spaces sharing `pages` pages (a fork storm), each with `private` pages of
    /// its own; then every child exits.
    Fork {
        /// Address spaces (parent included).
        #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_PROCS))]
        procs: u64,
        /// Pages every address space maps (the memory the children share with the parent).
        #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_SHARED_PAGES))]
        pages: u64,
        /// Private pages per address space.
        #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_PRIVATE_PAGES))]
        private: u64,
    },
    /// `gfns` guest frames with a skewed number of mappings each: most 1, a few many
    /// (P(k ≥ m) ≈ m^-`skew_tenths`/10), capped at `max_aliases`.
    Spread {
        /// Guest frames (4 KiB each) the mappings are spread over.
        #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_SPREAD_GFNS))]
        gfns: u64,
        /// Most mappings one frame gets (the longest rmap's length).
        #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_MAX_ALIASES))]
        max_aliases: u64,
        /// Tail exponent × 10 (e.g. 15 = 1.5; smaller means heavier tail).
        #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_SKEW_TENTHS))]
        skew_tenths: u64,
    },
    /// `cycles` rounds of mapping `batch` random (gfn, address) pairs over `gfns` frames and
    /// `spaces` address spaces, then unmapping a random half of everything mapped.
    Churn {
        /// Rounds of mapping a batch, then unmapping half of everything mapped.
        #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_CYCLES))]
        cycles: u64,
        /// New (gfn, address) mappings each round makes.
        #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_BATCH))]
        batch: u64,
        /// Guest frames to choose from.
        #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_CHURN_GFNS))]
        gfns: u64,
        /// Address spaces to choose from.
        #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_SPACES))]
        spaces: u64,
    },
}

impl Workload {
    /// One small instance of each workload, for tests that should cover every kind: an alias
    /// list longer than a descriptor chain of any size up to 14 needs, a fork with private
    /// pages, a skewed spread and a churn over several address spaces.
    pub fn samples() -> [Workload; 4] {
        [
            Workload::Alias { aliases: 300 },
            Workload::Fork {
                procs: 20,
                pages: 50,
                private: 4,
            },
            Workload::Spread {
                gfns: 2000,
                max_aliases: 64,
                skew_tenths: 15,
            },
            Workload::Churn {
                cycles: 10,
                batch: 100,
                gfns: 50,
                spaces: 8,
            },
        ]
    }

    /// The workload's name.
    pub fn name(&self) -> &'static str {
        match self {
            Workload::Alias { .. } => "alias",
            Workload::Fork { .. } => "fork",
            Workload::Spread { .. } => "spread",
            Workload::Churn { .. } => "churn",
        }
    }

    /// A one-line description with parameters.
    pub fn describe(&self) -> String {
        match self {
            Workload::Alias { aliases } => format!("alias: one page mapped at {aliases} addresses, then unmapped"),
            Workload::Fork { procs, pages, private } => format!(
                "fork: {procs} address spaces sharing {pages} pages, {private} private pages each, then exit"
            ),
            Workload::Spread { gfns, max_aliases, skew_tenths } => format!(
                "spread: {gfns} frames, alias counts skewed (tail exponent {}.{}) up to {max_aliases}",
                skew_tenths / 10,
                skew_tenths % 10
            ),
            Workload::Churn { cycles, batch, gfns, spaces } => format!(
                "churn: {cycles} rounds of {batch} maps over {gfns} frames x {spaces} spaces, unmapping half each round"
            ),
        }
    }

    /// Frames the workload touches (for the memslot in the metadata).
    pub(crate) fn frames(&self) -> u64 {
        match *self {
            Workload::Alias { .. } => 1,
            Workload::Fork {
                procs,
                pages,
                private,
            } => pages + procs * private,
            Workload::Spread { gfns, .. } | Workload::Churn { gfns, .. } => gfns,
        }
    }
}

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
