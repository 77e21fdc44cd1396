//! The seed's arithmetic as a query: object size, objects per slab page, and the bytes the
//! per-vCPU caches hold, for any array sizes — no trace needed.

use crate::config::{Era, KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE, SLAB_PAGE_SIZE, SPTE_PTR_SIZE};
use serde::{Deserialize, Serialize};

/// `SPLIT_DESC_CACHE_MIN_NR_OBJECTS` (v5.19+): the top-up minimum of the per-VM cache used for
/// eager page splitting when the VM has rmaps (`kvm->arch.split_desc_cache`): 512 leaf SPTEs
/// plus one parent.
pub const SPLIT_DESC_CACHE_MIN_NR_OBJECTS: usize = 513;

/// What `topup_split_caches()` fills `split_desc_cache` to since June 2022 (v5.19): the minimum
/// plus `KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE` = 553 objects (before that fix, 2 × 513). The cache
/// is filled only while eager page splitting runs.
pub const SPLIT_DESC_CACHE_CAPACITY: usize =
    SPLIT_DESC_CACHE_MIN_NR_OBJECTS + KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE;

/// One row of `rmaplab sizes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeRow {
    /// Entries per descriptor.
    pub entries: usize,
    /// Era (decides the header size).
    pub era: Era,
    /// `sizeof(struct pte_list_desc)`.
    pub desc_bytes: usize,
    /// Objects per 4 KiB slab page.
    pub objs_per_slab_page: usize,
    /// Per-vCPU cache capacity used.
    pub cache_capacity: usize,
    /// `cache_capacity × desc_bytes`: what one vCPU's full cache holds.
    pub per_vcpu_cache_bytes: usize,
    /// vCPUs.
    pub vcpus: usize,
    /// `per_vcpu_cache_bytes × vcpus`.
    pub total_cache_bytes: usize,
    /// 4 KiB slab pages the full caches of all vCPUs pin: `ceil(capacity × vcpus / objects
    /// per page)` (Peter Xu's point: slab memory comes in pages).
    pub cache_slab_pages: usize,
    /// Extra bytes over the smallest size in the query, for all vCPUs:
    /// `(entries − smallest) × 8 B × capacity × vcpus`.
    pub extra_vs_smallest_bytes: usize,
    /// Bytes of a full eager page-split cache ([`SPLIT_DESC_CACHE_CAPACITY`] objects, per VM,
    /// while eager page splitting runs on a VM with rmaps).
    pub split_cache_bytes: usize,
}

/// Compute the rows for `entries` (in the given order).
pub fn size_table(
    entries: &[usize],
    era: Era,
    cache_capacity: usize,
    vcpus: usize,
) -> Vec<SizeRow> {
    let smallest = entries.iter().copied().min().unwrap_or(0);
    entries
        .iter()
        .map(|&n| {
            let desc = era.desc_bytes(n);
            let per_vcpu = desc * cache_capacity;
            SizeRow {
                entries: n,
                era,
                desc_bytes: desc,
                objs_per_slab_page: SLAB_PAGE_SIZE / desc,
                cache_capacity,
                per_vcpu_cache_bytes: per_vcpu,
                vcpus,
                total_cache_bytes: per_vcpu * vcpus,
                cache_slab_pages: (cache_capacity * vcpus).div_ceil(SLAB_PAGE_SIZE / desc),
                extra_vs_smallest_bytes: (n - smallest) * SPTE_PTR_SIZE * cache_capacity * vcpus,
                split_cache_bytes: desc * SPLIT_DESC_CACHE_CAPACITY,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE;

    #[test]
    fn the_seeds_numbers() {
        let rows = size_table(
            &[2, 4, 14],
            Era::HeadInsert,
            KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE,
            8,
        );
        // 128 B -> 32 B objects.
        assert_eq!(rows[0].desc_bytes, 32);
        assert_eq!(rows[2].desc_bytes, 128);
        // 5120 B -> 1280 B per vCPU.
        assert_eq!(rows[0].per_vcpu_cache_bytes, 1280);
        assert_eq!(rows[2].per_vcpu_cache_bytes, 5120);
        // Two extra entries cost 16 B x 40 x nr_vcpus.
        assert_eq!(rows[1].extra_vs_smallest_bytes, 16 * 40 * 8);
        assert_eq!(rows[2].total_cache_bytes, 5120 * 8);
        assert_eq!(rows[0].objs_per_slab_page, 128);
        // The split cache at its real fill: 553 x (16 + 8N).
        assert_eq!(SPLIT_DESC_CACHE_CAPACITY, 553);
        assert_eq!(rows[2].split_cache_bytes, 70_784);
        // Pages: 8 x 40 objects at 32 / 85 / 128 to a page.
        assert_eq!(rows[2].cache_slab_pages, 10);
        assert_eq!(rows[1].cache_slab_pages, 4);
        assert_eq!(rows[0].cache_slab_pages, 3);
        assert_eq!(rows[0].split_cache_bytes, 17_696);
        assert_eq!(rows[2].objs_per_slab_page, 32);
    }
}
