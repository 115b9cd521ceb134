//! Gemini SSE streams (public API or Code Assist) as neutral events.
//!
//! Gemini sends whole parts: text in pieces, but each function call complete in one part, so a
//! call becomes a tool block with its arguments in one piece. There is no end marker; the
//! finish reason of the last chunk is the end, and the driver writes the client's finale when
//! the upstream closes.

use serde_json::Value;

use super::super::event::Event;
use super::{opt, s, stream_error};
use crate::convert::response::from_gemini_finish;
use crate::convert::response::gemini::{call_id, unwrap};
use crate::convert::signature::{Origin, Signature};
use crate::sse::SseEvent;

#[derive(Debug, Default)]
pub(crate) struct GeminiDecoder {
    calls: usize,
    response_id: Option<String>,
}

impl GeminiDecoder {
    pub(super) fn decode(&mut self, ev: &SseEvent<'_>, out: &mut Vec<Event>) {
        let Ok(v) = serde_json::from_str::<Value>(ev.data) else {
            return;
        };
        let v = unwrap(&v);
        if let Some(e) = v.get("error").filter(|e| e.is_object()) {
            let code = e.get("code").map(ToString::to_string).unwrap_or_default();
            out.push(stream_error(s(e, "status"), &code, s(e, "message")));
            return;
        }
        if self.response_id.is_none() {
            self.response_id = opt(v, "responseId");
        }
        out.push(Event::Meta {
            id: opt(v, "responseId"),
            model: opt(v, "modelVersion"),
        });
        let Some(candidate) = v.get("candidates").and_then(|c| c.get(0)) else {
            return;
        };
        for p in candidate
            .pointer("/content/parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let signature = opt(p, "thoughtSignature").map(|s| Signature::new(Origin::Gemini, s));
            if p.get("thought").and_then(Value::as_bool) == Some(true) {
                out.push(Event::Thinking(s(p, "text").to_owned()));
                out.extend(signature.map(Event::Signature));
                continue;
            }
            if let Some(sig) = signature {
                // A signature on an answer part belongs to the reasoning before it.
                out.push(Event::Signature(sig));
                out.push(Event::BlockEnd);
            }
            if let Some(t) = p.get("text").and_then(Value::as_str) {
                out.push(Event::Text(t.to_owned()));
            } else if let Some(f) = p.get("functionCall") {
                self.calls += 1;
                out.push(Event::ToolStart {
                    id: opt(f, "id")
                        .unwrap_or_else(|| call_id(self.response_id.as_deref(), self.calls)),
                    name: s(f, "name").to_owned(),
                });
                let args = f
                    .get("args")
                    .cloned()
                    .unwrap_or_else(|| Value::Object(Default::default()));
                out.push(Event::Args(args.to_string()));
                out.push(Event::BlockEnd);
            }
        }
        if let Some(reason) = candidate.get("finishReason").and_then(Value::as_str) {
            out.push(Event::BlockEnd);
            out.push(Event::Stop {
                reason: from_gemini_finish(reason, self.calls > 0),
                sequence: None,
            });
        }
    }
}
