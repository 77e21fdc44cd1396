//! Model configurations: array size, kernel era, per-vCPU cache settings, recycle threshold.
//!
//! Every constant here is named after the kernel symbol it mirrors.

use serde::{Deserialize, Serialize};
use std::fmt;
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

/// `RMAP_RECYCLE_THRESHOLD`: `__rmap_add` zaps an rmap whose pre-add count exceeds this.
pub const RMAP_RECYCLE_THRESHOLD: u64 = 1000;

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

impl fmt::Display for Era {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Era {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "null-terminated" | "v5.14" => Ok(Era::NullTerminated),
            "tail-append" | "v5.15" => Ok(Era::TailAppend),
            "head-insert" | "v6.4" => Ok(Era::HeadInsert),
            other => Err(ConfigError::UnknownEra(other.to_string())),
        }
    }
}

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

    /// A short label such as `14/head-insert`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.entries, self.era)
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
    use super::*;

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
