//! Where the loaded trace came from.

use rmaplab_core::TraceMeta;
use yew::prelude::*;

/// Props of [`Provenance`].
#[derive(Properties, PartialEq)]
pub struct ProvenanceProps {
    /// The trace's metadata.
    pub meta: TraceMeta,
    /// Events in the trace.
    pub events: u64,
}

/// A one-paragraph description of the trace.
#[function_component(Provenance)]
pub fn provenance(p: &ProvenanceProps) -> Html {
    let m = &p.meta;
    let synthetic = m.source.as_deref() == Some("synthetic");
    html! {
        <p class="provenance">
            if synthetic { <strong class="badge">{"synthetic trace"}</strong>{" "} }
            { format!("{} events", p.events) }
            if let Some(src) = &m.source { {format!(" from {src}")} }
            if let Some(w) = &m.workload { {format!(" — {w}")} }
            if let Some(k) = &m.kernel { {format!("; kernel {k}")} }
            if let Some(v) = &m.vendor_module { {format!("; {v}")} }
            if let Some(t) = &m.tool { {format!("; written by {t}")} }
        </p>
    }
}
