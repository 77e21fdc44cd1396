//! Telling VMs apart: what a counting pass learns about the capture's threads
//! ([`TaskFacts`]), and how they become VMs ([`group`]) — by process id where the capture has
//! one, else by the shadow pages threads shared (the inference's links).

use super::infer::{HashMap, HashSet};
use super::record::{Record, RecordKind};

/// What the counting pass learns about threads, whatever the order it reads records in.
#[derive(Debug, Default)]
pub struct TaskFacts {
    /// Some record carries a process id.
    pub has_tgid: bool,
    /// Per process id: its threads, and the (time, position) of its first task event — the
    /// order groups appear in a time-ordered pass.
    tgids: HashMap<u64, FirstSeen>,
    /// Threads with task events, and the (time, position) of their first.
    tids: HashMap<u64, (u64, u64)>,
    zappers: HashSet<u64>,
    active: HashSet<u64>,
    /// Threads that installed an SPTE.
    pub installers: HashSet<u64>,
    seq: u64,
}

/// When a group was first seen (time, then position in the pass) and its threads.
type FirstSeen = (u64, u64, Vec<u64>);

/// Whether a record is something a vCPU thread does (not a zap, mark or lost marker).
pub fn is_task_event(k: &RecordKind) -> bool {
    matches!(
        k,
        RecordKind::SetSpte { .. } | RecordKind::GetPage { .. } | RecordKind::Walk { .. }
    )
}

impl TaskFacts {
    /// Note one record.
    pub fn note(&mut self, r: &Record) {
        self.seq += 1;
        let tid = r.task.tid;
        match r.kind {
            RecordKind::ZapPage { .. } => {
                self.zappers.insert(tid);
            }
            RecordKind::SetSpte { .. } => {
                self.active.insert(tid);
                self.installers.insert(tid);
            }
            RecordKind::GetPage { .. } => {
                self.active.insert(tid);
            }
            _ => {}
        }
        if r.task.tgid.is_some() {
            self.has_tgid = true;
        }
        if !is_task_event(&r.kind) {
            return;
        }
        let key = (r.ts.unwrap_or(0), self.seq);
        let t = self.tids.entry(tid).or_insert(key);
        if key < *t {
            *t = key;
        }
        let tgid = r.task.tgid.unwrap_or(tid);
        let g = self.tgids.entry(tgid).or_insert((key.0, key.1, Vec::new()));
        if key < (g.0, g.1) {
            (g.0, g.1) = key;
        }
        if !g.2.contains(&tid) {
            g.2.push(tid);
        }
    }

    /// Threads that zap shadow pages but never install an SPTE nor report a shadow page of
    /// their own (a VMM thread tearing its VM down, a kernel worker).
    pub fn zap_only(&self) -> HashSet<u64> {
        self.zappers
            .iter()
            .copied()
            .filter(|t| *t != 0 && !self.active.contains(t))
            .collect()
    }

    /// Every thread with task events, sorted.
    pub fn all_tids(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.tids.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// One group per process id, in the order they first appear in time, threads sorted.
    pub fn by_tgid(&self) -> Vec<(Option<u64>, Vec<u64>)> {
        let mut groups: Vec<(&u64, &FirstSeen)> = self.tgids.iter().collect();
        groups.sort_by_key(|(_, (ts, seq, _))| (*ts, *seq));
        groups
            .into_iter()
            .map(|(tgid, (_, _, tids))| {
                let mut tids = tids.clone();
                tids.sort_unstable();
                (Some(*tgid), tids)
            })
            .collect()
    }
}

/// The rule that told VMs apart, as the import report says it.
pub const RULE_ONE_VM: &str = "not separated (--one-vm): every task is one VM";
/// See [`RULE_ONE_VM`].
pub const RULE_TGID: &str = "process id (tgid) recorded with each event";
/// See [`RULE_ONE_VM`].
pub const RULE_LINKS: &str = "no process ids in this capture: vCPU threads that installed SPTEs in, or zapped, the same live shadow page are one VM; threads that never shared one are separate VMs (use --one-vm if a VM's vCPUs never shared a page)";
