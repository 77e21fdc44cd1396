//! Any text through the kvmmmu ftrace importer (also the typed entry points the collector
//! uses): never a panic; the imported events replay without breaking the model.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rmaplab_core::replay::{ReplayOptions, Replayer};
use rmaplab_core::trace::ftrace::FtraceImporter;
use rmaplab_core::ModelConfig;

fuzz_target!(|data: &[u8]| {
    let mut imp = FtraceImporter::default();
    imp.push(data);
    let mut events = Vec::new();
    loop {
        match imp.next_event() {
            Ok(Some(e)) => events.push(e),
            Ok(None) => break,
            Err(_) => return,
        }
    }
    while let Ok(Some(e)) = imp.finish() {
        events.push(e);
    }
    // Guest PTE clears at arbitrary places must not break the importer either.
    for w in data.chunks(9).take(8) {
        if w.len() == 9 {
            imp.guest_pte_cleared(u64::from_le_bytes(w[..8].try_into().expect("8 bytes")), u64::from(w[8]));
        }
    }
    while let Some(e) = imp.take_pending() {
        events.push(e);
    }
    let mut r = Replayer::new(imp.meta("fuzz"), &[ModelConfig::kvm_today()], ReplayOptions::default()).expect("valid config");
    for e in &events {
        let _ = r.feed(e);
    }
    r.check_invariants().expect("model invariants hold");
});
