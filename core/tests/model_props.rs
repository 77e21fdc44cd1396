//! Property tests: the arena model against two trivially correct references.
//!
//! * membership: a `Vec<u64>` per rmap (what is in the list, and `pte_list_add`'s count);
//! * layout: a `Vec<Vec<u64>>` descriptor chain per rmap written straight from the kernel C of
//!   each era, so entry positions, allocations and frees must match exactly, and so must the
//!   number of descriptors each operation visits (the work metric).
//!
//! The kernel's invariants are checked after every operation, for N ∈ {2,3,4,7,14,15,16,32}
//! and every era.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing test panics: that is how it reports

use proptest::prelude::*;
use rmaplab_core::rmap::{HeadKind, RmapError, RmapIndex, RmapSet};
use rmaplab_core::{Era, ModelConfig};

const SIZES: [usize; 8] = [2, 3, 4, 7, 14, 15, 16, 32];
const RMAPS: usize = 4;

/// The single rmap the worked examples use.
const R0: RmapIndex = RmapIndex(0);

/// Rmap `r` of the property tests (0..RMAPS).
fn ix(r: usize) -> RmapIndex {
    RmapIndex(u32::try_from(r).unwrap())
}

#[derive(Debug, Clone)]
enum RefList {
    Empty,
    Single(u64),
    Many(Vec<Vec<u64>>),
}

#[derive(Debug, Clone)]
struct RefModel {
    era: Era,
    n: usize,
    lists: Vec<RefList>,
    allocs: u64,
    frees: u64,
    /// Descriptors the last operation visited, derived from the kernel C of the era.
    visited: u32,
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap()
}

impl RefModel {
    fn new(era: Era, n: usize) -> Self {
        RefModel {
            era,
            n,
            lists: vec![RefList::Empty; RMAPS],
            allocs: 0,
            frees: 0,
            visited: 0,
        }
    }

    fn flat(&self, r: usize) -> Vec<u64> {
        match &self.lists[r] {
            RefList::Empty => vec![],
            RefList::Single(s) => vec![*s],
            RefList::Many(c) => c.iter().flatten().copied().collect(),
        }
    }

    fn add(&mut self, r: usize, spte: u64) -> usize {
        let n = self.n;
        self.visited = 0;
        match &mut self.lists[r] {
            l @ RefList::Empty => {
                *l = RefList::Single(spte);
                0
            }
            RefList::Single(old) => {
                let old = *old;
                self.lists[r] = RefList::Many(vec![vec![old, spte]]);
                self.allocs += 1;
                // The fresh descriptor.
                self.visited = 1;
                1
            }
            RefList::Many(chain) => match self.era {
                Era::HeadInsert => {
                    let count = chain.iter().map(Vec::len).sum();
                    // The head, plus the new head when the old one is full.
                    self.visited = 1;
                    if chain[0].len() == n {
                        chain.insert(0, Vec::new());
                        self.allocs += 1;
                        self.visited += 1;
                    }
                    chain[0].push(spte);
                    count
                }
                Era::TailAppend | Era::NullTerminated => {
                    // The kernel counts N per full descriptor it walks past plus the entries
                    // of the one it stores into: holes left by removals are not counted.
                    // The walk visits every full descriptor and the one stored into (or the
                    // new tail).
                    match chain.iter().position(|d| d.len() < n) {
                        Some(i) => {
                            let count = i * n + chain[i].len();
                            chain[i].push(spte);
                            self.visited = len32(i + 1);
                            count
                        }
                        None => {
                            chain.push(vec![spte]);
                            self.allocs += 1;
                            self.visited = len32(chain.len());
                            (chain.len() - 1) * n
                        }
                    }
                }
            },
        }
    }

