//! Any bytes through the perf.data reader (container, tracing-data block, raw payloads): an
//! error or events, never a panic. Seeds: the real captures in core/tests/fixtures/captures.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rmaplab_core::import::{import_all, perfdata, CaptureFormat, ImportOptions};

fuzz_target!(|data: &[u8]| {
    let _ = perfdata::read(data);
    let _ = import_all(CaptureFormat::PerfData, data, ImportOptions::default());
});
