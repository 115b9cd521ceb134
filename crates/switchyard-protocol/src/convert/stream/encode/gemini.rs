//! Gemini SSE streams for clients: one `data:` chunk per piece of text or thought, one part per
//! whole function call (Gemini never splits a call, so argument deltas are gathered until the
//! call ends), and a last chunk with the finish reason and `usageMetadata`. Events end in CRLF
//! CRLF like Google's, and nothing but `data:` lines is written (Gemini CLI refuses anything
//! else).
//!
//! A reasoning proof from another provider is written as an empty thought part right after the
//! thoughts it signs: clients that keep thoughts in their history send both back together (and
//! the proof can be checked against its text); clients that drop thoughts drop the proof too,
//! instead of sending a proof without the text it signs.

use serde_json::{Value, json};
use switchyard_core::{Dialect, TokenUsage};

use super::super::event::{Block, Encoder, Meta};
use crate::convert::ir::StopReason;
use crate::convert::response::gemini_finish;
use crate::convert::signature::Signature;
use crate::convert::usage_map;

#[derive(Debug, Default)]
pub(crate) struct GeminiEncoder {
    /// The open function call: id, name and the argument text so far.
    call: Option<(String, String, String)>,
    /// Wrap each chunk as Code Assist does (`{"response": …}`), for Gemini CLI's Google login.
    code_assist: bool,
}

impl GeminiEncoder {
    pub(crate) fn new(code_assist: bool) -> GeminiEncoder {
        GeminiEncoder {
            call: None,
            code_assist,
        }
    }

    fn chunk(&self, meta: &Meta, candidate: Value, usage: Option<Value>, out: &mut Vec<u8>) {
        let mut v = json!({
            "candidates": [candidate],
            "modelVersion": meta.model,
            "responseId": meta.id,
        });
        if let Some(u) = usage {
            v["usageMetadata"] = u;
        }
        if self.code_assist {
            v = json!({ "response": v });
        }
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(v.to_string().as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
    }

    fn part(&mut self, meta: &Meta, part: Value, out: &mut Vec<u8>) {
        self.chunk(
            meta,
            json!({"content": {"role": "model", "parts": [part]}, "index": 0}),
            None,
            out,
        );
    }
}

impl Encoder for GeminiEncoder {
    fn start(&mut self, _: &Meta, _: &mut Vec<u8>) {}

    fn block_start(&mut self, _: &Meta, block: &Block, _: &mut Vec<u8>) {
        if let Block::Tool { id, name } = block {
            self.call = Some((id.clone(), name.clone(), String::new()));
        }
    }

    fn text(&mut self, meta: &Meta, text: &str, out: &mut Vec<u8>) {
        self.part(meta, json!({"text": text}), out);
    }

    fn thinking(&mut self, meta: &Meta, text: &str, out: &mut Vec<u8>) {
        self.part(meta, json!({"text": text, "thought": true}), out);
    }

    fn signature(&mut self, meta: &Meta, sig: &Signature, out: &mut Vec<u8>) {
        if let Some(s) = sig.for_client(Dialect::Gemini) {
            self.part(
                meta,
                json!({"text": "", "thought": true, "thoughtSignature": s}),
                out,
            );
        }
    }

    fn args(&mut self, _: &Meta, json: &str, _: &mut Vec<u8>) {
        if let Some((_, _, args)) = &mut self.call {
            args.push_str(json);
        }
    }

    fn redacted(&mut self, meta: &Meta, sig: &Signature, out: &mut Vec<u8>) {
        self.signature(meta, sig, out);
    }

    fn block_stop(&mut self, meta: &Meta, out: &mut Vec<u8>) {
        if let Some((id, name, args)) = self.call.take() {
            // Arguments that do not parse (a cut-off upstream) are passed as text rather than
            // invented.
            let args: Value = if args.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str(&args).unwrap_or_else(|_| json!({"arguments": args}))
            };
            self.part(
                meta,
                json!({"functionCall": {"id": id, "name": name, "args": args}}),
                out,
            );
        }
    }

    fn finish(
        &mut self,
        meta: &Meta,
        stop: StopReason,
        _: Option<&str>,
        usage: &TokenUsage,
        out: &mut Vec<u8>,
    ) {
        let candidate = json!({"finishReason": gemini_finish(stop), "index": 0});
        self.chunk(meta, candidate, Some(usage_map::gemini(usage)), out);
    }
}
