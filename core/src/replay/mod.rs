//! Replay one trace through many configurations in a single streaming pass.
//!
//! Configurations that share a recycle threshold share one *group* (the `group` module): one membership
//! index — SPTE ids and rmap ids mapped to dense rmap indices, reused when an rmap empties — so
//! memory is bounded by the live rmap state, never by the trace length. Array size, era and
//! caches change only the lists' shape; the group module proves that they never change a
//! recycle decision. Each configuration keeps its own lists and measurements
//! (the `config_state` module); the `report` module turns them into the summary, and also puts together the parts
//! of a replay whose configurations were split over threads ([`Replayer::new_part`]).

mod config_state;
mod debug;
mod group;
mod membership;
mod peak;
mod report;

pub use debug::RmapDump;
pub use membership::IdHasher;
pub use report::{
    benchmark_configs, benchmark_sizes_head_insert, config_matrix, Anomalies, ConfigReport,
    EventCounts, OpCosts, ReplayPart, ReplaySummary, StatCheck, MAX_MARKS, MAX_STAT_CHECKS,
    NO_SPTES,
};

use crate::config::ModelConfig;
use crate::rmap::RmapError;
use crate::trace::{Event, EventKind, TraceMeta, VcpuId};
use config_state::ConfigState;
use group::RecycleGroup;
use membership::Membership;
use report::PartConfig;
use serde::{Deserialize, Serialize};

/// An add or a remove the kernel's list code could never be asked to do: counted and skipped,
/// or, under `--strict`, the end of the replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Anomaly {
    /// An add of an SPTE already in this rmap (`pte_list_add` would store it twice).
    #[error("add of spte {spte:#x} already in rmap {rmap:#x}")]
    AddDuplicate {
        /// The rmap the event named.
        rmap: crate::trace::RmapId,
        /// The SPTE (sptep) the event named.
        spte: crate::trace::SpteId,
    },
    /// An add of an SPTE still in another rmap (KVM drops an SPTE before reusing it).
    #[error("add of spte {spte:#x} to rmap {rmap:#x} while it is still in another rmap")]
    AddInOtherRmap {
        /// The rmap the event named.
        rmap: crate::trace::RmapId,
        /// The SPTE (sptep) the event named.
        spte: crate::trace::SpteId,
    },
    /// A remove from an rmap that does not hold the SPTE, which another rmap does.
    #[error("remove of spte {spte:#x} from rmap {rmap:#x}, but it is in another rmap")]
    RemoveWrongRmap {
        /// The rmap the event named.
        rmap: crate::trace::RmapId,
        /// The SPTE (sptep) the event named.
        spte: crate::trace::SpteId,
    },
    /// A remove of an SPTE no rmap holds (`pte_list_remove` would BUG).
    #[error("remove of spte {spte:#x} that is in no rmap (rmap {rmap:#x})")]
    RemoveUnknown {
        /// The rmap the event named.
        rmap: crate::trace::RmapId,
        /// The SPTE (sptep) the event named.
        spte: crate::trace::SpteId,
    },
}

/// Errors from replay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// No configuration was given.
    #[error("no configurations to replay")]
    NoConfigs,
    /// A configuration is invalid.
    #[error("configuration {label}: {source}")]
    Config {
        /// Its label (`entries/era`, as in the tables).
        label: String,
        /// What the configuration asks that the model cannot be.
        source: crate::ConfigError,
    },
    /// `--strict`: an event that cannot happen in the kernel.
    #[error("event {index}: {anomaly} (strict mode stops at the first anomaly)")]
    Anomaly {
        /// 0-based event index.
        index: u64,
        /// What was wrong.
        anomaly: Anomaly,
    },
    /// Configurations sharing a recycle threshold disagreed on whether an add recycles, which
    /// the argument in the `group` module rules out (a bug in rmaplab).
    #[error("event {index}: internal error: configurations with one recycle threshold disagreed on a recycle")]
    RecycleDisagreement {
        /// 0-based event index.
        index: u64,
    },
    /// The model's own invariant broke (a bug in rmaplab).
    #[error("event {index}: internal model error: {source}")]
    Model {
        /// 0-based event index.
        index: u64,
        /// The invariant that broke, from the list code.
        source: RmapError,
    },
}

