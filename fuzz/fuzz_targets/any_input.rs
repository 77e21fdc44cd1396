//! Any bytes through the one reader every front-end uses (detection, gzip/zstd streaming
//! decompression, the rmaplab decoders, the captures' passes by offset), read both as a file
//! (seekable) and as a stream (stdin): an error or events, never a panic, and both ways give
//! the same answer.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rmaplab_core::import::ImportOptions;
use rmaplab_core::input::reader::{read_all, TraceReader};

fuzz_target!(|data: &[u8]| {
    let seekable = read_all(data, ImportOptions::default());
    let mut r = TraceReader::new(data, ImportOptions::default());
    let streamed = r.meta().and_then(|m| {
        let mut events = Vec::new();
        let mut batch = Vec::new();
        while r.next_batch(&mut batch)? {
            events.append(&mut batch);
        }
        Ok((m, events))
    });
    match (seekable, streamed) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "file and stream read alike"),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("file {:?} but stream {:?}", a.map(|_| ()), b.map(|_| ())),
    }
});
