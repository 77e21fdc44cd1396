//! Workload plans: which address spaces map which frames, and the phases of ring-3 touches and
//! ring-0 page-table stores that drive KVM. Pure, and built from core's script of the workload
//! ([`rmaplab_core::workload::script`]) — the one `rmaplab gen` turns into events — so a
//! collected trace and a generated one describe the same workload.

use super::guest::{pte_value, PageTables, PAGE, WORK_VA};
use rmaplab_core::gen::Workload;
use rmaplab_core::workload::{script, PhaseKind, ScriptOp};

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

/// Build the plan for `w` on `vcpus` vCPUs with `seed`, from core's script of the workload (the
/// one `rmaplab gen` follows). Frame `f` is at `data_gpa + f × 4 KiB`; the data gpa is known
/// only once the tables are built, so mappings are recorded as frame numbers and resolved in
/// [`finish`].
pub fn plan(w: &Workload, vcpus: usize, seed: u64, list_bytes: u64) -> Plan {
    let s = script(w, seed);
    let mut b = Builder::new(s.spaces, vcpus);
    let mut phases = Vec::new();
    for ph in &s.phases {
        let maps: Vec<(usize, u64, u64)> = ph
            .ops
            .iter()
            .filter_map(|op| match *op {
                ScriptOp::Map {
                    space,
                    index,
                    frame,
                } => Some((space as usize, index, frame)),
                ScriptOp::Unmap { .. } => None,
            })
            .collect();
        match ph.kind {
            PhaseKind::Setup => {
                b.initial.extend(&maps);
                phases.push(touch_phase(&b, &ph.label, &maps));
            }
            PhaseKind::Map => {
                phases.push(map_phase(&mut b, &ph.label, &maps));
                let touch = match ph.label.strip_suffix(" map") {
                    Some(l) => format!("{l} touch"),
                    None => format!("{} touch", ph.label),
                };
                phases.push(touch_phase(&b, &touch, &maps));
            }
            PhaseKind::Unmap => {
                let pairs = ph
                    .ops
                    .iter()
                    .filter_map(|op| match *op {
                        ScriptOp::Unmap { space, index, .. } => Some((space as usize, index)),
                        ScriptOp::Map { .. } => None,
                    })
                    .collect();
                phases.push(unmap_phase(&mut b, &ph.label, pairs));
            }
        }
    }
    finish(b, s.frames, phases, list_bytes)
}

/// The pages of each address space, in the order given, spaces in the order they first appear
/// (the script's order: one guest job per space).
fn by_space<T: Copy>(pairs: impl IntoIterator<Item = (usize, T)>) -> Vec<(usize, Vec<T>)> {
    let mut v: Vec<(usize, Vec<T>)> = Vec::new();
    for (s, x) in pairs {
        match v.iter_mut().find(|(t, _)| *t == s) {
            Some((_, xs)) => xs.push(x),
            None => v.push((s, vec![x])),
        }
    }
    v
}

/// Ring 3 touches every mapped page, one step per address space on its vCPU.
fn touch_phase(b: &Builder, label: &str, maps: &[(usize, u64, u64)]) -> Phase {
    let mut p = b.phase(label);
    for (s, pages) in by_space(maps.iter().map(|&(s, i, f)| (s, (i, f)))) {
        p.per_vcpu[b.vcpu_of(s)].push(Step::Touch {
            cr3: b.spaces[s],
            vas: pages.iter().map(|&(i, _)| va(i)).collect(),
        });
    }
    p
}

/// Ring 0 stores the PTEs that map the pages (the frame resolved in [`finish`]).
fn map_phase(b: &mut Builder, label: &str, maps: &[(usize, u64, u64)]) -> Phase {
    let mut p = b.phase(label);
    for (s, pages) in by_space(maps.iter().map(|&(s, i, f)| (s, (i, f)))) {
        let cr3 = b.spaces[s];
        let writes = pages
            .iter()
            .map(|&(i, f)| (b.tables.pte_slot(cr3, va(i)), FRAME_TAG | f))
            .collect();
        p.per_vcpu[b.vcpu_of(s)].push(Step::Store { cr3, writes });
    }
    p
}

