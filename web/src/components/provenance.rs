//! Where the loaded trace came from, and what its producer inferred.

use super::field::target_value;
use rmaplab_core::import::ImportReport;
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
    /// The VM kept from a multi-VM capture (`None` = all).
    #[prop_or_default]
    pub vm: Option<u64>,
    /// The user picked a VM (`None` = all).
    #[prop_or_default]
    pub on_vm: Callback<Option<u64>>,
}

/// A paragraph about the trace.
#[function_component(Provenance)]
pub fn provenance(p: &ProvenanceProps) -> Html {
    let m = &p.meta;
    let synthetic = m.source.as_deref() == Some("synthetic");
    let import = ImportReport::from_meta(m);
    let lost = import.as_ref().map_or(0, |r| r.lost_events);
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
            if lost > 0 {
                <p class="lost-warning" role="status">
                    { format!("This capture lost {lost} events: every figure below is a bound, not exact. Record again with a larger buffer (trace-cmd record -b, perf record -m).") }
                </p>
            }
            if let Some(r) = &import {
                <details class="import-report" open={lost > 0 || r.vms.len() > 1}>
                    <summary>{ format!("Import report: {} — {} VM{}", r.format, r.vms.len(), if r.vms.len() == 1 { "" } else { "s" }) }</summary>
                    <pre>{ r.summary_lines().join("\n") }</pre>
                </details>
                if r.vms.len() > 1 || p.vm.is_some() {
                    <label for="vm">{"VM: "}</label>
                    <select id="vm" onchange={
                        let cb = p.on_vm.clone();
                        Callback::from(move |e: Event| {
                            let v = target_value(&e);
                            cb.emit(v.and_then(|v| v.parse().ok()));
                        })
                    }>
                        <option value="" selected={p.vm.is_none()}>{ format!("all {} VMs (host-wide)", r.vms.len()) }</option>
                        { for r.vms.iter().map(|v| {
                            let id = v.tgid.or_else(|| v.tids.first().copied()).unwrap_or(0);
                            let who = v.tgid.map_or_else(|| format!("threads {:?}", v.tids), |t| format!("pid {t}"));
                            html! {
                                <option value={id.to_string()} selected={p.vm == Some(id) || (p.vm.is_some() && v.tids.contains(&p.vm.unwrap_or(0)))}>
                                    { format!("VM {}: {who}, {} vCPUs, max_mmu_rmap_size {}", v.index, v.vcpus, v.max_rmap_size) }
                                </option>
                            }
                        }) }
                    </select>
                }
            }
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
