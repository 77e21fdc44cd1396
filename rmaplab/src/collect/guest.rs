//! The guest: memory layout, GDT/TSS, page tables and code, built as pure functions over byte
//! buffers so they are tested without `/dev/kvm`.
//!
//! Layout (guest physical = identity-mapped virtual below 1 GiB):
//!
//! | gpa | what |
//! |---|---|
//! | `GDT_GPA` | GDT: null, kernel code/data, user data (0x23), user code (0x2b), TSS (0x30) |
//! | `TSS_GPA` | 64-bit TSS (zeroed) |
//! | `CODE_GPA` | the two routines ([`touch_routine`], [`store_routine`]) |
//! | `TABLES_GPA` .. | page tables: per address space a PML4 whose entry 0 points at a shared
//! identity map of the first 1 GiB (2 MiB pages) and entry 1 at the workload region |
//! | `lists` | host-written work lists (VAs to touch, PTE stores to make) |
//! | `data` | the workload's data frames |
//!
//! Every paging level has the U bit, so ring-3 code runs natively on the shadow MMU.

use iced_x86::code_asm::*;
use rmaplab_core::paging::{table_index, PTE_BYTES};

/// Page size.
pub const PAGE: u64 = 4096;
/// GDT location.
pub const GDT_GPA: u64 = 0x1000;
/// TSS location.
pub const TSS_GPA: u64 = 0x2000;
/// Code location.
pub const CODE_GPA: u64 = 0x3000;
/// First page-table page.
pub const TABLES_GPA: u64 = 0x10000;
/// The identity map covers this much (one PDPT entry of 2 MiB pages).
pub const IDENTITY_BYTES: u64 = 1 << 30;
/// Virtual base of the workload region (PML4 entry 1).
pub const WORK_VA: u64 = 1 << 39;
/// I/O port the routines write to when done.
pub const DONE_PORT: u16 = 0x10;

/// Page-table entry bits.
pub const PTE_P: u64 = 1 << 0;
/// Writable.
pub const PTE_RW: u64 = 1 << 1;
/// User.
pub const PTE_U: u64 = 1 << 2;
/// Large page (in a PD entry).
pub const PTE_PS: u64 = 1 << 7;
/// The address bits of an entry.
pub const PTE_ADDR: u64 = 0x000f_ffff_ffff_f000;

/// Selectors.
pub const SEL_KCODE: u16 = 0x08;
/// Kernel data.
pub const SEL_KDATA: u16 = 0x10;
/// User data (index 4, RPL 3).
pub const SEL_UDATA: u16 = 0x23;
/// User code (index 5, RPL 3).
pub const SEL_UCODE: u16 = 0x2b;
/// TSS (index 6, two slots).
pub const SEL_TSS: u16 = 0x30;
/// `sizeof(struct tss)` − 1.
pub const TSS_LIMIT: u32 = 0x67;

/// Errors building the guest.
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    /// The assembler refused an instruction (a bug in the routine).
    #[error("assembling the guest routine failed: {0}")]
    Asm(String),
    /// The workload needs more guest memory than the identity map covers.
    #[error("the workload needs {need} bytes of guest memory; at most {max} are supported — use fewer frames or address spaces")]
    TooBig {
        /// Bytes needed.
        need: u64,
        /// Bytes supported.
        max: u64,
    },
}

fn asm_err(e: IcedError) -> GuestError {
    GuestError::Asm(e.to_string())
}

