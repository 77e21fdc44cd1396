//! Step through one rmap: pick one of the longest lists, scrub through its events, and watch
//! the head word and descriptor chain under each era.

use super::field::{emit_parsed, target_value};
use crate::protocol::{FocusEvent, LongRmap};
use crate::state::SteppedRmap;
use rmaplab_core::config::{MAX_ENTRIES, MIN_ENTRIES};
use rmaplab_core::rmap::{DescIndex, DescSnapshot, HeadKind, RmapIndex, RmapSet, RmapSnapshot};
use rmaplab_core::trace::RmapId;
use rmaplab_core::{Era, ModelConfig};
use yew::prelude::*;

/// The stepper replays one rmap's events on a set of its own, as its only rmap.
const THE_RMAP: RmapIndex = RmapIndex(0);

/// Props of [`Stepper`].
#[derive(Properties, PartialEq, Debug)]
pub struct StepperProps {
    /// Candidates, longest first.
    pub longest: Vec<LongRmap>,
    /// The rmap being shown.
    pub focus: Option<SteppedRmap>,
    /// An rmap was picked.
    pub on_pick: Callback<RmapId>,
    /// The slider moved.
    pub on_step: Callback<usize>,
    /// The array size changed.
    pub on_entries: Callback<usize>,
    /// The recycle threshold in force (`None` = off).
    pub recycle: Option<u64>,
}

/// What the stepper shows after a step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepView {
    /// The list after the step.
    pub snap: RmapSnapshot,
    /// `pte_list_add`'s return value when the step was an add.
    pub count: Option<usize>,
    /// The add pushed the list past the recycle threshold and KVM zapped it.
    pub recycled: bool,
    /// Descriptors the step's list operation visited.
    pub descs_walked: u32,
    /// `(descriptor, slot)` positions in the new list whose entry the step wrote or cleared.
    pub changed: Vec<(usize, usize)>,
}

/// Each descriptor's entries, by slab object (descriptors move in the chain; objects do not).
fn slots(snap: &RmapSnapshot) -> Vec<(DescIndex, Vec<u64>)> {
    snap.descs()
        .iter()
        .map(|d| (d.object, d.sptes.clone()))
        .collect()
}

/// Apply the first `step` events under `era` and `n` entries, with KVM's recycle rule at
/// `recycle` (`__rmap_add`: an add that finds more than the threshold zaps the list).
pub fn snapshot_at(
    events: &[FocusEvent],
    step: usize,
    era: Era,
    n: usize,
    recycle: Option<u64>,
) -> StepView {
    let cfg = ModelConfig {
        recycle_threshold: recycle,
        ..ModelConfig::new(n.clamp(MIN_ENTRIES, MAX_ENTRIES), era)
            .unwrap_or_else(|_| ModelConfig::kvm_today())
    };
    let mut set = RmapSet::new(cfg);
    let mut view = StepView {
        snap: set.snapshot(THE_RMAP),
        count: None,
        recycled: false,
        descs_walked: 0,
        changed: Vec::new(),
    };
    let mut before = Vec::new();
    for (k, e) in events.iter().take(step).enumerate() {
        let last = k + 1 == step;
        if last {
            before = slots(&set.snapshot(THE_RMAP));
        }
        let _ = set.topup(0);
        let (count, recycled) = match e {
            FocusEvent::Add(s) => match set.rmap_add(0, THE_RMAP, s.0) {
                Ok(o) => (Some(o.count), o.recycled),
                Err(_) => (None, false),
            },
            FocusEvent::Remove(s) => {
                let _ = set.pte_list_remove(THE_RMAP, s.0);
                (None, false)
            }
            FocusEvent::Zap => {
                set.kvm_zap_all_rmap_sptes(THE_RMAP);
                (None, false)
            }
        };
        if last {
            let snap = set.snapshot(THE_RMAP);
            let after = slots(&snap);
            let mut changed = Vec::new();
            for (i, (obj, d)) in after.iter().enumerate() {
                let old = before.iter().find(|(o, _)| o == obj).map(|(_, s)| s);
                for (j, v) in d.iter().enumerate() {
                    if old.and_then(|b| b.get(j)) != Some(v) {
                        changed.push((i, j));
                    }
                }
            }
            view = StepView {
                snap,
                count,
                recycled,
                descs_walked: set.cost.descs,
                changed,
            };
        }
    }
    if step == 0 {
        view.snap = set.snapshot(THE_RMAP);
    }
    view
}

