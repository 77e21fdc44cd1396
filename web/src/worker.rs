//! The replay worker's logic (pure, tested natively) and its web-worker glue.

use crate::protocol::{FocusEvent, LongRmap, Request, Response};
use rmaplab_core::replay::{ReplayOptions, ReplaySummary, Replayer};
use rmaplab_core::trace::{Encoding, TraceDecoder};
use rmaplab_core::{EventKind, ModelConfig};
use std::collections::HashMap;

/// Bytes decoded between progress reports.
pub const CHUNK: usize = 1 << 20;
/// Longest rmaps reported.
pub const LONGEST: usize = 12;

/// Decode and replay `bytes` (any encoding core reads), reporting progress per chunk.
pub fn replay(
    bytes: &[u8],
    configs: &[ModelConfig],
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(ReplaySummary, Vec<LongRmap>, String), String> {
    let mut dec = TraceDecoder::new();
    let mut replayer: Option<Replayer> = None;
    // rmap -> (current size, peak, events, gfn)
    let mut sizes: HashMap<u64, (u64, u64, u64, Option<u64>)> = HashMap::new();
    let total = bytes.len() as u64;
    let mut feed = |dec: &mut TraceDecoder,
                    at_end: bool,
                    replayer: &mut Option<Replayer>|
     -> Result<(), String> {
        loop {
            let ev = if at_end {
                dec.finish()
            } else {
                dec.next_event()
            }
            .map_err(|e| e.to_string())?;
            let Some(ev) = ev else { return Ok(()) };
            if replayer.is_none() {
                let meta = dec
                    .meta()
                    .map_err(|e| e.to_string())?
                    .cloned()
                    .ok_or("the trace has no header")?;
                *replayer = Some(
                    Replayer::new(meta, configs, ReplayOptions::default())
                        .map_err(|e| e.to_string())?,
                );
            }
            if let Some(r) = ev.rmap() {
                let e = sizes.entry(r).or_insert((0, 0, 0, ev.ctx.gfn));
                e.2 += 1;
                match ev.kind {
                    EventKind::Add { .. } => {
                        e.0 += 1;
                        e.1 = e.1.max(e.0);
                    }
                    EventKind::Remove { .. } => e.0 = e.0.saturating_sub(1),
                    EventKind::Zap { .. } => e.0 = 0,
                    _ => {}
                }
            }
            if let Some(r) = replayer.as_mut() {
                r.feed(&ev).map_err(|e| e.to_string())?;
            }
        }
    };
    for (i, chunk) in bytes.chunks(CHUNK).enumerate() {
        dec.push(chunk).map_err(|e| e.to_string())?;
        feed(&mut dec, false, &mut replayer)?;
        progress(((i + 1) * CHUNK).min(bytes.len()) as u64, total);
    }
    feed(&mut dec, true, &mut replayer)?;
    let encoding = match dec.encoding() {
        Some(Encoding::Binary) => "rmaplab binary",
        Some(Encoding::Jsonl) => "JSON Lines",
        Some(Encoding::Ftrace) => "kvmmmu ftrace text",
        None => "unknown",
    };
    let r = match replayer {
        Some(r) => r,
        None => {
            let meta = dec
                .meta()
                .map_err(|e| e.to_string())?
                .cloned()
                .ok_or("the trace has no header")?;
            Replayer::new(meta, configs, ReplayOptions::default()).map_err(|e| e.to_string())?
        }
    };
    let mut longest: Vec<LongRmap> = sizes
        .into_iter()
        .map(|(rmap, (_, peak, events, gfn))| LongRmap {
            rmap,
            gfn,
            peak,
            events,
        })
        .collect();
    longest.sort_by(|a, b| b.peak.cmp(&a.peak).then(a.rmap.cmp(&b.rmap)));
    longest.truncate(LONGEST);
    Ok((r.finish(), longest, encoding.to_string()))
}

/// The events of `rmap`, at most `limit`.
pub fn focus(bytes: &[u8], rmap: u64, limit: usize) -> Result<(Vec<FocusEvent>, bool), String> {
    let (_, events) = rmaplab_core::trace::decode_all(bytes).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut truncated = false;
    for e in &events {
        if let Some(f) = FocusEvent::of(e, rmap) {
            if out.len() == limit {
                truncated = true;
                break;
            }
            out.push(f);
        }
    }
    Ok((out, truncated))
}

/// Handle one request against the worker's current trace.
pub fn handle(req: Request, bytes: &[u8], post: &mut dyn FnMut(Response)) {
    match req {
        Request::Replay { configs } => {
            let mut progress = |done, total| post(Response::Progress { done, total });
            let r = replay(bytes, &configs, &mut progress);
            post(match r {
                Ok((summary, longest, encoding)) => Response::Done {
                    summary: Box::new(summary),
                    longest,
                    encoding,
                },
                Err(e) => Response::Failed(e),
            });
        }
        Request::Focus { rmap, limit } => post(match focus(bytes, rmap, limit) {
            Ok((events, truncated)) => Response::Focused {
                rmap,
                events,
                truncated,
            },
            Err(e) => Response::Failed(e),
        }),
    }
}

/// Install the worker's message handler (wasm only).
#[cfg(target_arch = "wasm32")]
pub fn run_worker() {
    use std::cell::RefCell;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    thread_local! {
        static TRACE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    let Ok(scope) = js_sys::global().dyn_into::<web_sys::DedicatedWorkerGlobalScope>() else {
        return;
    };
    let reply = scope.clone();
    let onmessage =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let data = ev.data();
            let mut post = |r: Response| {
                if let Ok(v) = serde_wasm_bindgen::to_value(&r) {
                    let _ = reply.post_message(&v);
                }
            };
            if let Ok(b) = js_sys::Reflect::get(&data, &JsValue::from_str("bytes")) {
                if let Some(arr) = b.dyn_ref::<js_sys::Uint8Array>() {
                    TRACE.with(|t| *t.borrow_mut() = arr.to_vec());
                }
            }
            let req = js_sys::Reflect::get(&data, &JsValue::from_str("req"))
                .map_err(|_| "no request".to_string())
                .and_then(|v| {
                    serde_wasm_bindgen::from_value::<Request>(v).map_err(|e| e.to_string())
                });
            match req {
                Ok(req) => TRACE.with(|t| handle(req, &t.borrow(), &mut post)),
                Err(e) => post(Response::Failed(format!("bad request to the worker: {e}"))),
            }
        });
    scope.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();
    if let Ok(v) = crate::protocol::to_js(&Response::Ready) {
        let _ = scope.post_message(&v);
    }
}

