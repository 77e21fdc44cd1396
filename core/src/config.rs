//! Model configurations: array size, kernel era, per-vCPU cache settings, recycle threshold.
//!
//! Every constant here is named after the kernel symbol it mirrors.

use crate::named::named_choice;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// `PTE_LIST_EXT`: entries per `struct pte_list_desc` upstream since v5.15 (Peter Xu, 2021).
pub const PTE_LIST_EXT: usize = 14;

/// `PTE_LIST_EXT` in kernels up to v5.14 (NULL-terminated `sptes[3]`).
pub const PTE_LIST_EXT_NULL_TERMINATED: usize = 3;

/// Smallest array size the model accepts: `pte_list_add`'s 1 → many transition writes two
/// entries (`sptes[0]` = old, `sptes[1]` = new) into a fresh descriptor.
pub const MIN_ENTRIES: usize = 2;

/// Largest array size the model accepts (a 528-byte object; far beyond anything proposed).
pub const MAX_ENTRIES: usize = 64;

/// `KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE`: capacity of each per-vCPU memory cache (x86, today).
pub const KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE: usize = 40;

/// `PT64_ROOT_MAX_LEVEL`: deepest x86 paging hierarchy (5-level paging).
pub const PT64_ROOT_MAX_LEVEL: usize = 5;

/// `PTE_PREFETCH_NUM`: SPTEs `direct_pte_prefetch` may install around a fault.
pub const PTE_PREFETCH_NUM: usize = 8;

/// Top-up minimum `mmu_topup_memory_caches` passes for `mmu_pte_list_desc_cache`:
/// `1 + PT64_ROOT_MAX_LEVEL + PTE_PREFETCH_NUM` = 14.
pub const PTE_LIST_DESC_CACHE_MIN: usize = 1 + PT64_ROOT_MAX_LEVEL + PTE_PREFETCH_NUM;

/// Entries per descriptor the seed patch (2022, "KVM: x86/mmu: shrink pte_list_desc under TDP")
/// proposed when TDP is enabled; without TDP it kept [`PTE_LIST_EXT`].
pub const SEED_TDP_ENTRIES: usize = 2;

/// `RMAP_RECYCLE_THRESHOLD`: `__rmap_add` zaps an rmap whose pre-add count exceeds this.
pub const RMAP_RECYCLE_THRESHOLD: u64 = 1000;

/// A gfn rmap's size after `__rmap_add` adds to a list of `before` entries under the recycle
/// rule at `threshold` (every era): 0 when `pte_list_add` returned more than the threshold
/// (KVM zapped the whole list, the new SPTE with it), else `before + 1`. What the page's
/// list picker and stepper count peaks with.
pub fn rmap_size_after_add(before: u64, threshold: Option<u64>) -> u64 {
    match threshold {
        Some(t) if before > t => 0,
        _ => before + 1,
    }
}

/// `PAGE_SIZE` of the slab pages the model packs descriptors into.
pub const SLAB_PAGE_SIZE: usize = 4096;

/// Cache line size used for the "lines touched" metric.
pub const CACHE_LINE_SIZE: usize = 64;

/// `sizeof(u64 *)` on 64-bit kernels: one entry of `sptes[]`.
pub const SPTE_PTR_SIZE: usize = 8;

/// Header of `struct pte_list_desc` since v5.15: `more` (8 B) plus the count word(s) (8 B).
pub const DESC_HEADER_SIZE: usize = 16;

/// Header of the ≤ v5.14 descriptor: only the `more` pointer (placed after the array).
pub const DESC_HEADER_SIZE_NULL_TERMINATED: usize = 8;

/// The first release with the head-insert list code (Lai Jiangshan, v6.4).
pub const HEAD_INSERT_SINCE: (u32, u32) = (6, 4);

/// The first release with counted descriptors of 14 entries (Peter Xu, v5.15).
pub const TAIL_APPEND_SINCE: (u32, u32) = (5, 15);

