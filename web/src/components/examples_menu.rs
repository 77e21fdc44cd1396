//! The examples menu: open a built-in trace in one click.

use super::field::target_value;
use crate::examples::EXAMPLES;
use yew::prelude::*;

/// Props of [`ExamplesMenu`].
#[derive(Properties, PartialEq, Debug)]
pub struct ExamplesMenuProps {
    /// The example on screen, if the trace is one.
    pub current: Option<String>,
    /// An example was chosen (its key).
    pub on_example: Callback<String>,
}

/// The menu.
#[function_component(ExamplesMenu)]
pub fn examples_menu(p: &ExamplesMenuProps) -> Html {
    let onchange = {
        let cb = p.on_example.clone();
        Callback::from(move |e: Event| {
            if let Some(v) = target_value(&e) {
                if !v.is_empty() {
                    cb.emit(v);
                }
            }
        })
    };
    html! {
        <section class="examples" aria-label="examples">
            <label for="example">{"Or open an example: "}
                <select id="example" {onchange}>
                    <option value="" selected={p.current.is_none()}>{"choose…"}</option>
                    { for EXAMPLES.iter().map(|e| html! {
                        <option value={e.key} selected={p.current.as_deref() == Some(e.key)}>{ e.title }</option>
                    }) }
                </select>
            </label>
        </section>
    }
}
