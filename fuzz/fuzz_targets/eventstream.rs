#![no_main]
//! Fuzz target: `switchyard_protocol::fuzz::eventstream`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_protocol::fuzz::eventstream(data));
