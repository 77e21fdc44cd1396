//! x86-64 paging arithmetic both rmaplab's importer and its collector's guest builder need,
//! named once: 4 KiB pages, 512 eight-byte entries per table, 9 index bits per level. The
//! kernel's names are `PAGE_SHIFT`, `PAGE_SIZE`, `SPTE_ENT_PER_PAGE` (also `PT64_ENT_PER_PAGE`)
//! and `PT64_LEVEL_BITS` (arch/x86/kvm/mmu, every era rmaplab models).

/// `PAGE_SHIFT` on x86: 4 KiB pages.
pub const PAGE_SHIFT: u32 = 12;
/// `PAGE_SIZE` on x86.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
/// Bytes per page-table entry (a PTE, or an SPTE in a shadow page).
pub const PTE_BYTES: u64 = 8;
/// Entries per page table (`SPTE_ENT_PER_PAGE`, `PT64_ENT_PER_PAGE`).
pub const ENTRIES_PER_TABLE: u64 = PAGE_SIZE / PTE_BYTES;
/// Index bits per paging level (`PT64_LEVEL_BITS`).
pub const LEVEL_BITS: u32 = 9;

/// The 4 KiB frame number of a physical address (a gfn of a gpa, a page of an sptep).
pub const fn frame_of(addr: u64) -> u64 {
    addr >> PAGE_SHIFT
}

/// The entry index within its table of the page-table entry at physical address `addr`.
pub const fn entry_index_of(addr: u64) -> u64 {
    (addr % PAGE_SIZE) / PTE_BYTES
}

/// The index into the level-`level` table (1 = the last, 4 = PML4) that translates `va`.
pub const fn table_index(va: u64, level: u32) -> u64 {
    (va >> (PAGE_SHIFT + LEVEL_BITS * (level - 1))) & (ENTRIES_PER_TABLE - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_arithmetic() {
        assert_eq!(ENTRIES_PER_TABLE, 512);
        assert_eq!(frame_of(0x1234_5678), 0x12345);
        assert_eq!(entry_index_of(0x1000 + 8 * 37), 37);
        let va = (3u64 << 39) | (5 << 30) | (7 << 21) | (11 << 12) | 0x123;
        assert_eq!([4, 3, 2, 1].map(|l| table_index(va, l)), [3, 5, 7, 11]);
    }
}
