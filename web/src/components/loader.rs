//! Open a trace (file picker; dropping a file anywhere on the page works too), with progress
//! and a cancel button while the worker replays.

use crate::state::Status;
use web_sys::HtmlInputElement;
use yew::prelude::*;

/// Props of [`Loader`].
#[derive(Properties, PartialEq, Debug)]
pub struct LoaderProps {
    /// Name of the loaded trace.
    pub trace_name: AttrValue,
    /// Encoding detected.
    pub encoding: AttrValue,
    /// Replay status.
    pub status: Status,
    /// A file was chosen.
    pub on_file: Callback<web_sys::File>,
    /// Cancel pressed.
    pub on_cancel: Callback<()>,
    /// A share link's trace the page waits for.
    pub wanted: Option<crate::state::Wanted>,
}

/// The open-a-trace bar.
#[function_component(Loader)]
pub fn loader(p: &LoaderProps) -> Html {
    let onchange = {
        let cb = p.on_file.clone();
        Callback::from(move |e: Event| {
            if let Some(f) = e
                .target_dyn_into::<HtmlInputElement>()
                .and_then(|i| i.files())
                .and_then(|l| l.get(0))
            {
                cb.emit(f);
            }
        })
    };
    let progress = match p.status {
        Status::Running { done, total } => {
            let pct = if total == 0 {
                0.0
            } else {
                done as f64 * 100.0 / total as f64
            };
            let cancel = p.on_cancel.reform(|_: MouseEvent| ());
            html! {
                <span class="progress" role="status">
                    <progress max="100" value={format!("{pct:.0}")} aria-label="replay progress"></progress>
                    { format!(" replaying… {pct:.0}% ") }
                    <button type="button" onclick={cancel}>{"Cancel"}</button>
                </span>
            }
        }
        Status::Cancelled => {
            html! { <span class="progress" role="status">{"cancelled — the results below are from the last finished replay; change a setting or load a trace to run again"}</span> }
        }
        Status::Idle => html! {},
    };
    html! {
        <section class="loader" aria-label="trace">
            <label for="file" class="button">{"Open a trace…"}</label>
            <input id="file" type="file" class="visually-hidden" {onchange}
                accept=".rmap,.jsonl,.json,.txt,.trace,.dat,.data,.gz,.zst,text/plain,application/octet-stream" />
            <span class="trace-name">{ format!(" {}", p.trace_name) }
                if !p.encoding.is_empty() { <small>{ format!(" ({})", p.encoding) }</small> }
            </span>
            <span class="hint">{" — rmaplab binary or JSON Lines; kvmmmu captures: trace.dat, perf.data, tracefs / trace-cmd report -R / perf script text (also .gz, .zst); drop a file anywhere. Nothing leaves your browser."}</span>
            { progress }
            if let Some(w) = p.wanted.as_ref().filter(|w| !w.chosen) {
                <p class="wanted" role="alert">{ format!(
                    "This link was made with the trace {} (SHA-256 {}…), too large to travel in the link: open that file to see the results. The page checks that it is the same file.",
                    w.name, &w.sha256[..16.min(w.sha256.len())]
                ) }</p>
            }
        </section>
    }
}
