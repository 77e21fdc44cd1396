//! Descriptor bytes over the trace, one line per configuration (hand-made SVG).

use super::chart::{axis_titles, bytes, count, styles, ticks, B, H, L, W};
use rmaplab_core::replay::ConfigReport;
use yew::prelude::*;

/// Props of [`MemoryChart`].
#[derive(Properties, PartialEq, Debug)]
pub struct MemoryChartProps {
    /// Reports (their memory series).
    pub configs: Vec<ConfigReport>,
    /// Events in the trace.
    pub events: u64,
}

/// The chart.
#[function_component(MemoryChart)]
pub fn memory_chart(p: &MemoryChartProps) -> Html {
    let max_y = p
        .configs
        .iter()
        .flat_map(|c| c.memory_series.points.iter().map(|pt| pt.1))
        .max()
        .unwrap_or(0) as f64;
    let max_x = p.events.max(1) as f64;
    let yt = ticks(max_y, 4);
    let top = yt.last().copied().unwrap_or(1.0).max(1.0);
    let x = |v: f64| L + v / max_x * (W - L - 10.0);
    let y = |v: f64| H - B - v / top * (H - B - 10.0);
    let st = styles(&p.configs);
    html! {
        <figure class="chart">
            <figcaption>{"Descriptor bytes in lists over the trace (window maxima); colour = array size, dash = era (solid head-insert, dashed tail-append, dotted null-terminated)"}</figcaption>
            <svg viewBox={format!("0 0 {W} {H}")} role="img" aria-label="descriptor bytes over the trace per configuration">
                { for yt.iter().map(|t| html! {
                    <g><line x1={L.to_string()} x2={(W - 10.0).to_string()} y1={y(*t).to_string()} y2={y(*t).to_string()} class="grid" />
                    <text x={(L - 6.0).to_string()} y={(y(*t) + 4.0).to_string()} text-anchor="end">{ bytes(*t) }</text></g>
                }) }
                <text x={x(max_x).to_string()} y={(H - B + 16.0).to_string()} text-anchor="end">{ count(max_x) }</text>
                <text x={L.to_string()} y={(H - B + 16.0).to_string()}>{"0"}</text>
                { axis_titles(H, "events into the trace", "bytes in lists") }
                { for p.configs.iter().enumerate().map(|(i, c)| {
                    let pts: Vec<String> = c.memory_series.points.iter().map(|(e, v)| format!("{:.1},{:.1}", x(*e as f64), y(*v as f64))).collect();
                    html! { <polyline points={pts.join(" ")} fill="none" stroke={st[i].0} stroke-dasharray={st[i].1} stroke-width="1.8"><title>{ format!("{}: peak {}", c.label, bytes(c.peak_bytes as f64)) }</title></polyline> }
                }) }
            </svg>
            <ul class="legend">{ for p.configs.iter().enumerate().map(|(i, c)| html! {
                <li><svg class="swatch" viewBox="0 0 24 8" aria-hidden="true"><line x1="0" x2="24" y1="4" y2="4" stroke={st[i].0} stroke-dasharray={st[i].1} stroke-width="3" /></svg>{ format!("{} (peak {})", c.label, bytes(c.peak_bytes as f64)) }</li>
            }) }</ul>
        </figure>
    }
}