/// Which kernel's `pte_list_add` / `pte_list_remove` algorithm the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Era {
    /// ≤ v5.14: `u64 *sptes[N]; struct pte_list_desc *more;`, arrays NULL-terminated, no count.
    /// Adds fill the first non-full descriptor and append at the tail; removal moves the last
    /// entry of the same descriptor into the hole.
    NullTerminated,
    /// v5.15 – v6.3 (Peter Xu): `more; unsigned long spte_count; sptes[N]`. Same list shape as
    /// [`Era::NullTerminated`], but counts are stored, so walks stop at the count.
    TailAppend,
    /// v6.4 – today (Lai Jiangshan, commit 141705b78381): `more; u32 spte_count; u32 tail_count;
    /// sptes[N]`. New descriptors are linked at the head; every non-head descriptor is full;
    /// removal moves the last entry of the head descriptor into the hole.
    HeadInsert,
}

impl Era {
    /// All eras, oldest first.
    pub const ALL: [Era; 3] = [Era::NullTerminated, Era::TailAppend, Era::HeadInsert];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Era::NullTerminated => "null-terminated",
            Era::TailAppend => "tail-append",
            Era::HeadInsert => "head-insert",
        }
    }

    /// Kernel releases that run this algorithm.
    pub fn kernels(self) -> &'static str {
        match self {
            Era::NullTerminated => "<= v5.14",
            Era::TailAppend => "v5.15 - v6.3",
            Era::HeadInsert => "v6.4 - today",
        }
    }

    /// The era of the kernel whose release (`uname -r`, e.g. `6.18.44-fc`) is `release`:
    /// head-insert from [`HEAD_INSERT_SINCE`], tail-append from [`TAIL_APPEND_SINCE`],
    /// null-terminated before. `None` when no `MAJOR.MINOR` can be read.
    pub fn of_kernel_release(release: &str) -> Option<Era> {
        let mut it = release.split(|c: char| !c.is_ascii_digit());
        let major: u32 = it.next()?.parse().ok()?;
        let minor: u32 = it.next()?.parse().ok()?;
        let v = (major, minor);
        Some(if v >= HEAD_INSERT_SINCE {
            Era::HeadInsert
        } else if v >= TAIL_APPEND_SINCE {
            Era::TailAppend
        } else {
            Era::NullTerminated
        })
    }

    /// `PTE_LIST_EXT` in the kernels of this era.
    pub fn kernel_pte_list_ext(self) -> usize {
        match self {
            Era::NullTerminated => PTE_LIST_EXT_NULL_TERMINATED,
            Era::TailAppend | Era::HeadInsert => PTE_LIST_EXT,
        }
    }

    /// `sizeof(struct pte_list_desc)` on 64-bit for `entries` array slots.
    pub fn desc_bytes(self, entries: usize) -> usize {
        match self {
            Era::NullTerminated => DESC_HEADER_SIZE_NULL_TERMINATED + SPTE_PTR_SIZE * entries,
            Era::TailAppend | Era::HeadInsert => DESC_HEADER_SIZE + SPTE_PTR_SIZE * entries,
        }
    }

    /// Byte offset of `sptes[i]` inside the descriptor.
    pub fn entry_offset(self, i: usize) -> usize {
        match self {
            Era::NullTerminated => SPTE_PTR_SIZE * i,
            Era::TailAppend | Era::HeadInsert => DESC_HEADER_SIZE + SPTE_PTR_SIZE * i,
        }
    }

    /// Byte offset of the header word(s) the list code reads on every visit (`more`, counts).
    pub fn header_offset(self, entries: usize) -> usize {
        match self {
            Era::NullTerminated => SPTE_PTR_SIZE * entries,
            Era::TailAppend | Era::HeadInsert => 0,
        }
    }
}

// Each era is also named by the first kernel of its list code.
named_choice!(Era, ConfigError, ConfigError::UnknownEra, |e| match e {
    Era::NullTerminated => &["v5.14"],
    Era::TailAppend => &["v5.15"],
    Era::HeadInsert => &["v6.4"],
});