    fn remove(&mut self, r: usize, spte: u64) -> bool {
        self.visited = 0;
        match &mut self.lists[r] {
            RefList::Empty => false,
            RefList::Single(s) => {
                if *s != spte {
                    return false;
                }
                self.lists[r] = RefList::Empty;
                true
            }
            RefList::Many(chain) => {
                let Some((di, i)) = chain
                    .iter()
                    .enumerate()
                    .find_map(|(di, d)| d.iter().position(|&x| x == spte).map(|i| (di, i)))
                else {
                    // The scan visited the whole chain.
                    self.visited = len32(chain.len());
                    return false;
                };
                let src = if self.era == Era::HeadInsert { 0 } else { di };
                // The scan up to the hit, plus the head when head-insert takes its last entry
                // from there.
                self.visited = len32(di + 1 + usize::from(src != di));
                let last = chain[src].pop().unwrap();
                if !(src == di && i == chain[src].len()) {
                    chain[di][i] = last;
                }
                if chain[src].is_empty() {
                    chain.remove(src);
                    self.frees += 1;
                }
                if chain.is_empty() {
                    self.lists[r] = RefList::Empty;
                }
                true
            }
        }
    }

    fn zap(&mut self, r: usize) -> usize {
        let n = self.flat(r).len();
        self.visited = 0;
        if let RefList::Many(c) = &self.lists[r] {
            self.frees += c.len() as u64;
            // v5.15+: one walk (`pte_list_destroy` / `kvm_zap_all_rmap_sptes`); <= v5.14: one
            // `pte_list_remove` of the head's first entry per SPTE.
            self.visited = len32(if self.era == Era::NullTerminated {
                n
            } else {
                c.len()
            });
        }
        self.lists[r] = RefList::Empty;
        n
    }

    /// `for_each_rmap_spte` visits every descriptor once.
    fn walk(&mut self, r: usize) -> usize {
        self.visited = match &self.lists[r] {
            RefList::Many(c) => len32(c.len()),
            _ => 0,
        };
        self.flat(r).len()
    }
}

#[derive(Debug, Clone)]
enum Op {
    Add(usize),
    Remove(usize, usize),
    RemoveMissing(usize),
    Zap(usize),
    Walk(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..RMAPS).prop_map(Op::Add),
        4 => (0..RMAPS, any::<usize>()).prop_map(|(r, i)| Op::Remove(r, i)),
        1 => (0..RMAPS).prop_map(Op::RemoveMissing),
        1 => (0..RMAPS).prop_map(Op::Zap),
        1 => (0..RMAPS).prop_map(Op::Walk),
    ]
}

fn check_same(model: &RmapSet, reference: &RefModel, r: usize) -> Result<(), TestCaseError> {
    model.check_invariants(ix(r)).map_err(TestCaseError::fail)?;
    let snap = model.snapshot(ix(r));
    match &reference.lists[r] {
        RefList::Empty => prop_assert_eq!(snap.head(), HeadKind::Empty),
        RefList::Single(s) => {
            prop_assert_eq!(snap.head(), HeadKind::Single);
            prop_assert_eq!(snap.single(), Some(*s));
        }
        RefList::Many(chain) => {
            prop_assert_eq!(snap.head(), HeadKind::Many);
            let got: Vec<Vec<u64>> = snap.descs().iter().map(|d| d.sptes.clone()).collect();
            prop_assert_eq!(&got, chain);
        }
    }
    prop_assert_eq!(model.entries(ix(r)), reference.flat(r));
    prop_assert_eq!(model.pte_list_count(ix(r)), reference.flat(r).len());
    prop_assert_eq!(model.counters.allocations, reference.allocs);
    prop_assert_eq!(model.counters.frees, reference.frees);
    prop_assert_eq!(
        model.counters.live_descs,
        reference.allocs - reference.frees,
        "live descriptors add up"
    );
    Ok(())
}

