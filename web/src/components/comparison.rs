//! Compare two traces: pin the results on screen as trace A (a `collect` trace, say), open
//! trace B (a kvmmmu capture of the same run), and read which figures differ, configuration by
//! configuration — what B's recording could not see. The comparison is core's
//! ([`rmaplab_core::compare`]).

use crate::state::Pinned;
use rmaplab_core::compare::{b_is_lower_better, compare};
use rmaplab_core::memory::HostShape;
use rmaplab_core::replay::ConfigReport;
use yew::prelude::*;

/// Props of [`Comparison`].
#[derive(Properties, PartialEq, Debug)]
pub struct ComparisonProps {
    /// The pinned results (trace A), if any.
    pub pinned: Option<Pinned>,
    /// The trace on screen (B).
    pub name: String,
    /// Its configurations asked for.
    pub configs: std::rc::Rc<Vec<ConfigReport>>,
    /// The settings they were replayed with (the link's settings part).
    pub settings: String,
    /// The host the memory figures are for.
    pub host: HostShape,
    /// Pin the results on screen as A.
    pub on_pin: Callback<()>,
    /// Drop the pinned results.
    pub on_unpin: Callback<()>,
}

/// The comparison panel (or, with nothing pinned, the button that pins).
#[function_component(Comparison)]
pub fn comparison(p: &ComparisonProps) -> Html {
    let pin = {
        let cb = p.on_pin.clone();
        Callback::from(move |_: MouseEvent| cb.emit(()))
    };
    let unpin = {
        let cb = p.on_unpin.clone();
        Callback::from(move |_: MouseEvent| cb.emit(()))
    };
    let Some(a) = &p.pinned else {
        return html! {
            <section class="comparison" aria-label="compare two traces">
                <button type="button" class="pin" onclick={pin}>{"Pin these results as trace A"}</button>
                {" then open another trace (a capture of the same run, say) to see which figures differ."}
            </section>
        };
    };
    let c = compare(&a.configs, &p.configs, p.host);
    let differing = c.differing();
    let summary = format!("{}.", c.summary(&a.name, &p.name));
    html! {
        <section class="comparison" aria-label="compare two traces">
            <h2>{"Trace B against trace A"}</h2>
            <p class="compare-summary" role="status">{ summary }
                {" "}<button type="button" onclick={pin}>{"Pin B as A instead"}</button>
                {" "}<button type="button" onclick={unpin}>{"Stop comparing"}</button>
            </p>
            if a.settings != p.settings {
                <p class="warn">{ format!("A was replayed with other settings ({}); the figures compare configurations of the same label.", a.settings) }</p>
            }
            if !c.only_a.is_empty() || !c.only_b.is_empty() {
                <p class="muted">{ format!("Only in A: {}. Only in B: {}.", list(&c.only_a), list(&c.only_b)) }</p>
            }
            if differing + c.marked_only() > 0 {
                <div class="table-wrap">
                <table class="compare">
                    <thead><tr><th scope="col">{"configuration"}</th><th scope="col">{"figure"}</th><th scope="col">{"A"}</th><th scope="col">{"B"}</th><th scope="col">{"B − A"}</th></tr></thead>
                    <tbody>
                    { for c.configs.iter().flat_map(|cfg| cfg.differ.iter().map(move |f| (cfg.label.clone(), f.clone()))).map(|(label, f)| {
                        let class = match (f.same_value, b_is_lower_better(&f)) {
                            (true, _) => "marked-only",
                            (false, Some(true)) => "better",
                            (false, Some(false)) => "worse",
                            (false, None) => "",
                        };
                        let delta = match f.delta_text() {
                            t if t.is_empty() => "—".to_string(),
                            t => t,
                        };
                        html! { <tr data-config={label.clone()} data-key={f.key.clone()} class={class}>
                            <th scope="row">{ label }</th><td>{ f.header.clone() }</td><td>{ f.a.clone() }</td><td>{ f.b.clone() }</td><td>{ delta }</td>
                        </tr> }
                    }) }
                    </tbody>
                </table>
                </div>
            }
        </section>
    }
}

/// Labels joined, or "none".
fn list(labels: &[String]) -> String {
    if labels.is_empty() {
        "none".to_string()
    } else {
        labels.join(", ")
    }
}