/// Errors building a [`ModelConfig`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The array size is below [`MIN_ENTRIES`].
    #[error("array size {0} is too small: pte_list_add's 1 -> many transition stores two entries (the old and the new SPTE) in a fresh descriptor, so N must be at least {MIN_ENTRIES}")]
    TooFewEntries(usize),
    /// The array size is above [`MAX_ENTRIES`].
    #[error(
        "array size {0} is too large: rmaplab models 2..={MAX_ENTRIES} entries per descriptor"
    )]
    TooManyEntries(usize),
    /// The era name is not one of `null-terminated`, `tail-append`, `head-insert`.
    #[error("unknown era {0:?}: use tail-append (v5.15-v6.3), head-insert (v6.4+) or null-terminated (<= v5.14)")]
    UnknownEra(String),
    /// The cache top-up minimum exceeds its capacity.
    #[error("cache top-up minimum {min} exceeds capacity {capacity}: kvm_mmu_topup_memory_cache fills to capacity whenever fewer than min objects remain")]
    CacheMinAboveCapacity {
        /// The requested minimum.
        min: usize,
        /// The requested capacity.
        capacity: usize,
    },
    /// A `CAPACITY/MIN` cache specification could not be parsed.
    #[error("bad cache setting {0:?}: expected CAPACITY/MIN, e.g. 40/14")]
    BadCacheSpec(String),
    /// A number in a list could not be parsed.
    #[error("bad number {0:?} in list")]
    BadNumber(String),
    /// A comma-separated list has an empty item (`2,,3`, or a trailing comma).
    #[error("an empty item in the list {0:?}")]
    EmptyItem(String),
    /// `seed` was asked for, and the trace does not say whether TDP was on. Each front-end
    /// adds where to say it (the CLI's flag, the page's setting).
    #[error("the seed's array size depends on TDP (2 entries with TDP on, 14 with it off), and the trace's metadata has no `tdp`: say whether TDP was on (or set tdp in the trace header)")]
    SeedNeedsTdp,
    /// The recycle threshold is neither a number nor `off`.
    #[error("bad recycle threshold {0:?}: give a number (KVM: 1000) or off")]
    BadRecycle(String),
    /// The top-up policy name is not one of `always`, `when-rmaps-used`.
    #[error("unknown top-up policy {0:?}: use always (KVM today) or when-rmaps-used (the seed's patch 4)")]
    UnknownTopup(String),
}

/// When a vCPU's `mmu_pte_list_desc_cache` is topped up before a fault.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum TopupPolicy {
    /// Every fault tops the cache up (`mmu_topup_memory_caches`, every era upstream).
    #[default]
    Always,
    /// Only once the VM uses rmaps (`kvm_memslots_have_rmaps`), as patch 4 of the seed series
    /// proposed: until the VM's first `pte_list_add` a vCPU's cache holds nothing.
    WhenRmapsUsed,
}

impl TopupPolicy {
    /// Both policies, KVM's first.
    pub const ALL: [TopupPolicy; 2] = [TopupPolicy::Always, TopupPolicy::WhenRmapsUsed];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            TopupPolicy::Always => "always",
            TopupPolicy::WhenRmapsUsed => "when-rmaps-used",
        }
    }
}

named_choice!(
    TopupPolicy,
    ConfigError,
    ConfigError::UnknownTopup,
    |t| match t {
        TopupPolicy::Always => &[],
        TopupPolicy::WhenRmapsUsed => &["lazy"],
    }
);

/// One array size asked for: a number, or the seed's rule (resolved from the trace's `tdp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntriesChoice {
    /// This many entries.
    Fixed(usize),
    /// [`SEED_TDP_ENTRIES`] when TDP is on, [`PTE_LIST_EXT`] otherwise, fixed per host.
    Seed,
}

impl EntriesChoice {
    /// The array size for a host with TDP `tdp`.
    pub fn resolve(self, tdp: Option<bool>) -> Result<usize, ConfigError> {
        match self {
            EntriesChoice::Fixed(n) => Ok(n),
            EntriesChoice::Seed => match tdp {
                Some(true) => Ok(SEED_TDP_ENTRIES),
                Some(false) => Ok(PTE_LIST_EXT),
                None => Err(ConfigError::SeedNeedsTdp),
            },
        }
    }
}

