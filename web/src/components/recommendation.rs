//! The recommendation line for the loaded trace.

use crate::state::Recommendation;
use yew::prelude::*;

/// Props of [`RecommendationLine`].
#[derive(Properties, PartialEq, Debug)]
pub struct RecommendationProps {
    /// The recommendation, if any head-insert configuration was compared.
    pub rec: Option<Recommendation>,
    /// Tolerance in percent.
    pub within_pct: u32,
    /// vCPUs.
    pub vcpus: usize,
}

/// One sentence.
#[function_component(RecommendationLine)]
pub fn recommendation_line(p: &RecommendationProps) -> Html {
    let Some(r) = &p.rec else {
        return html! { <p class="recommend">{"Add head-insert configurations to get a recommendation."}</p> };
    };
    let sign = |v: i64| {
        if v >= 0 {
            format!("saves {v} B")
        } else {
            format!("costs {} B more", -v)
        }
    };
    html! {
        <p class="recommend" role="note">
            <strong>{ format!("Recommendation: N = {}", r.entries) }</strong>
            { format!(
                " — the smallest head-insert array within {}% of the best work per operation ({:.2} vs best {:.2} descriptors/op). Against today's 14 it {} per vCPU in full caches, {} for a {}-vCPU VM, and {} at the trace's peak.",
                p.within_pct, r.work, r.best_work, sign(r.saved_per_vcpu), sign(r.saved_per_vm), p.vcpus, sign(r.saved_peak)
            ) }
        </p>
    }
}
