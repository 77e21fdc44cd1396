//! Import of kvmmmu tracepoint text: the `trace` file of tracefs and `trace-cmd report` output.
//!
//! There is no tracepoint for rmap changes, so the importer reconstructs them from what the
//! shadow MMU reports, with these rules (each inference is counted and named in the trace
//! metadata's `inferred` list):
//!
//! * `kvm_mmu_set_spte` at an sptep not holding a present SPTE → `add` to the rmap of
//!   (gfn, level). At an sptep that holds one: a different gfn or pfn → `remove` + `add`
//!   (`mmu_set_spte` drops the old SPTE); the same gfn and pfn → no rmap change, unless the
//!   vCPU's preceding `kvm_mmu_pagetable_walk` was a not-present fault (error code without P):
//!   then the old SPTE must have been dropped without an event (guest page-table writes do
//!   that) and a `remove` is inferred before the `add`.
//! * `kvm_mmu_prepare_zap_page` → `remove` of every tracked SPTE in that shadow page, in index
//!   order. Shadow pages are matched to their SPTE page by the `kvm_mmu_get_page` of the same
//!   level that preceded the first `kvm_mmu_set_spte` in that page on the same task.
//! * The recycle rule (`RMAP_RECYCLE_THRESHOLD`) has no event: the importer applies it to its own
//!   state (the replay applies it to the model), so later events stay consistent.
//! * `kvm_mmu_pagetable_walk` → `fault` on that task's vCPU (tasks numbered by first
//!   appearance); `tracing_mark_write` / `print` → `mark`.
//!
//! Parent-PTE lists are not visible in these events and are not reconstructed. Sptep addresses
//! are anonymised to `(SPTE page number << 9) | index` with pages numbered by first appearance.

use super::{Event, EventCtx, EventKind, RmapKind, TraceError, TraceMeta};
use crate::config::RMAP_RECYCLE_THRESHOLD;
use std::collections::{BTreeMap, HashMap};

/// Longest line accepted.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Bits 12..51 of an SPTE: the host physical frame.
pub const SPTE_PFN_MASK: u64 = 0x000f_ffff_ffff_f000;
/// SPTEs per shadow page (`SPTE_ENT_PER_PAGE`).
pub const SPTE_ENT_PER_PAGE: u64 = 512;
/// Bytes per SPTE.
const SPTE_BYTES: u64 = 8;
const PAGE_SHIFT: u32 = 12;

/// What an import inferred, by rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImportStats {
    /// Lines that were kvmmmu events used.
    pub events_used: u64,
    /// Lines skipped (other events, headers, comments, unparsable).
    pub lines_skipped: u64,
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
    /// SPTE pages whose shadow page could not be determined (their zaps cannot be applied).
    pub unmatched_pages: u64,
    /// Recycle zaps applied to the importer's state.
    pub recycles: u64,
    /// `remove`s inferred from guest page-table writes the producer reported.
    pub pte_write_removes: u64,
    /// Events the kernel reported lost (`[LOST n EVENTS]` lines).
    pub lost_events: u64,
}

#[derive(Debug, Clone, Copy)]
struct Held {
    rmap: u64,
    pfn: u64,
}

/// Incremental importer: push text, pull rmaplab events.
#[derive(Debug)]
pub struct FtraceImporter {
    buf: Vec<u8>,
    pos: usize,
    line: u64,
    out: std::collections::VecDeque<Event>,
    /// Tasks (by pid) → vCPU index.
    tasks: HashMap<u64, u32>,
    /// Per task: the last walk was a not-present fault; and the last get_page per level.
    not_present_fault: HashMap<u64, bool>,
    /// Per (task, level): the shadow page `kvm_mmu_get_page` reported in the task's current
    /// fault (cleared at each `kvm_mmu_pagetable_walk`).
    last_sp: HashMap<(u64, u8), String>,
    /// Guest page-table gfn → SPTE pages of the level-1, non-direct shadow pages of that gfn.
    gpte_pages: HashMap<u64, Vec<u64>>,
    /// Shadow pages reported but not yet matched to an SPTE page, per level, oldest first.
    orphans: HashMap<u8, Vec<String>>,
    /// Shadow page key → SPTE page, and back.
    sp_page: HashMap<String, u64>,
    page_sp: HashMap<u64, String>,
    /// SPTE page (physical page number) → anonymous page number.
    page_ids: HashMap<u64, u64>,
    /// sptep (physical address) → what it holds; BTreeMap so a page's SPTEs iterate in order.
    held: BTreeMap<u64, Held>,
    /// rmap → number of SPTEs held (for the recycle rule).
    rmap_len: HashMap<u64, u64>,
    recycle_threshold: Option<u64>,
    /// Keep sptep physical addresses as SPTE ids instead of anonymising them.
    pub raw_addresses: bool,
    /// Inference counters.
    pub stats: ImportStats,
}

