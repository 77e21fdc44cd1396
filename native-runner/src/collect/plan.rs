//! Workload plans: which address spaces map which frames, and the phases of ring-3 touches and
//! ring-0 page-table stores that drive KVM. Pure: the same parameters and seed as
//! `rmaplab gen`, so a collected trace and a generated one describe the same workload.

use super::guest::{pte_value, PageTables, PAGE, WORK_VA};
use rmaplab_core::gen::{spread_counts, ChurnScript, SplitMix64, Workload};

/// One unit of work for one vCPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Ring 3: read then write each VA, in the space whose PML4 is `cr3`.
    Touch {
        /// Address space (PML4 gpa).
        cr3: u64,
        /// VAs to touch.
        vas: Vec<u64>,
    },
    /// Ring 0: store each (gpa, value) — guest page-table writes.
    Store {
        /// Address space to run in (any works: stores use the identity map).
        cr3: u64,
        /// (PTE gpa, new value).
        writes: Vec<(u64, u64)>,
    },
}

/// Work that runs with a barrier at its end, followed by a stats read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    /// Label (also the trace mark).
    pub label: String,
    /// Steps per vCPU, run in order on that vCPU; vCPUs run in parallel.
    pub per_vcpu: Vec<Vec<Step>>,
}

/// Everything the VMM needs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Page-table image (initial mappings already present).
    pub tables: PageTables,
    /// First data frame's gpa.
    pub data_gpa: u64,
    /// Data frames.
    pub frames: u64,
    /// The phases.
    pub phases: Vec<Phase>,
    /// Address spaces (PML4 gpas).
    pub spaces: Vec<u64>,
}

/// Data frames start here (above tables and lists, 2 MiB aligned).
pub fn data_base(tables_end: u64, list_bytes: u64) -> u64 {
    (tables_end + list_bytes + (2 << 20) - 1) & !((2 << 20) - 1)
}

fn va(index: u64) -> u64 {
    WORK_VA + index * PAGE
}

struct Builder {
    tables: PageTables,
    spaces: Vec<u64>,
    vcpus: usize,
    /// (space, index, frame) to map at build time.
    initial: Vec<(usize, u64, u64)>,
}

impl Builder {
    fn new(spaces: u64, vcpus: usize) -> Self {
        let mut tables = PageTables::new();
        let spaces = (0..spaces.max(1)).map(|_| tables.new_space()).collect();
        Builder {
            tables,
            spaces,
            vcpus: vcpus.max(1),
            initial: Vec::new(),
        }
    }

    fn vcpu_of(&self, space: usize) -> usize {
        space % self.vcpus
    }

    fn phase(&self, label: &str) -> Phase {
        Phase {
            label: label.to_string(),
            per_vcpu: vec![Vec::new(); self.vcpus],
        }
    }
}

