//! Memory vs work: slab memory per VM (at the page's vCPU count) against descriptors visited per
//! list operation, with the Pareto front drawn through the configurations nothing beats on both.
//! Drawn at its on-screen width; each point's label goes where it overlaps nothing
//! ([`super::chart_labels`]) — the recommended size and KVM today first, ringed — and every
//! point is in the legend and the values table.

use super::chart::{
    byte_ticks, bytes, draw_order, roles, styles, text_w, ticks, trimmed, use_width, values_table,
    Frame, Role, FONT_PX,
};
use super::chart_labels::{place, Rect};
use rmaplab_core::memory::{Footprint, HostShape};
use rmaplab_core::recommend::{pareto_front, work_per_op};
use rmaplab_core::replay::ConfigReport;
use rmaplab_core::Era;
use yew::prelude::*;

/// Props of [`TradeoffChart`].
#[derive(Properties, PartialEq, Debug)]
pub struct TradeoffChartProps {
    /// Reports.
    pub configs: std::rc::Rc<Vec<ConfigReport>>,
    /// The host the memory is for.
    pub host: HostShape,
    /// The recommended configuration's label, when there is one.
    #[prop_or_default]
    pub recommended: Option<String>,
}

/// Height of the chart.
const H: f64 = 320.0;
/// Radius of a point's marker.
const R: f64 = 5.0;
/// Radius of the ring around the recommended point and KVM today's.
const RING: f64 = 9.0;

/// A point's marker: the era by shape (head-insert a filled circle, tail-append a ring,
/// null-terminated an open square), the array size by colour.
fn marker(era: Era, x: f64, y: f64, colour: &'static str, title: String) -> Html {
    let t = html! { <title>{ title }</title> };
    match era {
        Era::HeadInsert => {
            html! { <circle cx={x.to_string()} cy={y.to_string()} r={R.to_string()} fill={colour}>{ t }</circle> }
        }
        Era::TailAppend => {
            html! { <circle cx={x.to_string()} cy={y.to_string()} r={(R - 1.0).to_string()} fill="white" stroke={colour} stroke-width="2.2">{ t }</circle> }
        }
        Era::NullTerminated => {
            html! { <rect x={(x - R + 1.0).to_string()} y={(y - R + 1.0).to_string()} width={(2.0 * R - 2.0).to_string()} height={(2.0 * R - 2.0).to_string()} fill="white" stroke={colour} stroke-width="2.2">{ t }</rect> }
        }
    }
}