impl Default for FtraceImporter {
    fn default() -> Self {
        Self::new(Some(RMAP_RECYCLE_THRESHOLD))
    }
}

/// The rmap id for (gfn, level): `gfn >> 9(level-1)` in the low bits, `level - 1` in bits 60+.
pub fn rmap_id(gfn: u64, level: u8) -> u64 {
    let l = u64::from(level.clamp(1, 3) - 1);
    (gfn >> (9 * l)) | (l << 60)
}

fn parse_hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

/// (gfn, level, direct) of a shadow-page key (`gfn <hex> l<level> ... [direct]`).
fn key_gfn_level(key: &str) -> Option<(u64, u8, bool)> {
    let mut t = key.split_whitespace();
    if t.next()? != "gfn" {
        return None;
    }
    let gfn = parse_hex(t.next()?)?;
    let level = t.next()?.strip_prefix('l')?.parse().ok()?;
    Some((gfn, level, key.split_whitespace().any(|w| w == "direct")))
}

/// One parsed line: task pid, event name, details.
fn split_line(line: &str) -> Option<(u64, &str, &str)> {
    let open = line.find('[')?;
    let task = line[..open].trim_end();
    let pid: u64 = task.rsplit('-').next()?.trim().parse().ok()?;
    let close = open + line[open..].find(']')?;
    let rest = &line[close + 1..];
    // The timestamp is the first token ending in ':' that parses as a number.
    let mut idx = 0;
    for tok in rest.split_whitespace() {
        let at = rest[idx..].find(tok)? + idx;
        idx = at + tok.len();
        if let Some(ts) = tok.strip_suffix(':') {
            if ts.parse::<f64>().is_ok() {
                let after = rest[idx..].trim_start();
                let colon = after.find(':')?;
                let name = &after[..colon];
                let details = after[colon + 1..].trim();
                return Some((pid, name, details));
            }
        }
    }
    None
}

/// `key value` lookups in a details string.
fn field<'a>(details: &'a str, key: &str) -> Option<&'a str> {
    let mut it = details.split_whitespace();
    while let Some(t) = it.next() {
        if t == key {
            return it.next();
        }
    }
    None
}

/// A shadow page's identity from a `kvm_mmu_get_page` / `prepare_zap_page` line: its role
/// tokens without the generation, root count, sync state and new/invalid flags.
fn sp_key(details: &str) -> Option<(String, u8)> {
    let mut toks = details.split_whitespace().peekable();
    let mut key = Vec::new();
    let mut level = None;
    while let Some(t) = toks.next() {
        match t {
            "sp" | "sync" | "unsync" | "new" | "invalid" => {}
            "gen" | "root" => {
                toks.next();
            }
            _ => {
                if let Some(l) = t.strip_prefix('l').and_then(|l| l.parse::<u8>().ok()) {
                    level = Some(l);
                }
                key.push(t);
            }
        }
    }
    Some((key.join(" "), level?))
}

impl FtraceImporter {
    /// A fresh importer applying `recycle_threshold` (KVM's is 1000) to its own state.
    pub fn new(recycle_threshold: Option<u64>) -> Self {
        FtraceImporter {
            buf: Vec::new(),
            pos: 0,
            line: 0,
            out: Default::default(),
            tasks: HashMap::new(),
            not_present_fault: HashMap::new(),
            last_sp: HashMap::new(),
            orphans: HashMap::new(),
            gpte_pages: HashMap::new(),
            sp_page: HashMap::new(),
            page_sp: HashMap::new(),
            page_ids: HashMap::new(),
            held: BTreeMap::new(),
            rmap_len: HashMap::new(),
            recycle_threshold,
            raw_addresses: false,
            stats: ImportStats::default(),
        }
    }