/// Marks a store value as "map frame N" until the data gpa is known.
const FRAME_TAG: u64 = 1 << 63;

/// Ring 0 clears the PTEs of the pages, one step per address space on its vCPU.
fn unmap_phase(b: &mut Builder, label: &str, pairs: Vec<(usize, u64)>) -> Phase {
    let mut p = b.phase(label);
    for (s, pages) in by_space(pairs) {
        let cr3 = b.spaces[s];
        let writes = pages
            .iter()
            .map(|&i| (b.tables.pte_slot(cr3, va(i)), 0))
            .collect();
        p.per_vcpu[b.vcpu_of(s)].push(Step::Store { cr3, writes });
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
    use rmaplab_core::gen::{generate_vec, GenOptions, GEN_BASE_GFN, SPTES_PER_SPACE};
    use rmaplab_core::trace::{RmapId, SpteId};
    use rmaplab_core::EventKind;

    /// A page mapped (space, index, frame) or unmapped (space, index, None).
    type Op = (u64, u64, Option<u64>);

    /// What `rmaplab gen` emits for `w`, one vCPU: adds and removes as page operations.
    fn generated(w: &Workload, seed: u64) -> Vec<Op> {
        let opts = GenOptions { vcpus: 1, seed };
        generate_vec(w, &opts)
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Add {
                    rmap: RmapId(gfn),
                    spte: SpteId(spte),
                } => Some((
                    spte / SPTES_PER_SPACE,
                    spte % SPTES_PER_SPACE,
                    Some(gfn - GEN_BASE_GFN),
                )),
                EventKind::Remove {
                    spte: SpteId(spte), ..
                } => Some((spte / SPTES_PER_SPACE, spte % SPTES_PER_SPACE, None)),
                _ => None,
            })
            .collect()
    }

    /// What the collect plan of `w` does, one vCPU: each touched page with the frame its PTE
    /// points at then, each cleared PTE.
    fn collected(w: &Workload, seed: u64) -> Vec<Op> {
        let p = plan(w, 1, seed, 1 << 20);
        let mut tables = p.tables.clone();
        let space_of = |cr3: u64| p.spaces.iter().position(|&c| c == cr3).unwrap() as u64;
        let frame_of = |gpa: u64| (gpa - p.data_gpa) / PAGE;
        // Which page each PTE slot maps, and what it points at now.
        let mut slot_page = std::collections::HashMap::new();
        let mut points = std::collections::HashMap::new();
        for (s, &cr3) in p.spaces.iter().enumerate() {
            for i in 0..(1u64 << 12) {
                let slot = tables.pte_slot(cr3, va(i));
                slot_page.insert(slot, (s as u64, i));
                if let Some(gpa) = p.tables.translate(cr3, va(i)) {
                    points.insert((s as u64, i), frame_of(gpa));
                }
            }
        }
        let mut out = Vec::new();
        for ph in &p.phases {
            for step in &ph.per_vcpu[0] {
                match step {
                    Step::Touch { cr3, vas } => {
                        for &v in vas {
                            let page = (space_of(*cr3), (v - WORK_VA) / PAGE);
                            out.push((page.0, page.1, points.get(&page).copied()));
                        }
                    }
                    Step::Store { writes, .. } => {
                        for &(slot, value) in writes {
                            let page = slot_page[&slot];
                            if value == 0 {
                                points.remove(&page);
                                out.push((page.0, page.1, None));
                            } else {
                                points.insert(page, frame_of(value & !0xfff));
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// The promise of the module doc: `rmaplab gen` and `rmaplab collect` with the same
    /// parameters and seed map and unmap the same pages, to the same frames, in the same order.
    #[test]
    fn a_generated_trace_and_the_collect_plan_do_the_same_work() {
        let ws = Workload::samples();
        for w in &ws {
            for seed in [1, 9] {
                let g = generated(w, seed);
                assert!(!g.is_empty());
                assert_eq!(collected(w, seed), g, "{w:?} seed {seed}");
            }
        }
    }

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
        let pts: std::collections::HashSet<u64> = writes
            .iter()
            .map(|w| rmaplab_core::paging::frame_of(w.0))
            .collect();
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
