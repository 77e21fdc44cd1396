//! Structured operations on the rmap model for several array sizes and every era, checked
//! against a Vec per rmap and the kernel's invariants after every operation.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rmaplab_core::rmap::{RmapIndex, RmapSet};
use rmaplab_core::{Era, ModelConfig};

const RMAPS: usize = 3;

fuzz_target!(|data: &[u8]| {
    for n in [2usize, 3, 14] {
        for era in Era::ALL {
            let cfg = ModelConfig { recycle_threshold: None, ..ModelConfig::new(n, era).expect("valid") };
            let mut m = RmapSet::new(cfg);
            let mut reference: Vec<Vec<u64>> = vec![Vec::new(); RMAPS];
            let mut next = 1u64;
            for pair in data.chunks(2) {
                let (op, arg) = (pair[0], pair.get(1).copied().unwrap_or(0));
                let r = usize::from(op >> 6) % RMAPS;
                let ri = RmapIndex(u32::try_from(r).expect("a small index"));
                match op & 3 {
                    0 | 1 => {
                        m.topup(u32::from(arg & 3)).expect("arena");
                        let c = m.pte_list_add(u32::from(arg & 3), ri, next).expect("arena");
                        if era == Era::HeadInsert {
                            assert_eq!(c, reference[r].len());
                        } else {
                            assert!(c <= reference[r].len());
                        }
                        reference[r].push(next);
                        next += 1;
                    }
                    2 => {
                        if reference[r].is_empty() {
                            assert!(m.pte_list_remove(ri, 12345).is_err());
                        } else {
                            let i = usize::from(arg) % reference[r].len();
                            let s = reference[r].swap_remove(i);
                            m.pte_list_remove(ri, s).expect("present spte");
                        }
                    }
                    _ => {
                        assert_eq!(m.kvm_zap_all_rmap_sptes(ri), reference[r].len());
                        reference[r].clear();
                    }
                }
                m.check_invariants(ri).expect("kernel invariants");
                let mut got = m.entries(ri);
                got.sort_unstable();
                let mut want = reference[r].clone();
                want.sort_unstable();
                assert_eq!(got, want);
            }
        }
    }
});
