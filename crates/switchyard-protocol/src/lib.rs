//! Wire formats of the four client dialects, kept free of I/O so they can be tested and fuzzed
//! byte by byte.
//!
//! The relay forwards upstream bytes unchanged; everything here either *reads* those bytes on the
//! side (the [`sse`] decoder and the [`usage`] taps), reads just enough of a request to route it
//! ([`inspect`]), or makes the few minimal, byte-preserving edits the relay is allowed to make
//! ([`json_edit`], [`chat_usage_strip`]). Error bodies for every dialect are shaped in one place
//! ([`errors`]). When a client's dialect differs from its account's, [`convert`] translates
//! requests, answers, streams and errors between dialects (ADR 0010).

pub mod bedrock;
pub mod chat_usage_strip;
pub mod code_assist;
pub mod convert;
pub mod errors;
pub mod eventstream;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
pub mod gemini;
pub mod inspect;
pub mod json_edit;
pub mod sse;
pub mod stream_end;
pub mod transform;
pub mod usage;

#[cfg(test)]
mod test_fixtures;

pub use bedrock::BedrockToAnthropic;
pub use chat_usage_strip::ChatUsageStripper;
pub use code_assist::{CodeAssistBodyUnwrap, CodeAssistSseToJsonArray, CodeAssistSseToPublic};
pub use errors::{error_body, error_body_coded, error_body_typed};
pub use eventstream::{EventStreamDecoder, EventStreamError};
pub use gemini::{GeminiAction, GeminiRequest, GeminiSurface, inspect_gemini};
pub use inspect::{
    AnthropicRequest, ChatRequest, InspectError, ResponsesRequest, inspect_anthropic, inspect_chat,
    inspect_responses,
};
pub use sse::{SseDecoder, SseEvent};
pub use stream_end::{Break, ClientFraming, StreamEnd};
pub use transform::StreamTransform;
pub use usage::{BodyInfo, GeminiArrayTap, StreamError, StreamTap, UsageTap, usage_from_body};

#[cfg(test)]
mod robustness {
    //! Everything here faces bytes from clients or upstreams: nothing may panic on any input.

    use super::*;
    use proptest::prelude::*;
    use switchyard_core::Dialect;

    const DIALECTS: [Dialect; 4] = [
        Dialect::Anthropic,
        Dialect::OpenaiChat,
        Dialect::OpenaiResponses,
        Dialect::Gemini,
    ];

    /// Cases per fuzz property: `SWITCHYARD_FUZZ_CASES` (CI sets a large number), else 256.
    fn fuzz_cases() -> u32 {
        std::env::var("SWITCHYARD_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256)
    }

    /// The committed seed corpus (`fuzz/corpus/<target>/`) passes every target.
    #[test]
    fn fuzz_seed_corpus_passes() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
        type Target = fn(&[u8]);
        let targets: [(&str, Target); 7] = [
            ("sse", fuzz::sse),
            ("eventstream", fuzz::eventstream),
            ("inspect", fuzz::inspect),
            ("code_assist", fuzz::code_assist),
            ("chat_usage_strip", fuzz::chat_usage_strip),
            ("json_edit", fuzz::json_edit),
            ("stream_end", fuzz::stream_end),
        ];
        for (name, target) in targets {
            let dir = root.join(name);
            let mut seeds = 0;
            for entry in
                std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            {
                let bytes = std::fs::read(entry.unwrap().path()).unwrap();
                target(&bytes);
                seeds += 1;
            }
            assert!(seeds > 0, "no seeds for {name}");
        }
    }

    fn jsonish() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            "[{}\\[\\]\":,a-z0-9 \\\\\n\r]{0,64}".prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(fuzz_cases()))]
        #[test]
        fn fuzz_targets_hold_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            fuzz::sse(&data);
            fuzz::eventstream(&data);
            fuzz::inspect(&data);
            fuzz::code_assist(&data);
            fuzz::chat_usage_strip(&data);
            fuzz::json_edit(&data);
            fuzz::stream_end(&data);
        }

        #[test]
        fn fuzz_targets_hold_on_json_like_bytes(data in "[{}\\[\\]\":,a-z0-9 \\\\\n\r]{0,256}") {
            let data = data.into_bytes();
            fuzz::sse(&data);
            fuzz::inspect(&data);
            fuzz::code_assist(&data);
            fuzz::chat_usage_strip(&data);
            fuzz::json_edit(&data);
            fuzz::stream_end(&data);
        }

        #[test]
        fn no_panic_on_arbitrary_bytes(body in jsonish(), split in any::<usize>()) {
            let _ = inspect_anthropic(&body);
            let _ = inspect_responses(&body);
            let _ = inspect_chat(&body);
            let _ = json_edit::set_top_level(&body, "model", "\"x\"");
            let _ = json_edit::remove_top_level(&body, "model");
            let split = split % (body.len() + 1);
            for dialect in DIALECTS {
                let _ = usage_from_body(dialect, &body);
                let mut tap = StreamTap::new(dialect);
                tap.feed(&body[..split]);
                tap.feed(&body[split..]);
                tap.finish();
            }
            let mut stripper = ChatUsageStripper::new();
            let mut out = Vec::new();
            stripper.push(&body[..split], &mut out);
            stripper.push(&body[split..], &mut out);
            stripper.finish(&mut out);
            let mut decoder = EventStreamDecoder::new();
            decoder.push(&body[..split]);
            while let Ok(Some(_)) = decoder.next_frame() {}
            decoder.push(&body[split..]);
            while let Ok(Some(_)) = decoder.next_frame() {}
            let _ = decoder.finish();
            let mut bedrock = BedrockToAnthropic::new();
            out.clear();
            transform::StreamTransform::push(&mut bedrock, &body[..split], &mut out);
            transform::StreamTransform::push(&mut bedrock, &body[split..], &mut out);
            transform::StreamTransform::finish(&mut bedrock, &mut out);
            let _ = bedrock::error_response_body(400, None, &body);
        }
    }
}
