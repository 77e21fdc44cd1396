//! The verdict on the figures below it, first on the page: exact and checked against KVM's own
//! counters, exact but not checked, not reproduced, or not exact — from core's
//! [`Trust`], the same verdict the CLI's `report` prints.

use rmaplab_core::exactness::Trust;
use yew::prelude::*;

/// Props of [`TrustLine`].
#[derive(Properties, PartialEq, Debug)]
pub struct TrustLineProps {
    /// The verdict on the replay shown.
    pub trust: Trust,
}

/// One headline and what it rests on.
#[function_component(TrustLine)]
pub fn trust_line(p: &TrustLineProps) -> Html {
    let (kind, good) = match &p.trust {
        Trust::Checked { .. } => ("checked", true),
        Trust::Unchecked => ("unchecked", true),
        Trust::Mismatched { .. } => ("mismatched", false),
        Trust::NotExact { .. } => ("not-exact", false),
        Trust::NoSptes => ("no-sptes", false),
    };
    html! {
        <p class={classes!("trust", format!("trust-{kind}"), (!good).then_some("warn"))}
            role={if good { "status" } else { "alert" }} data-trust={kind}>
            <strong>{ p.trust.headline() }{"."}</strong>{" "}
            <span class="trust-detail">{ p.trust.detail() }</span>
        </p>
    }
}
