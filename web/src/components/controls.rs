//! What to compare: array sizes, eras, per-vCPU cache, vCPUs, recycle threshold, tolerance.

use crate::state::Settings;
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
}

fn input_value(e: &Event) -> Option<String> {
    e.target_dyn_into::<HtmlInputElement>().map(|i| i.value())
}

/// The configuration form.
#[function_component(Controls)]
pub fn controls(p: &ControlsProps) -> Html {
    let s = p.settings.clone();
    let field = |f: fn(&mut Settings, String)| {
        let (s, cb) = (s.clone(), p.on_change.clone());
        Callback::from(move |e: Event| {
            if let Some(v) = input_value(&e) {
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
    html! {
        <form class="controls" onsubmit={Callback::from(|e: SubmitEvent| e.prevent_default())} aria-label="configurations to compare">
            <label for="entries">{"Array sizes (2..64)"}
                <input id="entries" value={s.entries.clone()} onchange={field(|s, v| s.entries = v)} />
            </label>
            <fieldset><legend>{"Era"}</legend>{ era_box(Era::HeadInsert) }{ era_box(Era::TailAppend) }{ era_box(Era::NullTerminated) }</fieldset>
            <label for="cache-cap">{"Cache capacity"}
                <input id="cache-cap" type="number" min="1" max="4096" value={s.cache_capacity.to_string()}
                    onchange={field(|s, v| s.cache_capacity = v.parse().unwrap_or(s.cache_capacity))} />
            </label>
            <label for="cache-min">{"Top-up minimum"}
                <input id="cache-min" type="number" min="0" max="4096" value={s.cache_min.to_string()}
                    onchange={field(|s, v| s.cache_min = v.parse().unwrap_or(s.cache_min))} />
            </label>
            <label for="vcpus">{"vCPUs (cache cost)"}
                <input id="vcpus" type="number" min="1" max="4096" value={s.vcpus.to_string()}
                    onchange={field(|s, v| s.vcpus = v.parse().unwrap_or(s.vcpus).clamp(1, 4096))} />
            </label>
            <label for="recycle">{"Recycle threshold"}
                <input id="recycle" value={s.recycle.map_or_else(|| "off".to_string(), |r| r.to_string())}
                    onchange={field(|s, v| s.recycle = if v.trim() == "off" { None } else { v.trim().parse().ok().or(s.recycle) })} />
            </label>
            <label for="within">{"Recommend within % of best work"}
                <input id="within" type="number" min="0" max="1000" value={s.within_pct.to_string()}
                    onchange={field(|s, v| s.within_pct = v.parse().unwrap_or(s.within_pct))} />
            </label>
        </form>
    }
}
