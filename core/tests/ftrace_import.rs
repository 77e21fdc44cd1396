//! Real kvmmmu captures from the project's host (see fixtures/ftrace/README.md), imported and
//! replayed at KVM's own configuration (14 entries, head-insert): the replay must reproduce the
//! counters KVM reported through KVM_GET_STATS_FD at each phase.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing test panics: that is how it reports

use rmaplab_core::replay::{ReplayOptions, Replayer};
use rmaplab_core::trace::{Event, EventKind, Memslot, RmapId, TraceMeta};
use rmaplab_core::ModelConfig;

mod common;

/// Any input, read whole the way every front-end reads it.
fn decode_all(
    bytes: &[u8],
) -> Result<(TraceMeta, Vec<Event>), rmaplab_core::input::reader::ReadError> {
    rmaplab_core::input::reader::read_all(bytes, rmaplab_core::import::ImportOptions::default())
}

/// The bytes of `tests/fixtures/ftrace/{name}`.
fn fixture(name: &str) -> Vec<u8> {
    common::fixture("ftrace", name)
}

fn stat(name: &str, value: u64) -> Event {
    Event::new(EventKind::Stat {
        name: name.into(),
        value,
    })
}

/// Insert KVM's stats right before (or after) the mark whose label starts with `label`.
fn insert_at_mark(events: &mut Vec<Event>, label: &str, after: bool, stats: &[(&str, u64)]) {
    let at = events
        .iter()
        .position(|e| matches!(&e.kind, EventKind::Mark { label: l } if l.starts_with(label)))
        .unwrap_or_else(|| panic!("no mark {label:?}"));
    let at = if after { at + 1 } else { at };
    for (i, (n, v)) in stats.iter().enumerate() {
        events.insert(at + i, stat(n, *v));
    }
}

fn replay(
    mut meta: rmaplab_core::TraceMeta,
    events: &[Event],
) -> rmaplab_core::replay::ReplaySummary {
    // Memslot 0: gpa 0-2 MiB; memslot 1: the data page at gfn 0x400.
    meta.memslots = vec![
        Memslot {
            base_gfn: 0,
            pages: 512,
        },
        Memslot {
            base_gfn: 0x400,
            pages: 1,
        },
    ];
    let mut r = Replayer::new(
        meta,
        &[ModelConfig::kvm_today()],
        ReplayOptions { strict: true },
    )
    .unwrap();
    r.feed_all(events).unwrap();
    r.check_invariants().unwrap();
    r.finish()
}

/// The capture `name` with KVM's stats as read before the VM was destroyed
/// (`max_mmu_rmap_size`, `pages_4k`), replayed strictly.
fn replay_with_stats_at_destroy(
    name: &str,
    max_rmap_size: u64,
    pages_4k: u64,
) -> rmaplab_core::replay::ReplaySummary {
    let (meta, mut events) = decode_all(&fixture(name)).unwrap();
    let stats = [("max_mmu_rmap_size", max_rmap_size), ("pages_4k", pages_4k)];
    insert_at_mark(&mut events, "DESTROY begin", false, &stats);
    replay(meta, &events)
}

#[test]
fn alias3_reproduces_kvms_counters() {
    let (meta, _) = decode_all(&fixture("alias3.txt")).unwrap();
    assert_eq!(meta.source.as_deref(), Some("kvmmmu capture: kvmmmu text"));
    assert!(!meta.inferred.is_empty());
    let s = replay_with_stats_at_destroy("alias3.txt", 2, 4);
    assert_eq!(s.stat_checks.len(), 2);
    assert!(s.stats_match(), "{:?}", s.stat_checks);
    assert_eq!(s.configs[0].anomalies, 0);
    // The rmap of gfn 0x400 held 3 SPTEs at its peak, the code page's 1: ffs() puts both in
    // column "1"; the other 511 frames of the two memslots are in column "0".
    assert_eq!(
        s.histogram_at_peak.kernel_text().lines().nth(1),
        Some("Level=4K:\t511\t2\t0\t0\t0\t0\t0\t0\t0\t0\t0\t")
    );
    assert_eq!(s.histogram_at_peak.log2[0][1], 1, "one rmap of 2-3 entries");
}

