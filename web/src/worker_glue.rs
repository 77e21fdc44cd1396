//! The worker's side of the page (wasm only): where its trace comes from — the embedded
//! default trace as bytes, or the user's `File` read by offset in cached blocks
//! ([`crate::file_blocks`]) — its kept import ([`crate::worker::Kept`]), and the message loop
//! that hands each request to [`crate::worker::handle`].

use crate::file_blocks::BlockReader;
use crate::protocol::{
    KeptMeta, Request, Response, EXPORTED, KEPT_BYTES, KEPT_META, PLAN, REQ, TRACE_BYTES,
    TRACE_FILE,
};
use crate::worker::{handle, Kept};
use std::cell::RefCell;
use std::io::Read;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// The trace the worker holds.
enum Source {
    /// Bytes sent by the page (the embedded default trace).
    Bytes(Vec<u8>),
    /// A file the user chose, read slice by slice.
    File(web_sys::File),
}

/// `len` bytes at `offset` of `file`, read with `FileReaderSync` (dedicated workers only).
fn fetch(
    file: &web_sys::File,
    reader: &web_sys::FileReaderSync,
    offset: u64,
    len: usize,
) -> std::io::Result<Vec<u8>> {
    let failed = |e: JsValue| {
        std::io::Error::other(format!(
            "the browser could not read {} at byte offset {offset} ({e:?}); if the file changed or sits on removable storage, choose it again",
            file.name()
        ))
    };
    // Byte offsets of files up to 2^53 are exact as f64.
    let blob = file
        .slice_with_f64_and_f64(offset as f64, offset as f64 + len as f64)
        .map_err(failed)?;
    let buffer = reader.read_as_array_buffer(&blob).map_err(failed)?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// A reader that fails at once (when the browser offers no `FileReaderSync`).
struct Failing(String);

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other(self.0.clone()))
    }
}

impl std::io::Seek for Failing {
    fn seek(&mut self, _: std::io::SeekFrom) -> std::io::Result<u64> {
        Err(std::io::Error::other(self.0.clone()))
    }
}

impl Source {
    fn size(&self) -> u64 {
        match self {
            Source::Bytes(b) => b.len() as u64,
            Source::File(f) => f.size() as u64,
        }
    }

    fn open(&self) -> Box<dyn rmaplab_core::input::source::ReadSeek + '_> {
        match self {
            Source::Bytes(b) => Box::new(std::io::Cursor::new(&b[..])),
            Source::File(file) => match web_sys::FileReaderSync::new() {
                Ok(reader) => Box::new(BlockReader::new(
                    file.size() as u64,
                    Box::new(move |offset, len| fetch(file, &reader, offset, len)),
                )),
                Err(e) => Box::new(Failing(format!(
                    "this browser cannot read files in a worker (FileReaderSync: {e:?})"
                ))),
            },
        }
    }
}

/// Post one response; an export travels as a transferred `Uint8Array`, not as a JS array.
fn post(scope: &web_sys::DedicatedWorkerGlobalScope, r: Response) {
    let sent = match r {
        Response::Exported(bytes) => {
            let msg = js_sys::Object::new();
            let arr = js_sys::Uint8Array::from(&bytes[..]);
            js_sys::Reflect::set(&msg, &EXPORTED.into(), &arr).and_then(|_| {
                scope.post_message_with_transfer(&msg, &js_sys::Array::of1(&arr.buffer()))
            })
        }
        // The leader's kept import goes to the page beside the plan, which hands it to the
        // other workers.
        Response::Plan { of, kept: Some(k) } => {
            let msg = js_sys::Object::new();
            let arr = js_sys::Uint8Array::from(&k.bytes[..]);
            crate::protocol::to_js(&Response::Plan { of, kept: None })
                .and_then(|plan| crate::protocol::to_js(&k.meta()).map(|meta| (plan, meta)))
                .map_err(|e| JsValue::from_str(&e))
                .and_then(|(plan, meta)| {
                    js_sys::Reflect::set(&msg, &PLAN.into(), &plan)?;
                    js_sys::Reflect::set(&msg, &KEPT_META.into(), &meta)?;
                    js_sys::Reflect::set(&msg, &KEPT_BYTES.into(), &arr)
                })
                .and_then(|_| {
                    scope.post_message_with_transfer(&msg, &js_sys::Array::of1(&arr.buffer()))
                })
        }
        other => match crate::protocol::to_js(&other) {
            Ok(v) => scope.post_message(&v),
            Err(e) => crate::protocol::to_js(&Response::Failed(format!(
                "the worker could not encode its answer: {e}"
            )))
            .map_err(|e| JsValue::from_str(&e))
            .and_then(|v| scope.post_message(&v)),
        },
    };
    if let Err(e) = sent {
        web_sys::console::warn_1(&e);
    }
}

