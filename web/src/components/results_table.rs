//! One row per configuration; the best value of each column is marked and KVM today
//! (14 entries, head-insert) is the reference for ratios.

use crate::state::{baseline, work_per_op};
use rmaplab_core::replay::{ConfigReport, StatCheck};
use yew::prelude::*;

/// Props of [`ResultsTable`].
#[derive(Properties, PartialEq, Debug)]
pub struct ResultsTableProps {
    /// The reports, in configuration order.
    pub configs: Vec<ConfigReport>,
    /// KVM's counters against the model.
    pub checks: Vec<StatCheck>,
}

type Col = (&'static str, &'static str, fn(&ConfigReport) -> f64, u8);

/// Columns: header, tooltip, value, decimals. Lower is better for every one.
const COLS: [Col; 14] = [
    (
        "object B",
        "sizeof(struct pte_list_desc)",
        |c| c.desc_bytes as f64,
        0,
    ),
    (
        "peak B",
        "peak bytes of descriptors in lists",
        |c| c.peak_bytes as f64,
        0,
    ),
    (
        "avg B",
        "mean descriptor bytes over the trace",
        |c| c.avg_desc_bytes,
        0,
    ),
    (
        "idle cache B",
        "bytes left idle in vCPU caches at the end",
        |c| c.cache_idle_bytes as f64,
        0,
    ),
    (
        "cache B/vCPU",
        "a full per-vCPU cache: capacity x object size",
        |c| c.cache_bytes_per_vcpu as f64,
        0,
    ),
    (
        "slab allocs",
        "objects the caches pulled from the slab",
        |c| c.slab_allocations as f64,
        0,
    ),
    ("frees", "descriptors freed", |c| c.frees as f64, 0),
    (
        "unused@peak",
        "empty entry slots when descriptors peaked",
        |c| c.unused_slots_at_peak as f64,
        0,
    ),
    (
        "descs/add",
        "descriptors visited per add",
        |c| c.add_cost.descs.mean(),
        2,
    ),
    (
        "descs/remove",
        "descriptors visited per remove",
        |c| c.remove_cost.descs.mean(),
        2,
    ),
    (
        "descs/chain",
        "descriptors a full walk of a multi-entry rmap visits, at the peak",
        |c| c.descs_per_chain_at_peak,
        2,
    ),
    (
        "lines/add",
        "distinct 64-byte cache lines touched per add",
        |c| c.add_cost.lines.mean(),
        2,
    ),
    (
        "lines/remove",
        "distinct 64-byte cache lines touched per remove",
        |c| c.remove_cost.lines.mean(),
        2,
    ),
    (
        "work/op",
        "descriptors visited per list operation",
        work_per_op,
        2,
    ),
];

/// The comparison table.
#[function_component(ResultsTable)]
pub fn results_table(p: &ResultsTableProps) -> Html {
    let base = baseline(&p.configs).map(|b| b.peak_bytes);
    let best: Vec<f64> = COLS
        .iter()
        .map(|(_, _, f, _)| p.configs.iter().map(f).fold(f64::INFINITY, f64::min))
        .collect();
    let bad = p.checks.iter().filter(|c| !c.matches).count();
    html! {
        <section aria-label="results">
            <div class="table-wrap">
            <table class="results">
                <caption>{"Per configuration; "}<mark>{"marked"}</mark>{" = best in column; ratio = peak bytes vs 14/head-insert (KVM today)"}</caption>
                <thead><tr>
                    <th scope="col">{"config"}</th>
                    { for COLS.iter().map(|(h, t, _, _)| html! { <th scope="col" title={*t}>{ *h }</th> }) }
                    <th scope="col" title="peak bytes / peak bytes of 14/head-insert">{"peak ratio"}</th>
                    <th scope="col">{"max rmap"}</th><th scope="col">{"recycles"}</th><th scope="col">{"anomalies"}</th>
                </tr></thead>
                <tbody>
                { for p.configs.iter().map(|c| {
                    let is_base = c.entries == 14 && c.era == rmaplab_core::Era::HeadInsert;
                    html! {
                    <tr class={classes!(is_base.then_some("baseline"))} data-config={c.label.clone()}>
                        <th scope="row">{ &c.label }{ if is_base { " (today)" } else { "" } }</th>
                        { for COLS.iter().zip(&best).map(|((_, _, f, d), b)| {
                            let v = f(c);
                            let text = format!("{v:.prec$}", prec = usize::from(*d));
                            if (v - b).abs() < 1e-9 { html! { <td><mark>{ text }</mark></td> } } else { html! { <td>{ text }</td> } }
                        }) }
                        <td>{ base.filter(|b| *b > 0).map_or("–".to_string(), |b| format!("{:.2}×", c.peak_bytes as f64 / b as f64)) }</td>
                        <td>{ c.max_rmap_size }</td><td>{ c.recycles }</td>
                        <td class={classes!((c.anomalies > 0).then_some("warn"))}>{ c.anomalies }</td>
                    </tr>
                }}) }
                </tbody>
            </table>
            </div>
            if !p.checks.is_empty() {
                <p class={classes!("checks", (bad > 0).then_some("warn"))} role="status">
                    { if bad == 0 {
                        format!("The replay reproduces all {} of KVM's own counters recorded in the trace.", p.checks.len())
                    } else {
                        format!("{bad} of {} KVM counters are NOT reproduced: ", p.checks.len())
                    } }
                    { for p.checks.iter().filter(|c| !c.matches).take(5).map(|c| html! {
                        <span>{ format!("{} at event {}: KVM {} vs model {}; ", c.name, c.event, c.kvm, c.model) }</span>
                    }) }
                </p>
            }
        </section>
    }
}
