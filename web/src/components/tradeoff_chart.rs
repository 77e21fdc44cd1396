//! Memory vs work: peak descriptor bytes against descriptors visited per operation, with the
//! Pareto front drawn through the configurations nothing beats on both.

use super::chart::{bytes, color, ticks};
use crate::state::{pareto, work_per_op};
use rmaplab_core::replay::ConfigReport;
use yew::prelude::*;

/// Props of [`TradeoffChart`].
#[derive(Properties, PartialEq, Debug)]
pub struct TradeoffChartProps {
    /// Reports.
    pub configs: Vec<ConfigReport>,
}

const W: f64 = 720.0;
const H: f64 = 280.0;
const L: f64 = 70.0;
const B: f64 = 40.0;

/// The chart.
#[function_component(TradeoffChart)]
pub fn tradeoff_chart(p: &TradeoffChartProps) -> Html {
    let xs: Vec<f64> = p.configs.iter().map(|c| c.peak_bytes as f64).collect();
    let ys: Vec<f64> = p.configs.iter().map(work_per_op).collect();
    let xt = ticks(xs.iter().copied().fold(0.0, f64::max), 4);
    let yt = ticks(ys.iter().copied().fold(0.0, f64::max), 4);
    let (xm, ym) = (
        xt.last().copied().unwrap_or(1.0).max(1e-9),
        yt.last().copied().unwrap_or(1.0).max(1e-9),
    );
    let x = |v: f64| L + v / xm * (W - L - 20.0);
    let y = |v: f64| H - B - v / ym * (H - B - 10.0);
    let mut front = pareto(&p.configs);
    front.sort_by(|a, b| xs[*a].total_cmp(&xs[*b]));
    let line: Vec<String> = front
        .iter()
        .map(|&i| format!("{:.1},{:.1}", x(xs[i]), y(ys[i])))
        .collect();
    html! {
        <figure class="chart">
            <figcaption>{"Trade-off: peak descriptor bytes (x) vs descriptors visited per operation (y); the line is the Pareto front"}</figcaption>
            <svg viewBox={format!("0 0 {W} {H}")} role="img" aria-label="memory versus work scatter with Pareto front">
                { for yt.iter().map(|t| html! { <g><line x1={L.to_string()} x2={(W - 20.0).to_string()} y1={y(*t).to_string()} y2={y(*t).to_string()} class="grid" />
                    <text x={(L - 6.0).to_string()} y={(y(*t) + 4.0).to_string()} text-anchor="end">{ format!("{t:.1}") }</text></g> }) }
                { for xt.iter().map(|t| html! { <text x={x(*t).to_string()} y={(H - B + 16.0).to_string()} text-anchor="middle" class="small">{ bytes(*t) }</text> }) }
                <polyline points={line.join(" ")} fill="none" class="front" />
                { for p.configs.iter().enumerate().map(|(i, c)| html! {
                    <g><circle cx={x(xs[i]).to_string()} cy={y(ys[i]).to_string()} r="5" fill={color(i)}><title>{ format!("{}: {} peak, {:.2} descs/op{}", c.label, bytes(xs[i]), ys[i], if front.contains(&i) { " (Pareto-optimal)" } else { "" }) }</title></circle>
                    <text x={(x(xs[i]) + 7.0).to_string()} y={(y(ys[i]) - 6.0).to_string()} class="small">{ c.label.clone() }</text></g>
                }) }
            </svg>
        </figure>
    }
}
