//! Keep and share: download results as CSV / JSON and the trace as rmaplab binary; copy the
//! share link (the configuration lives in the URL).

use yew::prelude::*;

/// Props of [`Export`].
#[derive(Properties, PartialEq, Debug)]
pub struct ExportProps {
    /// Download results as CSV.
    pub on_csv: Callback<()>,
    /// Download results as JSON.
    pub on_json: Callback<()>,
    /// Download the trace as rmaplab binary.
    pub on_trace: Callback<()>,
    /// The share link.
    pub link: AttrValue,
}

/// The buttons.
#[function_component(Export)]
pub fn export(p: &ExportProps) -> Html {
    html! {
        <section class="export" aria-label="export">
            <button type="button" onclick={p.on_csv.reform(|_: MouseEvent| ())}>{"Results as CSV"}</button>
            <button type="button" onclick={p.on_json.reform(|_: MouseEvent| ())}>{"Results as JSON"}</button>
            <button type="button" onclick={p.on_trace.reform(|_: MouseEvent| ())}>{"Trace as rmaplab binary"}</button>
            <a href={p.link.clone()} class="share">{"Share link (this configuration)"}</a>
        </section>
    }
}
