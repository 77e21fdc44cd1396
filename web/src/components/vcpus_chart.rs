//! Memory per VM as the vCPU count grows: lists at the trace's peak plus every vCPU's full cache
//! plus the split cache, in slab pages, one line per configuration — where the seed's per-vCPU
//! saving starts to matter. Drawn at its on-screen width; the page's vCPU count is marked.

use super::chart::{
    byte_ticks, bytes, draw_order, roles, styles, use_width, values_table, Frame, Role,
};
use rmaplab_core::memory::{Footprint, HostShape};
use rmaplab_core::replay::ConfigReport;
use yew::prelude::*;

/// Props of [`VcpusChart`].
#[derive(Properties, PartialEq, Debug)]
pub struct VcpusChartProps {
    /// Reports.
    pub configs: std::rc::Rc<Vec<ConfigReport>>,
    /// The page's host (its vCPU count is marked).
    pub host: HostShape,
    /// The recommended configuration's label, when there is one.
    #[prop_or_default]
    pub recommended: Option<String>,
}

/// vCPU counts drawn: powers of two up to at least 64 and past the page's count.
pub fn vcpu_steps(current: u64) -> Vec<u64> {
    let top = current.max(64).next_power_of_two();
    std::iter::successors(Some(1u64), |v| (*v < top).then_some(v * 2)).collect()
}

/// Height of the chart.
const H: f64 = 300.0;

/// The chart.
#[function_component(VcpusChart)]
pub fn vcpus_chart(p: &VcpusChartProps) -> Html {
    let node = use_node_ref();
    let w = use_width(node.clone());
    let steps = vcpu_steps(p.host.vcpus);
    let series: Vec<Vec<(u64, f64)>> = p
        .configs
        .iter()
        .map(|c| {
            steps
                .iter()
                .map(|&v| {
                    let host = HostShape { vcpus: v, ..p.host };
                    (v, Footprint::of(c, host).vm_slab_bytes as f64)
                })
                .collect()
        })
        .collect();
    let max_y = series.iter().flatten().map(|p| p.1).fold(0.0, f64::max);
    let yt = byte_ticks(max_y, 4);
    let top = yt.last().copied().unwrap_or(1.0).max(1.0);
    let y_labels: Vec<String> = yt.iter().map(|t| bytes(*t)).collect();
    let last_step = steps.last().copied().unwrap_or(1);
    let f = Frame::new(w, H, &y_labels, &last_step.to_string());
    // A log2 x axis: position i of the steps.
    let last = steps.len().saturating_sub(1).max(1) as f64;
    let x = |v: u64| f.x((v as f64).log2(), last);
    let st = styles(&p.configs);
    let roles = roles(&p.configs, p.recommended.as_deref());
    // Drawn in order of importance, so the recommended line is on top.
    let order = draw_order(&roles);
    let at_page = |c: &ConfigReport| Footprint::of(c, p.host).vm_slab_bytes as f64;
    let head = format!("per VM at {} vCPUs", p.host.vcpus);
    let head_last = format!("per VM at {last_step} vCPUs");
    let rows = p
        .configs
        .iter()
        .zip(&series)
        .zip(&roles)
        .map(|((c, s), r)| {
            vec![
                format!("{}{}", c.label, r.suffix()),
                bytes(at_page(c)),
                bytes(s.last().map_or(0.0, |p| p.1)),
            ]
        })
        .collect();
    html! {
        <figure class="chart">
            <figcaption>{"Slab memory per VM as vCPUs grow (each vCPU keeps a full cache); the dotted line marks the page's vCPU count"}</figcaption>
            <div class="plot" ref={node}>
            <svg viewBox={f.view_box()} role="img" aria-label="memory per VM versus vCPUs">
                { f.y_axis(&yt, top, bytes) }
                { for steps.iter().map(|v| html! { <text x={x(*v).to_string()} y={f.x_label_y().to_string()} text-anchor="middle">{ v.to_string() }</text> }) }
                <line x1={x(p.host.vcpus).to_string()} x2={x(p.host.vcpus).to_string()} y1={f.top.to_string()} y2={f.bottom.to_string()} class="marker" />
                { f.titles("vCPUs per VM (log scale)", "bytes per VM (4 KiB slab pages)") }
                { for order.iter().map(|&i| {
                    let (c, s) = (&p.configs[i], &series[i]);
                    let pts: Vec<String> = s.iter().map(|(v, b)| format!("{:.1},{:.1}", x(*v), f.y(*b, top))).collect();
                    html! { <polyline points={pts.join(" ")} fill="none" stroke={st[i].0} stroke-dasharray={st[i].1} stroke-width={roles[i].stroke()}><title>{ format!("{}{}: {} per VM at {} vCPUs", c.label, roles[i].suffix(), bytes(s.last().map_or(0.0, |p| p.1)), s.last().map_or(0, |p| p.0)) }</title></polyline> }
                }) }
            </svg>
            </div>
            <ul class="legend">{ for p.configs.iter().enumerate().map(|(i, c)| html! {
                <li class={classes!((roles[i] == Role::Recommended).then_some("recommended"))}><svg class="swatch" viewBox="0 0 24 8" aria-hidden="true"><line x1="0" x2="24" y1="4" y2="4" stroke={st[i].0} stroke-dasharray={st[i].1} stroke-width="3" /></svg>{ format!("{}{}", c.label, roles[i].suffix()) }</li>
            }) }</ul>
            { values_table("Memory per VM", &["configuration", head.as_str(), head_last.as_str()], rows) }
        </figure>
    }
}
