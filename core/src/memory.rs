//! The memory that really matters, per configuration: descriptors in lists, the per-vCPU caches
//! at the VM's vCPU count, the eager page-split cache, and the 4 KiB slab pages all of them
//! occupy — per vCPU, per VM and per host of several identical VMs.
//!
//! Peter Xu's objection to the seed (slab memory comes in pages, so a smaller object may not
//! save what `objects × bytes` suggests) is answered by the page columns: descriptors of one
//! size share one `pte_list_desc` kmem_cache, packed `floor(4096 / (16 + 8N))` to a page.

use crate::config::{TopupPolicy, SLAB_PAGE_SIZE};
use crate::replay::{ConfigReport, ReplaySummary};
use crate::sizes::SPLIT_DESC_CACHE_CAPACITY;
use serde::{Deserialize, Serialize};

/// The host the figures are scaled to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostShape {
    /// vCPUs per VM.
    pub vcpus: u64,
    /// VMs on the host, each like the traced one.
    pub vms: u64,
    /// The host is the trace's own VMs (`vms` of them, a capture of several): each VM counts
    /// its own vCPUs' caches and its own lists at its own peak, and `vcpus` is the largest
    /// VM's. Off when the user sets the host's shape (then `vms` VMs of `vcpus` vCPUs each).
    #[serde(default)]
    pub traced_vms: bool,
}

impl HostShape {
    /// The trace's own VM (its metadata's vCPU count, else the vCPUs whose caches it used,
    /// else 1) on a host of `vms` VMs; `vcpus` overrides the trace.
    pub fn for_trace(
        meta_vcpus: Option<u32>,
        vcpus_seen: usize,
        vcpus: Option<u64>,
        vms: u64,
    ) -> HostShape {
        let vcpus = vcpus
            .or(meta_vcpus.map(u64::from))
            .unwrap_or(vcpus_seen as u64)
            .max(1);
        HostShape {
            vcpus,
            vms: vms.max(1),
            traced_vms: false,
        }
    }

    /// The host the figures of `s` are for, as both front-ends decide it: the trace's own VMs
    /// when its import found several (each with its vCPUs) and neither `vcpus` nor `vms` is
    /// given; else [`HostShape::for_trace`] with `vms` (default 1) identical VMs.
    pub fn of_summary(s: &ReplaySummary, vcpus: Option<u64>, vms: Option<u64>) -> HostShape {
        let traced = s
            .configs
            .first()
            .map(|c| c.vm_vcpus.as_slice())
            .unwrap_or_default();
        if vcpus.is_none() && vms.is_none() && traced.len() > 1 {
            return HostShape {
                vcpus: traced.iter().copied().max().unwrap_or(1).max(1),
                vms: traced.len() as u64,
                traced_vms: true,
            };
        }
        let seen = s.configs.iter().map(|c| c.vcpus_seen).max().unwrap_or(0);
        HostShape::for_trace(s.meta.vcpus, seen, vcpus, vms.unwrap_or(1))
    }

    /// The host's VMs for `c`: (vCPUs, descriptors in lists at its peak, how many such VMs).
    fn vms_of(self, c: &ConfigReport) -> Vec<(u64, u64, u64)> {
        if self.traced_vms && c.vm_vcpus.len() == c.vm_peak_descs.len() && !c.vm_vcpus.is_empty() {
            c.vm_vcpus
                .iter()
                .zip(&c.vm_peak_descs)
                .map(|(&v, &d)| (v.max(1), d, 1))
                .collect()
        } else {
            // A trace of several VMs: the worst VM's own peak, not all VMs' lists together.
            let lists = c
                .vm_peak_descs
                .iter()
                .max()
                .copied()
                .unwrap_or(c.peak_descs);
            vec![(self.vcpus, lists, self.vms.max(1))]
        }
    }
}

/// One configuration's memory on a [`HostShape`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Footprint {
    /// Descriptor bytes in lists at their peak (measured).
    pub lists_peak_bytes: u64,
    /// Mean descriptor bytes in lists over the trace (measured).
    pub lists_avg_bytes: f64,
    /// One vCPU's full `mmu_pte_list_desc_cache`: capacity × object size; 0 under the
    /// `when-rmaps-used` top-up policy on a trace that never used rmaps.
    pub cache_bytes_per_vcpu: u64,
    /// All vCPUs' caches of one VM.
    pub caches_bytes_per_vm: u64,
    /// The VM's eager page-split cache at its real fill ([`SPLIT_DESC_CACHE_CAPACITY`]
    /// objects), held while eager page splitting runs; 0 when the trace never used rmaps
    /// (KVM splits through rmaps only when the VM has them).
    pub split_cache_bytes: u64,
    /// Per VM at its worst: lists at the peak + full caches + the split cache.
    pub vm_bytes: u64,
    /// Slab pages the VM's full vCPU caches pin on their own.
    pub cache_slab_pages: u64,
    /// Slab pages holding the VM's objects at its worst (lists at the peak, full caches, the
    /// split cache), packed as the kmem_cache packs them.
    pub vm_slab_pages: u64,
    /// `vm_slab_pages` in bytes: what the VM's descriptors really cost the host.
    pub vm_slab_bytes: u64,
    /// Bytes for the host's VMs (`vm_bytes × vms`; the sum of each traced VM's own under
    /// [`HostShape::traced_vms`]).
    pub host_bytes: u64,
    /// Slab pages for the host's VMs (objects of all VMs share the kmem_cache's pages).
    pub host_slab_pages: u64,
}

