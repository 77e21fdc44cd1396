//! The inference engine: typed kvmmmu [`Record`]s in, rmaplab events out. Every capture
//! format (tracefs text, `trace-cmd report`, `perf script`, trace.dat, perf.data) and the
//! collector's ring-buffer path feed this one engine.
//!
//! There is no tracepoint for rmap changes, so the engine reconstructs them from what the
//! shadow MMU reports, with these rules (each inference is counted in [`InferStats`] and named
//! in the trace metadata's `inferred` list):
//!
//! * `kvm_mmu_set_spte` at an sptep not holding a present SPTE → `add` to the rmap of
//!   (VM, gfn, level). At an sptep that holds one: a different gfn or pfn → `remove` + `add`
//!   (`mmu_set_spte` drops the old SPTE); the same gfn and pfn → no rmap change, unless the
//!   vCPU's preceding `kvm_mmu_pagetable_walk` was a not-present fault (error code without P):
//!   then the old SPTE must have been dropped without an event (guest page-table writes do
//!   that) and a `remove` is inferred before the `add`.
//! * `kvm_mmu_prepare_zap_page` → `remove` of every tracked SPTE in that shadow page, in index
//!   order. Shadow pages are matched to their SPTE page by the `kvm_mmu_get_page` of the same
//!   level that preceded the first `kvm_mmu_set_spte` in that page on the same task.
//! * The recycle rule (`RMAP_RECYCLE_THRESHOLD`) has no event: the engine applies it to its own
//!   state (the replay applies it to the model), so later events stay consistent.
//! * `kvm_mmu_pagetable_walk` → `fault` on that task's vCPU (tasks numbered by first
//!   appearance); `print` (trace_marker) → `mark`.
//! * Rmaps of different VMs never merge: the VM index (see [`VmMap`]) is part of every rmap id.
//!
//! Parent-PTE lists are not visible in these events and are not reconstructed. Sptep addresses
//! are anonymised to `(SPTE page number << 9) | index` with pages numbered by first appearance.

use super::record::{Record, RecordKind, ShadowPage};
use crate::config::RMAP_RECYCLE_THRESHOLD;
use crate::trace::{Event, EventCtx, EventKind, RmapId, RmapKind, SpteId, VcpuId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// A fast hasher for the importer's small keys (thread ids, shadow pages, page numbers): each
/// word folded in with a rotate and a multiply (as rustc's FxHasher). A hostile capture can
/// make it slow, never wrong.
#[derive(Debug, Default, Clone, Copy)]
pub struct FoldHasher(u64);

/// Multiplier of [`FoldHasher`] (rustc's FxHasher's).
const FOLD_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(FOLD_SEED);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

/// Shadow-page levels a role can name (`role.level` is 4 bits).
const LEVELS: usize = 16;

/// The shadow page a task's current fault reported at each level.
type LastPages = [Option<ShadowPage>; LEVELS];

/// A map with [`FoldHasher`].
pub type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FoldHasher>>;
/// A set with [`FoldHasher`].
pub type HashSet<K> = std::collections::HashSet<K, BuildHasherDefault<FoldHasher>>;

/// Bits 12..51 of an SPTE: the host physical frame.
pub const SPTE_PFN_MASK: u64 = 0x000f_ffff_ffff_f000;
/// SPTEs per shadow page (`SPTE_ENT_PER_PAGE`).
pub const SPTE_ENT_PER_PAGE: u64 = crate::paging::ENTRIES_PER_TABLE;
/// Bytes per SPTE.
const SPTE_BYTES: u64 = crate::paging::PTE_BYTES;
use crate::paging::PAGE_SHIFT;
/// Bit of an rmap id where the level (minus one) starts.
const RMAP_LEVEL_SHIFT: u32 = 60;
/// Bit of an rmap id where the VM index starts: a gfn index needs at most 40 bits (52-bit
/// physical addresses), so bits 44..59 hold up to 65536 VMs.
pub const RMAP_VM_SHIFT: u32 = 44;
/// Most VMs one trace can keep apart.
pub const MAX_VMS: u32 = 1 << (RMAP_LEVEL_SHIFT - RMAP_VM_SHIFT);
use crate::paging::LEVEL_BITS;
/// `PFERR_PRESENT_MASK`.
const PFERR_PRESENT: u64 = 1;

/// What the engine inferred, by rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InferStats {
    /// Records used.
    pub events_used: u64,
    /// `add`s emitted.
    pub adds: u64,
    /// `remove`s emitted because `kvm_mmu_set_spte` replaced a present SPTE's pfn or gfn.
    pub replaced: u64,
    /// `remove`s inferred from a not-present fault on an SPTE the trace still held.
    pub inferred_drops: u64,
    /// `remove`s emitted for SPTEs inside zapped shadow pages.
    pub zap_removes: u64,
    /// Zapped shadow pages whose SPTE page was never seen (nothing to remove, or unknown).
    pub zaps_unmatched: u64,
    /// Zaps by a task outside every VM of a shadow page several VMs held, attributed to the VM
    /// whose vCPUs had been idle longest (a judgement, not an observation).
    #[serde(default)]
    pub zaps_attributed_by_idleness: u64,
    /// SPTE pages whose shadow page could not be determined (their zaps cannot be applied).
    pub unmatched_pages: u64,
    /// Recycle zaps applied to the engine's state.
    pub recycles: u64,
    /// `remove`s inferred from guest page-table writes the producer reported.
    pub pte_write_removes: u64,
    /// Events the capture says were lost.
    pub lost_events: u64,
}

