//! Step through one rmap: pick one of the longest lists, scrub through its events, and watch
//! the head word and descriptor chain under each era.

use crate::protocol::{FocusEvent, LongRmap};
use crate::state::Focus;
use rmaplab_core::rmap::{HeadKind, RmapSet, RmapSnapshot};
use rmaplab_core::{Era, ModelConfig};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

/// Props of [`Stepper`].
#[derive(Properties, PartialEq, Debug)]
pub struct StepperProps {
    /// Candidates, longest first.
    pub longest: Vec<LongRmap>,
    /// The rmap being shown.
    pub focus: Option<Focus>,
    /// An rmap was picked.
    pub on_pick: Callback<u64>,
    /// The slider moved.
    pub on_step: Callback<usize>,
    /// The array size changed.
    pub on_entries: Callback<usize>,
}

/// Apply the first `step` events under `era` and `n` entries; return the list and the last op.
pub fn snapshot_at(
    events: &[FocusEvent],
    step: usize,
    era: Era,
    n: usize,
) -> (RmapSnapshot, Option<usize>) {
    let cfg = ModelConfig {
        recycle_threshold: None,
        ..ModelConfig::new(n.clamp(2, 64), era).unwrap_or_else(|_| ModelConfig::kvm_today())
    };
    let mut set = RmapSet::new(cfg);
    let mut last = None;
    for e in events.iter().take(step) {
        let _ = set.topup(0);
        last = match e {
            FocusEvent::Add(s) => set.pte_list_add(0, 0, *s).ok(),
            FocusEvent::Remove(s) => set.pte_list_remove(0, *s).ok().map(|_| 0),
            FocusEvent::Zap => Some(set.kvm_zap_all_rmap_sptes(0)),
        };
    }
    (set.snapshot(0), last)
}

fn chain(snap: &RmapSnapshot) -> Html {
    match snap.head {
        HeadKind::Empty => html! { <div class="head">{"head: 0 (empty)"}</div> },
        HeadKind::Single => {
            html! { <div class="head">{ format!("head: spte {:#x} (no descriptor)", snap.single.unwrap_or(0)) }</div> }
        }
        HeadKind::Many => html! {
            <div class="chain">
                <div class="head">{ format!("head: desc | KVM_RMAP_MANY → {} descriptors", snap.descs.len()) }</div>
                { for snap.descs.iter().enumerate().map(|(i, d)| html! {
                    <div class="desc" title={format!("slab object {}", d.object)}>
                        <div class="desc-h">{ format!("#{i} count {}{}", d.spte_count, d.tail_count.map(|t| format!(" tail {t}")).unwrap_or_default()) }</div>
                        <div class="slots">{ for d.sptes.iter().map(|s| html! { <span class="slot">{ format!("{s:x}") }</span> }) }</div>
                    </div>
                }) }
            </div>
        },
    }
}

/// The stepper.
#[function_component(Stepper)]
pub fn stepper(p: &StepperProps) -> Html {
    let on_pick = {
        let cb = p.on_pick.clone();
        Callback::from(move |e: Event| {
            if let Some(v) = e
                .target_dyn_into::<HtmlSelectElement>()
                .and_then(|s| s.value().parse().ok())
            {
                cb.emit(v);
            }
        })
    };
    let on_gfn = {
        let cb = p.on_pick.clone();
        Callback::from(move |e: Event| {
            if let Some(v) = e.target_dyn_into::<HtmlInputElement>().map(|i| i.value()) {
                let v = v.trim().trim_start_matches("0x");
                if let Ok(g) = u64::from_str_radix(v, 16) {
                    // 4K gfn rmaps use the gfn as their id (collector, importer and generator).
                    cb.emit(g);
                }
            }
        })
    };
    let picker = html! {
        <>
        <label for="rmap-gfn">{"gfn (hex, 4K, e.g. 400) "}<input id="rmap-gfn" onchange={on_gfn} size="10" /></label>
        {" or "}
        <label for="rmap-pick">{"rmap "}
            <select id="rmap-pick" onchange={on_pick}>
                <option value="" selected={p.focus.is_none()}>{"choose one of the longest…"}</option>
                { for p.longest.iter().map(|l| html! {
                    <option value={l.rmap.to_string()} selected={p.focus.as_ref().is_some_and(|f| f.rmap == l.rmap)}>
                        { format!("{:#x}{} — peak {} entries, {} events", l.rmap, l.gfn.map(|g| format!(" (gfn {g:#x})")).unwrap_or_default(), l.peak, l.events) }
                    </option>
                }) }
            </select>
        </label>
        </>
    };
    let Some(f) = &p.focus else {
        return html! { <section class="stepper" aria-label="step through an rmap"><h2>{"Step through an rmap"}</h2>{ picker }</section> };
    };
    let on_step = {
        let cb = p.on_step.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(v) = e
                .target_dyn_into::<HtmlInputElement>()
                .and_then(|i| i.value().parse().ok())
            {
                cb.emit(v);
            }
        })
    };
    let on_entries = {
        let cb = p.on_entries.clone();
        Callback::from(move |e: Event| {
            if let Some(v) = e
                .target_dyn_into::<HtmlInputElement>()
                .and_then(|i| i.value().parse().ok())
            {
                cb.emit(v);
            }
        })
    };
    let current = f.step.checked_sub(1).and_then(|i| f.events.get(i));
    let what = match current {
        None if f.events.is_empty() => format!("no event of this trace touches rmap {:#x}", f.rmap),
        None => "start: empty".to_string(),
        Some(FocusEvent::Add(s)) => format!("event {}: add spte {s:#x}", f.step),
        Some(FocusEvent::Remove(s)) => format!("event {}: remove spte {s:#x}", f.step),
        Some(FocusEvent::Zap) => format!("event {}: zap the whole list", f.step),
    };
    html! {
        <section class="stepper" aria-label="step through an rmap">
            <h2>{"Step through an rmap"}</h2>
            { picker }
            <label for="step">{ format!(" step {}/{} ", f.step, f.events.len()) }
                <input id="step" type="range" min="0" max={f.events.len().to_string()} value={f.step.to_string()} oninput={on_step} />
            </label>
            <label for="step-n">{" entries per descriptor "}
                <input id="step-n" type="number" min="2" max="64" value={f.entries.to_string()} onchange={on_entries} />
            </label>
            <p class="step-what" aria-live="polite">{ what }{ if f.truncated { " (the rmap has more events than shown)" } else { "" } }</p>
            <div class="eras">
                { for [Era::HeadInsert, Era::TailAppend].into_iter().map(|era| {
                    let (snap, count) = snapshot_at(&f.events, f.step, era, f.entries);
                    html! { <div class="era" data-era={era.name()}>
                        <h3>{ format!("{} ({})", era.name(), era.kernels()) }</h3>
                        if let (Some(FocusEvent::Add(_)), Some(c)) = (current, count) { <p class="small">{ format!("pte_list_add returned {c}") }</p> }
                        { chain(&snap) }
                    </div> }
                }) }
            </div>
        </section>
    }
}