/// One configuration the model replays a trace through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Entries per descriptor (`PTE_LIST_EXT`, the seed's `nr_sptes_per_pte_list`).
    pub entries: usize,
    /// Which kernel's list algorithm runs.
    pub era: Era,
    /// Per-vCPU cache capacity (`KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE`).
    pub cache_capacity: usize,
    /// Per-vCPU cache top-up minimum.
    pub cache_min: usize,
    /// `RMAP_RECYCLE_THRESHOLD`; `None` disables recycling.
    pub recycle_threshold: Option<u64>,
    /// When vCPU caches are topped up.
    #[serde(default)]
    pub topup: TopupPolicy,
    /// The array size was chosen by the seed's rule ([`EntriesChoice::Seed`]); only the label
    /// shows it.
    #[serde(default)]
    pub seed_rule: bool,
}

impl ModelConfig {
    /// KVM as it is upstream today: 14 entries, head-insert, 40/14 caches, recycle at 1000.
    pub fn kvm_today() -> Self {
        ModelConfig {
            entries: PTE_LIST_EXT,
            era: Era::HeadInsert,
            cache_capacity: KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE,
            cache_min: PTE_LIST_DESC_CACHE_MIN,
            recycle_threshold: Some(RMAP_RECYCLE_THRESHOLD),
            topup: TopupPolicy::Always,
            seed_rule: false,
        }
    }

    /// A configuration with `entries` and `era` and KVM's defaults otherwise, validated.
    pub fn new(entries: usize, era: Era) -> Result<Self, ConfigError> {
        let cfg = ModelConfig {
            entries,
            era,
            ..ModelConfig::kvm_today()
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Check the configuration's ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.entries < MIN_ENTRIES {
            return Err(ConfigError::TooFewEntries(self.entries));
        }
        if self.entries > MAX_ENTRIES {
            return Err(ConfigError::TooManyEntries(self.entries));
        }
        if self.cache_min > self.cache_capacity {
            return Err(ConfigError::CacheMinAboveCapacity {
                min: self.cache_min,
                capacity: self.cache_capacity,
            });
        }
        Ok(())
    }

    /// `sizeof(struct pte_list_desc)` for this configuration.
    pub fn desc_bytes(&self) -> usize {
        self.era.desc_bytes(self.entries)
    }

    /// Objects per 4 KiB slab page.
    pub fn objs_per_slab_page(&self) -> usize {
        SLAB_PAGE_SIZE / self.desc_bytes()
    }

    /// A short label such as `14/head-insert`; `seed:2/head-insert` for the seed's rule, and a
    /// `+lazy-topup` suffix under [`TopupPolicy::WhenRmapsUsed`].
    pub fn label(&self) -> String {
        let seed = if self.seed_rule { "seed:" } else { "" };
        let topup = match self.topup {
            TopupPolicy::Always => "",
            TopupPolicy::WhenRmapsUsed => "+lazy-topup",
        };
        format!("{seed}{}/{}{topup}", self.entries, self.era)
    }
}

/// Parse a comma-separated list of array sizes, e.g. `2,3,4,8,14`, validating each.
pub fn parse_entries_list(s: &str) -> Result<Vec<usize>, ConfigError> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let n: usize = p
                .trim()
                .parse()
                .map_err(|_| ConfigError::BadNumber(p.trim().to_string()))?;
            if n < MIN_ENTRIES {
                return Err(ConfigError::TooFewEntries(n));
            }
            if n > MAX_ENTRIES {
                return Err(ConfigError::TooManyEntries(n));
            }
            Ok(n)
        })
        .collect()
}

