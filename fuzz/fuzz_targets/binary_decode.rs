//! Any byte string through the auto-detecting decoder in arbitrary chunks: never a panic; the
//! batch path (`next_batch`) gives the same events and fails where the one-event path fails; a
//! trace that decodes re-encodes to the same events; its replay never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rmaplab_core::replay::{ReplayOptions, Replayer};
use rmaplab_core::trace::{binary, TraceDecoder};
use rmaplab_core::ModelConfig;

fuzz_target!(|data: &[u8]| {
    let (chunk, body) = match data.split_first() {
        Some((c, rest)) => (usize::from(*c).max(1), rest),
        None => (1, data),
    };
    let mut dec = TraceDecoder::new();
    let mut events = Vec::new();
    let mut ok = true;
    'outer: for c in body.chunks(chunk) {
        if dec.push(c).is_err() {
            ok = false;
            break;
        }
        loop {
            match dec.next_event() {
                Ok(Some(e)) => events.push(e),
                Ok(None) => break,
                Err(_) => {
                    ok = false;
                    break 'outer;
                }
            }
        }
    }
    while ok {
        match dec.finish() {
            Ok(Some(e)) => events.push(e),
            Ok(None) => break,
            Err(_) => ok = false,
        }
    }
    let (batched, batch_ok) = by_batches(body, chunk, usize::from(chunk % 7) + 1);
    assert_eq!(batch_ok, ok, "next_batch and next_event disagree on success");
    if ok {
        assert_eq!(batched, events, "next_batch and next_event disagree on the events");
    }
    if !ok {
        return;
    }
    let Ok(Some(meta)) = dec.meta().map(|m| m.cloned()) else { return };
    let again = binary::encode_all(&meta, &events);
    let (m2, e2) = rmaplab_core::trace::decode_all(&again).expect("re-encoded trace decodes");
    assert_eq!(e2, events);
    assert_eq!(m2.extra.len(), meta.extra.len());
    let cfgs = [ModelConfig::kvm_today(), ModelConfig::new(2, rmaplab_core::Era::TailAppend).expect("valid")];
    if let Ok(mut r) = Replayer::new(meta, &cfgs, ReplayOptions::default()) {
        for e in &events {
            let _ = r.feed(e);
        }
        r.check_invariants().expect("model invariants hold after any trace");
        let _ = r.finish();
    }
});

/// The same decode through `next_batch` (batches of `max`): its events and whether it succeeded.
fn by_batches(body: &[u8], chunk: usize, max: usize) -> (Vec<rmaplab_core::Event>, bool) {
    let mut dec = TraceDecoder::new();
    let mut events = Vec::new();
    for c in body.chunks(chunk) {
        if dec.push(c).is_err() {
            return (events, false);
        }
        loop {
            match dec.next_batch(&mut events, max) {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => return (events, false),
            }
        }
    }
    loop {
        match dec.finish() {
            Ok(Some(e)) => events.push(e),
            Ok(None) => return (events, true),
            Err(_) => return (events, false),
        }
    }
}
