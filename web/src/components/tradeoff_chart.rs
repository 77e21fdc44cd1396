//! Memory vs work: slab memory per VM (at the page's vCPU count) against descriptors visited per
//! list operation, with the Pareto front drawn through the configurations nothing beats on both.

use super::chart::{axis_titles, bytes, styles, ticks, B, H, L, W};
use rmaplab_core::memory::{Footprint, HostShape};
use rmaplab_core::recommend::{pareto_front, work_per_op};
use rmaplab_core::replay::ConfigReport;
use yew::prelude::*;

/// Props of [`TradeoffChart`].
#[derive(Properties, PartialEq, Debug)]
pub struct TradeoffChartProps {
    /// Reports.
    pub configs: Vec<ConfigReport>,
    /// The host the memory is for.
    pub host: HostShape,
}

/// The chart.
#[function_component(TradeoffChart)]
pub fn tradeoff_chart(p: &TradeoffChartProps) -> Html {
    let xs: Vec<f64> = p
        .configs
        .iter()
        .map(|c| Footprint::of(c, p.host).vm_slab_bytes as f64)
        .collect();
    let ys: Vec<f64> = p.configs.iter().map(work_per_op).collect();
    let xt = ticks(xs.iter().copied().fold(0.0, f64::max), 4);
    let yt = ticks(ys.iter().copied().fold(0.0, f64::max), 4);
    let (xm, ym) = (
        xt.last().copied().unwrap_or(1.0).max(1e-9),
        yt.last().copied().unwrap_or(1.0).max(1e-9),
    );
    let x = |v: f64| L + v / xm * (W - L - 20.0);
    let y = |v: f64| H - B - v / ym * (H - B - 10.0);
    let pts: Vec<(f64, f64)> = xs.iter().copied().zip(ys.iter().copied()).collect();
    let mut front = pareto_front(&pts);
    front.sort_by(|a, b| xs[*a].total_cmp(&xs[*b]));
    let line: Vec<String> = front
        .iter()
        .map(|&i| format!("{:.1},{:.1}", x(xs[i]), y(ys[i])))
        .collect();
    let st = styles(&p.configs);
    html! {
        <figure class="chart">
            <figcaption>{ format!("Trade-off at {} vCPUs per VM: slab memory per VM vs descriptors visited per operation; the dashed line is the Pareto front", p.host.vcpus) }</figcaption>
            <svg viewBox={format!("0 0 {W} {H}")} role="img" aria-label="memory versus work scatter with Pareto front">
                { for yt.iter().map(|t| html! { <g><line x1={L.to_string()} x2={(W - 20.0).to_string()} y1={y(*t).to_string()} y2={y(*t).to_string()} class="grid" />
                    <text x={(L - 6.0).to_string()} y={(y(*t) + 4.0).to_string()} text-anchor="end">{ format!("{t:.1}") }</text></g> }) }
                { for xt.iter().map(|t| html! { <text x={x(*t).to_string()} y={(H - B + 16.0).to_string()} text-anchor="middle">{ bytes(*t) }</text> }) }
                { axis_titles(H, "slab memory per VM (bytes in 4 KiB pages: lists at peak + full caches + split cache)", "descriptors per operation") }
                <polyline points={line.join(" ")} fill="none" class="front" />
                { for p.configs.iter().enumerate().map(|(i, c)| html! {
                    <g><circle cx={x(xs[i]).to_string()} cy={y(ys[i]).to_string()} r="5" fill={st[i].0}><title>{ format!("{}: {} per VM, {:.2} descs/op{}", c.label, bytes(xs[i]), ys[i], if front.contains(&i) { " (Pareto-optimal)" } else { "" }) }</title></circle>
                    <text x={(x(xs[i]) + 7.0).to_string()} y={(y(ys[i]) - 6.0).to_string()}>{ c.label.clone() }</text></g>
                }) }
            </svg>
        </figure>
    }
}