/// Which VM each task belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmMap {
    /// Thread id → VM index. Tasks not listed belong to VM 0.
    pub vm_of_tid: HashMap<u64, u32>,
}

impl VmMap {
    fn vm(&self, tid: u64) -> u32 {
        self.vm_of_tid.get(&tid).copied().unwrap_or(0)
    }
}

/// The rmap id for (VM, gfn, level): `gfn >> 9(level-1)` in the low bits, the VM index from
/// bit [`RMAP_VM_SHIFT`], `level - 1` from bit 60.
pub fn rmap_id(vm: u32, gfn: u64, level: u8) -> RmapId {
    let l = u64::from(level.clamp(1, 3) - 1);
    let idx = (gfn >> (LEVEL_BITS as u64 * l)) & ((1 << RMAP_VM_SHIFT) - 1);
    RmapId(idx | (u64::from(vm % MAX_VMS) << RMAP_VM_SHIFT) | (l << RMAP_LEVEL_SHIFT))
}

/// Inverse of [`rmap_id`]: the (VM, base gfn, level) of an rmap id.
pub fn rmap_vm_gfn_level(RmapId(rmap): RmapId) -> (u32, u64, u8) {
    let l = ((rmap >> RMAP_LEVEL_SHIFT) & 0x3) as u8;
    let vm = ((rmap >> RMAP_VM_SHIFT) & u64::from(MAX_VMS - 1)) as u32;
    let idx = rmap & ((1 << RMAP_VM_SHIFT) - 1);
    (vm, idx << (LEVEL_BITS * u32::from(l)), l + 1)
}

#[derive(Debug, Clone, Copy)]
struct Held {
    rmap: RmapId,
    pfn: u64,
}

/// A shadow page of one VM.
type SpKey = (u32, ShadowPage);

/// Tasks that shared a live SPTE page, for telling VMs apart when the capture has no tgid.
#[derive(Debug, Default)]
struct UnionFind {
    parent: HashMap<u64, u64>,
}

impl UnionFind {
    fn find(&mut self, x: u64) -> u64 {
        let mut root = x;
        while let Some(&p) = self.parent.get(&root) {
            if p == root {
                break;
            }
            root = p;
        }
        // Path compression.
        let mut cur = x;
        while cur != root {
            let next = self.parent.get(&cur).copied().unwrap_or(root);
            self.parent.insert(cur, root);
            cur = next;
        }
        self.parent.entry(root).or_insert(root);
        root
    }