impl Footprint {
    /// The footprint of `c` on `host`.
    pub fn of(c: &ConfigReport, host: HostShape) -> Footprint {
        let obj = c.desc_bytes as u64;
        let per_page = (SLAB_PAGE_SIZE as u64 / obj.max(1)).max(1);
        let caches_active = c.topup == TopupPolicy::Always || c.rmaps_used;
        let cache_objs = if caches_active {
            c.cache_capacity as u64
        } else {
            0
        };
        let split_objs = if c.rmaps_used {
            SPLIT_DESC_CACHE_CAPACITY as u64
        } else {
            0
        };
        let vms = host.vms_of(c);
        let objs_of = |vcpus: u64, lists: u64| lists + cache_objs * vcpus + split_objs;
        // Per VM at its worst: the VM with the most objects.
        let vm_objs = vms
            .iter()
            .map(|&(v, l, _)| objs_of(v, l))
            .max()
            .unwrap_or(0);
        let host_objs: u64 = vms.iter().map(|&(v, l, n)| objs_of(v, l) * n).sum();
        let vm_bytes = vm_objs * obj;
        let vm_slab_pages = vm_objs.div_ceil(per_page);
        Footprint {
            lists_peak_bytes: c.peak_bytes,
            lists_avg_bytes: c.avg_desc_bytes,
            cache_bytes_per_vcpu: cache_objs * obj,
            caches_bytes_per_vm: cache_objs * obj * host.vcpus,
            split_cache_bytes: split_objs * obj,
            vm_bytes,
            cache_slab_pages: (cache_objs * host.vcpus).div_ceil(per_page),
            vm_slab_pages,
            vm_slab_bytes: vm_slab_pages * SLAB_PAGE_SIZE as u64,
            host_bytes: host_objs * obj,
            host_slab_pages: host_objs.div_ceil(per_page),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::test_reports as replay;
    use crate::trace::{RmapId, SpteId, VcpuId};
    use crate::{Era, Event, ModelConfig};

    fn cfg(n: usize, topup: TopupPolicy) -> ModelConfig {
        ModelConfig {
            topup,
            ..ModelConfig::new(n, Era::HeadInsert).unwrap()
        }
    }

    #[test]
    fn the_seeds_per_vcpu_figures_and_peters_pages() {
        // One gfn mapped twice on vCPU 0: one descriptor in a list.
        let evs = [
            Event::add(RmapId(1), SpteId(10)),
            Event::add(RmapId(1), SpteId(11)),
        ];
        let host = HostShape {
            vcpus: 8,
            vms: 4,
            traced_vms: false,
        };
        let r = replay(
            &[
                cfg(2, TopupPolicy::Always),
                cfg(4, TopupPolicy::Always),
                cfg(14, TopupPolicy::Always),
            ],
            &evs,
        );
        let [f2, f4, f14] = [0, 1, 2].map(|i| Footprint::of(&r[i], host));
        // 5120 B -> 1280 B per vCPU.
        assert_eq!(f14.cache_bytes_per_vcpu, 5120);
        assert_eq!(f2.cache_bytes_per_vcpu, 1280);
        assert_eq!(f14.caches_bytes_per_vm, 5120 * 8);
        // The split cache at its real fill: 553 x (16 + 8N).
        assert_eq!(f14.split_cache_bytes, 70_784);
        assert_eq!(f2.split_cache_bytes, 17_696);
        assert_eq!(f4.split_cache_bytes, 553 * 48);
        // Pages: 32 objects of 128 B, 85 of 48 B, 128 of 32 B to a page; 8 x 40 cache objects.
        assert_eq!(f14.cache_slab_pages, 10);
        assert_eq!(f4.cache_slab_pages, 4); // 320 / 85 = 3.76
        assert_eq!(f2.cache_slab_pages, 3); // 320 / 128 = 2.5
                                            // The VM: 1 list descriptor + 320 cache objects + 553 split objects = 874 objects.
        assert_eq!(f14.vm_slab_pages, 874u64.div_ceil(32));
        assert_eq!(f2.vm_slab_pages, 874u64.div_ceil(128));
        assert_eq!(f14.vm_bytes, 874 * 128);
        assert_eq!(f14.vm_slab_bytes, 28 * 4096);
        assert_eq!(f14.host_bytes, 4 * 874 * 128);
        assert_eq!(f2.host_slab_pages, (4 * 874u64).div_ceil(128));
    }

    #[test]
    fn a_capture_of_two_vms_counts_each_vms_own_caches() {
        let evs = [
            Event::add(RmapId(1), SpteId(10)),
            Event::add(RmapId(1), SpteId(11)),
        ];
        let mut c = replay(&[cfg(14, TopupPolicy::Always)], &evs).remove(0);
        // Two VMs as an import finds them: 1 and 3 vCPUs, 1 and 0 descriptors at their peaks.
        c.vm_peak_descs = vec![1, 0];
        c.vm_vcpus = vec![1, 3];
        let traced = HostShape {
            vcpus: 3,
            vms: 2,
            traced_vms: true,
        };
        let f = Footprint::of(&c, traced);
        // VM 0: 1 + 40 + 553 objects; VM 1: 0 + 3 x 40 + 553.
        assert_eq!(f.host_bytes, (594 + 673) * 128);
        assert_eq!(f.vm_bytes, 673 * 128, "per VM: the largest");
        assert_eq!(f.host_slab_pages, (594u64 + 673).div_ceil(32));
        // The same VMs taken as two identical 3-vCPU VMs count more.
        let alike = Footprint::of(
            &c,
            HostShape {
                traced_vms: false,
                ..traced
            },
        );
        assert_eq!(alike.host_bytes, 2 * (1 + 120 + 553) * 128);
    }

    #[test]
    fn patch_4_costs_nothing_before_the_first_add() {
        // Faults on four vCPUs, no add: the VM never uses rmaps.
        let faults: Vec<Event> = (0..4).map(|v| Event::fault(VcpuId(v))).collect();
        let lazy = cfg(2, TopupPolicy::WhenRmapsUsed);
        let eager = cfg(2, TopupPolicy::Always);
        let r = replay(&[eager, lazy], &faults);
        let host = HostShape {
            vcpus: 4,
            vms: 1,
            traced_vms: false,
        };
        assert_eq!(r[0].slab_allocations, 4 * 40);
        assert_eq!(r[1].slab_allocations, 0);
        assert_eq!(r[1].cache_idle_bytes_peak, 0);
        let (fe, fl) = (Footprint::of(&r[0], host), Footprint::of(&r[1], host));
        assert_eq!(fe.caches_bytes_per_vm, 4 * 1280);
        assert_eq!(fl.cache_bytes_per_vcpu, 0);
        assert_eq!(fl.vm_bytes, 0);
        assert_eq!(fl.vm_slab_pages, 0);
        // Once the VM adds, the lazy policy behaves as today from that fault on.
        let mut evs = faults.clone();
        evs.push(Event::fault(VcpuId(1)));
        evs.push(Event::add(RmapId(5), SpteId(50)));
        evs.push(Event::add(RmapId(5), SpteId(51)));
        let r = replay(&[eager, lazy], &evs);
        assert!(r[1].rmaps_used);
        assert_eq!(r[1].empty_cache_allocations, 0);
        assert_eq!(r[1].slab_allocations, 40);
        assert_eq!(Footprint::of(&r[1], host).cache_bytes_per_vcpu, 1280);
    }

    #[test]
    fn a_small_cache_runs_dry_on_a_burst_of_adds() {
        // Vipin Sharma's 40 -> 5: one fault, then 8 gfns mapped twice each need 8 descriptors.
        let small = ModelConfig {
            cache_capacity: 5,
            cache_min: 5,
            ..ModelConfig::new(2, Era::HeadInsert).unwrap()
        };
        let mut evs = vec![Event::fault(VcpuId(0))];
        for g in 0..8u64 {
            evs.push(Event::add(RmapId(g), SpteId(100 + 2 * g)));
            evs.push(Event::add(RmapId(g), SpteId(101 + 2 * g)));
        }
        let r = replay(
            &[small, ModelConfig::new(2, Era::HeadInsert).unwrap()],
            &evs,
        );
        assert_eq!(r[0].allocations, 8);
        assert_eq!(r[0].empty_cache_allocations, 3);
        assert_eq!(r[1].empty_cache_allocations, 0);
    }

    #[test]
    fn the_vcpu_count_comes_from_the_trace_unless_given() {
        assert_eq!(HostShape::for_trace(Some(4), 2, None, 1).vcpus, 4);
        assert_eq!(HostShape::for_trace(None, 2, None, 1).vcpus, 2);
        assert_eq!(HostShape::for_trace(Some(4), 2, Some(16), 3).vcpus, 16);
        assert_eq!(
            HostShape::for_trace(None, 0, None, 0),
            HostShape {
                vcpus: 1,
                vms: 1,
                traced_vms: false
            }
        );
    }
}
