//! The ids a trace names things by. Each is its own type, so an rmap id cannot be passed where
//! an SPTE id or a vCPU is wanted, nor mistaken for the model's dense
//! [`RmapIndex`](crate::rmap::RmapIndex) or [`DescIndex`](crate::rmap::DescIndex). All are
//! serde-transparent: the trace formats carry plain numbers.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A trace's rmap id: opaque, names one `struct kvm_rmap_head` (a gfn's rmap at one level, or
/// a shadow page's `parent_ptes`) for the whole trace. rmaplab's own collector and generator
/// use the gfn for 4K gfn rmaps.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct RmapId(pub u64);

/// A trace's SPTE id: opaque, stands for the kernel's `sptep` (the address of the shadow PTE),
/// which is what `pte_list_add` stores. Never 0 in a list (the kernel's `NULL`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct SpteId(pub u64);

/// A vCPU, by its index in the VM (`vcpu->vcpu_idx`): whose memory caches an operation uses.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct VcpuId(pub u32);

/// Ids print as their plain number, and as hex under `{:x}` / `{:#x}`; they parse from a
/// plain decimal number.
macro_rules! plain_number {
    ($id:ident) => {
        impl std::str::FromStr for $id {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($id)
            }
        }

        impl fmt::Display for $id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::LowerHex for $id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::LowerHex::fmt(&self.0, f)
            }
        }
    };
}

plain_number!(RmapId);
plain_number!(SpteId);
plain_number!(VcpuId);