    fn union(&mut self, a: u64, b: u64) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent.insert(hi, lo);
        }
    }
}

/// The engine.
#[derive(Debug)]
pub struct Inference {
    out: VecDeque<Event>,
    /// Tasks (by tid) → vCPU index.
    tasks: HashMap<u64, u32>,
    vms: VmMap,
    /// Per task: the last walk was a not-present fault.
    not_present_fault: HashMap<u64, bool>,
    /// Per (task, level): the shadow page `kvm_mmu_get_page` reported in the task's current
    /// fault (cleared at each `kvm_mmu_pagetable_walk`).
    last_sp: HashMap<u64, LastPages>,
    /// Guest page-table gfn → SPTE pages of the level-1, non-direct shadow pages of that gfn.
    gpte_pages: HashMap<u64, Vec<u64>>,
    /// Shadow pages reported but not yet matched to an SPTE page, per (VM, level), oldest
    /// first.
    orphans: HashMap<(u32, u8), Vec<ShadowPage>>,
    /// (VM, shadow page) → SPTE page, and back. Two VMs running the same guest report the
    /// same gfn and role for different pages: the VM is part of the key.
    sp_page: HashMap<SpKey, u64>,
    page_sp: HashMap<u64, SpKey>,
    /// VM indices in use (1 when no map was given).
    vm_count: u32,
    /// SPTE page → the task that first installed an SPTE in it while it was live.
    page_task: HashMap<u64, u64>,
    /// SPTE page (physical page number) → anonymous page number.
    page_ids: HashMap<u64, u64>,
    /// sptep (physical address) → what it holds; BTreeMap so a page's SPTEs iterate in order.
    held: BTreeMap<u64, Held>,
    /// rmap → number of SPTEs held (for the recycle rule).
    rmap_len: HashMap<RmapId, u64>,
    recycle_threshold: Option<u64>,
    /// Tasks linked by shared SPTE pages.
    links: UnionFind,
    /// Per VM index: the largest rmap size seen before an add (KVM's per-VM
    /// `max_mmu_rmap_size` as v6.4+ counts it: `pte_list_add`'s return value).
    pub max_rmap_size: HashMap<u32, u64>,
    /// Keep sptep physical addresses as SPTE ids instead of anonymising them.
    pub raw_addresses: bool,
    /// Tasks that only zap (a VMM thread tearing its VM down, a kernel worker): a zap by one
    /// of them never links it to the owner of the page matched, because two VMs running the
    /// same guest report the same gfn and role for their pages, so the match may be the other
    /// VM's page. Set by the importer's first pass, which groups the vCPUs.
    pub zap_only: HashSet<u64>,
    /// Tasks outside every VM, each pinned to the VM its zaps were attributed to.
    pub zapper_vm: HashMap<u64, u32>,
    /// Link a zapping thread seen for the first time only once [`Inference::resolve_links`]
    /// knows it is not zap-only (a pass that runs before the zap-only threads are known).
    pub defer_zapper_links: bool,
    /// Deferred links: (owner thread, zapping thread).
    pending_links: Vec<(u64, u64)>,
    /// Per VM: the record count when one of its tasks last installed an SPTE or reported a
    /// shadow page (a VM being torn down has stopped doing either).
    vm_last_active: HashMap<u32, u64>,
    /// Records seen.
    records: u64,
    /// Inference counters.
    pub stats: InferStats,
}

impl Default for Inference {
    fn default() -> Self {
        Self::new(Some(RMAP_RECYCLE_THRESHOLD), VmMap::default())
    }
}

