//! Memory per VM as the vCPU count grows: lists at the trace's peak plus every vCPU's full cache
//! plus the split cache, in slab pages, one line per configuration — where the seed's per-vCPU
//! saving starts to matter.

use super::chart::{axis_titles, bytes, styles, ticks, B, H, L, W};
use rmaplab_core::memory::{Footprint, HostShape};
use rmaplab_core::replay::ConfigReport;
use yew::prelude::*;

/// Props of [`VcpusChart`].
#[derive(Properties, PartialEq, Debug)]
pub struct VcpusChartProps {
    /// Reports.
    pub configs: Vec<ConfigReport>,
    /// The page's host (its vCPU count is marked).
    pub host: HostShape,
}

/// vCPU counts drawn: powers of two up to at least 64 and past the page's count.
pub fn vcpu_steps(current: u64) -> Vec<u64> {
    let top = current.max(64).next_power_of_two();
    std::iter::successors(Some(1u64), |v| (*v < top).then_some(v * 2)).collect()
}

/// The chart.
#[function_component(VcpusChart)]
pub fn vcpus_chart(p: &VcpusChartProps) -> Html {
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
    let yt = ticks(max_y, 4);
    let top = yt.last().copied().unwrap_or(1.0).max(1.0);
    // log2 x axis.
    let last = steps.len().saturating_sub(1).max(1) as f64;
    let x = |v: u64| L + (v as f64).log2() / last * (W - L - 20.0);
    let y = |v: f64| H - B - v / top * (H - B - 10.0);
    let st = styles(&p.configs);
    html! {
        <figure class="chart">
            <figcaption>{"Slab memory per VM as vCPUs grow (each vCPU keeps a full cache); the dotted line marks the page's vCPU count"}</figcaption>
            <svg viewBox={format!("0 0 {W} {H}")} role="img" aria-label="memory per VM versus vCPUs">
                { for yt.iter().map(|t| html! { <g><line x1={L.to_string()} x2={(W - 20.0).to_string()} y1={y(*t).to_string()} y2={y(*t).to_string()} class="grid" />
                    <text x={(L - 6.0).to_string()} y={(y(*t) + 4.0).to_string()} text-anchor="end">{ bytes(*t) }</text></g> }) }
                { for steps.iter().map(|v| html! { <text x={x(*v).to_string()} y={(H - B + 16.0).to_string()} text-anchor="middle">{ v.to_string() }</text> }) }
                <line x1={x(p.host.vcpus).to_string()} x2={x(p.host.vcpus).to_string()} y1="10" y2={(H - B).to_string()} class="marker" />
                { axis_titles(H, "vCPUs per VM (log scale)", "bytes per VM (4 KiB slab pages)") }
                { for p.configs.iter().zip(&series).enumerate().map(|(i, (c, s))| {
                    let pts: Vec<String> = s.iter().map(|(v, b)| format!("{:.1},{:.1}", x(*v), y(*b))).collect();
                    html! { <polyline points={pts.join(" ")} fill="none" stroke={st[i].0} stroke-dasharray={st[i].1} stroke-width="1.8"><title>{ format!("{}: {} per VM at {} vCPUs", c.label, bytes(s.last().map_or(0.0, |p| p.1)), s.last().map_or(0, |p| p.0)) }</title></polyline> }
                }) }
            </svg>
            <ul class="legend">{ for p.configs.iter().enumerate().map(|(i, c)| html! {
                <li><svg class="swatch" viewBox="0 0 24 8" aria-hidden="true"><line x1="0" x2="24" y1="4" y2="4" stroke={st[i].0} stroke-dasharray={st[i].1} stroke-width="3" /></svg>{ c.label.clone() }</li>
            }) }</ul>
        </figure>
    }
}
