//! Views for debugging and tests: the lists of a configuration, and the kernel's invariants
//! checked over every live rmap.

use super::Replayer;
use crate::histogram::HistogramBuilder;
use crate::rmap::RmapIndex;
use crate::trace::RmapId;

pub use super::report::RmapDump;

impl Replayer {
    /// For configuration `index` (in the order given): every non-empty rmap at this point with
    /// its head word and descriptor chain in kernel iteration order, sorted by rmap id.
    pub fn dump_lists(&self, index: usize) -> Vec<RmapDump> {
        let mut out = Vec::new();
        for g in &self.groups {
            for (i, c) in &g.configs {
                if *i != index {
                    continue;
                }
                for (d, info) in g.members.live() {
                    out.push(RmapDump {
                        rmap: info.id,
                        gfn: info.gfn,
                        level: info.level,
                        kind: info.kind,
                        count: info.count,
                        list: c.set.snapshot(d),
                    });
                }
            }
        }
        out.sort_by_key(|d| d.rmap);
        out
    }

    /// Check every live rmap of every configuration against the kernel's invariants, and the
    /// incremental histogram against one recomputed from scratch.
    pub fn check_invariants(&self) -> Result<(), String> {
        for g in &self.groups {
            let m = &g.members;
            let mut fresh = HistogramBuilder::new();
            for (_, i) in m.live() {
                if i.page_level().is_some() {
                    fresh.add(i.level, i.count, i.in_slot);
                }
            }
            if fresh.snapshot(&m.memslots) != m.hist.live().snapshot(&m.memslots) {
                return Err("incremental histogram drifted from the rmaps".into());
            }
            for (_, c) in &g.configs {
                let live: std::collections::HashMap<RmapIndex, (RmapId, u64)> =
                    m.live().map(|(d, i)| (d, (i.id, i.count))).collect();
                for d in (0u32..).take(m.capacity()).map(RmapIndex) {
                    let (id, want) = live.get(&d).copied().unwrap_or_default();
                    c.set
                        .check_invariants(d)
                        .map_err(|e| format!("{}: rmap {id:#x}: {e}", c.set.config().label()))?;
                    let n = c.set.pte_list_count(d) as u64;
                    if n != want {
                        return Err(format!(
                            "{}: rmap index {d}: list holds {n}, index says {want}",
                            c.set.config().label()
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