/// The rules above as sentences, for a trace's `inferred` metadata.
pub fn inferred_rules() -> Vec<String> {
    vec![
        "adds and pfn/gfn replacements are observed (kvm_mmu_set_spte)".into(),
        "removals inside zapped shadow pages are inferred from kvm_mmu_prepare_zap_page, matching shadow pages to SPTE pages by the kvm_mmu_get_page that preceded the first kvm_mmu_set_spte in each page".into(),
        "removals by guest page-table writes have no event; one is inferred when a not-present fault re-installs an SPTE the trace still held".into(),
        "recycle zaps have no event; the replay applies RMAP_RECYCLE_THRESHOLD".into(),
        "parent-PTE lists are not visible in kvmmmu events and are not reconstructed".into(),
        "vCPUs are the traced tasks numbered by first appearance; sptep addresses are anonymised to (SPTE page << 9 | index)".into(),
        "rmaps of different VMs are kept apart (the VM index is part of each rmap id)".into(),
    ]
}

impl Inference {
    /// A fresh engine applying `recycle_threshold` (KVM's is 1000) to its own state, with
    /// tasks assigned to VMs by `vms`.
    pub fn new(recycle_threshold: Option<u64>, vms: VmMap) -> Self {
        let vm_count = vms.vm_of_tid.values().max().map_or(1, |m| m + 1);
        Inference {
            vm_count,
            out: VecDeque::new(),
            tasks: HashMap::default(),
            vms,
            not_present_fault: HashMap::default(),
            last_sp: HashMap::default(),
            gpte_pages: HashMap::default(),
            orphans: HashMap::default(),
            sp_page: HashMap::default(),
            page_sp: HashMap::default(),
            page_task: HashMap::default(),
            page_ids: HashMap::default(),
            held: BTreeMap::new(),
            rmap_len: HashMap::default(),
            recycle_threshold,
            links: UnionFind::default(),
            max_rmap_size: HashMap::default(),
            raw_addresses: false,
            zap_only: HashSet::default(),
            zapper_vm: HashMap::default(),
            defer_zapper_links: false,
            pending_links: Vec::new(),
            vm_last_active: HashMap::default(),
            records: 0,
            stats: InferStats::default(),
        }
    }

    /// Put thread `tid` in VM `vm` from now on (a map built as the capture is read).
    pub fn set_vm(&mut self, tid: u64, vm: u32) {
        self.vms.vm_of_tid.insert(tid, vm);
        self.vm_count = self.vm_count.max(vm + 1);
    }

    /// Whether thread `tid` is in a VM.
    pub fn has_vm(&self, tid: u64) -> bool {
        self.vms.vm_of_tid.contains_key(&tid)
    }

    /// The next event produced, if any.
    pub fn pop(&mut self) -> Option<Event> {
        self.out.pop_front()
    }

    /// Apply the deferred links of threads that turned out not to be in `zap_only`, as if
    /// `zap_only` had been known during the pass.
    pub fn resolve_links(&mut self, zap_only: &HashSet<u64>) {
        for (owner, tid) in std::mem::take(&mut self.pending_links) {
            if !zap_only.contains(&tid) {
                self.vcpu(tid);
                self.links.union(owner, tid);
            }
        }
    }

    /// Groups of tasks that shared live SPTE pages (each group one VM), smallest tid first
    /// within a group, groups ordered by their first task's appearance.
    pub fn linked_tasks(&mut self) -> Vec<Vec<u64>> {
        let mut order: Vec<(u32, u64)> = self.tasks.iter().map(|(&t, &v)| (v, t)).collect();
        order.sort_unstable();
        let mut groups: Vec<Vec<u64>> = Vec::new();
        let mut index: HashMap<u64, usize> = HashMap::default();
        for (_, tid) in order {
            let root = self.links.find(tid);
            let at = *index.entry(root).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[at].push(tid);
        }
        for g in &mut groups {
            g.sort_unstable();
        }
        groups
    }

    fn vcpu(&mut self, tid: u64) -> VcpuId {
        let n = self.tasks.len() as u32;
        VcpuId(*self.tasks.entry(tid).or_insert(n))
    }

    fn anon(&mut self, sptep: u64) -> SpteId {
        if self.raw_addresses {
            return SpteId(sptep);
        }
        let page = sptep >> PAGE_SHIFT;
        let n = self.page_ids.len() as u64;
        let id = *self.page_ids.entry(page).or_insert(n);
        SpteId((id << LEVEL_BITS) | ((sptep >> 3) & (SPTE_ENT_PER_PAGE - 1)))
    }

