//! Whether a trace's figures are exact, and what follows when they are not.
//!
//! A trace is exact when every SPTE that left an rmap is in it: synthetic traces, and
//! `rmaplab collect`'s own guests (the collector knows every page-table write it made). A
//! capture of someone else's guest is not, in general: KVM drops SPTEs on paths no kvmmmu
//! event shows (`docs/removal-paths.md`), and the model then keeps SPTEs KVM dropped. The trace's
//! producer lists the paths it could not see ([`crate::TraceMeta::unseen_removals`]); KVM's own
//! counters recorded in the trace can rule a path out (a run with `mmu_pte_write` = 0 had no
//! emulated guest page-table write). What is left makes the figures that depend on removals
//! upper bounds (list sizes, peaks) or unknown (counts that move either way), per metric
//! ([`Dependence`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A way an SPTE leaves an rmap in KVM's shadow MMU that no event of a capture shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnseenRemoval {
    /// Emulated guest page-table writes: KVM's write tracking (`kvm_mmu_track_write`, v6.4+;
    /// `kvm_mmu_pte_write` before) drops the SPTE the written guest PTE backed. Counted by the
    /// `mmu_pte_write` stat; no tracepoint.
    GuestPageTableWrites,
    /// Unsync shadow pages: the guest writes their page tables unseen, and their sync
    /// (`kvm_sync_page`, on `invlpg` or a CR3 load) drops the SPTEs whose guest PTEs changed.
    /// `kvm_mmu_unsync_page` / `kvm_mmu_sync_page` mark the pages, not the SPTEs dropped.
    UnsyncPages,
}

impl UnseenRemoval {
    /// Every path, in a fixed order.
    pub const ALL: [UnseenRemoval; 2] = [
        UnseenRemoval::GuestPageTableWrites,
        UnseenRemoval::UnsyncPages,
    ];

    /// The path in a sentence, for warnings.
    pub fn describe(self) -> &'static str {
        match self {
            UnseenRemoval::GuestPageTableWrites => {
                "SPTEs KVM drops when the guest writes its own page tables (write tracking, counted by mmu_pte_write; no tracepoint)"
            }
            UnseenRemoval::UnsyncPages => {
                "SPTEs KVM drops when it syncs an unsync shadow page (on invlpg or a CR3 load; no tracepoint names them)"
            }
        }
    }

    /// A KVM stat whose value 0 at the end of the run proves the path never dropped an SPTE,
    /// if there is one.
    pub fn ruled_out_by(self) -> Option<&'static str> {
        match self {
            UnseenRemoval::GuestPageTableWrites => Some(MMU_PTE_WRITE),
            // `mmu_unsync` is a gauge (unsync pages now), so 0 at the end proves nothing.
            UnseenRemoval::UnsyncPages => None,
        }
    }
}

/// KVM's count of emulated guest page-table writes (the `mmu_pte_write` VM stat).
pub const MMU_PTE_WRITE: &str = "mmu_pte_write";

/// How a metric behaves when removals may be missing from the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dependence {
    /// It does not depend on the trace's removals (a setting, an object size, a full cache).
    Independent,
    /// Missing removals can only make it larger: the model holds every SPTE KVM held and more,
    /// so list sizes and peaks are at most what is shown.
    UpperBound,
    /// Missing removals can move it either way (allocations, frees, work per operation).
    Unknown,
}

/// Whether a replay's figures are exact, and why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Exactness {
    /// The paths the trace's producer could not see and the trace's KVM counters do not rule
    /// out; empty when the figures are exact.
    pub unseen: Vec<UnseenRemoval>,
    /// The paths the producer could not see but KVM's counters rule out (`name=0`).
    pub ruled_out: Vec<(UnseenRemoval, String)>,
}