/// Install the message handler and say so.
pub fn run() {
    thread_local! {
        static TRACE: RefCell<Source> = const { RefCell::new(Source::Bytes(Vec::new())) };
        static KEPT: RefCell<Option<Kept>> = const { RefCell::new(None) };
    }
    /// The same file as before: a request for another setting (its imported copy stays).
    fn same_file(a: &web_sys::File, b: &web_sys::File) -> bool {
        a.name() == b.name() && a.size() == b.size() && a.last_modified() == b.last_modified()
    }
    let Ok(scope) = js_sys::global().dyn_into::<web_sys::DedicatedWorkerGlobalScope>() else {
        return;
    };
    let reply = scope.clone();
    let onmessage =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let data = ev.data();
            if let Ok(b) = js_sys::Reflect::get(&data, &TRACE_BYTES.into()) {
                if let Some(arr) = b.dyn_ref::<js_sys::Uint8Array>() {
                    TRACE.with(|t| *t.borrow_mut() = Source::Bytes(arr.to_vec()));
                    KEPT.with(|k| *k.borrow_mut() = None);
                }
            }
            if let Ok(f) = js_sys::Reflect::get(&data, &TRACE_FILE.into()) {
                if let Ok(file) = f.dyn_into::<web_sys::File>() {
                    let same = TRACE.with(
                        |t| matches!(&*t.borrow(), Source::File(old) if same_file(old, &file)),
                    );
                    if !same {
                        KEPT.with(|k| *k.borrow_mut() = None);
                    }
                    TRACE.with(|t| *t.borrow_mut() = Source::File(file));
                }
            }
            // The leader's kept import of this trace (after the trace itself: a new file
            // drops the old copy).
            if let Ok(b) = js_sys::Reflect::get(&data, &KEPT_BYTES.into()) {
                if let Some(arr) = b.dyn_ref::<js_sys::Uint8Array>() {
                    let meta = js_sys::Reflect::get(&data, &KEPT_META.into())
                        .map_err(|_| String::new())
                        .and_then(crate::protocol::from_js::<KeptMeta>);
                    if let Ok(meta) = meta {
                        let copy = Kept::from_parts(meta, arr.to_vec().into());
                        KEPT.with(|k| *k.borrow_mut() = Some(copy));
                    }
                }
            }
            let req = js_sys::Reflect::get(&data, &REQ.into())
                .map_err(|_| "no request".to_string())
                .and_then(crate::protocol::from_js::<Request>);
            let mut send = |r: Response| post(&reply, r);
            match req {
                Ok(req) => TRACE.with(|t| {
                    KEPT.with(|k| {
                        let src = t.borrow();
                        let mut kept = k.borrow_mut();
                        handle(req, src.size(), &mut || src.open(), &mut kept, &mut send)
                    })
                }),
                Err(e) => send(Response::Failed(format!("bad request to the worker: {e}"))),
            }
        });
    scope.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();
    post(&scope, Response::Ready);
}