    fn emit_remove(&mut self, sptep: u64, h: Held, vcpu: Option<VcpuId>) {
        let spte = self.anon(sptep);
        let (_, gfn, level) = rmap_vm_gfn_level(h.rmap);
        self.out
            .push_back(Event::remove(h.rmap, spte).with_ctx(EventCtx {
                vcpu,
                gfn: Some(gfn),
                level: Some(level),
                kind: Some(RmapKind::Gfn),
            }));
        if let Some(n) = self.rmap_len.get_mut(&h.rmap) {
            *n -= 1;
            if *n == 0 {
                self.rmap_len.remove(&h.rmap);
            }
        }
    }

    /// Feed one record.
    pub fn on_record(&mut self, r: &Record) {
        let tid = r.task.tid;
        self.records += 1;
        if matches!(
            r.kind,
            RecordKind::SetSpte { .. } | RecordKind::GetPage { .. }
        ) {
            if let Some(&vm) = self.vms.vm_of_tid.get(&tid) {
                self.vm_last_active.insert(vm, self.records);
            }
        }
        match &r.kind {
            RecordKind::SetSpte {
                gfn,
                spte,
                level,
                sptep,
            } => self.on_set_spte(tid, *gfn, *spte, *level, *sptep),
            RecordKind::GetPage { sp } => self.on_get_page(tid, *sp),
            RecordKind::ZapPage { sp } => self.on_zap_page(tid, *sp),
            RecordKind::Walk { pferr } => self.on_walk(tid, *pferr),
            RecordKind::Mark(label) => self.on_mark(label),
            RecordKind::Lost(n) => self.stats.lost_events += n,
        }
    }

    /// `kvm_mmu_set_spte` on task `tid`: `spte_val` installed at physical address `sptep` for
    /// (`gfn`, `level`).
    pub fn on_set_spte(&mut self, tid: u64, gfn: u64, spte_val: u64, level: u8, sptep: u64) {
        self.stats.events_used += 1;
        let vcpu = self.vcpu(tid);
        let rmap = rmap_id(self.vms.vm(tid), gfn, level);
        let pfn = (spte_val & SPTE_PFN_MASK) >> PAGE_SHIFT;
        let not_present = self.not_present_fault.remove(&tid).unwrap_or(false);
        let page = sptep >> PAGE_SHIFT;
        match self.page_task.get(&page) {
            Some(&owner) if owner != tid => self.links.union(owner, tid),
            Some(_) => {}
            None => {
                self.page_task.insert(page, tid);
            }
        }
        // Associate a new SPTE page with its shadow page: the one this task's current fault
        // reported at this level, if that one is still unmatched; otherwise (the fault went
        // through an already linked page another vCPU created) the only unmatched one of this
        // level. With several candidates the page stays unmatched rather than guessed.
        if !self.page_sp.contains_key(&page) {
            let vm = self.vms.vm(tid);
            let own = self
                .last_sp
                .get(&tid)
                .and_then(|p| p.get(usize::from(level))?.as_ref())
                .filter(|k| !self.sp_page.contains_key(&(vm, **k)))
                .copied();
            let key = own.or_else(|| match self.orphans.get(&(vm, level)).map(Vec::as_slice) {
                Some([only]) => Some(*only),
                _ => None,
            });
            match key {
                Some(key) => {
                    if let Some(v) = self.orphans.get_mut(&(vm, level)) {
                        v.retain(|k| *k != key);
                    }
                    self.associate((vm, key), page);
                }
                None => self.stats.unmatched_pages += 1,
            }
        }
        if let Some(&h) = self.held.get(&sptep) {
            if h.rmap == rmap && h.pfn == pfn && !not_present {
                return; // permission change only: no rmap change
            }
            if h.rmap == rmap && h.pfn == pfn {
                self.stats.inferred_drops += 1;
            } else {
                self.stats.replaced += 1;
            }
            self.held.remove(&sptep);
            self.emit_remove(sptep, h, Some(vcpu));
        }
        let spte = self.anon(sptep);
        self.out
            .push_back(Event::add(rmap, spte).with_ctx(EventCtx {
                vcpu: Some(vcpu),
                gfn: Some(gfn),
                level: Some(level),
                kind: Some(RmapKind::Gfn),
            }));
        self.stats.adds += 1;
        let before = self.rmap_len.get(&rmap).copied().unwrap_or(0);
        let max = self.max_rmap_size.entry(self.vms.vm(tid)).or_default();
        *max = (*max).max(before);
        if self.recycle_threshold.is_some_and(|t| before > t) {
            // __rmap_add zaps the whole rmap, this SPTE included.
            self.held.retain(|_, h| h.rmap != rmap);
            self.rmap_len.remove(&rmap);
            self.stats.recycles += 1;
        } else {
            self.held.insert(sptep, Held { rmap, pfn });
            self.rmap_len.insert(rmap, before + 1);
        }
    }

