//! What the per-era worked examples (the tests beside each era's list code) share.

use super::{RmapIndex, RmapSnapshot};

/// The one rmap these examples use.
pub(super) const R0: RmapIndex = RmapIndex(0);

/// The rmap's chain as each descriptor's SPTEs, head first.
pub(super) fn chain(s: &RmapSnapshot) -> Vec<Vec<u64>> {
    s.descs().iter().map(|d| d.sptes.clone()).collect()
}
