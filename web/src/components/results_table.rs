//! One row per configuration, columns from core's metric registry; the best value of each
//! column is marked and KVM today (14 entries, head-insert) is the reference for the ratio.

use rmaplab_core::columns::{best_values, Better, Role, Row, METRICS};
use rmaplab_core::config::PTE_LIST_EXT;
use rmaplab_core::memory::HostShape;
use rmaplab_core::replay::{ConfigReport, StatCheck};
use yew::prelude::*;

/// Props of [`ResultsTable`].
#[derive(Properties, PartialEq, Debug)]
pub struct ResultsTableProps {
    /// The reports, in configuration order.
    pub configs: std::rc::Rc<Vec<ConfigReport>>,
    /// KVM's counters against the model.
    pub checks: Vec<StatCheck>,
    /// The host the memory columns are for.
    pub host: HostShape,
    /// The recommended configuration's label (its row is marked).
    #[prop_or_default]
    pub recommended: Option<String>,
}

/// The comparison table.
#[function_component(ResultsTable)]
pub fn results_table(p: &ResultsTableProps) -> Html {
    let today_peak = rmaplab_core::recommend::kvm_today_row(&p.configs).map(|b| b.peak_bytes);
    let best = best_values(&p.configs, p.host);
    // The registry's table columns after the label, with their best value.
    let cols: Vec<(usize, &rmaplab_core::columns::Metric)> = METRICS
        .iter()
        .enumerate()
        .filter(|(_, m)| m.in_table && m.role != Role::Label)
        .collect();
    let bad = p.checks.iter().filter(|c| !c.matches).count();
    html! {
        <section aria-label="results">
            <div class="table-wrap">
            <table class="results">
                <caption>{ format!("Per configuration, memory for {} vCPUs per VM and {} per host; ", p.host.vcpus, if p.host.vms == 1 { "1 VM".to_string() } else { format!("{} VMs", p.host.vms) }) }<mark>{"marked"}</mark>{ format!(" = best in column; peak ratio = peak bytes vs KVM today ({PTE_LIST_EXT}/head-insert). Hover a header for its meaning.") }</caption>
                <thead><tr>
                    <th scope="col" class="sticky">{"config"}</th>
                    { for cols.iter().map(|(_, m)| {
                        let unit = m.unit.name();
                        let title = if unit.is_empty() { m.doc.to_string() } else { format!("{} ({unit})", m.doc) };
                        html! { <th scope="col" title={title} data-key={m.key}>{ m.header }</th> }
                    }) }
                    <th scope="col" title={format!("peak bytes / peak bytes of {PTE_LIST_EXT}/head-insert")}>{"peak ratio"}</th>
                </tr></thead>
                <tbody>
                { for p.configs.iter().map(|c| {
                    let is_today = rmaplab_core::recommend::is_kvm_today(c, rmaplab_core::Era::HeadInsert);
                    let row = Row::new(c, p.host);
                    let is_rec = p.recommended.as_deref() == Some(c.label.as_str());
                    html! {
                    <tr class={classes!(is_today.then_some("today"), is_rec.then_some("recommended"))} data-config={c.label.clone()}>
                        <th scope="row" class="sticky">{ &c.label }{ if is_today { " (today)" } else { "" } }{ if is_rec { " (recommended)" } else { "" } }</th>
                        { for cols.iter().map(|(i, m)| {
                            let v = m.value(&row);
                            let text = m.marked(&row, &m.format_grouped(&v));
                            let is_best = m.better == Better::Lower
                                && m.may_be_best(&row)
                                && matches!((v.as_f64(), best[*i]), (Some(x), Some(b)) if (x - b).abs() < 1e-9);
                            let warn = m.warns_at(&v);
                            html! { <td data-key={m.key} class={classes!(warn.then_some("warn"))}>{ if is_best { html! { <mark>{ text }</mark> } } else { html! { text } } }</td> }
                        }) }
                        <td>{ today_peak.filter(|b| *b > 0).map_or("–".to_string(), |b| format!("{:.2}×", c.peak_bytes as f64 / b as f64)) }</td>
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