/// Past this many descriptors a list is drawn compact: each descriptor a block of cells (one
/// per slot, its SPTE in the cell's tooltip), so a long chain fits one screen; the descriptors
/// the step changed are also written out in full beneath.
pub const COMPACT_FROM: usize = 8;

/// One descriptor written out: its number, counts and slots (changed slots marked).
fn desc_full(i: usize, d: &DescSnapshot, changed: &[(usize, usize)]) -> Html {
    html! {
        <div class="desc" title={format!("slab object {}", d.object)}>
            <div class="desc-h">{ format!("#{i} count {}{}", d.spte_count, d.tail_count.map(|t| format!(" tail {t}")).unwrap_or_default()) }</div>
            <div class="slots">{ for d.sptes.iter().enumerate().map(|(j, s)| {
                let ch = changed.contains(&(i, j));
                html! { <span class={classes!("slot", ch.then_some("changed"))}>{ format!("{s:x}") }</span> }
            }) }</div>
        </div>
    }
}

/// One descriptor as a block of cells: filled for a slot in use, marked where the step
/// changed it; its entries in the tooltip.
fn desc_cells(i: usize, d: &DescSnapshot, n: usize, changed: &[(usize, usize)]) -> Html {
    let sptes: Vec<String> = d.sptes.iter().map(|s| format!("{s:x}")).collect();
    let title = format!(
        "#{i}: count {}, slab object {}: {}",
        d.spte_count,
        d.object,
        sptes.join(" ")
    );
    html! {
        <span class="desc-cells" title={title}>{ for (0..n.max(d.sptes.len())).map(|j| {
            let used = j < d.sptes.len();
            let ch = changed.contains(&(i, j));
            html! { <span class={classes!("cell", used.then_some("used"), ch.then_some("changed"))}></span> }
        }) }</span>
    }
}

fn chain(snap: &RmapSnapshot, changed: &[(usize, usize)], entries: usize) -> Html {
    match snap.head() {
        HeadKind::Empty => html! { <div class="head">{"head: 0 (empty)"}</div> },
        HeadKind::Single => {
            html! { <div class="head">{ format!("head: spte {:#x} (no descriptor)", snap.single().unwrap_or(0)) }</div> }
        }
        HeadKind::Many if snap.descs().len() > COMPACT_FROM => {
            let touched: Vec<usize> = {
                let mut t: Vec<usize> = changed.iter().map(|(i, _)| *i).collect();
                t.dedup();
                t
            };
            html! {
                <div class="chain compact">
                    <div class="head">{ format!("head: desc | KVM_RMAP_MANY → {} descriptors, one block each (a cell per slot, filled when in use; hover a block for its SPTEs)", snap.descs().len()) }</div>
                    <div class="cells">{ for snap.descs().iter().enumerate().map(|(i, d)| desc_cells(i, d, entries, changed)) }</div>
                    if !touched.is_empty() {
                        <div class="touched">
                            <div class="desc-h">{"changed by this step:"}</div>
                            { for touched.iter().filter_map(|&i| snap.descs().get(i).map(|d| desc_full(i, d, changed))) }
                        </div>
                    }
                </div>
            }
        }
        HeadKind::Many => html! {
            <div class="chain">
                <div class="head">{ format!("head: desc | KVM_RMAP_MANY → {} descriptors", snap.descs().len()) }</div>
                { for snap.descs().iter().enumerate().map(|(i, d)| desc_full(i, d, changed)) }
            </div>
        },
    }
}

