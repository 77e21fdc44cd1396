//! Typed kvmmmu records: what every capture format is parsed into before any interpretation.
//!
//! A parser (ftrace text, `trace-cmd report`, `perf script`, trace.dat, perf.data, the
//! collector's ring-buffer pages) produces [`Record`]s; the inference engine
//! ([`super::infer`]) takes only these values.

use serde::{Deserialize, Serialize};

/// `kvm_mmu_page_role.level` (bits 0–3), the same in every kernel era since v3.x.
pub const ROLE_LEVEL_MASK: u32 = 0xf;
/// `kvm_mmu_page_role.direct` (bit 7; `level:4, has_4_byte_gpte (was cr4_pae):1, quadrant:2,
/// direct:1` since v3.x).
pub const ROLE_DIRECT: u32 = 1 << 7;
/// `kvm_mmu_page_role.invalid` (bit 11 since v5.x): set when a page is zapped, so it is not part
/// of the page's identity.
pub const ROLE_INVALID: u32 = 1 << 11;

/// A shadow page's identity as the tracepoints report it (`kvm_mmu_get_page`,
/// `kvm_mmu_prepare_zap_page`): its gfn and role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShadowPage {
    /// `sp->gfn`.
    pub gfn: u64,
    /// `role.level` (1 = 4K).
    pub level: u8,
    /// `role.direct`: the page maps a guest large page split by KVM, not a guest page table.
    pub direct: bool,
    /// The role as an identity: the role word without `invalid` where the capture carries the
    /// word (raw fields, binary formats), or a stable hash of the decoded role tokens where it
    /// carries only the kernel's printed form. Compared for equality within one capture only.
    pub role: u64,
}

impl ShadowPage {
    /// From the raw `role` word of the tracepoint.
    pub fn from_role_word(gfn: u64, role: u32) -> Self {
        ShadowPage {
            gfn,
            level: (role & ROLE_LEVEL_MASK) as u8,
            direct: role & ROLE_DIRECT != 0,
            role: u64::from(role & !ROLE_INVALID),
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordKind {
    /// `kvm_mmu_set_spte`: `spte` installed at the SPTE whose physical address is `sptep`.
    SetSpte {
        /// Guest frame.
        gfn: u64,
        /// New SPTE value.
        spte: u64,
        /// Mapping level (1 = 4K).
        level: u8,
        /// Physical address of the SPTE.
        sptep: u64,
    },
    /// `kvm_mmu_get_page`.
    GetPage {
        /// The page.
        sp: ShadowPage,
    },
    /// `kvm_mmu_prepare_zap_page`.
    ZapPage {
        /// The page.
        sp: ShadowPage,
    },
    /// `kvm_mmu_pagetable_walk`: a guest page fault with this error code (if known).
    Walk {
        /// The page-fault error code.
        pferr: Option<u64>,
    },
    /// A `trace_marker` write.
    Mark(String),
    /// The capture says this many events were lost here (a ring-buffer page's missed count,
    /// `[LOST n EVENTS]`, `[n EVENTS DROPPED]`, `PERF_RECORD_LOST`).
    Lost(u64),
}

/// The task an event ran on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Task {
    /// Thread id (`common_pid`).
    pub tid: u64,
    /// Thread-group id (the VMM process), where the capture records it.
    pub tgid: Option<u64>,
}

/// One kvmmmu event from a capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Timestamp in nanoseconds (the capture's clock), if the capture has one.
    pub ts: Option<u64>,
    /// CPU that recorded it, where known.
    pub cpu: Option<u32>,
    /// The task.
    pub task: Task,
    /// What happened.
    pub kind: RecordKind,
}
