//! Descriptor bytes over the trace, one line per configuration (hand-made SVG, drawn at its
//! on-screen width): the recommended size and KVM today drawn heavier and named in the legend.

use super::chart::{
    byte_ticks, bytes, count, draw_order, roles, styles, text_w, ticks_within, use_width,
    values_table, Frame, Role, FONT_PX,
};
use rmaplab_core::replay::ConfigReport;
use yew::prelude::*;

/// Props of [`MemoryChart`].
#[derive(Properties, PartialEq, Debug)]
pub struct MemoryChartProps {
    /// Reports (their memory series).
    pub configs: Vec<ConfigReport>,
    /// Events in the trace.
    pub events: u64,
    /// The recommended configuration's label, when there is one.
    #[prop_or_default]
    pub recommended: Option<String>,
}

/// Height of the chart.
const H: f64 = 300.0;

/// The chart.
#[function_component(MemoryChart)]
pub fn memory_chart(p: &MemoryChartProps) -> Html {
    let node = use_node_ref();
    let w = use_width(node.clone());
    let max_y = p
        .configs
        .iter()
        .flat_map(|c| c.memory_series.points.iter().map(|pt| pt.1))
        .max()
        .unwrap_or(0) as f64;
    let max_x = p.events.max(1) as f64;
    let yt = byte_ticks(max_y, 4);
    let top = yt.last().copied().unwrap_or(1.0).max(1.0);
    let y_labels: Vec<String> = yt.iter().map(|t| bytes(*t)).collect();
    let widest_x = text_w(&count(max_x), FONT_PX);
    let n = Frame::new(w, H, &y_labels, &count(max_x)).x_tick_count(widest_x);
    let xt = ticks_within(max_x, n);
    let f = Frame::new(w, H, &y_labels, &count(max_x));
    let st = styles(&p.configs);
    let roles = roles(&p.configs, p.recommended.as_deref());
    // Drawn in order of importance, so the recommended line is on top.
    let order = draw_order(&roles);
    let rows = p
        .configs
        .iter()
        .zip(&roles)
        .map(|(c, r)| {
            vec![
                format!("{}{}", c.label, r.suffix()),
                bytes(c.peak_bytes as f64),
            ]
        })
        .collect();
    html! {
        <figure class="chart">
            <figcaption>{"Descriptor bytes in lists over the trace (window maxima); colour = array size, dash = era (solid head-insert, dashed tail-append, dotted null-terminated); the recommended size and KVM today are drawn heavier"}</figcaption>
            <div class="plot" ref={node}>
            <svg viewBox={f.view_box()} role="img" aria-label="descriptor bytes over the trace per configuration">
                { f.y_axis(&yt, top, bytes) }
                { f.x_axis(&xt, max_x, count) }
                { f.titles("events into the trace", "bytes in lists") }
                { for order.iter().map(|&i| {
                    let c = &p.configs[i];
                    let pts: Vec<String> = c.memory_series.points.iter().map(|(e, v)| format!("{:.1},{:.1}", f.x(*e as f64, max_x), f.y(*v as f64, top))).collect();
                    html! { <polyline points={pts.join(" ")} fill="none" stroke={st[i].0} stroke-dasharray={st[i].1} stroke-width={roles[i].stroke()}><title>{ format!("{}{}: peak {}", c.label, roles[i].suffix(), bytes(c.peak_bytes as f64)) }</title></polyline> }
                }) }
            </svg>
            </div>
            <ul class="legend">{ for p.configs.iter().enumerate().map(|(i, c)| html! {
                <li class={classes!((roles[i] == Role::Recommended).then_some("recommended"))}><svg class="swatch" viewBox="0 0 24 8" aria-hidden="true"><line x1="0" x2="24" y1="4" y2="4" stroke={st[i].0} stroke-dasharray={st[i].1} stroke-width="3" /></svg>{ format!("{}{} (peak {})", c.label, roles[i].suffix(), bytes(c.peak_bytes as f64)) }</li>
            }) }</ul>
            { values_table("Peak descriptor bytes", &["configuration", "peak bytes in lists"], rows) }
        </figure>
    }
}
