//! Inputs for the array sizes and eras to compare.

use web_sys::HtmlInputElement;
use yew::prelude::*;

/// Props of [`Controls`].
#[derive(Properties, PartialEq)]
pub struct ControlsProps {
    /// Current array sizes.
    pub entries: AttrValue,
    /// Current eras.
    pub eras: AttrValue,
    /// New array sizes typed.
    pub on_entries: Callback<String>,
    /// New eras typed.
    pub on_eras: Callback<String>,
}

/// The configuration form.
#[function_component(Controls)]
pub fn controls(p: &ControlsProps) -> Html {
    let on_entries = {
        let cb = p.on_entries.clone();
        Callback::from(move |e: Event| {
            if let Some(i) = e.target_dyn_into::<HtmlInputElement>() {
                cb.emit(i.value());
            }
        })
    };
    let on_eras = {
        let cb = p.on_eras.clone();
        Callback::from(move |e: Event| {
            if let Some(i) = e.target_dyn_into::<HtmlInputElement>() {
                cb.emit(i.value());
            }
        })
    };
    html! {
        <form class="controls" onsubmit={Callback::from(|e: SubmitEvent| e.prevent_default())}>
            <label for="entries">{"Array sizes (2..64)"}</label>
            <input id="entries" value={p.entries.clone()} onchange={on_entries} />
            <label for="eras">{"Eras"}</label>
            <input id="eras" value={p.eras.clone()} onchange={on_eras} />
        </form>
    }
}
