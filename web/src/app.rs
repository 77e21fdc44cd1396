//! The page: controls, provenance, results.

use crate::components::{controls::Controls, provenance::Provenance, results_table::ResultsTable};
use crate::state::{configs, replay_bytes, Action, AppState, DEFAULT_TRACE};
use std::rc::Rc;
use yew::prelude::*;

/// The root component.
#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(AppState::default);
    {
        let state = state.clone();
        let deps = (state.entries.clone(), state.eras.clone());
        use_effect_with(deps, move |(entries, eras)| {
            match configs(entries, eras).and_then(|c| replay_bytes(DEFAULT_TRACE, &c)) {
                Ok(s) => state.dispatch(Action::Loaded(Rc::new(s))),
                Err(e) => state.dispatch(Action::Failed(e)),
            }
        });
    }
    let on_entries = {
        let state = state.clone();
        Callback::from(move |v: String| state.dispatch(Action::SetEntries(v)))
    };
    let on_eras = {
        let state = state.clone();
        Callback::from(move |v: String| state.dispatch(Action::SetEras(v)))
    };
    html! {
        <main>
            <h1>{"rmaplab playground"}</h1>
            <p>{"How big should KVM's "}<code>{"struct pte_list_desc"}</code>{" array be? Each row replays the trace through one array size and kernel era."}</p>
            <Controls entries={state.entries.clone()} eras={state.eras.clone()} {on_entries} {on_eras} />
            if let Some(e) = &state.error { <p class="error" role="alert">{ e }</p> }
            if let Some(s) = &state.summary {
                <Provenance meta={s.meta.clone()} events={s.events} />
                <ResultsTable configs={s.configs.clone()} />
                <ul class="notes">{ for s.notes.iter().map(|n| html!{ <li>{ n }</li> }) }</ul>
            }
        </main>
    }
}