/// A loop over `rcx` list entries at `rsi`, each `stride` bytes: `body` loads the entry into
/// `rdi` (and `rax`) and stores `rax` at `rdi`; then `out DONE_PORT, al` and `hlt`.
fn list_loop(
    ip: u64,
    stride: i32,
    body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Result<Vec<u8>, GuestError> {
    let mut a = CodeAssembler::new(64).map_err(asm_err)?;
    let mut top = a.create_label();
    a.set_label(&mut top).map_err(asm_err)?;
    body(&mut a).map_err(asm_err)?;
    a.mov(qword_ptr(rdi), rax).map_err(asm_err)?;
    a.add(rsi, stride).map_err(asm_err)?;
    a.dec(rcx).map_err(asm_err)?;
    a.jnz(top).map_err(asm_err)?;
    a.out(i32::from(DONE_PORT), al).map_err(asm_err)?;
    a.hlt().map_err(asm_err)?;
    a.assemble(ip).map_err(asm_err)
}

/// Ring 3: for `rcx` entries of the list at `rsi` (one VA each), read then write the quadword at
/// that VA; then `out DONE_PORT, al`.
pub fn touch_routine(ip: u64) -> Result<Vec<u8>, GuestError> {
    list_loop(ip, 8, |a| {
        a.mov(rdi, qword_ptr(rsi))?;
        a.mov(rax, qword_ptr(rdi))
    })
}

/// Ring 0: for `rcx` entries of the list at `rsi` (address, value pairs), store the value at the
/// address — guest page-table writes, which KVM write-tracks; then `out DONE_PORT, al`.
pub fn store_routine(ip: u64) -> Result<Vec<u8>, GuestError> {
    list_loop(ip, 16, |a| {
        a.mov(rdi, qword_ptr(rsi))?;
        a.mov(rax, qword_ptr(rsi + 8))
    })
}

/// A GDT descriptor's 8 bytes.
fn seg_desc(base: u32, limit: u32, access: u8, flags: u8) -> u64 {
    let limit = u64::from(limit);
    let base = u64::from(base);
    (limit & 0xffff)
        | ((base & 0xff_ffff) << 16)
        | (u64::from(access) << 40)
        | (((limit >> 16) & 0xf) << 48)
        | (u64::from(flags & 0xf) << 52)
        | (((base >> 24) & 0xff) << 56)
}

/// GDT contents: 8 slots (the TSS takes two).
pub fn gdt(tss_base: u64) -> [u64; 8] {
    // access: P | DPL | S | type; flags: G | D/B | L.
    const KCODE: u8 = 0x9b; // P, DPL0, S, execute/read, accessed
    const KDATA: u8 = 0x93; // P, DPL0, S, read/write, accessed
    const UCODE: u8 = 0xfb; // P, DPL3, S, execute/read, accessed
    const UDATA: u8 = 0xf3; // P, DPL3, S, read/write, accessed
    const TSS: u8 = 0x8b; // P, DPL0, busy 64-bit TSS
    const G_L: u8 = 0xa; // 4 KiB granularity, long mode
    const G_DB: u8 = 0xc; // 4 KiB granularity, 32-bit default size
    [
        0,
        seg_desc(0, 0xfffff, KCODE, G_L),
        seg_desc(0, 0xfffff, KDATA, G_DB),
        0,
        seg_desc(0, 0xfffff, UDATA, G_DB),
        seg_desc(0, 0xfffff, UCODE, G_L),
        seg_desc((tss_base & 0xffff_ffff) as u32, TSS_LIMIT, TSS, 0),
        tss_base >> 32,
    ]
}

/// A growable image of page-table pages starting at [`TABLES_GPA`], with a bump allocator.
#[derive(Debug, Clone)]
pub struct PageTables {
    image: Vec<u8>,
    identity_pdpt: u64,
}

impl Default for PageTables {
    fn default() -> Self {
        Self::new()
    }
}

impl PageTables {
    /// An image holding the shared identity map (PDPT + PD of 2 MiB user pages).
    pub fn new() -> Self {
        let mut t = PageTables {
            image: Vec::new(),
            identity_pdpt: 0,
        };
        let pdpt = t.alloc();
        let pd = t.alloc();
        t.set(pdpt, 0, pd | PTE_P | PTE_RW | PTE_U);
        for i in 0..512 {
            t.set(pd, i, (i << 21) | PTE_P | PTE_RW | PTE_U | PTE_PS);
        }
        t.identity_pdpt = pdpt;
        t
    }

    /// Allocate a zeroed table page; returns its gpa.
    pub fn alloc(&mut self) -> u64 {
        let gpa = TABLES_GPA + self.image.len() as u64;
        self.image.resize(self.image.len() + PAGE as usize, 0);
        gpa
    }

    fn off(&self, table: u64, index: u64) -> usize {
        (table - TABLES_GPA + index * 8) as usize
    }

    /// Entry `index` of the table at `table`.
    pub fn get(&self, table: u64, index: u64) -> u64 {
        let o = self.off(table, index);
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.image[o..o + 8]);
        u64::from_le_bytes(b)
    }

    fn set(&mut self, table: u64, index: u64, v: u64) {
        let o = self.off(table, index);
        self.image[o..o + 8].copy_from_slice(&v.to_le_bytes());
    }

    /// A new address space: a PML4 with the identity map in entry 0. Returns the PML4 gpa (CR3).
    pub fn new_space(&mut self) -> u64 {
        let pml4 = self.alloc();
        let id = self.identity_pdpt;
        self.set(pml4, 0, id | PTE_P | PTE_RW | PTE_U);
        pml4
    }

    fn child(&mut self, table: u64, index: u64) -> u64 {
        let e = self.get(table, index);
        if e & PTE_P != 0 {
            return e & PTE_ADDR;
        }
        let t = self.alloc();
        self.set(table, index, t | PTE_P | PTE_RW | PTE_U);
        t
    }

    /// The gpa of the level-1 PTE that maps `va` in the space rooted at `pml4`, creating the
    /// intermediate tables (all with U set).
    pub fn pte_slot(&mut self, pml4: u64, va: u64) -> u64 {
        let pdpt = self.child(pml4, table_index(va, 4));
        let pd = self.child(pdpt, table_index(va, 3));
        let pt = self.child(pd, table_index(va, 2));
        pt + table_index(va, 1) * PTE_BYTES
    }

    /// Map `va` → `gpa` (4 KiB, user, writable, A/D clear) now, in the image.
    pub fn map(&mut self, pml4: u64, va: u64, gpa: u64) -> u64 {
        let slot = self.pte_slot(pml4, va);
        let table = slot & !(PAGE - 1);
        self.set(
            table,
            (slot - table) / 8,
            (gpa & PTE_ADDR) | PTE_P | PTE_RW | PTE_U,
        );
        slot
    }

    /// The image's bytes (to copy to [`TABLES_GPA`]).
    pub fn image(&self) -> &[u8] {
        &self.image
    }

    /// First gpa after the tables.
    pub fn end(&self) -> u64 {
        TABLES_GPA + self.image.len() as u64
    }

    /// Resolve `va` in the space at `pml4` the way the MMU would (for tests).
    #[cfg(test)]
    pub fn translate(&self, pml4: u64, va: u64) -> Option<u64> {
        let mut table = pml4;
        for (level, shift) in [(4, 39u64), (3, 30), (2, 21)] {
            let e = self.get(table, table_index(va, level));
            if e & PTE_P == 0 || e & PTE_U == 0 {
                return None;
            }
            if e & PTE_PS != 0 {
                return Some((e & PTE_ADDR & !((1 << shift) - 1)) | (va & ((1 << shift) - 1)));
            }
            table = e & PTE_ADDR;
        }
        let e = self.get(table, table_index(va, 1));
        (e & PTE_P != 0 && e & PTE_U != 0).then_some((e & PTE_ADDR) | (va & (PAGE - 1)))
    }
}

