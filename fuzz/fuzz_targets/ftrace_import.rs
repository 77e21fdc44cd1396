//! Any text through the kvmmmu text importer (every text form) and the inference engine's
//! typed entry points the collector uses: never a panic; the imported events replay without
//! breaking the model.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rmaplab_core::import::infer::Inference;
use rmaplab_core::import::text::{parse_line, Line};
use rmaplab_core::import::{import_all, CaptureFormat, ImportOptions};
use rmaplab_core::replay::{ReplayOptions, Replayer};
use rmaplab_core::ModelConfig;

fn replay_ok(meta: rmaplab_core::TraceMeta, events: &[rmaplab_core::Event]) {
    let mut r = Replayer::new(meta, &[ModelConfig::kvm_today()], ReplayOptions::default()).expect("valid config");
    for e in events {
        let _ = r.feed(e);
    }
    r.check_invariants().expect("model invariants hold");
}

fuzz_target!(|data: &[u8]| {
    if let Ok((meta, events)) = import_all(CaptureFormat::Text, data, ImportOptions::default()) {
        replay_ok(meta, &events);
    }
    // The engine directly, with guest PTE clears at arbitrary places.
    let mut imp = Inference::default();
    let mut events = Vec::new();
    for line in String::from_utf8_lossy(data).lines() {
        if let Ok(Line::Record(r)) = parse_line(line) {
            imp.on_record(&r);
        }
        while let Some(e) = imp.pop() {
            events.push(e);
        }
    }
    for w in data.chunks(9).take(8) {
        if w.len() == 9 {
            imp.guest_pte_cleared(u64::from_le_bytes(w[..8].try_into().expect("8 bytes")), u64::from(w[8]));
        }
    }
    while let Some(e) = imp.pop() {
        events.push(e);
    }
    replay_ok(rmaplab_core::TraceMeta::default(), &events);
});