/// How the replay treated vCPU cache top-ups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultMode {
    /// No `fault` event seen yet: every add is treated as following a fault on its vCPU.
    Implicit,
    /// The trace has `fault` events: caches are topped up only at them.
    Explicit,
}

/// Replay options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Stop at the first anomaly instead of counting it.
    pub strict: bool,
}

/// Streams events through every configuration.
#[derive(Debug, Clone)]
pub struct Replayer {
    meta: TraceMeta,
    opts: ReplayOptions,
    groups: Vec<RecycleGroup>,
    events: u64,
    counts: EventCounts,
    fault_mode: FaultMode,
    current_vcpu: VcpuId,
    implicit_faults: u64,
    marks: Vec<(u64, String)>,
    /// KVM's last reading of each stat in the trace (the evidence [`crate::exactness`] weighs).
    last_stats: std::collections::BTreeMap<String, u64>,
}

impl Replayer {
    /// Replay `events` of a trace with `meta` through `configs`, with the default options, in
    /// one go.
    pub fn replay_all<'a>(
        meta: TraceMeta,
        configs: &[ModelConfig],
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Result<ReplaySummary, ReplayError> {
        let mut r = Replayer::new(meta, configs, ReplayOptions::default())?;
        r.feed_all(events)?;
        Ok(r.finish())
    }

    /// Prepare a replay of a trace with `meta` through `configs`.
    pub fn new(
        meta: TraceMeta,
        configs: &[ModelConfig],
        opts: ReplayOptions,
    ) -> Result<Self, ReplayError> {
        let all: Vec<usize> = (0..configs.len()).collect();
        Self::new_part(meta, configs, &all, opts)
    }

    /// Prepare the part of a replay through `configs` that runs the configurations at
    /// positions `part`: several parts over disjoint positions, fed the same events (on as many
    /// threads) and finished with [`Replayer::finish_part`], give
    /// [`ReplaySummary::assemble`] what one replay of every configuration would report.
    pub fn new_part(
        meta: TraceMeta,
        configs: &[ModelConfig],
        part: &[usize],
        opts: ReplayOptions,
    ) -> Result<Self, ReplayError> {
        if configs.is_empty() || part.is_empty() {
            return Err(ReplayError::NoConfigs);
        }
        for cfg in configs {
            cfg.validate().map_err(|source| ReplayError::Config {
                label: cfg.label(),
                source,
            })?;
        }
        // A capture imported with several VMs: each VM's lists are measured apart too.
        let vms = crate::import::ImportReport::from_meta(&meta)
            .filter(|r| r.kept_vm.is_none())
            .map_or(1, |r| r.vms.len());
        let mut groups: Vec<RecycleGroup> = Vec::new();
        for &i in part {
            let Some(cfg) = configs.get(i) else {
                return Err(ReplayError::NoConfigs);
            };
            let g = match groups
                .iter()
                .position(|g| g.recycle_threshold == cfg.recycle_threshold)
            {
                Some(g) => g,
                None => {
                    groups.push(RecycleGroup::new(
                        cfg.recycle_threshold,
                        Membership::new(&meta.memslots),
                    ));
                    groups.len() - 1
                }
            };
            let mut state = ConfigState::new(*cfg);
            if vms > 1 {
                state.per_vm(vms);
            }
            groups[g].configs.push((i, state));
        }
        let fault_mode = if meta.fault_events == Some(true) {
            FaultMode::Explicit
        } else {
            FaultMode::Implicit
        };
        Ok(Replayer {
            meta,
            opts,
            groups,
            events: 0,
            counts: EventCounts::default(),
            fault_mode,
            current_vcpu: VcpuId::default(),
            implicit_faults: 0,
            marks: Vec::new(),
            last_stats: std::collections::BTreeMap::new(),
        })
    }

