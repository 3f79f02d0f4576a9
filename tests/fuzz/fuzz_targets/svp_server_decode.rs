//! libFuzzer entry point; the harness is `overlay_fuzz::svp::run_server`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| overlay_fuzz::svp::run_server(data));
