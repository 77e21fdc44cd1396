//! The page's side of the replay workers: up to one per core (`navigator.hardwareConcurrency`,
//! at most [`MAX_WORKERS`]). Worker 0 leads each replay: once the trace's header says how many
//! configurations there are, it sends a plan and the page hands the other shares ([`Part`]) to
//! as many more workers; their parts are assembled here into one summary, as the CLI assembles
//! its threads'. A leader that imports a capture sends its plan once the import is done, with its
//! kept copy, which the page passes on with the shares: a capture is imported once, whatever the
//! worker count. Requests are queued until a worker reports ready; answers become actions.

use crate::downloads::download_array;
use crate::protocol::{
    Part, ReplayJob, Request, Response, Split, EXPORTED, KEPT_BYTES, KEPT_META, PLAN, REQ,
    TRACE_BYTES, TRACE_FILE,
};
use crate::state::{Action, AppState, TraceSource};
use rmaplab_core::replay::{ReplayPart, ReplaySummary};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// Script Trunk generates to start a worker.
pub const WORKER_URL: &str = "./rmaplab-worker_loader.js";

/// Most workers started, whatever the core count (each holds its own copy of the model's
/// state and of the kept import; more than eight rarely pays for the trace being read once per
/// worker).
pub const MAX_WORKERS: usize = 8;

/// One running worker, its message handler, and messages queued until it reports ready.
#[derive(Debug)]
struct WorkerHandle {
    worker: web_sys::Worker,
    _onmessage: Closure<dyn FnMut(web_sys::MessageEvent)>,
    ready: bool,
    queue: Vec<JsValue>,
}

/// The parts of the replay in flight, as the workers deliver them.
#[derive(Debug, Default)]
struct Gather {
    /// Workers sharing the replay.
    of: usize,
    /// `Done` answers received.
    done: usize,
    /// Their parts (empty shares send none).
    parts: Vec<ReplayPart>,
    /// Workers that imported a capture for this replay.
    imports: usize,
    /// Worker 0's `Done`, less its part: what only worker 0 finds.
    first: Option<Response>,
    /// Whether any worker said a second pass follows.
    candidates_pending: bool,
    /// Workers that said a second pass follows.
    second_expected: usize,
    /// `Candidates` answers received.
    second_done: usize,
    /// Their parts.
    second_parts: Vec<ReplayPart>,
    /// Worker 0's hash of a large trace.
    sha256: Option<String>,
    /// The `Done` action was dispatched (the `Candidates` action must follow it).
    done_sent: bool,
    /// The replay in flight and its trace, for the shares the leader's plan hands out.
    job: Option<(ReplayJob, TraceSource)>,
    /// A worker's failure was dispatched: the other workers sharing the replay fail on the
    /// same trace, and their later answers must not overwrite the first (which names the file).
    failed: bool,
    /// `Candidates` answers still to come from the replay this one superseded while its
    /// second pass ran (the workers finish it before they take the new request): ignored.
    stale_candidates: usize,
}

/// The running workers (worker 0 leads replays and answers the other requests).
#[derive(Debug)]
pub struct WorkerPool {
    workers: Rc<RefCell<Vec<Rc<RefCell<WorkerHandle>>>>>,
    gather: Rc<RefCell<Gather>>,
    /// What the next exported trace is called when it is offered for download.
    export_name: Rc<RefCell<String>>,
}

/// Where the page keeps its workers (none before the first request and after a cancel).
pub type WorkerSlot = Rc<RefCell<Option<WorkerPool>>>;

/// How many workers this page starts: `?workers=N` in its address when given (to spare cores,
/// or to compare), else one per logical core; always between 1 and [`MAX_WORKERS`].
fn worker_count() -> usize {
    let Some(w) = web_sys::window() else { return 1 };
    let asked = w.location().search().ok().and_then(|q| {
        q.trim_start_matches('?')
            .split('&')
            .find_map(|kv| kv.strip_prefix("workers="))
            .and_then(|n| n.parse::<usize>().ok())
    });
    let cores = w.navigator().hardware_concurrency();
    let n = match asked {
        Some(n) => n,
        None if cores.is_finite() && cores >= 1.0 => cores as usize,
        None => 1,
    };
    n.clamp(1, MAX_WORKERS)
}