    /// A producer that wrote guest page tables itself reports a cleared guest PTE (entry
    /// `index` of the guest page table at `pt_gfn`): KVM's write tracking drops the SPTE that
    /// shadows it (`kvm_mmu_pte_write` → `mmu_page_zap_pte`), which has no event. Emits the
    /// `remove` for every held SPTE at that index of a level-1 shadow page of that gfn.
    pub fn guest_pte_cleared(&mut self, pt_gfn: u64, index: u64) {
        // Only shadow pages that shadow guest page tables (`for_each_gfn_valid_sp_with_gptes`):
        // direct pages (guest large pages split by KVM) have no guest PTEs.
        let pages = self.gpte_pages.get(&pt_gfn).cloned().unwrap_or_default();
        for page in pages {
            let sptep = (page << PAGE_SHIFT) + (index % SPTE_ENT_PER_PAGE) * SPTE_BYTES;
            if let Some(h) = self.held.remove(&sptep) {
                self.emit_remove(sptep, h, None);
                self.stats.pte_write_removes += 1;
            }
        }
    }

    fn associate(&mut self, key: SpKey, page: u64) {
        if key.1.level == 1 && !key.1.direct {
            self.gpte_pages.entry(key.1.gfn).or_default().push(page);
        }
        if let Some(old) = self.sp_page.insert(key, page) {
            self.page_sp.remove(&old);
            self.unindex(key.1, old);
        }
        self.page_sp.insert(page, key);
    }

    fn dissociate(&mut self, key: SpKey) -> Option<u64> {
        let page = self.sp_page.remove(&key)?;
        self.page_sp.remove(&page);
        self.unindex(key.1, page);
        Some(page)
    }

    fn unindex(&mut self, key: ShadowPage, page: u64) {
        if key.level == 1 && !key.direct {
            if let Some(v) = self.gpte_pages.get_mut(&key.gfn) {
                v.retain(|&p| p != page);
                if v.is_empty() {
                    self.gpte_pages.remove(&key.gfn);
                }
            }
        }
    }

    /// The VM whose shadow page `sp` a task outside every VM zaps: the VM it was pinned to by
    /// its earlier zaps, if that VM holds such a page; else the only VM that holds one; else,
    /// among several, the one whose vCPUs have been idle longest (a VM is torn down after its
    /// vCPUs stop). The task is then pinned to that VM: a teardown thread zaps one VM.
    fn zapper_vm_for(&mut self, tid: u64, sp: ShadowPage) -> u32 {
        let holders: Vec<u32> = (0..self.vm_count)
            .filter(|v| self.sp_page.contains_key(&(*v, sp)))
            .collect();
        let pinned = self.zapper_vm.get(&tid).copied();
        let vm = match (holders.as_slice(), pinned) {
            (_, Some(p)) if holders.contains(&p) => p,
            ([only], _) => *only,
            ([], Some(p)) => p,
            ([], None) => self.vms.vm(tid),
            (many, _) => {
                self.stats.zaps_attributed_by_idleness += 1;
                many.iter()
                    .copied()
                    .min_by_key(|v| self.vm_last_active.get(v).copied().unwrap_or(0))
                    .unwrap_or_else(|| self.vms.vm(tid))
            }
        };
        if tid != 0 {
            self.zapper_vm.insert(tid, vm);
        }
        vm
    }

