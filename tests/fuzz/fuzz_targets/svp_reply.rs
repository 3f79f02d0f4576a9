//! libFuzzer entry point; the harness is `overlay_fuzz::svp_reply`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| overlay_fuzz::svp_reply::run(data));
