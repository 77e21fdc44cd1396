//! The recommendation for the loaded trace: core's answer, which weighs slab memory per VM
//! against work per operation over N = 2..16 whatever sizes were typed.

use super::loader::progress_text;
use crate::protocol::ProgressReport;
use rmaplab_core::config::PTE_LIST_EXT;
use rmaplab_core::exactness::Trust;
use rmaplab_core::recommend::{Recommendation, RECOMMENDATION_ENTRIES};
use std::rc::Rc;
use yew::prelude::*;

/// Props of [`RecommendationLine`].
#[derive(Properties, PartialEq, Debug)]
pub struct RecommendationProps {
    /// The recommendation, if the candidates were replayed.
    pub rec: Option<Recommendation>,
    /// The candidates are still being replayed.
    #[prop_or_default]
    pub pending: bool,
    /// The verdict on the figures: no size is recommended from figures that are not exact or
    /// not reproduced.
    pub trust: Trust,
    /// The worker's latest report on the candidates' pass.
    #[prop_or_default]
    pub report: Option<Rc<ProgressReport>>,
    /// Seconds that pass has left, estimated.
    #[prop_or_default]
    pub eta_s: Option<f64>,
    /// Cancel pressed while the candidates are replayed (the results shown stay).
    #[prop_or_default]
    pub on_cancel: Callback<()>,
}

/// One sentence, and the Pareto front it was chosen from.
#[function_component(RecommendationLine)]
pub fn recommendation_line(p: &RecommendationProps) -> Html {
    match &p.trust {
        Trust::NotExact { unseen } => {
            let paths: Vec<&str> = unseen.iter().map(|u| u.describe()).collect();
            return html! {
                <p class="recommend not-exact warn" role="alert">
                    <strong>{"Not exact — no recommendation. "}</strong>
                    { format!("No array size is recommended from figures that are bounds: this trace cannot show {}.", paths.join("; ")) }
                </p>
            };
        }
        Trust::Mismatched { .. } | Trust::NoSptes => {
            return html! {
                <p class="recommend not-exact warn" role="alert">
                    <strong>{"No recommendation: "}</strong>{ p.trust.headline() }{"."}
                </p>
            };
        }
        Trust::Checked { .. } | Trust::Unchecked => {}
    }
    let Some(r) = &p.rec else {
        return if p.pending {
            let pct = p.report.as_ref().map_or(0.0, |r| r.fraction() * 100.0);
            let cancel = p.on_cancel.reform(|_: MouseEvent| ());
            html! { <p class="recommend recommend-pending" role="status">
                { format!(
                    "Working out the recommendation: replaying N = {}..{} as well… ",
                    RECOMMENDATION_ENTRIES[0],
                    RECOMMENDATION_ENTRIES[RECOMMENDATION_ENTRIES.len() - 1]
                ) }
                <progress max="100" value={format!("{pct:.0}")} aria-label="recommendation progress"></progress>
                if let Some(r) = &p.report {
                    <span class="progress-text">{ format!(" {} ", progress_text(r, p.eta_s)) }</span>
                }
                <button type="button" onclick={cancel}>{"Cancel"}</button>
            </p> }
        } else {
            html! { <p class="recommend">{"No recommendation: the candidate sizes were not replayed."}</p> }
        };
    };
    let front: Vec<String> = r
        .candidates
        .iter()
        .filter(|c| c.pareto)
        .map(|c| c.entries.to_string())
        .collect();
    html! {
        <p class="recommend" role="note" data-entries={r.entries.to_string()}>
            <strong>{"Recommendation: "}</strong>
            { r.sentence.clone() }
            <br />
            <small>{ format!(
                "Chosen among N = {}..{} at {} (whatever sizes are typed above): the least slab memory per VM on the Pareto front of memory vs work ({}), with work per operation within {}% of {PTE_LIST_EXT} entries.",
                RECOMMENDATION_ENTRIES[0],
                RECOMMENDATION_ENTRIES[RECOMMENDATION_ENTRIES.len() - 1],
                r.era,
                front.join(", "),
                r.within_pct
            ) }</small>
        </p>
    }
}