#[test]
fn alias15_unmap_remap_delslot_reproduces_kvms_counters() {
    let (meta, mut events) = decode_all(&fixture("alias15-unmap-remap-delslot.txt")).unwrap();
    insert_at_mark(
        &mut events,
        "DELSLOT begin",
        false,
        &[("max_mmu_rmap_size", 14), ("pages_4k", 16)],
    );
    insert_at_mark(&mut events, "DELSLOT end", true, &[("pages_4k", 0)]);
    // The remap re-installs 15 SPTEs whose removal (by the guest's PTE writes) had no event.
    let removes = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Remove { .. }))
        .count();
    assert!(removes >= 15 + 16, "{removes} removes");
    let s = replay(meta, &events);
    assert_eq!(s.stat_checks.len(), 3);
    assert!(s.stats_match(), "{:?}", s.stat_checks);
}

#[test]
fn alias1002_recycles_like_kvm() {
    let s = replay_with_stats_at_destroy("alias1002-recycle.txt", 1001, 3);
    assert!(s.stats_match(), "{:?}", s.stat_checks);
    assert_eq!(s.configs[0].recycles, 1);
}

#[test]
fn importer_counts_its_inferences() {
    use rmaplab_core::import::{import_all, CaptureFormat, ImportOptions, ImportReport};
    let (meta, events) = import_all(
        CaptureFormat::Text,
        &fixture("alias15-unmap-remap-delslot.txt"),
        ImportOptions::default(),
    )
    .unwrap();
    assert!(!events.is_empty());
    let st = ImportReport::from_meta(&meta).unwrap().inference;
    assert_eq!(st.inferred_drops, 15, "{st:?}");
    assert!(st.zap_removes >= 16, "{st:?}");
    assert_eq!(st.recycles, 0);
}

#[test]
fn guest_pte_writes_never_touch_direct_shadow_pages() {
    use rmaplab_core::import::infer::Inference;
    use rmaplab_core::import::text::{parse_line, Line};
    // A direct level-1 page (a guest 2M page split by KVM) at gfn 0x200 and an indirect one
    // shadowing the guest page table at gfn 0x200: a guest write to that table may only drop
    // the indirect page's SPTE.
    let text = "\
 t-1 [000] .... 1.0: kvm_mmu_get_page: sp gen 0 gfn 200 l1 8-byte q0 direct wux nxe ad root 0 sync new
 t-1 [000] .... 1.1: kvm_mmu_set_spte: gfn 205 spte 5e67 (rwxu) level 1 at 7000028
 t-1 [000] .... 1.2: kvm_mmu_get_page: sp gen 0 gfn 200 l1 8-byte q0 wux nxe ad root 0 sync new
 t-1 [000] .... 1.3: kvm_mmu_set_spte: gfn 900 spte 9e67 (rwxu) level 1 at 8000028
";
    let mut imp = Inference::default();
    for l in text.lines() {
        if let Ok(Line::Record(r)) = parse_line(l) {
            imp.on_record(&r);
        }
    }
    while imp.pop().is_some() {}
    imp.guest_pte_cleared(0x200, 5);
    let removed: Vec<_> = std::iter::from_fn(|| imp.pop()).collect();
    assert_eq!(removed.len(), 1);
    assert!(
        matches!(
            removed[0].kind,
            EventKind::Remove {
                rmap: RmapId(0x900),
                ..
            }
        ),
        "{removed:?}"
    );
}

/// A text capture cut in the middle of its last line (a copy stopped short): that line is left
/// out rather than read with its last field cut to a different value, and the import says so.
#[test]
fn a_text_capture_cut_mid_line_leaves_the_line_out_and_says_so() {
    let whole = fixture("alias3.txt");
    let (_, all) = decode_all(&whole).unwrap();
    // Cut the last kvmmmu line in two: everything before it stays.
    let body = whole.strip_suffix(b"\n").unwrap();
    let last = body.iter().rposition(|&b| b == b'\n').unwrap() + 1;
    let cut = &whole[..last + (body.len() - last) / 2];
    let (meta, events) = decode_all(cut).unwrap();
    let report = rmaplab_core::import::ImportReport::from_meta(&meta).unwrap();
    let lines = whole.iter().filter(|&&b| b == b'\n').count();
    assert!(
        report.warnings.iter().any(|w| w.contains(&format!(
            "ends in the middle of line {lines} (no newline after it)"
        ))),
        "{:?}",
        report.warnings
    );
    let (_, before) = decode_all(&whole[..last]).unwrap();
    assert_eq!(
        events, before,
        "the cut capture reads as the capture up to the cut line"
    );
    assert!(events.len() <= all.len());
}
