//! Any bytes through the trace.dat reader (v6/v7, compressed sections, ring-buffer pages) and
//! the importer behind it: an error or events, never a panic. Seeds: the real captures in
//! core/tests/fixtures/captures (scripts/fuzz.sh copies them into the corpus).
#![no_main]
use libfuzzer_sys::fuzz_target;
use rmaplab_core::import::{import_all, tracedat, CaptureFormat, ImportOptions};

fuzz_target!(|data: &[u8]| {
    let _ = tracedat::read(data);
    let _ = import_all(CaptureFormat::TraceDat, data, ImportOptions::default());
});
