//! The seed patch's claims next to what the loaded trace shows.

use crate::state::alias_facts;
use rmaplab_core::config::{PTE_LIST_EXT, SLAB_PAGE_SIZE, SPTE_PTR_SIZE};
use rmaplab_core::replay::ReplaySummary;
use rmaplab_core::Era;
use yew::prelude::*;

/// The seed patch's thread, found by its subject on the kvm list's archive.
pub const SEED_THREAD: &str =
    "https://lore.kernel.org/kvm/?q=s%3A%22Shrink+pte_list_desc+size+when+KVM+is+using+TDP%22";

/// Props of [`SeedCheck`].
#[derive(Properties, PartialEq, Debug)]
pub struct SeedCheckProps {
    /// Results.
    pub summary: ReplaySummary,
    /// Cache capacity in use.
    pub capacity: usize,
    /// vCPUs per VM (the trace's unless the page overrides it).
    pub vcpus: u64,
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
    let base = rmaplab_core::recommend::kvm_today_row(&p.summary.configs);
    let tdp = p.summary.meta.tdp;
    let vcpus = usize::try_from(p.vcpus).unwrap_or(usize::MAX);
    // KVM's max_mmu_rmap_size is pte_list_add's return value: the list's size *before* the
    // add, so the largest list held one more entry than the stat.
    let largest = if p.summary.counts.add == 0 {
        "no list was ever added to".to_string()
    } else {
        format!(
            "the largest list held {} SPTEs (KVM's max_mmu_rmap_size = {}, the size before each add)",
            facts.max_rmap + 1,
            facts.max_rmap
        )
    };
    html! {
        <section class="seed" aria-label="seed check">
            <h2>{"Seed check"}</h2>
            <p class="seed-thread">{"The seed: Sean Christopherson, "}<q>{"KVM: x86/mmu: Shrink pte_list_desc size when KVM is using TDP"}</q>{" (June 2022, never merged; "}
                <a href={SEED_THREAD} rel="noopener noreferrer">{"the thread on lore.kernel.org"}</a>{")."}</p>
            <table>
                <thead><tr><th scope="col">{"The seed (2022) says"}</th><th scope="col">{"This trace / configuration shows"}</th></tr></thead>
                <tbody>
                    <tr><td>{"Objects shrink from 128 B to 32 B (14 → 2 entries)"}</td>
                        <td>{ format!("{o14} B → {o2} B (16 + 8 × N)") }</td></tr>
                    <tr><td>{"Per-vCPU cache cost falls from 5120 B to 1280 B"}</td>
                        <td>{ format!("{} B → {} B per vCPU at capacity {}; {} B → {} B for {} vCPUs",
                            o14 * p.capacity, o2 * p.capacity, p.capacity, o14 * p.capacity * vcpus, o2 * p.capacity * vcpus, vcpus) }</td></tr>
                    <tr><td>{"Two extra entries cost 16 B × 40 × nr_vcpus"}</td>
                        <td>{ format!("{} B for {} vCPUs at capacity {}", 2 * SPTE_PTR_SIZE * p.capacity * vcpus, vcpus, p.capacity) }</td></tr>
                    <tr><td>{"Peter Xu: slab memory comes in 4 KiB pages, so smaller objects may not save what the arithmetic says"}</td>
                        <td>{ {
                            let pages = |obj: usize| (p.capacity * vcpus).div_ceil(SLAB_PAGE_SIZE / obj);
                            let (a, b) = (pages(o14), pages(o2));
                            format!("the full caches of {vcpus} vCPU{} pin {a} pages at 14 entries and {b} at 2: {} B saved in whole pages, against {} B by object arithmetic", if vcpus == 1 { "" } else { "s" },
                                (a - b) * SLAB_PAGE_SIZE, (o14 - o2) * p.capacity * vcpus)
                        } }</td></tr>
                    <tr><td>{"Patch 4: top up the cache only when the VM uses rmaps"}</td>
                        <td>{ if p.summary.counts.add == 0 {
                            "This trace never adds to an rmap: with patch 4 its vCPU caches would hold nothing at any array size (compare with \"only once the VM uses rmaps\" above).".to_string()
                        } else {
                            format!("This trace uses rmaps ({} adds), so patch 4 changes nothing after its first add; tick \"only once the VM uses rmaps\" above to compare.", p.summary.counts.add)
                        } }</td></tr>
                    <tr><td>{"Aliasing is rare under TDP (so few descriptors are used)"}</td>
                        <td>
                            { format!("{:.1}% of the {} non-empty rmaps at the peak had more than one SPTE; {largest}. ", pct, facts.rmaps) }
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