/// Native builds have no worker.
#[cfg(not(target_arch = "wasm32"))]
pub fn run_worker() {}

#[cfg(test)]
mod tests {
    use super::*;
    use rmaplab_core::gen::{generate_vec, meta_for, GenOptions, Workload};
    use rmaplab_core::trace::binary::encode_all;

    #[test]
    fn replays_with_progress_and_finds_long_rmaps() {
        let w = Workload::Fork {
            procs: 6,
            pages: 4,
            private: 1,
        };
        let o = GenOptions::default();
        let bytes = encode_all(&meta_for(&w, &o, "t"), &generate_vec(&w, &o));
        let mut calls = 0;
        let (s, longest, enc) =
            replay(&bytes, &[ModelConfig::kvm_today()], &mut |_, _| calls += 1).unwrap();
        assert!(calls >= 1);
        assert_eq!(enc, "rmaplab binary");
        assert_eq!(s.configs[0].max_rmap_size, 5);
        assert_eq!(longest[0].peak, 6);
        let (ev, truncated) = focus(&bytes, longest[0].rmap, 3).unwrap();
        assert_eq!(ev.len(), 3);
        assert!(truncated);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        handle(
            Request::Replay {
                configs: vec![ModelConfig::kvm_today()],
            },
            b"\x00\x01garbage",
            &mut |r| out.push(r),
        );
        assert!(
            matches!(out.last(), Some(Response::Failed(m)) if m.contains("magic") || m.contains("unrecognised"))
        );
    }
}
