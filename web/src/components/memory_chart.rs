//! Descriptor bytes over the trace, one line per configuration (hand-made SVG, drawn at its
//! on-screen width): the recommended size and KVM today drawn heavier and named in the legend;
//! two sliders (keyboard-operable) zoom into part of the trace, the y axis following the
//! visible part.

use super::chart::{
    byte_ticks, bytes, count, draw_order, roles, styles, text_w, thousands, ticks_between,
    use_width, values_table, Frame, Role, FONT_PX,
};
use super::field::target_value;
use rmaplab_core::replay::ConfigReport;
use yew::prelude::*;

/// Props of [`MemoryChart`].
#[derive(Properties, PartialEq, Debug)]
pub struct MemoryChartProps {
    /// Reports (their memory series).
    pub configs: std::rc::Rc<Vec<ConfigReport>>,
    /// Events in the trace.
    pub events: u64,
    /// The recommended configuration's label, when there is one.
    #[prop_or_default]
    pub recommended: Option<String>,
}

/// Height of the chart.
const H: f64 = 300.0;
/// The zoom sliders' resolution: thousandths of the trace.
const ZOOM_STEPS: u32 = 1000;
/// Least share of the trace a zoom shows (in [`ZOOM_STEPS`]).
const ZOOM_MIN: u32 = 5;

/// The events a zoom of `(from, to)` thousandths shows of a trace of `events`.
fn window(zoom: (u32, u32), events: f64) -> (f64, f64) {
    let steps = f64::from(ZOOM_STEPS);
    (
        f64::from(zoom.0) / steps * events,
        f64::from(zoom.1) / steps * events,
    )
}

/// The zoom after end `which` (0 = from, 1 = to) moved to `v`: the other end gives way so the
/// window never shrinks below [`ZOOM_MIN`].
fn set_end(zoom: (u32, u32), which: usize, v: u32) -> (u32, u32) {
    let v = v.min(ZOOM_STEPS);
    if which == 0 {
        let from = v.min(ZOOM_STEPS - ZOOM_MIN);
        (from, zoom.1.max(from + ZOOM_MIN))
    } else {
        let to = v.max(ZOOM_MIN);
        (zoom.0.min(to - ZOOM_MIN), to)
    }
}

/// The chart.
#[function_component(MemoryChart)]
pub fn memory_chart(p: &MemoryChartProps) -> Html {
    let node = use_node_ref();
    let w = use_width(node.clone());
    // The events shown, in thousandths of the trace: (from, to).
    let zoom = use_state(|| (0u32, ZOOM_STEPS));
    let max_x = p.events.max(1) as f64;
    let (from, to) = window(*zoom, max_x);
    let span = (to - from).max(1.0);
    // Each line's points in the window, with one on either side so lines reach the edges
    // (the plot clips them).
    let visible = |pts: &[(u64, u64)]| -> Vec<(f64, f64)> {
        let first = pts
            .partition_point(|(e, _)| (*e as f64) < from)
            .saturating_sub(1);
        let last = pts.partition_point(|(e, _)| (*e as f64) <= to);
        pts[first..(last + 1).min(pts.len())]
            .iter()
            .map(|&(e, v)| (e as f64, v as f64))
            .collect()
    };
    let series: Vec<Vec<(f64, f64)>> = p
        .configs
        .iter()
        .map(|c| visible(&c.memory_series.points))
        .collect();
    let max_y = series
        .iter()
        .flatten()
        .filter(|(e, _)| *e >= from && *e <= to)
        .map(|p| p.1)
        .fold(0.0, f64::max);
    let yt = byte_ticks(max_y, 4);
    let top = yt.last().copied().unwrap_or(1.0).max(1.0);
    let y_labels: Vec<String> = yt.iter().map(|t| bytes(*t)).collect();
    let widest_x = text_w(&count(to), FONT_PX);
    let n = Frame::new(w, H, &y_labels, &count(to)).x_tick_count(widest_x);
    let xt = ticks_between(from, to, n);
    let f = Frame::new(w, H, &y_labels, &count(to));
    let x = |e: f64| f.x(e - from, span);
    let on_zoom = |which: usize| {
        let zoom = zoom.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(v) = target_value(&e).and_then(|v| v.parse::<u32>().ok()) {
                zoom.set(set_end(*zoom, which, v));
            }
        })
    };
    let reset = {
        let zoom = zoom.clone();
        Callback::from(move |_: MouseEvent| zoom.set((0, ZOOM_STEPS)))
    };
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
                <defs><clipPath id="memory-plot"><rect x={f.left.to_string()} y={f.top.to_string()} width={(f.right - f.left).to_string()} height={(f.bottom - f.top).to_string()} /></clipPath></defs>
                { f.y_axis(&yt, top, bytes) }
                <>{ for xt.iter().map(|t| html! {
                    <text x={x(*t).to_string()} y={f.x_label_y().to_string()} text-anchor="middle">{ count(*t) }</text>
                }) }</>
                { f.titles("events into the trace", "bytes in lists") }
                <g clip-path="url(#memory-plot)">
                { for order.iter().map(|&i| {
                    let c = &p.configs[i];
                    let pts: Vec<String> = series[i].iter().map(|(e, v)| format!("{:.1},{:.1}", x(*e), f.y(*v, top))).collect();
                    html! { <polyline points={pts.join(" ")} fill="none" stroke={st[i].0} stroke-dasharray={st[i].1} stroke-width={roles[i].stroke()}><title>{ format!("{}{}: peak {}", c.label, roles[i].suffix(), bytes(c.peak_bytes as f64)) }</title></polyline> }
                }) }
                </g>
            </svg>
            </div>
            <div class="zoom" role="group" aria-label="zoom into part of the trace">
                <label for="zoom-from">{ format!("from event {} ", thousands(from as u64)) }
                    <input id="zoom-from" type="range" min="0" max={ZOOM_STEPS.to_string()} value={zoom.0.to_string()} oninput={on_zoom(0)} /></label>
                <label for="zoom-to">{ format!(" to event {} ", thousands(to as u64)) }
                    <input id="zoom-to" type="range" min="0" max={ZOOM_STEPS.to_string()} value={zoom.1.to_string()} oninput={on_zoom(1)} /></label>
                if *zoom != (0, ZOOM_STEPS) {
                    <button type="button" onclick={reset}>{"whole trace"}</button>
                }
            </div>
            <ul class="legend">{ for p.configs.iter().enumerate().map(|(i, c)| html! {
                <li class={classes!((roles[i] == Role::Recommended).then_some("recommended"))}><svg class="swatch" viewBox="0 0 24 8" aria-hidden="true"><line x1="0" x2="24" y1="4" y2="4" stroke={st[i].0} stroke-dasharray={st[i].1} stroke-width="3" /></svg>{ format!("{}{} (peak {})", c.label, roles[i].suffix(), bytes(c.peak_bytes as f64)) }</li>
            }) }</ul>
            { values_table("Peak descriptor bytes", &["configuration", "peak bytes in lists"], rows) }
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The zoom's ends never cross and the window never shrinks below its minimum.
    #[test]
    fn zoom_ends_give_way() {
        assert_eq!(set_end((0, 1000), 0, 400), (400, 1000));
        assert_eq!(set_end((400, 1000), 1, 200), (195, 200));
        assert_eq!(set_end((0, 1000), 0, 1000), (995, 1000));
        assert_eq!(set_end((0, 1000), 1, 0), (0, 5));
        assert_eq!(window((250, 500), 2000.0), (500.0, 1000.0));
    }
}
