//! libFuzzer entry point; the harness is `overlay_fuzz::decap`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| overlay_fuzz::decap::run(data));
