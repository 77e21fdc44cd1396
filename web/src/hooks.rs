//! The root component's effects as hooks, so `app()` reads as layout: replay when the trace or
//! a replayed setting changes, open the stepper on the rmap a link names, and keep the URL and
//! the page in step both ways.

use crate::app::FOCUS_LIMIT;
use crate::client::{self, ensure_worker, post, WorkerSlot};
use crate::protocol::{ReplayJob, Request, Split};
use crate::state::{Action, AppState, Status};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// The page's URL fragment, `#` included (empty when there is none).
pub fn location_hash() -> String {
    web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default()
}

/// Replay whenever the trace or a setting the replay depends on changes (vCPUs, VMs and the
/// tolerance only change arithmetic on the results); a replay still running is superseded (its
/// workers are stopped), not queued behind. Between replays the workers keep an imported
/// capture, so a new setting replays it without importing it again.
#[hook]
pub fn use_replay(state: &UseReducerHandle<AppState>, slot: &WorkerSlot) {
    let (slot, dispatch, trace) = (slot.clone(), state.dispatcher(), state.trace.clone());
    // Only a first pass is stopped: a second pass (the candidates, a large trace's hash) is
    // short, and the workers finish it before the new request, keeping their import.
    let (running, may, hash_all) = (
        matches!(state.status, Status::Running { .. }),
        state.may_replay(),
        state.wanted.is_some(),
    );
    use_effect_with(
        (state.settings.replay_key(), state.trace_gen, may),
        move |((request, tdp, vm, kvm_stats), _, may)| {
            if !*may {
                return;
            }
            if running {
                client::stop(&slot);
            }
            let r = request.clone().and_then(|request| {
                ensure_worker(&slot, &dispatch)?;
                dispatch.dispatch(Action::Progress(0, trace.len()));
                client::replay(
                    &slot,
                    ReplayJob {
                        request,
                        tdp: *tdp,
                        vm: *vm,
                        hash_all,
                        split: Split::Lead { workers: 1 },
                        kvm_stats: kvm_stats.clone(),
                    },
                    &trace,
                )
            });
            if let Err(e) = r {
                dispatch.dispatch(Action::Failed(e));
            }
        },
    );
}

/// A link that names an rmap opens the stepper on it once the trace's results are in.
#[hook]
pub fn use_linked_focus(state: &UseReducerHandle<AppState>, slot: &WorkerSlot) {
    let (slot, d, trace) = (slot.clone(), state.dispatcher(), state.trace.clone());
    let vm = state.settings.vm;
    let ready = state.summary.is_some() && !matches!(state.status, Status::Running { .. });
    let wanted = state
        .wanted_focus
        .filter(|_| ready && state.focus.is_none())
        .map(|w| w.rmap);
    use_effect_with((wanted, state.trace_gen), move |(wanted, _)| {
        if let Some(rmap) = *wanted {
            let req = Request::Focus {
                rmap,
                limit: FOCUS_LIMIT,
                vm,
            };
            if let Err(e) = post(&slot, &req, Some(&trace)) {
                d.dispatch(Action::Failed(e));
            }
        }
    });
}

/// The URL follows the page (`replaceState`, which fires no `hashchange`; settings that cannot
/// be replayed are not written into it), and the page follows the URL (a link pasted into an
/// open tab).
#[hook]
pub fn use_location_hash(state: &UseReducerHandle<AppState>) {
    let valid = state.settings.request().is_ok();
    use_effect_with((state.fragment(), valid), |(fragment, valid)| {
        if let Some(w) = web_sys::window().filter(|_| *valid) {
            let _ = w
                .history()
                .and_then(|h| h.replace_state_with_url(&JsValue::NULL, "", Some(fragment)));
        }
    });
    let d = state.dispatcher();
    use_effect_with((), move |_| {
        let cb = Closure::<dyn FnMut(web_sys::HashChangeEvent)>::new(
            move |_: web_sys::HashChangeEvent| d.dispatch(Action::Hash(location_hash())),
        );
        let w = web_sys::window();
        if let Some(w) = &w {
            let _ = w.add_event_listener_with_callback("hashchange", cb.as_ref().unchecked_ref());
        }
        move || {
            if let Some(w) = w {
                let _ = w
                    .remove_event_listener_with_callback("hashchange", cb.as_ref().unchecked_ref());
            }
        }
    });
}