fn run(era: Era, n: usize, ops: &[Op]) -> Result<(), TestCaseError> {
    let cfg = ModelConfig {
        recycle_threshold: None,
        ..ModelConfig::new(n, era).unwrap()
    };
    let mut model = RmapSet::new(cfg);
    let mut reference = RefModel::new(era, n);
    // Plain Vec per rmap: the membership oracle.
    let mut members: Vec<Vec<u64>> = vec![Vec::new(); RMAPS];
    let mut next_spte = 1u64;
    for op in ops {
        match *op {
            Op::Add(r) => {
                model.topup(0).unwrap();
                let spte = next_spte;
                next_spte += 1;
                let got = model.pte_list_add(0, ix(r), spte).unwrap();
                let before = members[r].len();
                if era == Era::HeadInsert {
                    prop_assert_eq!(got, before, "pte_list_add returns the count before");
                } else {
                    prop_assert!(got <= before, "tail-append never overcounts");
                }
                prop_assert_eq!(reference.add(r, spte), got);
                members[r].push(spte);
            }
            Op::Remove(r, i) => {
                if members[r].is_empty() {
                    continue;
                }
                let at = i % members[r].len();
                let spte = members[r].swap_remove(at);
                model.pte_list_remove(ix(r), spte).unwrap();
                prop_assert!(reference.remove(r, spte));
            }
            Op::RemoveMissing(r) => {
                let e = model.pte_list_remove(ix(r), u64::MAX);
                prop_assert_eq!(e, Err(RmapError::SpteNotFound { spte: u64::MAX }));
                prop_assert!(!reference.remove(r, u64::MAX));
            }
            Op::Zap(r) => {
                let got = model.kvm_zap_all_rmap_sptes(ix(r));
                prop_assert_eq!(got, reference.zap(r));
                prop_assert_eq!(got, members[r].len());
                members[r].clear();
            }
            Op::Walk(r) => {
                let got = model.walk(ix(r));
                prop_assert_eq!(got, members[r].len());
                prop_assert_eq!(reference.walk(r), got);
            }
        }
        prop_assert_eq!(
            model.cost.descs,
            reference.visited,
            "descriptors visited by {:?}",
            op
        );
        let mut flat = model.entries(ix(op_rmap(op)));
        flat.sort_unstable();
        let mut want = members[op_rmap(op)].clone();
        want.sort_unstable();
        prop_assert_eq!(flat, want, "membership");
        for r in 0..RMAPS {
            check_same(&model, &reference, r)?;
        }
    }
    Ok(())
}