/// The value a PTE store makes to map `gpa` (user, writable, A/D clear).
pub fn pte_value(gpa: u64) -> u64 {
    (gpa & PTE_ADDR) | PTE_P | PTE_RW | PTE_U
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};

    fn disasm(code: &[u8], ip: u64) -> Vec<String> {
        let mut d = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
        let mut f = IntelFormatter::new();
        let mut out = Vec::new();
        for ins in &mut d {
            let mut s = String::new();
            f.format(&ins, &mut s);
            out.push(s);
        }
        out
    }

    #[test]
    fn routines_disassemble_to_what_they_say() {
        let t = disasm(&touch_routine(CODE_GPA).unwrap(), CODE_GPA);
        assert_eq!(
            t,
            vec![
                "mov rdi,[rsi]",
                "mov rax,[rdi]",
                "mov [rdi],rax",
                "add rsi,8",
                "dec rcx",
                "jne short 0000000000003000h",
                "out 10h,al",
                "hlt"
            ]
        );
        let s = disasm(&store_routine(CODE_GPA + 0x100).unwrap(), CODE_GPA + 0x100);
        assert_eq!(
            s[0..3],
            ["mov rdi,[rsi]", "mov rax,[rsi+8]", "mov [rdi],rax"]
        );
        assert_eq!(s[3], "add rsi,10h");
    }

    #[test]
    fn gdt_has_ring3_long_mode_code() {
        let g = gdt(TSS_GPA);
        let ucode = g[usize::from(SEL_UCODE >> 3)];
        assert_eq!((ucode >> 45) & 3, 3, "DPL 3");
        assert_eq!((ucode >> 53) & 1, 1, "L bit");
        assert_eq!((ucode >> 54) & 1, 0, "D must be 0 with L");
        let tss = g[usize::from(SEL_TSS >> 3)];
        assert_eq!((tss >> 40) & 0xf, 0xb, "busy 64-bit TSS");
        assert_eq!(tss & 0xffff, u64::from(TSS_LIMIT));
        assert_eq!((tss >> 16) & 0xff_ffff, TSS_GPA);
    }

    #[test]
    fn page_tables_map_user_pages_and_identity() {
        let mut t = PageTables::new();
        let a = t.new_space();
        let b = t.new_space();
        let slot = t.map(a, WORK_VA + 5 * PAGE, 0x40_0000);
        t.map(b, WORK_VA, 0x40_0000);
        assert_eq!(t.translate(a, WORK_VA + 5 * PAGE + 8), Some(0x40_0008));
        assert_eq!(t.translate(b, WORK_VA), Some(0x40_0000));
        assert_eq!(t.translate(a, WORK_VA), None, "not mapped in a");
        // Identity map: 2 MiB user pages over the first GiB, shared by both spaces.
        assert_eq!(t.translate(a, CODE_GPA + 3), Some(CODE_GPA + 3));
        assert_eq!(t.translate(b, 0x3fff_f000), Some(0x3fff_f000));
        assert_eq!(t.get(a, 0), t.get(b, 0));
        // The slot is the PTE inside a's level-1 table.
        assert_eq!(slot % 8, 0);
        assert_eq!(
            t.get(slot & !(PAGE - 1), (slot % PAGE) / 8),
            pte_value(0x40_0000)
        );
        assert!(t.end() > TABLES_GPA + 6 * PAGE);
    }
}