/// Every problem with a comma-separated list of array sizes typed by hand (a form field),
/// item by item, or the sizes when there is none. Unlike [`parse_entries_list`] (which skips
/// empty items), an empty item is an error here: what is typed is what is checked.
pub fn check_entries_list(s: &str) -> Result<Vec<usize>, Vec<ConfigError>> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut sizes = Vec::new();
    let mut errors = Vec::new();
    for item in s.split(',') {
        if item.trim().is_empty() {
            errors.push(ConfigError::EmptyItem(s.trim().to_string()));
            continue;
        }
        match parse_entries_list(item) {
            Ok(n) => sizes.extend(n),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(sizes)
    } else {
        Err(errors)
    }
}

impl FromStr for EntriesChoice {
    type Err = ConfigError;
    /// `seed`, or an array size in `MIN_ENTRIES..=MAX_ENTRIES`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "seed" => Ok(EntriesChoice::Seed),
            t => parse_entries_list(t)?
                .first()
                .copied()
                .map(EntriesChoice::Fixed)
                .ok_or_else(|| ConfigError::BadNumber(t.to_string())),
        }
    }
}

/// A per-vCPU cache's capacity and top-up minimum, written `CAPACITY/MIN` (KVM: `40/14`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheSpec {
    /// `KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE`.
    pub capacity: usize,
    /// The top-up minimum.
    pub min: usize,
}

impl FromStr for CacheSpec {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (capacity, min) = parse_cache_spec(s)?;
        Ok(CacheSpec { capacity, min })
    }
}

/// The recycle threshold, written as a number or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecycleSpec(pub Option<u64>);

impl FromStr for RecycleSpec {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "off" | "none" => Ok(RecycleSpec(None)),
            t => t
                .parse()
                .map(|v| RecycleSpec(Some(v)))
                .map_err(|_| ConfigError::BadRecycle(t.to_string())),
        }
    }
}

/// What to compare, as asked for before the trace is read: the cross product of array sizes
/// (the seed's rule among them), eras and top-up policies, with shared cache and recycle
/// settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigRequest {
    /// Array sizes.
    pub entries: Vec<EntriesChoice>,
    /// Eras.
    pub eras: Vec<Era>,
    /// Top-up policies.
    pub topups: Vec<TopupPolicy>,
    /// Per-vCPU cache capacity.
    pub cache_capacity: usize,
    /// Per-vCPU cache top-up minimum.
    pub cache_min: usize,
    /// Recycle threshold (`None` = off).
    pub recycle_threshold: Option<u64>,
}

impl ConfigRequest {
    /// The configurations for a host with TDP `tdp` (the trace's metadata or the user's word):
    /// eras outermost, then top-up policies, then sizes, each in the order given; a
    /// configuration asked for twice appears once.
    pub fn resolve(&self, tdp: Option<bool>) -> Result<Vec<ModelConfig>, ConfigError> {
        let mut v: Vec<ModelConfig> = Vec::new();
        for &era in &self.eras {
            for &topup in &self.topups {
                for &choice in &self.entries {
                    let cfg = ModelConfig {
                        entries: choice.resolve(tdp)?,
                        era,
                        cache_capacity: self.cache_capacity,
                        cache_min: self.cache_min,
                        recycle_threshold: self.recycle_threshold,
                        topup,
                        seed_rule: choice == EntriesChoice::Seed,
                    };
                    cfg.validate()?;
                    if !v.contains(&cfg) {
                        v.push(cfg);
                    }
                }
            }
        }
        Ok(v)
    }
}

/// Parse a comma-separated list of array sizes that may name `seed` (the seed's rule), e.g.
/// `2,4,seed,14`.
pub fn parse_entries_choices(s: &str) -> Result<Vec<EntriesChoice>, ConfigError> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            if p.trim() == "seed" {
                Ok(EntriesChoice::Seed)
            } else {
                parse_entries_list(p).map(|v| EntriesChoice::Fixed(v[0]))
            }
        })
        .collect()
}