/// Start the workers if none run; their messages become actions.
pub fn ensure_worker(
    slot: &WorkerSlot,
    dispatch: &UseReducerDispatcher<AppState>,
) -> Result<(), String> {
    if slot.borrow().is_some() {
        return Ok(());
    }
    let gather = Rc::new(RefCell::new(Gather::default()));
    let workers = Rc::new(RefCell::new(Vec::new()));
    let export_name = Rc::new(RefCell::new(String::from("trace.rmap")));
    for index in 0..worker_count() {
        match start(index, &gather, &workers, &export_name, dispatch) {
            Ok(w) => workers.borrow_mut().push(w),
            // A browser that refuses more workers still replays with those it started.
            Err(e) if index > 0 => {
                web_sys::console::warn_1(&format!("replay worker {index}: {e}").into());
                break;
            }
            Err(e) => return Err(e),
        }
    }
    *slot.borrow_mut() = Some(WorkerPool {
        workers,
        gather,
        export_name,
    });
    Ok(())
}

/// Start worker `index`.
fn start(
    index: usize,
    gather: &Rc<RefCell<Gather>>,
    workers: &Rc<RefCell<Vec<Rc<RefCell<WorkerHandle>>>>>,
    export_name: &Rc<RefCell<String>>,
    dispatch: &UseReducerDispatcher<AppState>,
) -> Result<Rc<RefCell<WorkerHandle>>, String> {
    let opts = web_sys::WorkerOptions::new();
    opts.set_type(web_sys::WorkerType::Classic);
    let worker = web_sys::Worker::new_with_options(WORKER_URL, &opts)
        .map_err(|e| format!("cannot start the replay worker: {e:?}"))?;
    let handle = Rc::new_cyclic(|weak: &std::rc::Weak<RefCell<WorkerHandle>>| {
        let (d, weak, gather) = (dispatch.clone(), weak.clone(), gather.clone());
        let export_name = export_name.clone();
        let workers = Rc::downgrade(workers);
        let onmessage =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
                let data = ev.data();
                if let Ok(arr) = js_sys::Reflect::get(&data, &EXPORTED.into())
                    .and_then(|v| v.dyn_into::<js_sys::Uint8Array>())
                {
                    let name = export_name.borrow().clone();
                    if let Err(e) = download_array(&name, "application/octet-stream", &arr) {
                        d.dispatch(Action::Failed(e));
                    }
                    return;
                }
                // A plan with the leader's kept import beside it: the shares get the copy.
                if let Ok(plan) = js_sys::Reflect::get(&data, &PLAN.into()) {
                    if !plan.is_undefined() {
                        let kept = js_sys::Reflect::get(&data, &KEPT_BYTES.into())
                            .and_then(|b| {
                                js_sys::Reflect::get(&data, &KEPT_META.into()).map(|m| (b, m))
                            })
                            .ok();
                        match crate::protocol::from_js::<Response>(plan) {
                            Ok(Response::Plan { of, .. }) => {
                                if let Some(workers) = workers.upgrade() {
                                    let handed =
                                        hand_out(&workers.borrow(), &gather, of, kept.as_ref());
                                    if let Err(e) = handed {
                                        d.dispatch(Action::Failed(e));
                                    }
                                }
                            }
                            other => d.dispatch(Action::Failed(format!(
                                "unreadable plan from the worker: {other:?}"
                            ))),
                        }
                        return;
                    }
                }
                match crate::protocol::from_js::<Response>(data) {
                    Ok(Response::Ready) => {
                        if let Some(h) = weak.upgrade() {
                            let mut h = h.borrow_mut();
                            h.ready = true;
                            for m in std::mem::take(&mut h.queue) {
                                if let Err(e) = h.worker.post_message(&m) {
                                    d.dispatch(Action::Failed(format!(
                                        "cannot reach the replay worker: {e:?}"
                                    )));
                                }
                            }
                        }
                    }
                    Ok(Response::Plan { of, .. }) => {
                        if let Some(workers) = workers.upgrade() {
                            if let Err(e) = hand_out(&workers.borrow(), &gather, of, None) {
                                d.dispatch(Action::Failed(e));
                            }
                        }
                    }
                    Ok(r) => answer(index, r, &gather, &d),
                    Err(e) => d.dispatch(Action::Failed(format!(
                        "unreadable message from the worker: {e}"
                    ))),
                }
            });
        worker.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
        RefCell::new(WorkerHandle {
            worker,
            _onmessage: onmessage,
            ready: false,
            queue: Vec::new(),
        })
    });
    Ok(handle)
}

