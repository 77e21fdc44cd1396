//! Bring-your-own capture: every kvmmmu capture a KVM developer already makes — tracefs text,
//! `trace-cmd report` (default, `-R`, `-N`, `-l`, `--ts-diff`), `perf script`, `trace.dat`
//! (v6/v7, compressed), `perf.data`, and `.gz` / `.zst` compressed text — parsed into typed
//! [`record::Record`]s, put in time order, split by VM, and turned into rmaplab events by the
//! one inference engine ([`infer`]). A capture that cannot be turned into numbers rmaplab can
//! stand behind is refused with an [`ImportError`] that says what to record instead.

pub mod compress;
pub mod format;
pub mod infer;
pub mod perf_records;
pub mod perfdata;
pub mod record;
pub mod report;
pub mod ringbuf;
pub mod stream;
pub mod text;
pub mod text_stream;
pub mod tracedat;
mod vms;

pub use report::{ImportReport, LostAt, VmInfo};
pub use stream::{import_all, CaptureStream};

use crate::config::RMAP_RECYCLE_THRESHOLD;
use serde::{Deserialize, Serialize};

/// Longest text line accepted.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Lost-event places listed in a report (the total is always counted).
const MAX_LOST_LISTED: usize = 16;
/// Key of the import report in a trace's metadata.
pub const META_KEY: &str = "import";

/// What to record instead, for refusals.
pub const HOW_TO_RECORD: &str = "record the kvmmmu events kvm_mmu_set_spte, kvm_mmu_get_page and kvm_mmu_prepare_zap_page of every vCPU thread, e.g. `trace-cmd record -e kvmmmu` (then give rmaplab the trace.dat, or `trace-cmd report -R` text), `perf record -e 'kvmmmu:*'` (the perf.data or `perf script` text), or `rmaplab collect --pid PID`; `trace-cmd record -P PID` follows one thread only: list every vCPU thread with -P each";

/// Why a capture was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// `trace-cmd report`'s default output: libtraceevent's kvm plugin drops the gfn of zapped
    /// shadow pages, so removals cannot be inferred.
    #[error("line {line}: {error}. This is `trace-cmd report` output formatted by libtraceevent's kvm plugin, which drops what rmaplab needs to infer removals; refusing rather than reporting wrong numbers. Give rmaplab the trace.dat itself, or `trace-cmd report -R` (raw fields), or the kernel's own text (`trace-cmd show`, tracefs `trace`)")]
    PluginForm {
        /// 1-based line.
        line: u64,
        /// The line's problem.
        error: text::LineError,
    },
    /// A kvmmmu line whose fields could not be read.
    #[error("line {line}: {error}")]
    BadLine {
        /// 1-based line.
        line: u64,
        /// The line's problem.
        error: text::LineError,
    },
    /// Text that is not UTF-8.
    #[error("line {line}: not UTF-8 text; kvmmmu text is ASCII")]
    NotUtf8 {
        /// 1-based line.
        line: u64,
    },
    /// A line longer than [`MAX_LINE_BYTES`].
    #[error("line {line}: longer than {MAX_LINE_BYTES} bytes: not kvmmmu text")]
    LineTooLong {
        /// 1-based line.
        line: u64,
    },
    /// trace.dat could not be read.
    #[error("{0}")]
    TraceDat(tracedat::TraceDatError),
    /// perf.data could not be read.
    #[error("{0}")]
    PerfData(perfdata::PerfDataError),
    /// Compressed input could not be decompressed.
    #[error("{0}")]
    Compress(#[from] compress::CompressError),
    /// No kvmmmu events at all.
    #[error("the {format} holds no kvmmmu events ({lines} lines/records read): {HOW_TO_RECORD}")]
    NoKvmmmu {
        /// The capture's format.
        format: String,
        /// What was read.
        lines: u64,
    },
    /// kvmmmu events, but no `kvm_mmu_set_spte` became an add.
    #[error("the {format} has {set_spte} kvm_mmu_set_spte events but none could be used as an rmap add ({other} other kvmmmu events): {HOW_TO_RECORD}")]
    NoAdds {
        /// The capture's format.
        format: String,
        /// set_spte records seen.
        set_spte: u64,
        /// Other kvmmmu records.
        other: u64,
    },
    /// The capture lacks the events removals are inferred from.
    #[error("the {format} has kvm_mmu_set_spte but no kvm_mmu_get_page / kvm_mmu_prepare_zap_page events, so no removal can be inferred and every number would be inflated: {HOW_TO_RECORD}")]
    NoShadowPages {
        /// The capture's format.
        format: String,
    },
    /// `--vm` named a process that is not in the capture.
    #[error("--vm {vm}: no VM with that process or thread id in the capture; VMs found: {found}")]
    NoSuchVm {
        /// Requested id.
        vm: u64,
        /// What the capture has.
        found: String,
    },
    /// Reading the capture failed.
    #[error("cannot read the capture: {0}")]
    Read(String),
    /// The front-end stopped the import (Ctrl-C, Cancel).
    #[error("stopped")]
    Stopped,
    /// Text whose timestamps step back too often to be merged in bounded memory.
    #[error("the text's timestamps step back {runs} times (more than {max} runs in time order): rmaplab merges per-CPU blocks but not text in no order; write it in time order (`trace-cmd report` without --cpu, `perf script`, tracefs `trace`), or give rmaplab the trace.dat / perf.data itself", max = text_stream::MAX_RUNS)]
    Unordered {
        /// Runs in time order found.
        runs: usize,
    },
    /// More VMs than rmap ids can keep apart.
    #[error("the capture holds {0} VMs; rmaplab keeps at most {max} apart: pick one with --vm", max = infer::MAX_VMS)]
    TooManyVms(usize),
}

/// How an import proceeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportOptions {
    /// `RMAP_RECYCLE_THRESHOLD` applied to the engine's own state.
    pub recycle_threshold: Option<u64>,
    /// Keep only this VM: a VMM process id (tgid) or any of its vCPU thread ids.
    pub vm: Option<u64>,
    /// Treat every task as one VM (no VM separation).
    pub one_vm: bool,
    /// Keep sptep physical addresses as SPTE ids.
    pub raw_addresses: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            recycle_threshold: Some(RMAP_RECYCLE_THRESHOLD),
            vm: None,
            one_vm: false,
            raw_addresses: false,
        }
    }
}

impl From<tracedat::TraceDatError> for ImportError {
    fn from(e: tracedat::TraceDatError) -> Self {
        match e {
            tracedat::TraceDatError::Stopped => ImportError::Stopped,
            e => ImportError::TraceDat(e),
        }
    }
}

impl From<perfdata::PerfDataError> for ImportError {
    fn from(e: perfdata::PerfDataError) -> Self {
        match e {
            perfdata::PerfDataError::Stopped => ImportError::Stopped,
            e => ImportError::PerfData(e),
        }
    }
}

/// Which capture a [`CaptureStream`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaptureFormat {
    /// Any of the text forms ([`text`]).
    Text,
    /// trace-cmd's trace.dat.
    TraceDat,
    /// perf.data.
    PerfData,
}