    /// `kvm_mmu_get_page` on task `tid` for the shadow page `sp`.
    pub fn on_get_page(&mut self, tid: u64, sp: ShadowPage) {
        self.stats.events_used += 1;
        self.vcpu(tid);
        let vm = self.vms.vm(tid);
        if !self.sp_page.contains_key(&(vm, sp)) {
            let o = self.orphans.entry((vm, sp.level)).or_default();
            if !o.contains(&sp) {
                o.push(sp);
            }
        }
        // `role.level` is 4 bits: a larger level (malformed text) is not remembered.
        if let Some(slot) = self
            .last_sp
            .entry(tid)
            .or_insert([None; LEVELS])
            .get_mut(usize::from(sp.level))
        {
            *slot = Some(sp);
        }
    }

    /// `kvm_mmu_pagetable_walk` (a guest page fault) on task `tid` with error code `pferr`.
    pub fn on_walk(&mut self, tid: u64, pferr: Option<u64>) {
        self.stats.events_used += 1;
        if let Some(pages) = self.last_sp.get_mut(&tid) {
            *pages = [None; LEVELS];
        }
        let vcpu = self.vcpu(tid);
        self.not_present_fault
            .insert(tid, pferr.is_some_and(|e| e & PFERR_PRESENT == 0));
        self.out.push_back(Event::new(EventKind::Fault { vcpu }));
    }

    /// The capture reported `n` lost events.
    pub fn on_lost(&mut self, n: u64) {
        self.stats.lost_events += n;
    }

    /// A trace marker.
    pub fn on_mark(&mut self, label: &str) {
        self.stats.events_used += 1;
        self.out.push_back(Event::new(EventKind::Mark {
            label: label.trim().to_string(),
        }));
    }

