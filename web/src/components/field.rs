//! Reading form fields in event handlers: the value of the `<input>` or `<select>` an event
//! fired on, once for every component.

use std::str::FromStr;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::{Callback, TargetCast};

/// The value of the `<input>` or `<select>` the event fired on.
pub fn target_value<E: TargetCast>(e: &E) -> Option<String> {
    e.target_dyn_into::<HtmlInputElement>()
        .map(|i| i.value())
        .or_else(|| e.target_dyn_into::<HtmlSelectElement>().map(|s| s.value()))
}

/// A handler that emits the field's value parsed as `T` to `cb`, and ignores a value that does
/// not parse (an empty or half-typed field).
pub fn emit_parsed<E, T>(cb: Callback<T>) -> Callback<E>
where
    E: TargetCast + 'static,
    T: FromStr + 'static,
{
    Callback::from(move |e: E| {
        if let Some(v) = target_value(&e).and_then(|v| v.parse().ok()) {
            cb.emit(v);
        }
    })
}
