//! libFuzzer entry point; the harness is `overlay_fuzz::files`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| overlay_fuzz::files::run(data));