/// What a typed gfn means: the rmap of that 4K gfn, or why it is not one.
pub fn parse_gfn(text: &str) -> Result<RmapId, String> {
    let t = text.trim();
    let hex = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if hex.is_empty() {
        return Err("type a gfn in hex, e.g. 400 or 0x7f3a".into());
    }
    // 4K gfn rmaps use the gfn as their id (collector, importer and generator).
    u64::from_str_radix(hex, 16)
        .map(RmapId)
        .map_err(|_| format!("“{t}” is not a gfn: type it in hex (digits 0-9 and a-f, at most 16), e.g. 400 or 0x7f3a"))
}

/// The stepper.
#[function_component(Stepper)]
pub fn stepper(p: &StepperProps) -> Html {
    let on_pick = emit_parsed::<Event, _>(p.on_pick.clone());
    let gfn_error = use_state(|| None::<String>);
    let on_gfn = {
        let (cb, err) = (p.on_pick.clone(), gfn_error.clone());
        Callback::from(move |e: Event| {
            if let Some(v) = target_value(&e) {
                match parse_gfn(&v) {
                    Ok(rmap) => {
                        err.set(None);
                        cb.emit(rmap);
                    }
                    Err(m) => err.set(Some(m)),
                }
            }
        })
    };
    let picker = html! {
        <>
        <label for="rmap-gfn">{"gfn (hex, 4K, e.g. 400) "}<input id="rmap-gfn" onchange={on_gfn} size="10" aria-invalid={gfn_error.is_some().then_some("true")} aria-describedby={gfn_error.is_some().then_some("rmap-gfn-error")} /></label>
        if let Some(m) = &*gfn_error {
            <span id="rmap-gfn-error" class="field-error" role="alert">{ m.clone() }</span>
        }
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
    let on_step = emit_parsed::<InputEvent, _>(p.on_step.clone());
    let on_entries = emit_parsed::<Event, _>(p.on_entries.clone());
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
                    let v = snapshot_at(&f.events, f.step, era, f.entries, p.recycle);
                    let entries: usize = v.snap.descs().iter().map(|d| d.sptes.len()).sum::<usize>()
                        + usize::from(v.snap.single().is_some());
                    html! { <div class="era" data-era={era.name()}>
                        <h3>{ format!("{} ({})", era.name(), era.kernels()) }</h3>
                        if current.is_some() {
                            <p class="step-cost">{ format!(
                                "{}this step walked {} descriptor(s) and changed {} slot(s); the list holds {entries} entries in {} descriptor(s).",
                                v.count.map(|c| format!("pte_list_add returned {c}; ")).unwrap_or_default(),
                                v.descs_walked,
                                v.changed.len(),
                                v.snap.descs().len()
                            ) }</p>
                        }
                        if v.recycled {
                            <p class="warn recycled">{ format!("The list held more than {} entries before this add, so KVM zapped it (__rmap_add's recycle rule).", p.recycle.unwrap_or_default()) }</p>
                        }
                        { chain(&v.snap, &v.changed, f.entries) }
                    </div> }
                }) }
            </div>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A typed gfn is hex with or without `0x`; anything else is an error that says how to
    /// type one, never ignored.
    #[test]
    fn a_bad_gfn_is_an_error() {
        assert_eq!(parse_gfn("400"), Ok(RmapId(0x400)));
        assert_eq!(parse_gfn(" 0x7F3a "), Ok(RmapId(0x7f3a)));
        for bad in ["", "0x", "zz", "12g", "1 2", "-4", "11112222333344445"] {
            let e = parse_gfn(bad).expect_err(bad);
            assert!(e.contains("hex"), "{bad}: {e}");
        }
    }
}