/// Worker `index` answered `r`.
fn answer(
    index: usize,
    r: Response,
    gather: &Rc<RefCell<Gather>>,
    d: &UseReducerDispatcher<AppState>,
) {
    match r {
        Response::Progress(report) => d.dispatch(Action::Report {
            report,
            at_ms: js_sys::Date::now(),
        }),
        mut done @ Response::Done { .. } => {
            let Some((part, candidates_pending, imported)) = done.take_done_part() else {
                return;
            };
            let mut g = gather.borrow_mut();
            g.done += 1;
            g.imports += usize::from(imported);
            g.parts.extend(part.map(|p| *p));
            g.candidates_pending |= candidates_pending;
            g.second_expected += usize::from(candidates_pending);
            if index == 0 {
                // What only worker 0 finds (its part is already taken out).
                g.first = Some(done);
            }
            let actions = g.ready_actions();
            drop(g);
            for a in actions {
                d.dispatch(a);
            }
        }
        Response::Candidates { part, sha256 } => {
            let mut g = gather.borrow_mut();
            if g.stale_candidates > 0 {
                g.stale_candidates -= 1;
                return;
            }
            g.second_done += 1;
            g.second_parts.extend(part.map(|p| *p));
            if index == 0 {
                g.sha256 = sha256;
            }
            let actions = g.ready_actions();
            drop(g);
            for a in actions {
                d.dispatch(a);
            }
        }
        Response::Focused {
            rmap,
            events,
            truncated,
        } => d.dispatch(Action::Focused {
            rmap,
            events: Rc::new(events),
            truncated,
        }),
        Response::Failed(e) => {
            let first = !std::mem::replace(&mut gather.borrow_mut().failed, true);
            if first {
                d.dispatch(Action::Failed(e));
            }
        }
        // Exports arrive as a bare `Uint8Array` (handled by the caller), never through serde;
        // readiness and plans are the caller's too.
        Response::Exported(_) | Response::Ready | Response::Plan { .. } => {}
    }
}

impl Gather {
    /// A fresh replay, led by worker 0 alone until its plan says otherwise.
    fn new(job: ReplayJob, trace: TraceSource) -> Self {
        Gather {
            of: 1,
            job: Some((job, trace)),
            ..Gather::default()
        }
    }

    /// The actions the answers received so far complete: the results once every worker's first
    /// pass is in, then the candidates once every second pass announced is in.
    fn ready_actions(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.done_sent && self.done == self.of {
            if let Some(Response::Done {
                shown,
                shared,
                longest,
                encoding,
                ..
            }) = self.first.take()
            {
                self.done_sent = true;
                out.push(Action::Done {
                    summary: Rc::new(ReplaySummary::assemble(std::mem::take(&mut self.parts))),
                    asked: shown,
                    longest,
                    encoding,
                    shared,
                    candidates_pending: self.candidates_pending,
                    imports: self.imports,
                });
            }
        }
        if self.done_sent && self.second_expected > 0 && self.second_done == self.second_expected {
            self.second_expected = 0;
            let parts = std::mem::take(&mut self.second_parts);
            let configs = if parts.is_empty() {
                Vec::new()
            } else {
                ReplaySummary::assemble(parts).configs
            };
            out.push(Action::Candidates {
                configs: Rc::new(configs),
                sha256: self.sha256.take(),
            });
        }
        out
    }
}

/// The message carrying `req` and, when it changed, the trace (bytes are copied, a `File` is only
/// a handle: each worker reads it itself).
fn message(req: &Request, trace: Option<&TraceSource>) -> Result<JsValue, String> {
    let msg = js_sys::Object::new();
    let v = crate::protocol::to_js(req)?;
    js_sys::Reflect::set(&msg, &REQ.into(), &v).map_err(|e| format!("{e:?}"))?;
    let attached = match trace {
        Some(TraceSource::Bytes(b)) => {
            Some((TRACE_BYTES, JsValue::from(js_sys::Uint8Array::from(&b[..]))))
        }
        Some(TraceSource::File(f)) => Some((TRACE_FILE, JsValue::from((**f).clone()))),
        None => None,
    };
    if let Some((key, value)) = attached {
        js_sys::Reflect::set(&msg, &key.into(), &value).map_err(|e| format!("{e:?}"))?;
    }
    Ok(msg.into())
}