/// The chart.
#[function_component(TradeoffChart)]
pub fn tradeoff_chart(p: &TradeoffChartProps) -> Html {
    let node = use_node_ref();
    let w = use_width(node.clone());
    let xs: Vec<f64> = p
        .configs
        .iter()
        .map(|c| Footprint::of(c, p.host).vm_slab_bytes as f64)
        .collect();
    let ys: Vec<f64> = p.configs.iter().map(work_per_op).collect();
    let yt = ticks(ys.iter().copied().fold(0.0, f64::max), 4);
    let ym = yt.last().copied().unwrap_or(1.0).max(1e-9);
    let y_labels: Vec<String> = yt.iter().map(|t| trimmed(*t, 2)).collect();
    let max_x = xs.iter().copied().fold(0.0, f64::max);
    let widest_x = text_w(&bytes(max_x * 1.5), FONT_PX);
    let n = Frame::new(w, H, &y_labels, &bytes(max_x * 1.5)).x_tick_count(widest_x);
    let xt = byte_ticks(max_x, n);
    let xm = xt.last().copied().unwrap_or(1.0).max(1e-9);
    let f = Frame::new(w, H, &y_labels, &bytes(xm));
    let (x, y) = (|v: f64| f.x(v, xm), |v: f64| f.y(v, ym));
    let pts: Vec<(f64, f64)> = xs.iter().copied().zip(ys.iter().copied()).collect();
    let mut front = pareto_front(&pts);
    front.sort_by(|a, b| xs[*a].total_cmp(&xs[*b]));
    let line: Vec<String> = front
        .iter()
        .map(|&i| format!("{:.1},{:.1}", x(xs[i]), y(ys[i])))
        .collect();
    let st = styles(&p.configs);
    let roles = roles(&p.configs, p.recommended.as_deref());
    // Labels in order of importance: the recommended and today's, the front, the rest.
    let mut label_order: Vec<usize> = draw_order(&roles).into_iter().rev().collect();
    label_order.sort_by_key(|&i| (roles[i] == Role::Other, !front.contains(&i)));
    let wants: Vec<(f64, f64, String)> = label_order
        .iter()
        .map(|&i| {
            let c = &p.configs[i];
            (
                x(xs[i]),
                y(ys[i]),
                format!("{}{}", c.label, roles[i].short_suffix()),
            )
        })
        .collect();
    let markers: Vec<Rect> = (0..p.configs.len())
        .map(|i| {
            let r = if roles[i] == Role::Other { R } else { RING };
            Rect::around(x(xs[i]), y(ys[i]), r + 1.0)
        })
        .collect();
    let area = Rect {
        x0: f.left,
        y0: 0.0,
        x1: f.w,
        y1: f.bottom,
    };
    let placed = place(&wants, area, &markers, FONT_PX);
    let rows = p
        .configs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            vec![
                format!("{}{}", c.label, roles[i].suffix()),
                bytes(xs[i]),
                format!("{:.2}", ys[i]),
                if front.contains(&i) { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    html! {
        <figure class="chart">
            <figcaption>{ format!("Trade-off at {} vCPUs per VM: slab memory per VM vs descriptors visited per operation; colour = array size, filled = head-insert, ring = tail-append, square = null-terminated; the dashed line is the Pareto front; the recommended size and KVM today are ringed", p.host.vcpus) }</figcaption>
            <div class="plot" ref={node}>
            <svg viewBox={f.view_box()} role="img" aria-label="memory versus work scatter with Pareto front">
                { f.y_axis(&yt, ym, |t| trimmed(t, 2)) }
                { f.x_axis(&xt, xm, bytes) }
                { f.titles("slab memory per VM (4 KiB slab pages)", "descriptors per operation") }
                <polyline points={line.join(" ")} fill="none" class="front" />
                { for (0..p.configs.len()).filter(|&i| roles[i] != Role::Other).map(|i| html! {
                    <circle cx={x(xs[i]).to_string()} cy={y(ys[i]).to_string()} r={RING.to_string()} fill="none" class={if roles[i] == Role::Recommended { "ring recommended" } else { "ring today" }} />
                }) }
                { for draw_order(&roles).into_iter().map(|i| {
                    let c = &p.configs[i];
                    let title = format!("{}{}: {} per VM, {:.2} descs/op{}", c.label, roles[i].suffix(), bytes(xs[i]), ys[i], if front.contains(&i) { " (Pareto-optimal)" } else { "" });
                    marker(c.era, x(xs[i]), y(ys[i]), st[i].0, title)
                }) }
                { for label_order.iter().zip(&placed).filter_map(|(&i, at)| at.and_then(|at| at.leader).map(|(lx, ly)| html! {
                    <line x1={x(xs[i]).to_string()} y1={y(ys[i]).to_string()} x2={lx.to_string()} y2={ly.to_string()} class="leader" />
                })) }
                { for label_order.iter().zip(&placed).filter_map(|(&i, at)| at.map(|at| html! {
                    <text x={at.x.to_string()} y={at.y.to_string()} text-anchor={at.anchor.attr()} class={classes!("point-label", (roles[i] == Role::Recommended).then_some("recommended"))}>{ format!("{}{}", p.configs[i].label, roles[i].short_suffix()) }</text>
                })) }
            </svg>
            </div>
            <ul class="legend">{ for p.configs.iter().enumerate().map(|(i, c)| html! {
                <li class={classes!((roles[i] == Role::Recommended).then_some("recommended"))}><svg class="swatch" viewBox="0 0 12 12" aria-hidden="true">{ marker(c.era, 6.0, 6.0, st[i].0, c.label.clone()) }</svg>{ format!("{}{}", c.label, roles[i].suffix()) }</li>
            }) }</ul>
            { values_table("Memory and work", &["configuration", "slab memory per VM", "descriptors per operation", "Pareto-optimal"], rows) }
        </figure>
    }
}
