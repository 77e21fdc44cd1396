//! Open a trace (file picker; dropping a file anywhere on the page works too), with progress
//! and a cancel button while the worker replays.

use crate::protocol::ProgressReport;
use crate::state::Status;
use std::rc::Rc;
use web_sys::HtmlInputElement;
use yew::prelude::*;

/// Props of [`Loader`].
#[derive(Properties, PartialEq, Debug)]
pub struct LoaderProps {
    /// Name of the loaded trace.
    pub trace_name: AttrValue,
    /// Encoding detected.
    pub encoding: Option<rmaplab_core::input::Encoding>,
    /// Replay status.
    pub status: Status,
    /// A file was chosen.
    pub on_file: Callback<web_sys::File>,
    /// Cancel pressed.
    pub on_cancel: Callback<()>,
    /// A share link's trace the page waits for.
    pub wanted: Option<crate::state::Wanted>,
    /// The worker's latest report on the replay running.
    #[prop_or_default]
    pub report: Option<Rc<ProgressReport>>,
    /// Seconds left, estimated.
    #[prop_or_default]
    pub eta_s: Option<f64>,
}

/// Bytes per MiB.
const MIB: f64 = (1u64 << 20) as f64;

/// What a pass is doing, how far it is, and what is left, in one line.
pub fn progress_text(r: &ProgressReport, eta_s: Option<f64>) -> String {
    let mut parts = vec![r.label()];
    match r.of_bytes {
        Some(of) => parts.push(format!(
            "{:.1} of {:.1} MiB",
            r.bytes as f64 / MIB,
            of as f64 / MIB
        )),
        None => parts.push(format!("{:.1} MiB", r.bytes as f64 / MIB)),
    }
    if r.events > 0 {
        parts.push(format!(
            "{} events replayed",
            rmaplab_core::columns::group_thousands(r.events)
        ));
    }
    parts.push(format!("{:.0}% in all", r.fraction() * 100.0));
    if let Some(s) = eta_s {
        parts.push(if s < 1.5 {
            "about a second left".to_string()
        } else {
            format!("about {s:.0} s left")
        });
    }
    parts.join(" · ")
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
            let text = p.report.as_ref().map_or_else(
                || format!("starting the replay… {pct:.0}%"),
                |r| progress_text(r, p.eta_s),
            );
            html! {
                <span class="progress" role="status">
                    <progress max="100" value={format!("{pct:.0}")} aria-label="replay progress"></progress>
                    <span class="progress-text">{ format!(" {text} ") }</span>
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
                if let Some(e) = p.encoding { <small>{ format!(" ({})", e.describe()) }</small> }
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
