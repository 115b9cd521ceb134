//! Gemini SSE streams for clients: one `data:` chunk per piece of text or thought, one part per
//! whole function call (Gemini never splits a call, so argument deltas are gathered until the
//! call ends), and a last chunk with the finish reason and `usageMetadata`. Events end in CRLF
//! CRLF like Google's, and nothing but `data:` lines is written (Gemini CLI refuses anything
//! else).

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
    /// A proof waiting for the part it belongs to.
    signature: Option<String>,
}

impl GeminiEncoder {
    fn chunk(meta: &Meta, candidate: Value, usage: Option<Value>, out: &mut Vec<u8>) {
        let mut v = json!({
            "candidates": [candidate],
            "modelVersion": meta.model,
            "responseId": meta.id,
        });
        if let Some(u) = usage {
            v["usageMetadata"] = u;
        }
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(v.to_string().as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
    }

    fn part(&mut self, meta: &Meta, mut part: Value, out: &mut Vec<u8>) {
        if let Some(s) = self.signature.take() {
            part["thoughtSignature"] = json!(s);
        }
        Self::chunk(
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
        // A thought part carries no earlier proof: that belongs to the answer after it.
        let pending = self.signature.take();
        Self::chunk(
            meta,
            json!({"content": {"role": "model", "parts": [{"text": text, "thought": true}]}, "index": 0}),
            None,
            out,
        );
        self.signature = pending;
    }

    fn signature(&mut self, _: &Meta, sig: &Signature, _: &mut Vec<u8>) {
        self.signature = sig.for_client(Dialect::Gemini);
    }

    fn args(&mut self, _: &Meta, json: &str, _: &mut Vec<u8>) {
        if let Some((_, _, args)) = &mut self.call {
            args.push_str(json);
        }
    }

    fn redacted(&mut self, _: &Meta, sig: &Signature, _: &mut Vec<u8>) {
        self.signature = sig.for_client(Dialect::Gemini);
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
        let mut candidate = json!({"finishReason": gemini_finish(stop), "index": 0});
        if let Some(s) = self.signature.take() {
            candidate["content"] =
                json!({"role": "model", "parts": [{"text": "", "thoughtSignature": s}]});
        }
        Self::chunk(meta, candidate, Some(usage_map::gemini(usage)), out);
    }
}