    /// `kvm_mmu_prepare_zap_page` of the shadow page `sp`, on task `tid` (0 = unknown).
    pub fn on_zap_page(&mut self, tid: u64, sp: ShadowPage) {
        self.stats.events_used += 1;
        // The shadow page is gone: its SPTE page may be reused by another shadow page, which
        // the next kvm_mmu_set_spte in it will associate afresh.
        // Whose page: the zapping task's VM; for a task outside every VM (a kernel worker),
        // the one VM that holds such a page, if only one does.
        let vm = match self.vms.vm_of_tid.get(&tid) {
            Some(&vm) => vm,
            None => self.zapper_vm_for(tid, sp),
        };
        for ((v, _), o) in self.orphans.iter_mut() {
            if *v == vm {
                o.retain(|k| *k != sp);
            }
        }
        let Some(page) = self.dissociate((vm, sp)) else {
            self.stats.zaps_unmatched += 1;
            return;
        };
        // The zapping task belongs to the VM that owns the page (unless it only zaps: then
        // the page matched may be another VM's of the same gfn and role).
        if let Some(owner) = self.page_task.remove(&page) {
            if tid != 0 && owner != tid && !self.zap_only.contains(&tid) {
                if self.defer_zapper_links && !self.tasks.contains_key(&tid) {
                    // Not known yet whether this thread only zaps: decided after the pass.
                    self.pending_links.push((owner, tid));
                } else {
                    self.vcpu(tid);
                    self.links.union(owner, tid);
                }
            }
        }
        let lo = page << PAGE_SHIFT;
        let hi = lo + SPTE_ENT_PER_PAGE * SPTE_BYTES;
        let victims: Vec<(u64, Held)> = self.held.range(lo..hi).map(|(k, v)| (*k, *v)).collect();
        for (sptep, h) in victims {
            self.held.remove(&sptep);
            self.emit_remove(sptep, h, None);
            self.stats.zap_removes += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::record::Task;

    #[test]
    fn rmap_ids_round_trip_and_keep_vms_apart() {
        assert_eq!(rmap_id(0, 0x400, 1), RmapId(0x400));
        assert_eq!(rmap_vm_gfn_level(rmap_id(0, 0x400, 1)), (0, 0x400, 1));
        assert_eq!(rmap_vm_gfn_level(rmap_id(3, 0x200, 2)), (3, 0x200, 2));
        assert_ne!(rmap_id(0, 0x400, 1), rmap_id(1, 0x400, 1));
        let top_gfn = (1u64 << 40) - 1;
        assert_eq!(rmap_vm_gfn_level(rmap_id(7, top_gfn, 1)), (7, top_gfn, 1));
    }

    fn set(tid: u64, gfn: u64, sptep: u64) -> Record {
        Record {
            ts: None,
            cpu: None,
            task: Task { tid, tgid: None },
            kind: RecordKind::SetSpte {
                gfn,
                spte: 0x1000 * (gfn + 1),
                level: 1,
                sptep,
            },
        }
    }

    #[test]
    fn tasks_sharing_an_spte_page_are_linked_others_not() {
        let mut inf = Inference::default();
        inf.on_record(&set(10, 1, 0x5000));
        inf.on_record(&set(11, 2, 0x5008)); // same SPTE page as task 10
        inf.on_record(&set(12, 1, 0x9000)); // its own page
        assert_eq!(inf.linked_tasks(), vec![vec![10, 11], vec![12]]);
    }

    #[test]
    fn a_vm_map_separates_the_same_gfn() {
        let mut vms = VmMap::default();
        vms.vm_of_tid.insert(12, 1);
        let mut inf = Inference::new(Some(RMAP_RECYCLE_THRESHOLD), vms);
        inf.on_record(&set(10, 1, 0x5000));
        inf.on_record(&set(12, 1, 0x9000));
        let a = inf.pop().unwrap().rmap();
        let b = inf.pop().unwrap().rmap();
        assert_ne!(a, b);
    }

    #[test]
    fn two_vms_with_the_same_shadow_pages_zap_only_their_own() {
        let sp = ShadowPage::from_role_word(0x12, 0x0301);
        let rec = |tid, kind| Record {
            ts: None,
            cpu: None,
            task: Task { tid, tgid: None },
            kind,
        };
        let mut vms = VmMap::default();
        vms.vm_of_tid.insert(10, 0);
        vms.vm_of_tid.insert(20, 1);
        let mut inf = Inference::new(Some(RMAP_RECYCLE_THRESHOLD), vms);
        // Both VMs create "the same" shadow page (same gfn and role), in different SPTE pages.
        inf.on_record(&rec(10, RecordKind::GetPage { sp }));
        inf.on_record(&set(10, 1, 0x5000));
        inf.on_record(&rec(20, RecordKind::GetPage { sp }));
        inf.on_record(&set(20, 1, 0x9000));
        while inf.pop().is_some() {}
        // VM 1 zaps its page: only its SPTE goes.
        inf.on_record(&rec(20, RecordKind::ZapPage { sp }));
        let removed: Vec<Event> = std::iter::from_fn(|| inf.pop()).collect();
        assert_eq!(removed.len(), 1, "{removed:?}");
        assert!(
            matches!(removed[0].kind, EventKind::Remove { rmap, .. } if rmap_vm_gfn_level(rmap).0 == 1)
        );
        assert_eq!(inf.stats.unmatched_pages, 0);
        // A kernel worker (no VM) zaps the page only VM 0 still holds.
        inf.on_record(&rec(99, RecordKind::ZapPage { sp }));
        let removed: Vec<Event> = std::iter::from_fn(|| inf.pop()).collect();
        assert_eq!(removed.len(), 1);
        assert!(
            matches!(removed[0].kind, EventKind::Remove { rmap, .. } if rmap_vm_gfn_level(rmap).0 == 0)
        );
    }
}
