//! libFuzzer entry point; the harness is `overlay_fuzz::targ`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| overlay_fuzz::targ::run(data));
