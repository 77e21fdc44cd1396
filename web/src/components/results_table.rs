//! One row per configuration, with KVM today (14, head-insert) as the reference for ratios.

use rmaplab_core::replay::ConfigReport;
use yew::prelude::*;

/// Props of [`ResultsTable`].
#[derive(Properties, PartialEq)]
pub struct ResultsTableProps {
    /// The reports, in configuration order.
    pub configs: Vec<ConfigReport>,
}

/// The comparison table.
#[function_component(ResultsTable)]
pub fn results_table(p: &ResultsTableProps) -> Html {
    let base = p
        .configs
        .iter()
        .find(|c| c.entries == 14 && c.era == rmaplab_core::Era::HeadInsert)
        .map(|c| c.peak_bytes);
    let ratio = |v: u64| match base {
        Some(b) if b > 0 => format!("{:.2}×", v as f64 / b as f64),
        _ => "–".into(),
    };
    html! {
        <table class="results">
            <thead><tr>
                <th>{"config"}</th><th>{"object B"}</th><th>{"peak descriptor B"}</th><th>{"vs 14/head-insert"}</th>
                <th>{"avg B"}</th><th>{"slab allocs"}</th><th>{"frees"}</th><th>{"unused slots @peak"}</th>
                <th>{"cache B / vCPU"}</th><th>{"descs / add"}</th><th>{"descs / remove"}</th>
                <th>{"lines / add"}</th><th>{"max rmap"}</th><th>{"recycles"}</th><th>{"anomalies"}</th>
            </tr></thead>
            <tbody>
            { for p.configs.iter().map(|c| html! {
                <tr>
                    <td>{ &c.label }</td>
                    <td>{ c.desc_bytes }</td>
                    <td>{ c.peak_bytes }</td>
                    <td>{ ratio(c.peak_bytes) }</td>
                    <td>{ format!("{:.0}", c.avg_desc_bytes) }</td>
                    <td>{ c.slab_allocations }</td>
                    <td>{ c.frees }</td>
                    <td>{ c.unused_slots_at_peak }</td>
                    <td>{ c.cache_bytes_per_vcpu }</td>
                    <td>{ format!("{:.2}", c.add_cost.descs.mean()) }</td>
                    <td>{ format!("{:.2}", c.remove_cost.descs.mean()) }</td>
                    <td>{ format!("{:.2}", c.add_cost.lines.mean()) }</td>
                    <td>{ c.max_rmap_size }</td>
                    <td>{ c.recycles }</td>
                    <td>{ c.anomalies }</td>
                </tr>
            }) }
            </tbody>
        </table>
    }
}