    /// Metadata for an imported trace (the rules above, as sentences).
    pub fn meta(&self, source: &str) -> TraceMeta {
        TraceMeta {
            source: Some(source.to_string()),
            anonymised: Some(!self.raw_addresses),
            tool: Some(concat!("rmaplab ", env!("CARGO_PKG_VERSION"), " ftrace importer").into()),
            inferred: vec![
                "adds and pfn/gfn replacements are observed (kvm_mmu_set_spte)".into(),
                "removals inside zapped shadow pages are inferred from kvm_mmu_prepare_zap_page, matching shadow pages to SPTE pages by the kvm_mmu_get_page that preceded the first kvm_mmu_set_spte in each page".into(),
                "removals by guest page-table writes have no event; one is inferred when a not-present fault re-installs an SPTE the trace still held".into(),
                "recycle zaps have no event; the replay applies RMAP_RECYCLE_THRESHOLD".into(),
                "parent-PTE lists are not visible in kvmmmu events and are not reconstructed".into(),
                "vCPUs are the traced tasks numbered by first appearance; sptep addresses are anonymised to (SPTE page << 9 | index)".into(),
            ],
            ..TraceMeta::default()
        }
    }

    /// Drain events produced by calls such as [`FtraceImporter::guest_pte_cleared`] without
    /// reading more input.
    pub fn take_pending(&mut self) -> Option<Event> {
        self.out.pop_front()
    }