fn op_rmap(op: &Op) -> usize {
    match *op {
        Op::Add(r) | Op::Remove(r, _) | Op::RemoveMissing(r) | Op::Zap(r) | Op::Walk(r) => r,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn model_matches_references(ops in proptest::collection::vec(op(), 1..400)) {
        for era in Era::ALL {
            for n in SIZES {
                run(era, n, &ops)?;
            }
        }
    }

    #[test]
    fn long_lists(adds in 30usize..120, removes in proptest::collection::vec(any::<usize>(), 0..120)) {
        // One long rmap built up and torn down in random order.
        let mut ops: Vec<Op> = (0..adds).map(|_| Op::Add(0)).collect();
        ops.extend(removes.into_iter().map(|i| Op::Remove(0, i)));
        for era in Era::ALL {
            for n in SIZES {
                run(era, n, &ops)?;
            }
        }
    }
}

#[test]
fn head_insert_vs_tail_append_layouts_differ_as_documented() {
    // 5 entries, N = 2: head-insert puts the newest descriptor first.
    let mut hi = RmapSet::new(ModelConfig::new(2, Era::HeadInsert).unwrap());
    let mut ta = RmapSet::new(ModelConfig::new(2, Era::TailAppend).unwrap());
    for s in 1..=5 {
        hi.topup(0).unwrap();
        ta.topup(0).unwrap();
        hi.pte_list_add(0, R0, s).unwrap();
        ta.pte_list_add(0, R0, s).unwrap();
    }
    let chains = |m: &RmapSet| -> Vec<Vec<u64>> {
        m.snapshot(R0)
            .descs()
            .iter()
            .map(|d| d.sptes.clone())
            .collect()
    };
    assert_eq!(chains(&hi), vec![vec![5], vec![3, 4], vec![1, 2]]);
    assert_eq!(chains(&ta), vec![vec![1, 2], vec![3, 4], vec![5]]);
    // tail_count of the head-insert head is the 4 entries behind it.
    assert_eq!(hi.snapshot(R0).descs()[0].tail_count, Some(4));
    // Removing 1: head-insert fills the hole from the head (5); tail-append from the same
    // descriptor (2), leaving a partial non-tail descriptor.
    hi.pte_list_remove(R0, 1).unwrap();
    ta.pte_list_remove(R0, 1).unwrap();
    assert_eq!(chains(&hi), vec![vec![3, 4], vec![5, 2]]);
    assert_eq!(chains(&ta), vec![vec![2], vec![3, 4], vec![5]]);
    // The tail-append add now lands in the first non-full descriptor, the head, and (as in
    // the v5.15-v6.3 kernel) returns only the entries it walked past: 1, not the 4 in the list.
    ta.topup(0).unwrap();
    assert_eq!(ta.pte_list_add(0, R0, 6).unwrap(), 1);
    hi.topup(0).unwrap();
    assert_eq!(hi.pte_list_add(0, R0, 6).unwrap(), 4);
    assert_eq!(chains(&ta), vec![vec![2, 6], vec![3, 4], vec![5]]);
}

#[test]
fn caches_take_lifo_and_free_to_slab() {
    let mut m = RmapSet::new(ModelConfig::kvm_today());
    assert_eq!(m.topup(3).unwrap(), 40, "an empty cache fills to capacity");
    assert_eq!(m.topup(3).unwrap(), 0, "40 >= min 14: no top-up");
    assert_eq!(m.vcpu_caches().len(), 4);
    for s in 0..14 * 27 {
        m.pte_list_add(3, R0, s).unwrap();
    }
    // 378 entries in descriptors of 14: 27 descriptors.
    assert_eq!(m.counters.allocations, 27);
    assert_eq!(m.cached_objects(), 13);
    assert_eq!(m.topup(3).unwrap(), 27, "below min 14: refill to 40");
    assert_eq!(m.arena.slab_allocs, 67);
    m.kvm_zap_all_rmap_sptes(R0);
    assert_eq!(m.counters.frees, 27);
    assert_eq!(
        m.arena.slab_live, 40,
        "freed descriptors go to the slab, not the cache"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The replay shares one membership index between eras because their recycle decisions
    /// agree even though tail-append's count skips holes; this checks that on random
    /// add/remove sequences around small thresholds (the replay still splits a group if it
    /// ever happens).
    #[test]
    fn eras_agree_on_every_recycle(n in 2usize..5, t in 2u64..10, ops in proptest::collection::vec(any::<u8>(), 1..200)) {
        let mk = |era| RmapSet::new(ModelConfig { recycle_threshold: Some(t), ..ModelConfig::new(n, era).unwrap() });
        let (mut a, mut b) = (mk(Era::HeadInsert), mk(Era::TailAppend));
        let mut live: Vec<u64> = Vec::new();
        let mut next = 1;
        for op in ops {
            if live.is_empty() || op % 3 > 0 {
                a.topup(0).unwrap();
                b.topup(0).unwrap();
                let ra = a.rmap_add(0, R0, next).unwrap();
                let rb = b.rmap_add(0, R0, next).unwrap();
                prop_assert_eq!(ra.recycled, rb.recycled);
                if ra.recycled { live.clear() } else { live.push(next) }
                next += 1;
            } else {
                let s = live.swap_remove(usize::from(op) % live.len());
                a.pte_list_remove(R0, s).unwrap();
                b.pte_list_remove(R0, s).unwrap();
            }
        }
    }
}