impl Exactness {
    /// Assess a trace whose producer could not see `unseen`, given KVM's last reading of each
    /// stat recorded in it.
    pub fn assess(unseen: &[UnseenRemoval], last_stats: &BTreeMap<String, u64>) -> Self {
        let mut e = Exactness::default();
        for &path in UnseenRemoval::ALL.iter().filter(|p| unseen.contains(p)) {
            match path.ruled_out_by() {
                Some(stat) if last_stats.get(stat) == Some(&0) => {
                    e.ruled_out.push((path, format!("{stat}=0")));
                }
                _ => e.unseen.push(path),
            }
        }
        e
    }

    /// True when every removal is in the trace (or ruled out by KVM's counters).
    pub fn is_exact(&self) -> bool {
        self.unseen.is_empty()
    }

    /// Why the figures are not exact, one sentence per path; empty when they are.
    pub fn why(&self) -> Vec<String> {
        self.unseen
            .iter()
            .map(|p| format!("missing removals: {}", p.describe()))
            .collect()
    }

    /// The whole warning in one paragraph (both front-ends show it), or `None` when exact.
    pub fn warning(&self) -> Option<String> {
        if self.is_exact() {
            return None;
        }
        let paths: Vec<&str> = self.unseen.iter().map(|p| p.describe()).collect();
        Some(format!(
            "NOT EXACT: this trace cannot show every removal — {}. The model keeps SPTEs KVM dropped, so list sizes and peaks (marked <=) are upper bounds and allocations, frees and work per operation (marked ?) are unknown; no array size is recommended from it. {}",
            paths.join("; "),
            HOW_TO_GET_EXACT
        ))
    }
}

/// How far a replay's figures can be trusted: the verdict both front-ends show above every
/// result (the page's trust line, the CLI's report), from the trace's [`Exactness`] and KVM's
/// own counters recorded in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Trust {
    /// Every removal is in the trace, and the replay reproduces all `checked` of KVM's own
    /// counter readings recorded in it.
    Checked {
        /// KVM counter readings compared.
        checked: usize,
    },
    /// Every removal is in the trace as far as its producer knows, but the trace holds no KVM
    /// counter to check the replay against.
    Unchecked,
    /// The replay does not reproduce `mismatched` of `checked` KVM counter readings.
    Mismatched {
        /// Readings that differ.
        mismatched: usize,
        /// Readings compared.
        checked: usize,
    },
    /// Removals the trace could not show: bounds and unknowns, no recommendation.
    NotExact {
        /// The paths not seen and not ruled out.
        unseen: Vec<UnseenRemoval>,
    },
    /// The trace holds no SPTE add: nothing a figure could describe.
    NoSptes,
}

/// What to give rmaplab so that a capture's replay is checked against KVM.
pub const HOW_TO_CHECK: &str = "give KVM's own counters at the end of the run (debugfs /sys/kernel/debug/kvm/*/max_mmu_rmap_size, pages_4k, mmu_pte_write, or kvm_stat), recorded from the VM's first instruction";

impl Trust {
    /// The verdict on a replay: `exactness` of its trace, `checks` of KVM's counters
    /// (`(readings, mismatched)`), and whether the trace added any SPTE.
    pub fn assess(exactness: &Exactness, checks: (usize, usize), made_sptes: bool) -> Self {
        let (checked, mismatched) = checks;
        if !made_sptes {
            Trust::NoSptes
        } else if !exactness.is_exact() {
            Trust::NotExact {
                unseen: exactness.unseen.clone(),
            }
        } else if mismatched > 0 {
            Trust::Mismatched {
                mismatched,
                checked,
            }
        } else if checked > 0 {
            Trust::Checked { checked }
        } else {
            Trust::Unchecked
        }
    }

    /// Whether a size may be recommended from these figures.
    pub fn recommends(&self) -> bool {
        matches!(self, Trust::Checked { .. } | Trust::Unchecked)
    }

