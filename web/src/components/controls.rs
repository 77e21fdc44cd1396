//! What to compare: array sizes (and the seed's rule), eras, top-up policies, per-vCPU cache,
//! vCPUs and VMs for the memory figures, TDP, recycle threshold, tolerance.

use super::field::target_value;
use crate::settings::Field;
use crate::state::Settings;
use rmaplab_core::config::{TopupPolicy, PTE_LIST_EXT, SEED_TDP_ENTRIES};
use rmaplab_core::Era;
use std::collections::BTreeMap;
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
    /// The loaded trace's own VM count (shown when the VM field is left empty).
    #[prop_or_default]
    pub trace_vms: Option<u64>,
    /// The fields typed with errors changed: every message, `field: message` (empty when all
    /// are valid again). Invalid text never reaches `on_change`.
    #[prop_or_default]
    pub on_errors: Callback<Vec<String>>,
}

/// Fields typed with errors: what was typed, and why it cannot be taken.
type Invalid = BTreeMap<Field, (String, Vec<String>)>;

/// Every message of `invalid`, `field: message`.
fn messages(invalid: &Invalid) -> Vec<String> {
    invalid
        .iter()
        .flat_map(|(f, (_, ms))| ms.iter().map(move |m| format!("{}: {m}", f.name())))
        .collect()
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
    let invalid = use_state(Invalid::new);
    // A typed field: taken when valid (and any field left invalid that the new value makes
    // valid, such as the other side of the cache pair), else marked with its messages.
    let typed = |field: Field| {
        let (s, cb, invalid, on_errors) = (
            s.clone(),
            p.on_change.clone(),
            invalid.clone(),
            p.on_errors.clone(),
        );
        Callback::from(move |e: Event| {
            let Some(text) = target_value(&e) else { return };
            let mut left = (*invalid).clone();
            left.remove(&field);
            match s.with_field(field, &text) {
                Ok(mut n) => {
                    let others: Vec<(Field, String)> =
                        left.iter().map(|(f, (t, _))| (*f, t.clone())).collect();
                    for (f, t) in others {
                        if let Ok(m) = n.with_field(f, &t) {
                            n = m;
                            left.remove(&f);
                        }
                    }
                    cb.emit(n);
                }
                Err(ms) => {
                    left.insert(field, (text, ms));
                }
            }
            on_errors.emit(messages(&left));
            invalid.set(left);
        })
    };
    // Plain text inputs (numeric keyboards on phones): a number input would hand over "" for
    // "abc" or "1e", and the page must check what was typed, not what the browser kept.
    let text_input =
        |field: Field, value: String, inputmode: &'static str, placeholder: Option<String>| {
            let id = field.id();
            let bad = invalid.get(&field);
            let err_id = format!("{id}-error");
            html! {
                <>
                    <input id={id} type="text" {inputmode} {placeholder} value={value}
                        aria-invalid={bad.is_some().then_some("true")}
                        aria-describedby={bad.is_some().then(|| err_id.clone())}
                        onchange={typed(field)} />
                    if let Some((_, ms)) = bad {
                        <span id={err_id} class="field-error warn">{ ms.join("; ") }</span>
                    }
                </>
            }
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
    let check = |id: &'static str, label: String, checked: bool, f: fn(&mut Settings, bool)| {
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
    let vms_placeholder = match p.trace_vms {
        Some(n) if n > 1 => format!("{n} (the capture's VMs)"),
        _ => "1 (the trace's)".to_string(),
    };
    let vcpus_placeholder = p.trace_vcpus.map_or_else(
        || "from the trace".to_string(),
        |v| format!("{v} (the trace's)"),
    );
    html! {
        <form class="controls" onsubmit={Callback::from(|e: SubmitEvent| e.prevent_default())} aria-label="configurations to compare">
            if !invalid.is_empty() {
                <ul class="field-errors warn" role="alert" aria-label="settings not taken">
                    { for messages(&invalid).into_iter().map(|m| html! { <li>{ m }</li> }) }
                </ul>
            }
            <label for="entries">{"Array sizes (2..64)"}
                { text_input(Field::Entries, s.entries.clone(), "text", None) }
            </label>
            { check("seed", format!(" the seed's rule ({SEED_TDP_ENTRIES} with TDP, {PTE_LIST_EXT} without)"), s.seed, |s, v| s.seed = v) }
            { tdp_select }
            <fieldset><legend>{"Era"}</legend>{ era_box(Era::HeadInsert) }{ era_box(Era::TailAppend) }{ era_box(Era::NullTerminated) }</fieldset>
            <fieldset><legend>{"Cache top-up"}</legend>
                { check("topup-always", " before every fault (KVM)".into(), s.topups.contains(&TopupPolicy::Always), |s, v| toggle(&mut s.topups, TopupPolicy::Always, v)) }
                { check("topup-lazy", " only once the VM uses rmaps (the seed's patch 4)".into(), s.topups.contains(&TopupPolicy::WhenRmapsUsed), |s, v| toggle(&mut s.topups, TopupPolicy::WhenRmapsUsed, v)) }
            </fieldset>
            <label for="cache-cap">{"Cache capacity"}
                { text_input(Field::CacheCapacity, s.cache_capacity.to_string(), "numeric", None) }
            </label>
            <label for="cache-min">{"Top-up minimum"}
                { text_input(Field::CacheMin, s.cache_min.to_string(), "numeric", None) }
            </label>
            <label for="vcpus">{"vCPUs per VM"}
                { text_input(Field::Vcpus, s.vcpus.map(|v| v.to_string()).unwrap_or_default(), "numeric", Some(vcpus_placeholder)) }
            </label>
            <label for="vms">{"VMs per host"}
                { text_input(Field::Vms, s.vms.map(|v| v.to_string()).unwrap_or_default(), "numeric", Some(vms_placeholder)) }
            </label>
            <label for="recycle">{"Recycle threshold"}
                { text_input(Field::Recycle, s.recycle.map_or_else(|| "off".to_string(), |r| r.to_string()), "text", None) }
            </label>
            <label for="kvm-stats">{"KVM's counters at the end of the run, to check the replay against (NAME=VALUE, …; from debugfs or kvm_stat)"}
                { text_input(Field::KvmStats, s.kvm_stats_text(), "text", Some("max_mmu_rmap_size=13, pages_4k=24, mmu_pte_write=0".to_string())) }
            </label>
            <label for="within">{ format!("Recommend: % more work than {PTE_LIST_EXT} allowed") }
                { text_input(Field::Within, s.within_pct.to_string(), "numeric", None) }
            </label>
        </form>
    }
}
