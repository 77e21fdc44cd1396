//! Where the loaded trace came from, and what its producer inferred.

use rmaplab_core::TraceMeta;
use yew::prelude::*;

/// Props of [`Provenance`].
#[derive(Properties, PartialEq, Debug)]
pub struct ProvenanceProps {
    /// The trace's metadata.
    pub meta: TraceMeta,
    /// Events in the trace.
    pub events: u64,
    /// Notes from the replay.
    pub notes: Vec<String>,
}

/// A paragraph about the trace.
#[function_component(Provenance)]
pub fn provenance(p: &ProvenanceProps) -> Html {
    let m = &p.meta;
    let synthetic = m.source.as_deref() == Some("synthetic");
    html! {
        <section class="provenance" aria-label="provenance">
            <p>
                if synthetic { <strong class="badge">{"synthetic trace"}</strong>{" "} }
                { format!("{} events", p.events) }
                if let Some(src) = &m.source { {format!(" from {src}")} }
                if let Some(w) = &m.workload { {format!(" — {w}")} }
                if let Some(k) = &m.kernel { {format!("; kernel {k}")} }
                if let Some(v) = &m.vendor_module { {format!(", {v}")} }
                if let Some(t) = m.tdp { {format!(", TDP {}", if t { "on" } else { "off" })} }
                if let Some(v) = m.vcpus { {format!(", {v} vCPUs")} }
            </p>
            if !m.inferred.is_empty() || !p.notes.is_empty() {
                <details>
                    <summary>{"What was inferred, and replay notes"}</summary>
                    <ul>
                        { for m.inferred.iter().map(|n| html! { <li>{ n }</li> }) }
                        { for p.notes.iter().map(|n| html! { <li>{ n }</li> }) }
                    </ul>
                </details>
            }
        </section>
    }
}
