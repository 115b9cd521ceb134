#![no_main]
//! Fuzz target: `switchyard_protocol::fuzz::stream_end`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_protocol::fuzz::stream_end(data));
