//! Views of an rmap for people and for checking: its head word and chain, and the kernel's
//! invariants.

use super::{DescIndex, RmapHead, RmapIndex, RmapSet};
use crate::config::Era;
use serde::{Deserialize, Serialize};

impl RmapSet {
    /// The head word and descriptor chain of rmap `r`, for display and diffing.
    pub fn snapshot(&self, r: RmapIndex) -> RmapSnapshot {
        match self.head(r) {
            RmapHead::Empty => RmapSnapshot::Empty,
            RmapHead::Single(spte) => RmapSnapshot::Single { spte },
            RmapHead::Many(first) => {
                let descs = self
                    .arena
                    .chain(first)
                    .map(|d| {
                        let h = self.arena.desc(d);
                        DescSnapshot {
                            object: d,
                            spte_count: h.spte_count,
                            tail_count: (self.cfg.era == Era::HeadInsert).then_some(h.tail_count),
                            sptes: self.arena.entries(d).to_vec(),
                        }
                    })
                    .collect();
                RmapSnapshot::Many { descs }
            }
        }
    }

    /// Check the kernel's invariants for rmap `r`: counts add up, no empty descriptor, no
    /// cycle; head-insert: every non-head descriptor full and `tail_count` exact.
    pub fn check_invariants(&self, r: RmapIndex) -> Result<(), String> {
        let RmapHead::Many(first) = self.head(r) else {
            return Ok(());
        };
        let n = self.cfg.entries;
        // A chain longer than the objects ever carved must revisit one: a cycle.
        let chain: Vec<DescIndex> = self
            .arena
            .chain(first)
            .take(self.arena.objects_carved() + 1)
            .collect();
        if chain.len() > self.arena.objects_carved() {
            return Err("descriptor chain has a cycle".into());
        }
        let mut after = 0usize;
        for (pos, &d) in chain.iter().enumerate().rev() {
            let h = self.arena.desc(d);
            let c = h.spte_count as usize;
            if c == 0 {
                return Err(format!("descriptor {pos} of the chain is empty"));
            }
            if c > n {
                return Err(format!("descriptor {pos} holds {c} > {n} entries"));
            }
            if self.cfg.era == Era::HeadInsert {
                if pos > 0 && c != n {
                    return Err(format!(
                        "head-insert: non-head descriptor {pos} holds {c} of {n} entries"
                    ));
                }
                if h.tail_count as usize != after {
                    return Err(format!(
                        "head-insert: descriptor {pos} tail_count {} but {after} entries follow",
                        h.tail_count
                    ));
                }
            }
            after += c;
        }
        Ok(())
    }
}

/// How the head word of an rmap reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadKind {
    /// `val == 0`.
    Empty,
    /// `val` is the SPTE pointer.
    Single,
    /// `val` is `desc | KVM_RMAP_MANY`.
    Many,
}

/// One descriptor of a chain as shown to people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescSnapshot {
    /// Slab object index (its address in the slab model).
    pub object: DescIndex,
    /// `spte_count`.
    pub spte_count: u32,
    /// `tail_count` (head-insert era only).
    pub tail_count: Option<u32>,
    /// `sptes[0..spte_count]`.
    pub sptes: Vec<u64>,
}

/// An rmap's head word and descriptors, head first: a chain exists only behind a
/// `KVM_RMAP_MANY` head, and a single SPTE only in the head word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "head", rename_all = "lowercase")]
pub enum RmapSnapshot {
    /// `val == 0`.
    Empty,
    /// `val` is the SPTE pointer.
    Single {
        /// The SPTE.
        spte: u64,
    },
    /// `val` is `desc | KVM_RMAP_MANY`.
    Many {
        /// The chain, head first.
        descs: Vec<DescSnapshot>,
    },
}

impl RmapSnapshot {
    /// How the head word reads.
    pub fn head(&self) -> HeadKind {
        match self {
            RmapSnapshot::Empty => HeadKind::Empty,
            RmapSnapshot::Single { .. } => HeadKind::Single,
            RmapSnapshot::Many { .. } => HeadKind::Many,
        }
    }

    /// The SPTE the head word holds directly, if it does.
    pub fn single(&self) -> Option<u64> {
        match self {
            RmapSnapshot::Single { spte } => Some(*spte),
            _ => None,
        }
    }

    /// The chain, head first (empty unless the head is `KVM_RMAP_MANY`).
    pub fn descs(&self) -> &[DescSnapshot] {
        match self {
            RmapSnapshot::Many { descs } => descs,
            _ => &[],
        }
    }
}
