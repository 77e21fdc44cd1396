//! The page's side of the replay worker: start it, queue requests until it is ready, turn its
//! answers into actions.

use crate::downloads::download_array;
use crate::protocol::{Request, Response};
use crate::state::{Action, AppState, TraceSource};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// Script Trunk generates to start the worker.
pub const WORKER_URL: &str = "./rmaplab-worker_loader.js";

/// The running worker, its message handler, and messages queued until it reports ready.
#[derive(Debug)]
pub struct WorkerHandle {
    worker: web_sys::Worker,
    _onmessage: Closure<dyn FnMut(web_sys::MessageEvent)>,
    ready: bool,
    queue: Vec<JsValue>,
}

/// Where the page keeps its worker (none before the first request and after a cancel).
pub type WorkerSlot = Rc<RefCell<Option<WorkerHandle>>>;

/// Start the worker if none runs; its messages become actions.
pub fn ensure_worker(
    slot: &WorkerSlot,
    dispatch: &UseReducerDispatcher<AppState>,
) -> Result<(), String> {
    if slot.borrow().is_some() {
        return Ok(());
    }
    let opts = web_sys::WorkerOptions::new();
    opts.set_type(web_sys::WorkerType::Classic);
    let worker = web_sys::Worker::new_with_options(WORKER_URL, &opts)
        .map_err(|e| format!("cannot start the replay worker: {e:?}"))?;
    let d = dispatch.clone();
    let weak = Rc::downgrade(slot);
    let onmessage =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let data = ev.data();
            if let Ok(arr) = js_sys::Reflect::get(&data, &"exported".into())
                .and_then(|v| v.dyn_into::<js_sys::Uint8Array>())
            {
                if let Err(e) = download_array("trace.rmap", "application/octet-stream", &arr) {
                    d.dispatch(Action::Failed(e));
                }
                return;
            }
            match crate::protocol::from_js::<Response>(data) {
                Ok(Response::Ready) => {
                    if let Some(slot) = weak.upgrade() {
                        if let Some(h) = slot.borrow_mut().as_mut() {
                            h.ready = true;
                            for m in h.queue.drain(..) {
                                if let Err(e) = h.worker.post_message(&m) {
                                    d.dispatch(Action::Failed(format!(
                                        "cannot reach the replay worker: {e:?}"
                                    )));
                                }
                            }
                        }
                    }
                }
                Ok(Response::Progress { done, total }) => d.dispatch(Action::Progress(done, total)),
                Ok(Response::Done {
                    summary,
                    shown,
                    shared,
                    longest,
                    encoding,
                    candidates_pending,
                }) => d.dispatch(Action::Done {
                    summary: Rc::new(*summary),
                    asked: shown,
                    longest,
                    encoding,
                    shared,
                    candidates_pending,
                }),
                Ok(Response::Candidates { configs, sha256 }) => d.dispatch(Action::Candidates {
                    configs: Rc::new(configs),
                    sha256,
                }),
                Ok(Response::Focused {
                    rmap,
                    events,
                    truncated,
                }) => d.dispatch(Action::Focused {
                    rmap,
                    events: Rc::new(events),
                    truncated,
                }),
                Ok(Response::Failed(e)) => d.dispatch(Action::Failed(e)),
                // Exports arrive as a bare `Uint8Array` (handled above), never through serde.
                Ok(Response::Exported(_)) => {}
                Err(e) => d.dispatch(Action::Failed(format!(
                    "unreadable message from the worker: {e}"
                ))),
            }
        });
    worker.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    *slot.borrow_mut() = Some(WorkerHandle {
        worker,
        _onmessage: onmessage,
        ready: false,
        queue: Vec::new(),
    });
    Ok(())
}

/// Send `req` to the worker, with the trace when it changed (bytes are copied, a `File` is only
/// a handle: the worker reads it itself).
pub fn post(slot: &WorkerSlot, req: &Request, trace: Option<&TraceSource>) -> Result<(), String> {
    let msg = js_sys::Object::new();
    let v = crate::protocol::to_js(req)?;
    js_sys::Reflect::set(&msg, &"req".into(), &v).map_err(|e| format!("{e:?}"))?;
    let attached = match trace {
        Some(TraceSource::Bytes(b)) => {
            Some(("bytes", JsValue::from(js_sys::Uint8Array::from(&b[..]))))
        }
        Some(TraceSource::File(f)) => Some(("file", JsValue::from((**f).clone()))),
        None => None,
    };
    if let Some((key, value)) = attached {
        js_sys::Reflect::set(&msg, &key.into(), &value).map_err(|e| format!("{e:?}"))?;
    }
    match slot.borrow_mut().as_mut() {
        Some(h) if h.ready => h.worker.post_message(&msg).map_err(|e| format!("{e:?}")),
        Some(h) => {
            h.queue.push(msg.into());
            Ok(())
        }
        None => Err(
            "the replay worker is not running (it was cancelled); change a setting to restart it"
                .into(),
        ),
    }
}

/// Stop the worker (a replay in flight is abandoned); the next request starts a fresh one.
pub fn stop(slot: &WorkerSlot) {
    if let Some(h) = slot.borrow_mut().take() {
        h.worker.terminate();
    }
}