/// Build the plan for `w` on `vcpus` vCPUs with `seed`. Frame `f` is at `data_gpa + f × 4 KiB`;
/// the data gpa is known only once the tables are built, so mappings are recorded as frame
/// numbers and resolved in [`finish`].
pub fn plan(w: &Workload, vcpus: usize, seed: u64, list_bytes: u64) -> Plan {
    let mut rng = SplitMix64::new(seed);
    match *w {
        Workload::Alias { aliases } => {
            let mut b = Builder::new(1, vcpus);
            b.initial = (0..aliases).map(|i| (0, i, 0)).collect();
            let mut touch = b.phase("touch");
            touch.per_vcpu[0].push(Step::Touch {
                cr3: b.spaces[0],
                vas: (0..aliases).map(va).collect(),
            });
            let unmap = unmap_phase(&mut b, "unmap", (0..aliases).map(|i| (0, i)).collect());
            finish(b, 1, vec![touch, unmap], list_bytes)
        }
        Workload::Fork {
            procs,
            pages,
            private,
        } => {
            let mut b = Builder::new(procs, vcpus);
            for p in 0..procs as usize {
                for m in 0..pages {
                    b.initial.push((p, m, m));
                }
                for k in 0..private {
                    b.initial
                        .push((p, pages + k, pages + p as u64 * private + k));
                }
            }
            let mut touch = b.phase("touch");
            for p in 0..procs as usize {
                let v = b.vcpu_of(p);
                touch.per_vcpu[v].push(Step::Touch {
                    cr3: b.spaces[p],
                    vas: (0..pages + private).map(va).collect(),
                });
            }
            let all: Vec<(usize, u64)> = (0..procs as usize)
                .rev()
                .flat_map(|p| (0..pages + private).map(move |i| (p, i)))
                .collect();
            let exit = unmap_phase(&mut b, "exit", all);
            finish(b, pages + procs * private, vec![touch, exit], list_bytes)
        }
        Workload::Spread {
            gfns,
            max_aliases,
            skew_tenths,
        } => {
            let alpha = skew_tenths.max(1) as f64 / 10.0;
            let counts = spread_counts(&mut rng, gfns, max_aliases, alpha);
            let deepest = counts.iter().copied().max().unwrap_or(1);
            let mut b = Builder::new(deepest, vcpus);
            let mut touch = b.phase("touch");
            let mut all = Vec::new();
            for a in 0..deepest as usize {
                let idx: Vec<u64> = (0..gfns)
                    .filter(|&g| counts[g as usize] > a as u64)
                    .collect();
                for &g in &idx {
                    b.initial.push((a, g, g));
                    all.push((a, g));
                }
                let v = b.vcpu_of(a);
                touch.per_vcpu[v].push(Step::Touch {
                    cr3: b.spaces[a],
                    vas: idx.into_iter().map(va).collect(),
                });
            }
            let unmap = unmap_phase(&mut b, "unmap", all);
            finish(b, gfns, vec![touch, unmap], list_bytes)
        }
        Workload::Churn {
            cycles,
            batch,
            gfns,
            spaces,
        } => {
            let mut b = Builder::new(spaces, vcpus);
            let mut script = ChurnScript::new(&mut rng, gfns, spaces);
            let mut phases = Vec::new();
            for c in 0..cycles {
                let (maps, unmaps) = script.cycle(batch);
                let mut map = b.phase(&format!("cycle {c} map"));
                let mut touch = b.phase(&format!("cycle {c} touch"));
                let mut by_space: Vec<Vec<u64>> = vec![Vec::new(); b.spaces.len()];
                for (g, s) in maps {
                    by_space[s as usize].push(g);
                }
                for (s, gs) in by_space.iter().enumerate() {
                    if gs.is_empty() {
                        continue;
                    }
                    let cr3 = b.spaces[s];
                    let writes = gs
                        .iter()
                        .map(|&g| (b.tables.pte_slot(cr3, va(g)), FRAME_TAG | g))
                        .collect();
                    let v = b.vcpu_of(s);
                    map.per_vcpu[v].push(Step::Store { cr3, writes });
                    touch.per_vcpu[v].push(Step::Touch {
                        cr3,
                        vas: gs.iter().map(|&g| va(g)).collect(),
                    });
                }
                phases.push(map);
                phases.push(touch);
                phases.push(unmap_phase(
                    &mut b,
                    &format!("cycle {c} unmap"),
                    unmaps.into_iter().map(|(g, s)| (s as usize, g)).collect(),
                ));
            }
            let rest = script
                .teardown()
                .into_iter()
                .map(|(g, s)| (s as usize, g))
                .collect();
            phases.push(unmap_phase(&mut b, "teardown", rest));
            finish(b, gfns, phases, list_bytes)
        }
    }
}

/// Marks a store value as "map frame N" until the data gpa is known.
const FRAME_TAG: u64 = 1 << 63;