/// Parse a comma-separated list of top-up policies.
pub fn parse_topup_list(s: &str) -> Result<Vec<TopupPolicy>, ConfigError> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// Parse a comma-separated list of eras.
pub fn parse_era_list(s: &str) -> Result<Vec<Era>, ConfigError> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// Parse a `CAPACITY/MIN` cache specification such as `40/14`.
pub fn parse_cache_spec(s: &str) -> Result<(usize, usize), ConfigError> {
    let bad = || ConfigError::BadCacheSpec(s.to_string());
    let (cap, min) = s.split_once('/').ok_or_else(bad)?;
    let capacity: usize = cap.trim().parse().map_err(|_| bad())?;
    let min: usize = min.trim().parse().map_err(|_| bad())?;
    if min > capacity {
        return Err(ConfigError::CacheMinAboveCapacity { min, capacity });
    }
    Ok((capacity, min))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_recycle_rule_empties_a_list_that_was_past_the_threshold() {
        assert_eq!(rmap_size_after_add(0, Some(RMAP_RECYCLE_THRESHOLD)), 1);
        assert_eq!(
            rmap_size_after_add(1000, Some(RMAP_RECYCLE_THRESHOLD)),
            1001
        );
        assert_eq!(rmap_size_after_add(1001, Some(RMAP_RECYCLE_THRESHOLD)), 0);
        assert_eq!(rmap_size_after_add(1001, None), 1002);
    }

    #[test]
    fn a_typed_list_reports_every_bad_item() {
        assert_eq!(check_entries_list("2, 3,14"), Ok(vec![2, 3, 14]));
        assert_eq!(check_entries_list("  "), Ok(vec![]));
        assert_eq!(
            check_entries_list("1,65,x,,4"),
            Err(vec![
                ConfigError::TooFewEntries(1),
                ConfigError::TooManyEntries(65),
                ConfigError::BadNumber("x".into()),
                ConfigError::EmptyItem("1,65,x,,4".into()),
            ])
        );
        assert!(
            check_entries_list("2,").is_err(),
            "a trailing comma is an empty item"
        );
    }

    use super::*;

    /// Each era is also named by its first kernel; `lazy` is the seed's name for its top-up
    /// policy (the names themselves round-trip in `named.rs`).
    #[test]
    fn aliases_parse_and_unknown_names_are_refused() {
        assert_eq!("v5.14".parse::<Era>(), Ok(Era::NullTerminated));
        assert_eq!("v5.15".parse::<Era>(), Ok(Era::TailAppend));
        assert_eq!("v6.4".parse::<Era>(), Ok(Era::HeadInsert));
        assert_eq!("lazy".parse(), Ok(TopupPolicy::WhenRmapsUsed));
        assert_eq!(
            "v6.5".parse::<Era>(),
            Err(ConfigError::UnknownEra("v6.5".into()))
        );
        assert_eq!(
            "never".parse::<TopupPolicy>(),
            Err(ConfigError::UnknownTopup("never".into()))
        );
    }

    #[test]
    fn object_sizes_match_the_kernel() {
        assert_eq!(Era::HeadInsert.desc_bytes(PTE_LIST_EXT), 128);
        assert_eq!(Era::TailAppend.desc_bytes(2), 32);
        assert_eq!(
            Era::NullTerminated.desc_bytes(PTE_LIST_EXT_NULL_TERMINATED),
            32
        );
        assert_eq!(PTE_LIST_DESC_CACHE_MIN, 14);
    }

    #[test]
    fn n_below_two_is_rejected_with_the_reason() {
        let err = ModelConfig::new(1, Era::HeadInsert).unwrap_err();
        assert_eq!(err, ConfigError::TooFewEntries(1));
        assert!(err.to_string().contains("two entries"));
        assert!(parse_entries_list("2,1").is_err());
        assert!(ModelConfig::new(65, Era::TailAppend).is_err());
    }

    #[test]
    fn kernel_releases_map_to_eras() {
        assert_eq!(
            Era::of_kernel_release("6.18.44-fc-v769"),
            Some(Era::HeadInsert)
        );
        assert_eq!(Era::of_kernel_release("6.4.0"), Some(Era::HeadInsert));
        assert_eq!(Era::of_kernel_release("6.3.13"), Some(Era::TailAppend));
        assert_eq!(
            Era::of_kernel_release("5.15.0-91-generic"),
            Some(Era::TailAppend)
        );
        assert_eq!(Era::of_kernel_release("5.14.21"), Some(Era::NullTerminated));
        assert_eq!(Era::of_kernel_release("linux"), None);
        assert_eq!(Era::NullTerminated.kernel_pte_list_ext(), 3);
        assert_eq!(Era::HeadInsert.kernel_pte_list_ext(), 14);
    }

    #[test]
    fn the_seed_rule_follows_tdp() {
        let c = parse_entries_choices("2, seed,14").unwrap();
        assert_eq!(c[1], EntriesChoice::Seed);
        assert_eq!(EntriesChoice::Seed.resolve(Some(true)), Ok(2));
        assert_eq!(EntriesChoice::Seed.resolve(Some(false)), Ok(14));
        assert_eq!(
            EntriesChoice::Seed.resolve(None),
            Err(ConfigError::SeedNeedsTdp)
        );
        assert_eq!(EntriesChoice::Fixed(5).resolve(None), Ok(5));
        assert!(parse_entries_choices("seeds").is_err());
        assert!(parse_entries_choices("1").is_err());
        let cfg = ModelConfig {
            seed_rule: true,
            topup: TopupPolicy::WhenRmapsUsed,
            ..ModelConfig::new(2, Era::HeadInsert).unwrap()
        };
        assert_eq!(cfg.label(), "seed:2/head-insert+lazy-topup");
        assert_eq!(
            parse_topup_list("always,when-rmaps-used").unwrap(),
            TopupPolicy::ALL.to_vec()
        );
        assert!(parse_topup_list("never").is_err());
    }

    #[test]
    fn typed_settings_parse_and_refuse() {
        assert_eq!("seed".parse(), Ok(EntriesChoice::Seed));
        assert_eq!(" 4".parse(), Ok(EntriesChoice::Fixed(4)));
        assert!("1".parse::<EntriesChoice>().is_err());
        assert!("x".parse::<EntriesChoice>().is_err());
        assert_eq!(
            "40/14".parse(),
            Ok(CacheSpec {
                capacity: 40,
                min: 14
            })
        );
        assert!("5/14".parse::<CacheSpec>().is_err());
        assert_eq!("off".parse(), Ok(RecycleSpec(None)));
        assert_eq!("1000".parse(), Ok(RecycleSpec(Some(1000))));
        assert!("often".parse::<RecycleSpec>().is_err());
    }

    #[test]
    fn a_request_resolves_against_the_host() {
        let req = ConfigRequest {
            entries: parse_entries_choices("2,seed").unwrap(),
            eras: vec![Era::HeadInsert],
            topups: TopupPolicy::ALL.to_vec(),
            cache_capacity: 40,
            cache_min: 14,
            recycle_threshold: None,
        };
        let tdp: Vec<String> = req
            .resolve(Some(true))
            .unwrap()
            .iter()
            .map(ModelConfig::label)
            .collect();
        assert_eq!(
            tdp,
            [
                "2/head-insert",
                "seed:2/head-insert",
                "2/head-insert+lazy-topup",
                "seed:2/head-insert+lazy-topup"
            ]
        );
        let shadow = req.resolve(Some(false)).unwrap();
        assert_eq!(shadow[1].entries, 14);
        assert_eq!(req.resolve(None), Err(ConfigError::SeedNeedsTdp));
    }

    #[test]
    fn parses_lists() {
        assert_eq!(parse_entries_list("2, 3,14").unwrap(), vec![2, 3, 14]);
        assert_eq!(
            parse_era_list("tail-append,head-insert").unwrap(),
            vec![Era::TailAppend, Era::HeadInsert]
        );
        assert!(parse_era_list("sideways").is_err());
        assert_eq!(parse_cache_spec("40/14").unwrap(), (40, 14));
        assert!(parse_cache_spec("10/14").is_err());
        assert!(parse_cache_spec("40").is_err());
    }
}
