//! rmaplab-core: an exact, platform-free model of KVM's shadow-MMU reverse maps.
//!
//! KVM (arch/x86/kvm/mmu/mmu.c) keeps, for every guest frame and page size, the list of shadow
//! PTEs mapping it: an *rmap*, whose head word is empty, a single SPTE pointer, or a tagged pointer
//! to a chain of `struct pte_list_desc`. This crate mirrors that code operation for operation for
//! every kernel era and any array size ([`rmap`]), defines the rmaplab trace format ([`trace`]),
//! and replays a trace through many configurations in one streaming pass ([`replay`]).
//!
//! The crate does no I/O, reads no clock and starts no threads: it takes bytes and events and
//! returns serde-able values, so the same code runs natively and in the browser.
#![forbid(unsafe_code)]

pub mod baseline;
pub mod changelog;
pub mod columns;
pub mod compare;
pub mod config;
pub mod exactness;
pub mod gen;
pub mod histogram;
pub mod import;
pub mod input;
pub mod memory;
pub mod metrics;
mod named;
pub mod paging;
pub mod recommend;
pub mod replay;
pub mod rmap;
pub mod sha256;
pub mod sizes;
pub mod trace;
pub mod workload;

pub use config::{ConfigError, Era, ModelConfig};
pub use replay::{ConfigReport, Replayer};
pub use trace::{Event, EventKind, RmapKind, TraceMeta};