fn unmap_phase(b: &mut Builder, label: &str, pairs: Vec<(usize, u64)>) -> Phase {
    let mut p = b.phase(label);
    let mut by_space: Vec<Vec<(u64, u64)>> = vec![Vec::new(); b.spaces.len()];
    for (s, i) in pairs {
        let cr3 = b.spaces[s];
        by_space[s].push((b.tables.pte_slot(cr3, va(i)), 0));
    }
    for (s, writes) in by_space.into_iter().enumerate() {
        if !writes.is_empty() {
            let v = b.vcpu_of(s);
            p.per_vcpu[v].push(Step::Store {
                cr3: b.spaces[s],
                writes,
            });
        }
    }
    p
}

fn finish(mut b: Builder, frames: u64, mut phases: Vec<Phase>, list_bytes: u64) -> Plan {
    // Allocate every table first (pte_slot above may have added some), then place data.
    for &(s, i, _) in &b.initial {
        let cr3 = b.spaces[s];
        b.tables.pte_slot(cr3, va(i));
    }
    let data_gpa = data_base(b.tables.end(), list_bytes);
    for &(s, i, f) in &b.initial {
        let cr3 = b.spaces[s];
        b.tables.map(cr3, va(i), data_gpa + f * PAGE);
    }
    for p in &mut phases {
        for steps in &mut p.per_vcpu {
            for st in steps {
                if let Step::Store { writes, .. } = st {
                    for w in writes.iter_mut() {
                        if w.1 & FRAME_TAG != 0 {
                            w.1 = pte_value(data_gpa + (w.1 & !FRAME_TAG) * PAGE);
                        }
                    }
                }
            }
        }
    }
    Plan {
        tables: b.tables,
        data_gpa,
        frames: frames.max(1),
        phases,
        spaces: b.spaces,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_maps_one_frame_everywhere_then_clears() {
        let p = plan(&Workload::Alias { aliases: 600 }, 1, 1, 1 << 20);
        let cr3 = p.spaces[0];
        assert_eq!(p.tables.translate(cr3, va(0)), Some(p.data_gpa));
        assert_eq!(p.tables.translate(cr3, va(599)), Some(p.data_gpa));
        assert_eq!(p.phases.len(), 2);
        let Step::Store { writes, .. } = &p.phases[1].per_vcpu[0][0] else {
            panic!()
        };
        assert_eq!(writes.len(), 600);
        assert!(writes.iter().all(|w| w.1 == 0));
        // 600 aliases need two level-1 tables.
        let pts: std::collections::HashSet<u64> = writes.iter().map(|w| w.0 >> 12).collect();
        assert_eq!(pts.len(), 2);
    }

    #[test]
    fn fork_shares_frames_across_spaces_and_vcpus() {
        let p = plan(
            &Workload::Fork {
                procs: 4,
                pages: 3,
                private: 2,
            },
            2,
            1,
            1 << 20,
        );
        assert_eq!(p.spaces.len(), 4);
        assert_eq!(p.frames, 3 + 4 * 2);
        for (i, &cr3) in p.spaces.iter().enumerate() {
            assert_eq!(p.tables.translate(cr3, va(1)), Some(p.data_gpa + PAGE));
            assert_eq!(
                p.tables.translate(cr3, va(3)),
                Some(p.data_gpa + (3 + i as u64 * 2) * PAGE)
            );
        }
        assert_eq!(p.phases[0].per_vcpu[0].len(), 2);
        assert_eq!(p.phases[0].per_vcpu[1].len(), 2);
    }

    #[test]
    fn churn_maps_through_stores() {
        let p = plan(
            &Workload::Churn {
                cycles: 2,
                batch: 10,
                gfns: 8,
                spaces: 2,
            },
            1,
            5,
            1 << 20,
        );
        let Step::Store { writes, .. } = &p.phases[0].per_vcpu[0][0] else {
            panic!()
        };
        assert!(writes.iter().all(|w| w.1 & 1 == 1 && w.1 & FRAME_TAG == 0));
        assert!(writes.iter().all(|w| (w.1 & !0xfff) >= p.data_gpa));
        assert_eq!(
            p.phases.last().map(|ph| ph.label.as_str()),
            Some("teardown")
        );
    }
}