    /// Feed text.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.pos > 0 && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    fn vcpu(&mut self, pid: u64) -> u32 {
        let n = self.tasks.len() as u32;
        *self.tasks.entry(pid).or_insert(n)
    }

    fn anon(&mut self, sptep: u64) -> u64 {
        if self.raw_addresses {
            return sptep;
        }
        let page = sptep >> PAGE_SHIFT;
        let n = self.page_ids.len() as u64;
        let id = *self.page_ids.entry(page).or_insert(n);
        (id << 9) | ((sptep >> 3) & (SPTE_ENT_PER_PAGE - 1))
    }

    fn emit_remove(&mut self, sptep: u64, h: Held, vcpu: Option<u32>) {
        let spte = self.anon(sptep);
        let (gfn, level) = rmap_gfn_level(h.rmap);
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

    fn set_spte(&mut self, pid: u64, d: &str) -> Option<()> {
        let gfn = parse_hex(field(d, "gfn")?)?;
        let spte_val = parse_hex(field(d, "spte")?)?;
        let level: u8 = field(d, "level")?.parse().ok()?;
        let sptep = parse_hex(field(d, "at")?)?;
        self.on_set_spte(pid, gfn, spte_val, level, sptep);
        Some(())
    }

    /// `kvm_mmu_set_spte` on task `pid`: `spte_val` installed at physical address `sptep` for
    /// (`gfn`, `level`).
    pub fn on_set_spte(&mut self, pid: u64, gfn: u64, spte_val: u64, level: u8, sptep: u64) {
        self.stats.events_used += 1;
        let vcpu = self.vcpu(pid);
        let rmap = rmap_id(gfn, level);
        let pfn = (spte_val & SPTE_PFN_MASK) >> PAGE_SHIFT;
        let not_present = self.not_present_fault.remove(&pid).unwrap_or(false);
        // Associate a new SPTE page with its shadow page: the one this task's current fault
        // reported at this level, if that one is still unmatched; otherwise (the fault went
        // through an already linked page another vCPU created) the only unmatched one of this
        // level. With several candidates the page stays unmatched rather than guessed.
        let page = sptep >> PAGE_SHIFT;
        if !self.page_sp.contains_key(&page) {
            let own = self
                .last_sp
                .get(&(pid, level))
                .filter(|k| !self.sp_page.contains_key(*k))
                .cloned();
            let key = own.or_else(|| match self.orphans.get(&level).map(Vec::as_slice) {
                Some([only]) => Some(only.clone()),
                _ => None,
            });
            match key {
                Some(key) => {
                    if let Some(v) = self.orphans.get_mut(&level) {
                        v.retain(|k| *k != key);
                    }
                    self.associate(key, page);
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

    fn associate(&mut self, key: String, page: u64) {
        if let Some((gfn, 1, false)) = key_gfn_level(&key) {
            self.gpte_pages.entry(gfn).or_default().push(page);
        }
        if let Some(old) = self.sp_page.insert(key.clone(), page) {
            self.page_sp.remove(&old);
            self.unindex(&key, old);
        }
        self.page_sp.insert(page, key);
    }

    fn dissociate(&mut self, key: &str) -> Option<u64> {
        let page = self.sp_page.remove(key)?;
        self.page_sp.remove(&page);
        self.unindex(key, page);
        Some(page)
    }

    fn unindex(&mut self, key: &str, page: u64) {
        if let Some((gfn, 1, false)) = key_gfn_level(key) {
            if let Some(v) = self.gpte_pages.get_mut(&gfn) {
                v.retain(|&p| p != page);
                if v.is_empty() {
                    self.gpte_pages.remove(&gfn);
                }
            }
        }
    }

    fn zap_page(&mut self, d: &str) -> Option<()> {
        let (key, _level) = sp_key(d)?;
        self.on_zap_page(&key);
        Some(())
    }

    /// `kvm_mmu_get_page` on task `pid` for the shadow page `key` (starting `gfn <hex> l<level> `,
    /// with a `direct` token for direct pages).
    pub fn on_get_page(&mut self, pid: u64, key: String, level: u8) {
        self.stats.events_used += 1;
        if !self.sp_page.contains_key(&key) {
            let o = self.orphans.entry(level).or_default();
            if !o.contains(&key) {
                o.push(key.clone());
            }
        }
        self.last_sp.insert((pid, level), key);
    }

    /// `kvm_mmu_pagetable_walk` (a guest page fault) on task `pid` with error code `pferr`.
    pub fn on_walk(&mut self, pid: u64, pferr: Option<u64>) {
        self.stats.events_used += 1;
        self.last_sp.retain(|(p, _), _| *p != pid);
        let vcpu = self.vcpu(pid);
        self.not_present_fault
            .insert(pid, pferr.is_some_and(|e| e & 1 == 0));
        self.out.push_back(Event::new(EventKind::Fault { vcpu }));
    }

    /// The kernel reported `n` lost events.
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

    /// `kvm_mmu_prepare_zap_page` of the shadow page `key`.
    pub fn on_zap_page(&mut self, key: &str) {
        self.stats.events_used += 1;
        // The shadow page is gone: its SPTE page may be reused by another shadow page, which
        // the next kvm_mmu_set_spte in it will associate afresh.
        for o in self.orphans.values_mut() {
            o.retain(|k| k != key);
        }
        let Some(page) = self.dissociate(key) else {
            self.stats.zaps_unmatched += 1;
            return;
        };
        let lo = page << PAGE_SHIFT;
        let hi = lo + SPTE_ENT_PER_PAGE * SPTE_BYTES;
        let victims: Vec<(u64, Held)> = self.held.range(lo..hi).map(|(k, v)| (*k, *v)).collect();
        for (sptep, h) in victims {
            self.held.remove(&sptep);
            self.emit_remove(sptep, h, None);
            self.stats.zap_removes += 1;
        }
    }

    fn handle(&mut self, line: &str) {
        if let Some(at) = line.find("[LOST ") {
            let n = line[at + 6..]
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok());
            self.stats.lost_events += n.unwrap_or(1);
            return;
        }
        let Some((pid, name, details)) = split_line(line) else {
            self.stats.lines_skipped += 1;
            return;
        };
        let used = match name {
            "kvm_mmu_set_spte" => self.set_spte(pid, details).is_some(),
            "kvm_mmu_prepare_zap_page" => self.zap_page(details).is_some(),
            "kvm_mmu_get_page" => match sp_key(details) {
                Some((key, level)) => {
                    self.on_get_page(pid, key, level);
                    true
                }
                None => false,
            },
            "kvm_mmu_pagetable_walk" => {
                self.on_walk(pid, field(details, "pferr").and_then(parse_hex));
                true
            }
            "tracing_mark_write" | "print" => {
                // trace-cmd shows `print: tracing_mark_write: text`.
                self.on_mark(
                    details
                        .strip_prefix("tracing_mark_write:")
                        .unwrap_or(details),
                );
                true
            }
            _ => false,
        };
        if !used {
            self.stats.lines_skipped += 1;
        }
    }

    fn pump(&mut self, at_end: bool) -> Result<(), TraceError> {
        while self.out.is_empty() {
            let rest = &self.buf[self.pos..];
            let (end, next) = match rest.iter().position(|&b| b == b'\n') {
                Some(nl) => (self.pos + nl, self.pos + nl + 1),
                None if at_end && !rest.is_empty() => (self.buf.len(), self.buf.len()),
                None => {
                    if rest.len() > MAX_LINE_BYTES {
                        return Err(self.too_long());
                    }
                    return Ok(());
                }
            };
            if end - self.pos > MAX_LINE_BYTES {
                return Err(self.too_long());
            }
            self.line += 1;
            let text = match std::str::from_utf8(&self.buf[self.pos..end]) {
                Ok(t) => t.to_string(),
                Err(_) => {
                    return Err(TraceError::Jsonl {
                        line: self.line,
                        msg: "not UTF-8 text; ftrace text is ASCII".into(),
                    })
                }
            };
            self.pos = next;
            if !text.starts_with('#') && !text.trim().is_empty() {
                self.handle(&text);
            }
        }
        Ok(())
    }

    fn too_long(&self) -> TraceError {
        TraceError::Jsonl {
            line: self.line + 1,
            msg: format!("line longer than {MAX_LINE_BYTES} bytes: not ftrace text"),
        }
    }

    /// The next event, or `None` if more input is needed.
    pub fn next_event(&mut self) -> Result<Option<Event>, TraceError> {
        self.pump(false)?;
        Ok(self.out.pop_front())
    }

    /// End of input.
    pub fn finish(&mut self) -> Result<Option<Event>, TraceError> {
        self.pump(true)?;
        Ok(self.out.pop_front())
    }
}

/// Inverse of [`rmap_id`]: the (base gfn, level) of an rmap id.
pub fn rmap_gfn_level(rmap: u64) -> (u64, u8) {
    let l = (rmap >> 60) as u8;
    let idx = rmap & ((1 << 60) - 1);
    (idx << (9 * u32::from(l)), l + 1)
}

/// True when `prefix` looks like ftrace or trace-cmd text of kvmmmu events.
pub fn looks_like_ftrace(prefix: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&prefix[..prefix.len().min(16 * 1024)]);
    text.starts_with("# tracer:")
        || text.starts_with("cpus=")
        || text.starts_with("version =")
        || text.contains(": kvm_mmu_")
        || text.contains(": kvmmmu:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_tracefs_and_trace_cmd_lines() {
        let a = "         python3-15803   [001] ...1.   522.962393: kvm_mmu_set_spte: gfn 8 spte 16c7bfe67 (rwxu) level 1 at 1acf60040";
        let (pid, name, d) = split_line(a).unwrap();
        assert_eq!((pid, name), (15803, "kvm_mmu_set_spte"));
        assert_eq!(field(d, "at"), Some("1acf60040"));
        let b = "     qemu-kvm-4242  [003]   100.000001: kvm_mmu_get_page:     sp gen 0 gfn 4 l1 8-byte q0 wux nxe ad root 0 sync new";
        let (pid, name, d) = split_line(b).unwrap();
        assert_eq!((pid, name), (4242, "kvm_mmu_get_page"));
        assert_eq!(
            sp_key(d),
            Some(("gfn 4 l1 8-byte q0 wux nxe ad".to_string(), 1))
        );
        assert!(split_line("CPU 0 is empty").is_none());
    }

    #[test]
    fn rmap_ids_round_trip() {
        assert_eq!(rmap_id(0x400, 1), 0x400);
        assert_eq!(rmap_gfn_level(rmap_id(0x400, 1)), (0x400, 1));
        assert_eq!(rmap_gfn_level(rmap_id(0x200, 2)), (0x200, 2));
    }
}