/// Send `msg` to one worker, or queue it until the worker is ready.
fn send(h: &RefCell<WorkerHandle>, msg: JsValue) -> Result<(), String> {
    let mut h = h.borrow_mut();
    if h.ready {
        h.worker.post_message(&msg).map_err(|e| format!("{e:?}"))
    } else {
        h.queue.push(msg);
        Ok(())
    }
}

fn not_running() -> String {
    "the replay worker is not running (it was cancelled); change a setting to restart it".into()
}

/// Replay `trace` as `job` asks: worker 0 leads (its plan hands out the other shares); the answers are assembled.
pub fn replay(slot: &WorkerSlot, job: ReplayJob, trace: &TraceSource) -> Result<(), String> {
    let pool = slot.borrow();
    let Some(pool) = pool.as_ref() else {
        return Err(not_running());
    };
    let workers = pool.workers.borrow();
    let Some(leader) = workers.first() else {
        return Err(not_running());
    };
    let job = ReplayJob {
        split: Split::Lead {
            workers: workers.len(),
        },
        ..job
    };
    // A replay whose results are in may still be in its second pass (the recommendation's
    // candidates, a large trace's hash): the workers finish it first and keep their imported
    // capture, and its late answers are ignored.
    let stale = {
        let g = pool.gather.borrow();
        if g.done_sent {
            g.stale_candidates + g.second_expected.saturating_sub(g.second_done)
        } else {
            0
        }
    };
    *pool.gather.borrow_mut() = Gather {
        stale_candidates: stale,
        ..Gather::new(job.clone(), trace.clone())
    };
    send(leader, message(&Request::Replay(job), Some(trace))?)
}

/// The leader's plan: `of` workers share the replay in flight; shares 1 to `of - 1` go out,
/// with the leader's kept import (its bytes and [`crate::protocol::KeptMeta`], as the leader
/// sent them) when it sent one.
fn hand_out(
    workers: &[Rc<RefCell<WorkerHandle>>],
    gather: &Rc<RefCell<Gather>>,
    of: usize,
    kept: Option<&(JsValue, JsValue)>,
) -> Result<(), String> {
    let mut g = gather.borrow_mut();
    let Some((job, trace)) = g.job.clone() else {
        return Ok(());
    };
    g.of = of.clamp(1, workers.len().max(1));
    let of = g.of;
    drop(g);
    for (index, w) in workers.iter().enumerate().take(of).skip(1) {
        let req = Request::Replay(ReplayJob {
            split: Split::Share(Part { index, of }),
            ..job.clone()
        });
        let msg = message(&req, Some(&trace))?;
        if let Some((bytes, meta)) = kept {
            js_sys::Reflect::set(&msg, &KEPT_BYTES.into(), bytes).map_err(|e| format!("{e:?}"))?;
            js_sys::Reflect::set(&msg, &KEPT_META.into(), meta).map_err(|e| format!("{e:?}"))?;
        }
        send(w, msg)?;
    }
    Ok(())
}

/// Send `req` (not a replay: see [`replay`]) to worker 0, with the trace when it changed.
pub fn post(slot: &WorkerSlot, req: &Request, trace: Option<&TraceSource>) -> Result<(), String> {
    let pool = slot.borrow();
    let Some(pool) = pool.as_ref() else {
        return Err(not_running());
    };
    let workers = pool.workers.borrow();
    match workers.first() {
        Some(w) => send(w, message(req, trace)?),
        None => Err(not_running()),
    }
}

/// Name the trace the next export answers with (its download's file name).
pub fn set_export_name(slot: &WorkerSlot, name: &str) {
    if let Some(pool) = slot.borrow().as_ref() {
        *pool.export_name.borrow_mut() = name.to_string();
    }
}

/// Stop the workers (a replay in flight is abandoned); the next request starts fresh ones.
pub fn stop(slot: &WorkerSlot) {
    if let Some(pool) = slot.borrow_mut().take() {
        for w in pool.workers.borrow().iter() {
            w.borrow().worker.terminate();
        }
    }
}
