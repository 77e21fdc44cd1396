//! The metadata every collected trace starts from (both `collect` and attach mode).

use super::host::{kernel_release, vendor_module};
use rmaplab_core::import::infer::inferred_rules;
use rmaplab_core::trace::{KvmParams, TraceMeta};

/// Metadata of a trace recorded on this host from `source`, by the `collect` mode `mode`
/// (e.g. `collect`, `collect --pid`): provenance, the host's kernel and its list parameters,
/// the inference rules, whether addresses were anonymised.
pub fn host_meta(source: &str, mode: &str, raw_addresses: bool) -> TraceMeta {
    let kernel = kernel_release();
    TraceMeta {
        source: Some(source.to_string()),
        tool: Some(format!("rmaplab {} {mode}", env!("CARGO_PKG_VERSION"))),
        inferred: inferred_rules(),
        anonymised: Some(!raw_addresses),
        kvm: kernel.as_deref().and_then(KvmParams::for_kernel_release),
        kernel,
        vendor_module: vendor_module(),
        fault_events: Some(true),
        ..TraceMeta::default()
    }
}