    /// The verdict in a few words ("Exact — checked against 244 of KVM's counters").
    pub fn headline(&self) -> String {
        match self {
            Trust::Checked { checked } => {
                format!("Exact — checked against {checked} of KVM's own counter readings, all reproduced")
            }
            Trust::Unchecked => "Exact — not checked against KVM's counters".to_string(),
            Trust::Mismatched {
                mismatched,
                checked,
            } => format!("Not reproduced — {mismatched} of the {checked} KVM counter readings differ from the replay"),
            Trust::NotExact { .. } => "Not exact — this trace cannot show every removal".to_string(),
            Trust::NoSptes => "No result — the trace holds no SPTE add".to_string(),
        }
    }

    /// What the headline rests on, and what to do about it.
    pub fn detail(&self) -> String {
        match self {
            Trust::Checked { .. } => "The replay at the host's own array size and era reproduces KVM's counters recorded in the trace (max_mmu_rmap_size and friends), so the model saw what KVM did.".to_string(),
            Trust::Unchecked => format!("The trace's producer saw every removal path, but the trace holds no KVM counter, so nothing confirms the replay matches KVM. To check it, {HOW_TO_CHECK}."),
            Trust::Mismatched { .. } => "The model did not see what KVM did: events are missing from the trace, or it mixes VMs. Treat every figure with care; the table lists the readings that differ.".to_string(),
            Trust::NotExact { unseen } => {
                let paths: Vec<&str> = unseen.iter().map(|p| p.describe()).collect();
                format!("Missing: {}. List sizes and peaks are upper bounds (marked {BOUND_MARK}); allocations, frees and work per operation are unknown (marked {UNKNOWN_MARK}); no array size is recommended. {HOW_TO_GET_EXACT}", paths.join("; "))
            }
            Trust::NoSptes => crate::replay::NO_SPTES.to_string(),
        }
    }
}

/// One of KVM's counters as a user types it (`rmaplab import --kvm-stat`, the page's field):
/// `NAME=VALUE`, the value decimal or hex with `0x`, e.g. `max_mmu_rmap_size=13` (from debugfs
/// `/sys/kernel/debug/kvm/*/`, `kvm_stat` or QMP `query-stats`).
pub fn parse_kvm_stat(s: &str) -> Result<(String, u64), String> {
    let (name, value) = s.split_once('=').ok_or_else(|| {
        format!(
            "{:?}: expected NAME=VALUE, e.g. max_mmu_rmap_size=13",
            s.trim()
        )
    })?;
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("{:?}: not a KVM stat name", name));
    }
    let v = value.trim();
    let n = match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => v.parse(),
    }
    .map_err(|_| format!("{name}={v}: the value is not a number"))?;
    Ok((name.to_string(), n))
}

/// What to record for an exact answer.
pub const HOW_TO_GET_EXACT: &str = "For exact figures, record the workload with `rmaplab collect`, whose guests are exact (the collector knows every page-table write it makes). KVM's mmu_pte_write at the end of a run recorded from the VM's first instruction rules out the page-table-write path when it is 0 (`rmaplab import --kvm-stat mmu_pte_write=N`); docs/removal-paths.md lists every path and what rules it out.";

/// The mark a bound value carries in text, tables and CSV.
pub const BOUND_MARK: &str = "<=";
/// The mark an unknown value carries in text, tables and CSV.
pub const UNKNOWN_MARK: &str = "?";

