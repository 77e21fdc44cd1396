//! What to compare: array sizes (and the seed's rule), eras, top-up policies, per-vCPU cache,
//! vCPUs and VMs for the memory figures, TDP, recycle threshold, tolerance.

use super::field::target_value;
use crate::state::{Settings, MAX_VCPUS, MAX_VMS};
use rmaplab_core::config::TopupPolicy;
use rmaplab_core::Era;
use web_sys::HtmlInputElement;
use yew::prelude::*;

/// Props of [`Controls`].
#[derive(Properties, PartialEq, Debug)]
pub struct ControlsProps {
    /// Current settings.
    pub settings: Settings,
    /// New settings chosen.
    pub on_change: Callback<Settings>,
    /// The loaded trace's own vCPU count (shown when the vCPU field is left empty).
    pub trace_vcpus: Option<u64>,
    /// What the loaded trace says about TDP.
    pub trace_tdp: Option<bool>,
}

fn toggle(v: &mut Vec<TopupPolicy>, t: TopupPolicy, on: bool) {
    v.retain(|x| *x != t);
    if on {
        v.push(t);
        v.sort();
    }
}

/// The configuration form.
#[function_component(Controls)]
pub fn controls(p: &ControlsProps) -> Html {
    let s = p.settings.clone();
    let field = |f: fn(&mut Settings, String)| {
        let (s, cb) = (s.clone(), p.on_change.clone());
        Callback::from(move |e: Event| {
            if let Some(v) = target_value(&e) {
                let mut n = s.clone();
                f(&mut n, v);
                cb.emit(n);
            }
        })
    };
    let era_box = |era: Era| {
        let (s, cb) = (s.clone(), p.on_change.clone());
        let checked = s.eras.contains(&era);
        let onchange = Callback::from(move |_: Event| {
            let mut n = s.clone();
            if n.eras.contains(&era) {
                n.eras.retain(|e| *e != era);
            } else {
                n.eras.push(era);
            }
            cb.emit(n);
        });
        let id = format!("era-{}", era.name());
        html! {
            <label for={id.clone()} class="check">
                <input type="checkbox" id={id} {checked} {onchange} />
                { format!(" {} ({})", era.name(), era.kernels()) }
            </label>
        }
    };
    let check = |id: &'static str,
                 label: &'static str,
                 checked: bool,
                 f: fn(&mut Settings, bool)| {
        let (s, cb) = (s.clone(), p.on_change.clone());
        let onchange = Callback::from(move |e: Event| {
            if let Some(i) = e.target_dyn_into::<HtmlInputElement>() {
                let mut n = s.clone();
                f(&mut n, i.checked());
                cb.emit(n);
            }
        });
        html! {
            <label for={id} class="check"><input type="checkbox" {id} {checked} {onchange} />{ label }</label>
        }
    };
    let tdp_select = {
        let sel = s.tdp;
        let (s, cb) = (s.clone(), p.on_change.clone());
        let onchange = Callback::from(move |e: Event| {
            if let Some(v) = target_value(&e) {
                let mut n = s.clone();
                n.tdp = match v.as_str() {
                    "on" => Some(true),
                    "off" => Some(false),
                    _ => None,
                };
                cb.emit(n);
            }
        });
        let from_trace = match p.trace_tdp {
            Some(true) => "as the trace says (on)",
            Some(false) => "as the trace says (off)",
            None => "as the trace says (it does not)",
        };
        html! {
            <label for="tdp">{"TDP (for the seed's rule)"}
                <select id="tdp" {onchange}>
                    <option value="trace" selected={sel.is_none()}>{ from_trace }</option>
                    <option value="on" selected={sel == Some(true)}>{"on"}</option>
                    <option value="off" selected={sel == Some(false)}>{"off"}</option>
                </select>
            </label>
        }
    };
    let vcpus_placeholder = p.trace_vcpus.map_or_else(
        || "from the trace".to_string(),
        |v| format!("{v} (the trace's)"),
    );
    html! {
        <form class="controls" onsubmit={Callback::from(|e: SubmitEvent| e.prevent_default())} aria-label="configurations to compare">
            <label for="entries">{"Array sizes (2..64)"}
                <input id="entries" value={s.entries.clone()} onchange={field(|s, v| s.entries = v)} />
            </label>
            { check("seed", " the seed's rule (2 with TDP, 14 without)", s.seed, |s, v| s.seed = v) }
            { tdp_select }
            <fieldset><legend>{"Era"}</legend>{ era_box(Era::HeadInsert) }{ era_box(Era::TailAppend) }{ era_box(Era::NullTerminated) }</fieldset>
            <fieldset><legend>{"Cache top-up"}</legend>
                { check("topup-always", " before every fault (KVM)", s.topups.contains(&TopupPolicy::Always), |s, v| toggle(&mut s.topups, TopupPolicy::Always, v)) }
                { check("topup-lazy", " only once the VM uses rmaps (the seed's patch 4)", s.topups.contains(&TopupPolicy::WhenRmapsUsed), |s, v| toggle(&mut s.topups, TopupPolicy::WhenRmapsUsed, v)) }
            </fieldset>
            <label for="cache-cap">{"Cache capacity"}
                <input id="cache-cap" type="number" min="1" max="4096" value={s.cache_capacity.to_string()}
                    onchange={field(|s, v| s.cache_capacity = v.parse().unwrap_or(s.cache_capacity))} />
            </label>
            <label for="cache-min">{"Top-up minimum"}
                <input id="cache-min" type="number" min="0" max="4096" value={s.cache_min.to_string()}
                    onchange={field(|s, v| s.cache_min = v.parse().unwrap_or(s.cache_min))} />
            </label>
            <label for="vcpus">{"vCPUs per VM"}
                <input id="vcpus" type="number" min="1" max={MAX_VCPUS.to_string()} placeholder={vcpus_placeholder}
                    value={s.vcpus.map(|v| v.to_string()).unwrap_or_default()}
                    onchange={field(|s, v| s.vcpus = v.trim().parse::<u64>().ok().map(|n| n.clamp(1, MAX_VCPUS)))} />
            </label>
            <label for="vms">{"VMs per host"}
                <input id="vms" type="number" min="1" max={MAX_VMS.to_string()} value={s.vms.to_string()}
                    onchange={field(|s, v| s.vms = v.trim().parse().unwrap_or(s.vms).clamp(1, MAX_VMS))} />
            </label>
            <label for="recycle">{"Recycle threshold"}
                <input id="recycle" value={s.recycle.map_or_else(|| "off".to_string(), |r| r.to_string())}
                    onchange={field(|s, v| s.recycle = if v.trim() == "off" { None } else { v.trim().parse().ok().or(s.recycle) })} />
            </label>
            <label for="within">{"Recommend: % more work than 14 allowed"}
                <input id="within" type="number" min="0" max="1000" value={s.within_pct.to_string()}
                    onchange={field(|s, v| s.within_pct = v.parse().unwrap_or(s.within_pct))} />
            </label>
        </form>
    }
}
