//! The page: it owns the replay worker and wires the components to the state.

use crate::components::{
    controls::Controls, export::Export, histogram_chart::HistogramChart,
    how_to_capture::HowToCapture, loader::Loader, memory_chart::MemoryChart,
    provenance::Provenance, recommendation::RecommendationLine, results_table::ResultsTable,
    seed_check::SeedCheck, stepper::Stepper, tradeoff_chart::TradeoffChart,
};
use crate::protocol::{Request, Response};
use crate::state::{recommend, to_csv, Action, AppState, Settings, Status, TraceSource};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// Script Trunk generates to start the worker.
pub const WORKER_URL: &str = "./rmaplab-worker_loader.js";
/// Most events of one rmap the stepper loads.
pub const FOCUS_LIMIT: usize = 20_000;

/// The running worker, its message handler, and messages queued until it reports ready.
#[derive(Debug)]
pub struct WorkerHandle {
    worker: web_sys::Worker,
    _onmessage: Closure<dyn FnMut(web_sys::MessageEvent)>,
    ready: bool,
    queue: Vec<JsValue>,
}

type WorkerSlot = Rc<RefCell<Option<WorkerHandle>>>;

fn location_hash() -> String {
    web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default()
}

/// Start the worker if none runs; its messages become actions.
fn ensure_worker(
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
                    longest,
                    encoding,
                }) => d.dispatch(Action::Done {
                    summary: Rc::new(*summary),
                    longest,
                    encoding,
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
fn post(slot: &WorkerSlot, req: &Request, trace: Option<&TraceSource>) -> Result<(), String> {
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

/// Offer `bytes` as a download named `name`.
pub fn download(name: &str, mime: &str, bytes: &[u8]) -> Result<(), String> {
    download_array(name, mime, &js_sys::Uint8Array::from(bytes))
}

/// Offer a JS byte array as a download named `name`.
pub fn download_array(name: &str, mime: &str, bytes: &js_sys::Uint8Array) -> Result<(), String> {
    let arr = js_sys::Array::new();
    arr.push(bytes);
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&arr, &opts)
        .map_err(|e| format!("{e:?}"))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|e| format!("{e:?}"))?;
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement = doc
        .create_element("a")
        .map_err(|e| format!("{e:?}"))?
        .dyn_into()
        .map_err(|_| "not an anchor")?;
    a.set_href(&url);
    a.set_download(name);
    a.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

/// The root component.
#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(|| AppState::initial(&location_hash()));
    let slot: WorkerSlot = use_mut_ref(|| None);
    let dispatch = state.dispatcher();

    // Replay whenever the settings or the trace change.
    {
        let (slot, dispatch, trace) = (slot.clone(), dispatch.clone(), state.trace.clone());
        use_effect_with(
            (state.settings.clone(), state.trace_gen),
            move |(settings, _)| {
                if let Some(w) = web_sys::window() {
                    let _ = w.history().and_then(|h| {
                        h.replace_state_with_url(
                            &JsValue::NULL,
                            "",
                            Some(&format!("#{}", settings.to_hash())),
                        )
                    });
                }
                let r = settings.configs().and_then(|configs| {
                    ensure_worker(&slot, &dispatch)?;
                    dispatch.dispatch(Action::Progress(0, trace.len()));
                    let vm = settings.vm;
                    post(&slot, &Request::Replay { configs, vm }, Some(&trace))
                });
                if let Err(e) = r {
                    dispatch.dispatch(Action::Failed(e));
                }
            },
        );
    }

    let on_settings = {
        let d = dispatch.clone();
        Callback::from(move |s: Settings| d.dispatch(Action::Settings(s)))
    };
    let on_file = {
        let d = dispatch.clone();
        // The file is not read here: the worker reads it in slices, so any size works.
        Callback::from(move |f: web_sys::File| {
            let name = f.name();
            if f.size() == 0.0 {
                d.dispatch(Action::Failed(format!(
                    "{name}: the file is empty — choose an rmaplab trace or a kvmmmu capture (trace.dat, perf.data, text)"
                )));
            } else {
                d.dispatch(Action::Load {
                    name,
                    source: TraceSource::File(Rc::new(f)),
                });
            }
        })
    };
    let on_vm = {
        let (d, settings) = (dispatch.clone(), state.settings.clone());
        Callback::from(move |vm: Option<u64>| {
            d.dispatch(Action::Settings(Settings {
                vm,
                ..settings.clone()
            }))
        })
    };
    let on_cancel = {
        let (slot, d) = (slot.clone(), dispatch.clone());
        Callback::from(move |_| {
            if let Some(h) = slot.borrow_mut().take() {
                h.worker.terminate();
            }
            d.dispatch(Action::Cancel);
        })
    };
    // Every request names the trace: after a failed load the worker may still hold that file.
    let on_pick = {
        let (slot, d, trace) = (slot.clone(), dispatch.clone(), state.trace.clone());
        let vm = state.settings.vm;
        Callback::from(move |rmap: u64| {
            if let Err(e) = post(
                &slot,
                &Request::Focus {
                    rmap,
                    limit: FOCUS_LIMIT,
                    vm,
                },
                Some(&trace),
            ) {
                d.dispatch(Action::Failed(e));
            }
        })
    };
    let on_step = {
        let d = dispatch.clone();
        Callback::from(move |k| d.dispatch(Action::Step(k)))
    };
    let on_focus_entries = {
        let d = dispatch.clone();
        Callback::from(move |n| d.dispatch(Action::FocusEntries(n)))
    };
    let ondragover = Callback::from(|e: DragEvent| e.prevent_default());
    let ondrop = {
        let on_file = on_file.clone();
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            if let Some(f) = e
                .data_transfer()
                .and_then(|t| t.files())
                .and_then(|l| l.get(0))
            {
                on_file.emit(f);
            }
        })
    };
    let summary = state.summary.clone();
    let on_csv = {
        let (s, d) = (summary.clone(), dispatch.clone());
        Callback::from(move |_| {
            if let Some(s) = &s {
                if let Err(e) = download("rmaplab-results.csv", "text/csv", to_csv(s).as_bytes()) {
                    d.dispatch(Action::Failed(e))
                }
            }
        })
    };
    let on_json = {
        let (s, d) = (summary.clone(), dispatch.clone());
        Callback::from(move |_| {
            if let Some(s) = &s {
                let r = serde_wasm_bindgen::to_value(&s.configs)
                    .map_err(|e| e.to_string())
                    .and_then(|v| {
                        js_sys::JSON::stringify_with_replacer_and_space(
                            &v,
                            &JsValue::NULL,
                            &JsValue::from(1),
                        )
                        .map_err(|e| format!("{e:?}"))
                    })
                    .and_then(|t| {
                        download(
                            "rmaplab-results.json",
                            "application/json",
                            String::from(t).as_bytes(),
                        )
                    });
                if let Err(e) = r {
                    d.dispatch(Action::Failed(e))
                }
            }
        })
    };
    // The worker re-encodes the trace (it holds it) and answers with the bytes to download.
    let on_trace = {
        let (slot, d, trace) = (slot.clone(), dispatch.clone(), state.trace.clone());
        let vm = state.settings.vm;
        Callback::from(move |_| {
            if let Err(e) = post(&slot, &Request::Export { vm }, Some(&trace)) {
                d.dispatch(Action::Failed(e))
            }
        })
    };
    let settings = state.settings.clone();
    let link = format!("#{}", settings.to_hash());
    html! {
        <div class="page" {ondragover} {ondrop}>
            <header>
                <h1>{"rmaplab playground"}</h1>
                <p>{"How big should the array in KVM's "}<code>{"struct pte_list_desc"}</code>{" be? Each row replays the trace through one array size and kernel era, exactly as the kernel's list code would."}</p>
            </header>
            <main>
                <Loader trace_name={state.trace_name.clone()} encoding={state.encoding.clone()} status={state.status.clone()} {on_file} {on_cancel} />
                <HowToCapture />
                <Controls settings={settings.clone()} on_change={on_settings} />
                if let Some(e) = &state.error { <p class="error" role="alert">{ e }</p> }
                if let Some(s) = &summary {
                    <Provenance meta={s.meta.clone()} events={s.events} notes={s.notes.clone()} vm={settings.vm} {on_vm} />
                    <RecommendationLine rec={recommend(&s.configs, settings.within_pct, settings.vcpus)} within_pct={settings.within_pct} vcpus={settings.vcpus} />
                    <ResultsTable configs={s.configs.clone()} checks={s.stat_checks.clone()} />
                    <Export {on_csv} {on_json} {on_trace} link={link} />
                    <div class="charts">
                        <MemoryChart configs={s.configs.clone()} events={s.events} />
                        <TradeoffChart configs={s.configs.clone()} />
                        <HistogramChart hist={s.histogram_at_peak.clone()} peak_entries={s.peak_entries} />
                    </div>
                    <SeedCheck summary={(**s).clone()} capacity={settings.cache_capacity} vcpus={settings.vcpus} />
                    <Stepper longest={state.longest.clone()} focus={state.focus.clone()} {on_pick} {on_step} on_entries={on_focus_entries} />
                } else if state.status == Status::Idle && state.error.is_none() {
                    <p>{"Loading…"}</p>
                }
            </main>
            <footer><small>{"rmaplab — everything runs in this page; no request leaves your machine."}</small></footer>
        </div>
    }
}
