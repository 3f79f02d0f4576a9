//! libFuzzer entry point; the harness is `overlay_fuzz::dld`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| overlay_fuzz::dld::run(data));
