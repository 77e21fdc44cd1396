//! Files and text leaving the page: downloads (CSV, JSON, the trace) and the clipboard.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// What a download made from the trace `trace_name` is called: the trace file's stem (its
/// directory, extensions and any description after it dropped; characters other than letters,
/// digits, `-`, `_` and `.` replaced) with `suffix`: `churnA.dat` gives `churnA-results.csv`
/// for `-results.csv`. A name with nothing left is `rmaplab`.
pub fn download_name(trace_name: &str, suffix: &str) -> String {
    let name = trace_name
        .split(" (")
        .next()
        .unwrap_or_default()
        .split(" — ")
        .next()
        .unwrap_or_default();
    let file = name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    let mut stem = file;
    for ext in [
        ".gz", ".zst", ".dat", ".data", ".perf", ".jsonl", ".json", ".txt", ".rmap", ".trace",
    ] {
        stem = stem.strip_suffix(ext).unwrap_or(stem);
    }
    // "perf.data" alone has no stem left once ".data" goes: keep what there was.
    let stem = if stem.is_empty() { file } else { stem };
    let clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let clean = clean.trim_matches(['.', '_']);
    format!(
        "{}{suffix}",
        if clean.is_empty() { "rmaplab" } else { clean }
    )
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

#[cfg(test)]
mod tests {
    use super::download_name;

    #[test]
    fn downloads_are_named_for_their_trace() {
        assert_eq!(
            download_name("churnA.dat", "-results.csv"),
            "churnA-results.csv"
        );
        assert_eq!(
            download_name("twovm.tracefs.txt.gz", ".rmap"),
            "twovm.tracefs.rmap"
        );
        assert_eq!(
            download_name("perf.data", "-results.json"),
            "perf-results.json"
        );
        assert_eq!(
            download_name("default.rmap (built-in: fork, 4 vCPUs)", "-results.csv"),
            "default-results.csv"
        );
        assert_eq!(download_name("my trace?.jsonl", ".rmap"), "my_trace.rmap");
        assert_eq!(download_name("", "-results.csv"), "rmaplab-results.csv");
        assert_eq!(download_name("../..", ".rmap"), "rmaplab.rmap");
    }
}