/// `text` marked for what it is under `dependence` when the figures are not exact.
pub fn mark(text: &str, dependence: Dependence, exact: bool) -> String {
    match (exact, dependence) {
        (true, _) | (false, Dependence::Independent) => text.to_string(),
        (false, Dependence::UpperBound) => format!("{BOUND_MARK}{text}"),
        (false, Dependence::Unknown) => format!("{text}{UNKNOWN_MARK}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_pte_write_count_rules_the_write_path_out_and_nothing_else() {
        let all = UnseenRemoval::ALL;
        let none = BTreeMap::new();
        let e = Exactness::assess(&all, &none);
        assert!(!e.is_exact());
        assert_eq!(e.unseen, all.to_vec());
        assert!(e.warning().unwrap().contains("NOT EXACT"));

        let zero: BTreeMap<String, u64> = [(MMU_PTE_WRITE.to_string(), 0)].into();
        let e = Exactness::assess(&[UnseenRemoval::GuestPageTableWrites], &zero);
        assert!(e.is_exact(), "{e:?}");
        assert_eq!(e.ruled_out.len(), 1);
        assert_eq!(e.warning(), None);

        let some: BTreeMap<String, u64> = [(MMU_PTE_WRITE.to_string(), 6)].into();
        let e = Exactness::assess(&[UnseenRemoval::GuestPageTableWrites], &some);
        assert!(!e.is_exact());
        // The unsync path has no counter that rules it out.
        let e = Exactness::assess(&all, &zero);
        assert_eq!(e.unseen, vec![UnseenRemoval::UnsyncPages]);
        // A complete trace is exact whatever its counters say.
        assert!(Exactness::assess(&[], &some).is_exact());
    }

    #[test]
    fn values_are_marked_only_when_not_exact_and_only_where_removals_matter() {
        assert_eq!(mark("12", Dependence::UpperBound, true), "12");
        assert_eq!(mark("12", Dependence::UpperBound, false), "<=12");
        assert_eq!(mark("12", Dependence::Unknown, false), "12?");
        assert_eq!(mark("12", Dependence::Independent, false), "12");
    }

    #[test]
    fn the_verdict_puts_missing_removals_before_counters() {
        let exact = Exactness::default();
        let not = Exactness::assess(&UnseenRemoval::ALL, &BTreeMap::new());
        assert_eq!(
            Trust::assess(&exact, (244, 0), true),
            Trust::Checked { checked: 244 }
        );
        assert_eq!(Trust::assess(&exact, (0, 0), true), Trust::Unchecked);
        assert_eq!(
            Trust::assess(&exact, (10, 2), true),
            Trust::Mismatched {
                mismatched: 2,
                checked: 10
            }
        );
        // Matching counters do not make an inexact trace exact.
        let t = Trust::assess(&not, (244, 0), true);
        assert_eq!(
            t,
            Trust::NotExact {
                unseen: UnseenRemoval::ALL.to_vec()
            }
        );
        assert!(!t.recommends());
        assert!(t.detail().contains(BOUND_MARK) && t.detail().contains("rmaplab collect"));
        assert_eq!(Trust::assess(&exact, (244, 0), false), Trust::NoSptes);
        assert!(Trust::Checked { checked: 1 }.recommends() && Trust::Unchecked.recommends());
        assert!(Trust::Unchecked.detail().contains("max_mmu_rmap_size"));
        assert!(Trust::Checked { checked: 244 }.headline().contains("244"));
    }

    #[test]
    fn kvm_stats_are_read_as_typed() {
        assert_eq!(
            parse_kvm_stat(" pages_4k = 24 "),
            Ok(("pages_4k".into(), 24))
        );
        assert_eq!(
            parse_kvm_stat("max_mmu_rmap_size=0x10"),
            Ok(("max_mmu_rmap_size".into(), 16))
        );
        assert!(parse_kvm_stat("pages_4k").is_err());
        assert!(parse_kvm_stat("pages 4k=1").is_err());
        assert!(parse_kvm_stat("=1").is_err());
        assert!(parse_kvm_stat("pages_4k=x").is_err());
    }

    #[test]
    fn paths_keep_their_names_through_serde() {
        let j = serde_json::to_string(&UnseenRemoval::ALL).unwrap();
        assert_eq!(j, r#"["guest-page-table-writes","unsync-pages"]"#);
        let back: Vec<UnseenRemoval> = serde_json::from_str(&j).unwrap();
        assert_eq!(back, UnseenRemoval::ALL.to_vec());
    }
}
