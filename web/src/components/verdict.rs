//! The answer first: one headline above everything else on the page — the size to use, "keep
//! 14", or why no size is recommended — from core's [`Recommendation::headline`] and
//! [`Trust`].

use rmaplab_core::exactness::Trust;
use rmaplab_core::recommend::Recommendation;
use yew::prelude::*;

/// Props of [`Verdict`].
#[derive(Properties, PartialEq, Debug)]
pub struct VerdictProps {
    /// How far the figures can be trusted.
    pub trust: Trust,
    /// The recommendation, once the candidates are replayed.
    pub rec: Option<Recommendation>,
    /// The candidates are still being replayed.
    #[prop_or_default]
    pub pending: bool,
}

/// What the headline says.
pub fn verdict_text(p: &VerdictProps) -> String {
    if !p.trust.recommends() {
        return format!("No size recommended: {}", p.trust.headline());
    }
    match &p.rec {
        Some(r) => r.headline(),
        None if p.pending => "Working out the recommendation…".to_string(),
        None => "No recommendation: the candidate sizes were not replayed".to_string(),
    }
}

/// The headline.
#[function_component(Verdict)]
pub fn verdict(p: &VerdictProps) -> Html {
    let settled = p.rec.is_some() || !p.trust.recommends();
    html! {
        <p class={classes!("verdict", (!p.trust.recommends()).then_some("warn"))}
            role="status" aria-live="polite" aria-busy={(!settled && p.pending).to_string()}
            data-entries={p.rec.as_ref().filter(|_| p.trust.recommends()).map(|r| r.entries.to_string())}>
            { verdict_text(p) }
        </p>
    }
}
