//! Any text through the JSON Lines decoder: never a panic; what decodes round-trips.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rmaplab_core::trace::jsonl::{self, JsonlDecoder};

fuzz_target!(|data: &[u8]| {
    let mut dec = JsonlDecoder::new();
    dec.push(data);
    let mut events = Vec::new();
    loop {
        match dec.next_event() {
            Ok(Some(e)) => events.push(e),
            Ok(None) => break,
            Err(_) => return,
        }
    }
    loop {
        match dec.finish() {
            Ok(Some(e)) => events.push(e),
            Ok(None) => break,
            Err(_) => return,
        }
    }
    let Ok(Some(meta)) = dec.meta().map(|m| m.cloned()) else { return };
    let mut text = Vec::new();
    jsonl::write_header(&meta, &mut text);
    for e in &events {
        jsonl::write_event(e, &mut text);
    }
    let (_, again) = rmaplab_core::trace::decode_all(&text).expect("written JSONL decodes");
    assert_eq!(again, events);
});
