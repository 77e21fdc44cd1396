//! The seed patch's claims next to what the loaded trace shows.

use crate::state::{alias_facts, baseline};
use rmaplab_core::config::{PTE_LIST_EXT, SPTE_PTR_SIZE};
use rmaplab_core::replay::ReplaySummary;
use rmaplab_core::Era;
use yew::prelude::*;

/// Props of [`SeedCheck`].
#[derive(Properties, PartialEq, Debug)]
pub struct SeedCheckProps {
    /// Results.
    pub summary: ReplaySummary,
    /// Cache capacity in use.
    pub capacity: usize,
    /// vCPUs for the cache cost.
    pub vcpus: usize,
}

/// The panel.
#[function_component(SeedCheck)]
pub fn seed_check(p: &SeedCheckProps) -> Html {
    let o14 = Era::HeadInsert.desc_bytes(PTE_LIST_EXT);
    let o2 = Era::HeadInsert.desc_bytes(2);
    let facts = alias_facts(&p.summary);
    let pct = if facts.rmaps == 0 {
        0.0
    } else {
        facts.aliased as f64 * 100.0 / facts.rmaps as f64
    };
    let two = p
        .summary
        .configs
        .iter()
        .find(|c| c.entries == 2 && c.era == Era::HeadInsert);
    let base = baseline(&p.summary.configs);
    let tdp = p.summary.meta.tdp;
    html! {
        <section class="seed" aria-label="seed check">
            <h2>{"Seed check"}</h2>
            <table>
                <thead><tr><th scope="col">{"The seed (2022) says"}</th><th scope="col">{"This trace / configuration shows"}</th></tr></thead>
                <tbody>
                    <tr><td>{"Objects shrink from 128 B to 32 B (14 → 2 entries)"}</td>
                        <td>{ format!("{o14} B → {o2} B (16 + 8 × N)") }</td></tr>
                    <tr><td>{"Per-vCPU cache cost falls from 5120 B to 1280 B"}</td>
                        <td>{ format!("{} B → {} B per vCPU at capacity {}; {} B → {} B for {} vCPUs",
                            o14 * p.capacity, o2 * p.capacity, p.capacity, o14 * p.capacity * p.vcpus, o2 * p.capacity * p.vcpus, p.vcpus) }</td></tr>
                    <tr><td>{"Two extra entries cost 16 B × 40 × nr_vcpus"}</td>
                        <td>{ format!("{} B for {} vCPUs at capacity {}", 2 * SPTE_PTR_SIZE * p.capacity * p.vcpus, p.vcpus, p.capacity) }</td></tr>
                    <tr><td>{"Aliasing is rare under TDP (so few descriptors are used)"}</td>
                        <td>
                            { format!("{:.1}% of the {} non-empty rmaps at the peak had more than one SPTE; the largest held {} (KVM's max_mmu_rmap_size). ", pct, facts.rmaps, facts.max_rmap) }
                            { match tdp { Some(false) => "This trace is from shadow paging (TDP off), where aliasing is expected to be common.", Some(true) => "This trace is from a TDP host (nested guest).", None => "The trace does not say whether TDP was on." } }
                        </td></tr>
                    if let (Some(t), Some(b)) = (two, base) {
                        <tr><td>{"Fewer entries cost more allocations"}</td>
                            <td>{ format!("2 entries: {} descriptors taken from caches vs {} at 14 ({:.1}×); peak descriptor bytes {} vs {}",
                                t.allocations, b.allocations, t.allocations as f64 / b.allocations.max(1) as f64, t.peak_bytes, b.peak_bytes) }</td></tr>
                    }
                </tbody>
            </table>
        </section>
    }
}
