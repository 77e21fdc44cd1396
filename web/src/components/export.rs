//! Keep and share: download results as CSV / JSON and the trace as rmaplab binary; copy the
//! share link (settings and trace) and the results as changelog text.

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
    /// Copy the share link.
    pub on_copy_link: Callback<()>,
    /// Copy the changelog text.
    pub on_copy_text: Callback<()>,
    /// The share link (a fragment).
    pub link: AttrValue,
    /// False while a large trace's hash is still being taken (the link would not name it).
    #[prop_or(true)]
    pub link_ready: bool,
    /// The changelog text (`rmaplab report`'s).
    pub changelog: AttrValue,
    /// What the last copy did.
    pub copied: Option<Result<String, String>>,
}

/// The buttons.
#[function_component(Export)]
pub fn export(p: &ExportProps) -> Html {
    html! {
        <section class="export" aria-label="export">
            <button type="button" onclick={p.on_csv.reform(|_: MouseEvent| ())}>{"Results as CSV"}</button>
            <button type="button" onclick={p.on_json.reform(|_: MouseEvent| ())}>{"Results as JSON"}</button>
            <button type="button" onclick={p.on_trace.reform(|_: MouseEvent| ())}>{"Trace as rmaplab binary"}</button>
            <a href={p.link.clone()} class="share" title="the settings, and the trace: small traces travel inside the link, larger ones by SHA-256 (the page then asks for the file)">{"Share link"}</a>
            <button type="button" id="copy-link" disabled={!p.link_ready} title={if p.link_ready { "" } else { "fingerprinting the trace for the link…" }} onclick={p.on_copy_link.reform(|_: MouseEvent| ())}>{"Copy share link"}</button>
            <button type="button" id="copy-text" onclick={p.on_copy_text.reform(|_: MouseEvent| ())}>{"Copy as changelog text"}</button>
            { match &p.copied {
                Some(Ok(m)) => html! { <span role="status" class="copied">{ m.clone() }</span> },
                Some(Err(e)) => html! { <span role="status" class="warn">{ e.clone() }</span> },
                None => html! {},
            } }
            <details class="changelog">
                <summary>{"Changelog text (the same as rmaplab report)"}</summary>
                <pre id="changelog-text">{ p.changelog.clone() }</pre>
            </details>
        </section>
    }
}
