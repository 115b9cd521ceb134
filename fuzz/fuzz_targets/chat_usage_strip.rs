#![no_main]
//! Fuzz target: `switchyard_protocol::fuzz::chat_usage_strip`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_protocol::fuzz::chat_usage_strip(data));
