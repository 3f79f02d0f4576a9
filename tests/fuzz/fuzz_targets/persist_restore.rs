//! libFuzzer entry point; the harness is `overlay_fuzz::persist`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| overlay_fuzz::persist::run(data));