    /// Events replayed so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Replay one event.
    pub fn feed(&mut self, ev: &Event) -> Result<(), ReplayError> {
        let index = self.events;
        let strict = self.opts.strict;
        // The events that change lists (add, remove, zap) close the event in every
        // configuration; the others are closed with the next such event or at the end.
        match &ev.kind {
            EventKind::Add { rmap, spte } => {
                self.counts.add += 1;
                let vcpu = ev.ctx.vcpu.unwrap_or(self.current_vcpu);
                let topup = self.fault_mode == FaultMode::Implicit;
                self.implicit_faults += u64::from(topup);
                for g in &mut self.groups {
                    g.add(index, &ev.ctx, vcpu, *rmap, *spte, strict, topup)?;
                }
            }
            EventKind::Remove { rmap, spte } => {
                self.counts.remove += 1;
                for g in &mut self.groups {
                    g.remove(index, *rmap, *spte, strict)?;
                }
            }
            EventKind::Zap { rmap } => {
                self.counts.zap += 1;
                for g in &mut self.groups {
                    g.zap(index, *rmap);
                }
            }
            EventKind::Walk { rmap } => {
                self.counts.walk += 1;
                for g in &mut self.groups {
                    g.walk(*rmap);
                }
            }
            EventKind::Fault { vcpu } => {
                self.counts.fault += 1;
                self.fault_mode = FaultMode::Explicit;
                self.current_vcpu = *vcpu;
                for g in &mut self.groups {
                    g.idle(index, Some(*vcpu))?;
                }
            }
            EventKind::Stat { name, value } => {
                self.counts.stat += 1;
                if let Some(v) = self.last_stats.get_mut(name) {
                    *v = *value;
                } else {
                    self.last_stats.insert(name.clone(), *value);
                }
                for g in &mut self.groups {
                    g.stat(index, name, *value);
                }
            }
            EventKind::Mark { label } => {
                self.counts.mark += 1;
                if self.marks.len() < MAX_MARKS {
                    self.marks.push((index, label.clone()));
                }
            }
        }
        self.events += 1;
        Ok(())
    }

    /// Replay many events.
    pub fn feed_all<'a>(
        &mut self,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Result<(), ReplayError> {
        for e in events {
            self.feed(e)?;
        }
        Ok(())
    }

    /// Finish and report.
    pub fn finish(self) -> ReplaySummary {
        ReplaySummary::assemble(vec![self.finish_part()])
    }

    /// Finish this part of a replay (see [`Replayer::new_part`]).
    pub fn finish_part(mut self) -> ReplayPart {
        let mut configs = Vec::new();
        for g in &mut self.groups {
            let (histogram, histogram_at_peak) = g.members.hist.snapshots(&g.members.memslots);
            let peak_entries = g.members.hist.peak_entries();
            for (i, c) in &mut g.configs {
                let report = c.report(self.events, &g.members);
                configs.push(PartConfig {
                    index: *i,
                    report,
                    checks: std::mem::take(&mut c.checks),
                    checks_dropped: c.checks_dropped,
                    histogram: histogram.clone(),
                    histogram_at_peak: histogram_at_peak.clone(),
                    peak_entries,
                });
            }
        }
        ReplayPart {
            meta: self.meta,
            last_stats: self.last_stats,
            events: self.events,
            counts: self.counts,
            implicit_faults: self.implicit_faults,
            fault_mode: self.fault_mode,
            marks: self.marks,
            configs,
        }
    }
}

#[cfg(test)]
mod tests;

/// Each configuration's report of `events` replayed without metadata (for the unit tests of
/// what builds on the reports).
#[cfg(test)]
pub(crate) fn test_reports(configs: &[ModelConfig], events: &[Event]) -> Vec<ConfigReport> {
    Replayer::replay_all(TraceMeta::default(), configs, events)
        .expect("the test's events replay")
        .configs
}
