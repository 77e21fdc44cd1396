//! Files and text leaving the page: downloads (CSV, JSON, the trace) and the clipboard.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

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

/// Put `text` on the clipboard; `done` is called with `Ok` once it is there, or with why not
/// (a page without clipboard permission, e.g. headless).
pub fn copy_text(text: &str, done: impl FnOnce(Result<(), String>) + 'static) {
    let Some(w) = web_sys::window() else {
        done(Err("no window".into()));
        return;
    };
    let promise = w.navigator().clipboard().write_text(text);
    let done = std::rc::Rc::new(std::cell::RefCell::new(Some(done)));
    let d2 = done.clone();
    let ok: Closure<dyn FnMut(JsValue)> = Closure::once(move |_: JsValue| {
        if let Some(f) = done.borrow_mut().take() {
            f(Ok(()));
        }
    });
    let err: Closure<dyn FnMut(JsValue)> = Closure::once(move |e: JsValue| {
        if let Some(f) = d2.borrow_mut().take() {
            f(Err(format!(
                "the browser refused the clipboard ({e:?}); select the text below and copy it"
            )));
        }
    });
    let _ = promise.then2(&ok, &err);
    // The promise calls one of them later, so they must outlive this function: two small
    // closures per copy, left to the page.
    ok.forget();
    err.forget();
}
