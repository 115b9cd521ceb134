//! What cannot be carried is refused, naming the field in the client's terms — or, when loss
//! is allowed, left out and listed. Reasoning proofs go back to their maker and nowhere else.

use serde_json::{Value, json};
use switchyard_core::Dialect;

use super::fixture;
use crate::convert::{
    ConvertError, RequestOptions, ResponseOptions, convert_request, convert_response,
};

fn strict() -> RequestOptions {
    RequestOptions::default()
}

fn lossy() -> RequestOptions {
    RequestOptions {
        lossy: true,
        ..RequestOptions::default()
    }
}

fn convert(
    client: Dialect,
    target: Dialect,
    body: &Value,
    options: &RequestOptions,
) -> Result<Value, ConvertError> {
    convert_request(client, target, body.to_string().as_bytes(), options)
        .map(|c| serde_json::from_slice(&c.body).unwrap())
}

fn refused_field(client: Dialect, target: Dialect, body: &Value) -> String {
    match convert(client, target, body, &strict()) {
        Err(e @ ConvertError::Unsupported { .. }) => e.field().to_owned(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn fields_the_target_lacks_are_refused_by_their_client_name() {
    let anthropic = json!({"model": "m", "max_tokens": 10, "stop_sequences": ["END"],
        "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        refused_field(Dialect::Anthropic, Dialect::OpenaiResponses, &anthropic),
        "stop_sequences"
    );
    let gemini = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"topK": 40}});
    assert_eq!(
        refused_field(Dialect::Gemini, Dialect::OpenaiChat, &gemini),
        "generationConfig.topK"
    );
    let chat = json!({"model": "m", "n": 2, "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        refused_field(Dialect::OpenaiChat, Dialect::Anthropic, &chat),
        "n"
    );
    let hot =
        json!({"model": "m", "temperature": 1.5, "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        refused_field(Dialect::OpenaiChat, Dialect::Anthropic, &hot),
        "temperature"
    );
    let server_tool = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "web_search_20250305", "name": "web_search"}]});
    assert_eq!(
        refused_field(Dialect::Anthropic, Dialect::Gemini, &server_tool),
        "tools[0].type"
    );
    let stateful = json!({"model": "m", "input": "hi", "previous_response_id": "resp_1"});
    assert_eq!(
        refused_field(Dialect::OpenaiResponses, Dialect::Anthropic, &stateful),
        "previous_response_id"
    );
    let json_mode = json!({"model": "m", "response_format": {"type": "json_object"},
        "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        refused_field(Dialect::OpenaiChat, Dialect::Anthropic, &json_mode),
        "response_format"
    );
    let unknown = json!({"model": "m", "max_tokens": 1, "messages": [], "mcp_servers": []});
    assert_eq!(
        refused_field(Dialect::Anthropic, Dialect::OpenaiChat, &unknown),
        "mcp_servers"
    );
}

#[test]
fn a_refusal_is_a_400_in_the_clients_dialect() {
    let body = json!({"model": "m", "max_tokens": 10, "stop_sequences": ["END"],
        "messages": [{"role": "user", "content": "hi"}]});
    let e = convert(
        Dialect::Anthropic,
        Dialect::OpenaiResponses,
        &body,
        &strict(),
    )
    .unwrap_err();
    assert_eq!(e.status(), 400);
    let v: Value = serde_json::from_str(&e.body(Dialect::Anthropic)).unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`stop_sequences`")
    );
    let e = convert_request(
        Dialect::OpenaiChat,
        Dialect::Gemini,
        b"{not json",
        &strict(),
    )
    .unwrap_err();
    assert!(matches!(e, ConvertError::Invalid { .. }));
}

#[test]
fn lossy_conversion_lists_what_it_left_out() {
    let body = json!({"model": "m", "max_tokens": 10, "stop_sequences": ["END"], "top_k": 5,
        "messages": [{"role": "user", "content": "hi"}]});
    let out = convert_request(
        Dialect::Anthropic,
        Dialect::OpenaiResponses,
        body.to_string().as_bytes(),
        &lossy(),
    )
    .unwrap();
    let fields: Vec<&str> = out.dropped.iter().map(|d| d.field.as_str()).collect();
    assert!(
        fields.contains(&"stop_sequences") && fields.contains(&"top_k"),
        "{fields:?}"
    );
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    assert!(v.get("stop").is_none() && v.get("top_k").is_none());
}

#[test]
fn url_media_for_a_target_that_needs_bytes_asks_to_be_fetched() {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]});
    match convert(Dialect::OpenaiChat, Dialect::Gemini, &body, &strict()) {
        Err(ConvertError::NeedsFetch { url, field, .. }) => {
            assert_eq!(url, "https://example.com/cat.png");
            assert_eq!(field, "messages[0].content[0]");
        }
        other => panic!("{other:?}"),
    }
    // Anthropic takes image URLs itself.
    let v = convert(Dialect::OpenaiChat, Dialect::Anthropic, &body, &strict()).unwrap();
    assert_eq!(
        v["messages"][0]["content"][0]["source"],
        json!({"type": "url", "url": "https://example.com/cat.png"})
    );
}

/// A Gemini answer shown to an Anthropic client, sent back as history, reaches Gemini with
/// Gemini's own signature; sent to OpenAI instead, the proof is left out, not forged.
#[test]
fn proofs_go_back_to_their_maker_only() {
    let answer = convert_response(
        Dialect::Gemini,
        Dialect::Anthropic,
        &fixture("response_gemini.json"),
        &ResponseOptions::default(),
    )
    .unwrap();
    let shown: Value = serde_json::from_slice(&answer.body).unwrap();
    let call_id = shown["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .unwrap()["id"]
        .clone();
    let history = json!({"model": "m", "max_tokens": 100, "messages": [
        {"role": "user", "content": "read it"},
        {"role": "assistant", "content": shown["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "# Switchyard"}]},
    ]});
    let gemini = convert(Dialect::Anthropic, Dialect::Gemini, &history, &strict()).unwrap();
    let model_turn = &gemini["contents"][1]["parts"];
    let call = model_turn
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p.get("functionCall").is_some())
        .unwrap();
    assert_eq!(call["thoughtSignature"], "CiQB0e2Kb");
    assert_eq!(
        gemini["contents"][2]["parts"][0]["functionResponse"]["name"],
        "read_file"
    );
    let to_openai = convert_request(
        Dialect::Anthropic,
        Dialect::OpenaiResponses,
        history.to_string().as_bytes(),
        &strict(),
    )
    .unwrap();
    let body = String::from_utf8(to_openai.body).unwrap();
    assert!(
        !body.contains("CiQB0e2Kb") && !body.contains("reasoning\""),
        "{body}"
    );
    assert!(
        to_openai
            .dropped
            .iter()
            .any(|d| d.why.contains("another provider"))
    );
}

/// History from another provider cannot carry Anthropic-signed thinking into a tool loop, so
/// thinking is turned off for that request (and said so) rather than the request failing.
#[test]
fn claude_thinking_is_off_when_the_tool_loop_has_no_signed_thinking() {
    let out = convert_request(
        Dialect::OpenaiChat,
        Dialect::Anthropic,
        &fixture("request_chat.json"),
        &strict(),
    )
    .unwrap();
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    assert!(v.get("thinking").is_none());
    assert!(
        out.dropped.iter().any(|d| d.field == "reasoning_effort"),
        "{:?}",
        out.dropped
    );
    // Without a tool loop it stays on, with the effort's budget.
    let plain = json!({"model": "m", "reasoning_effort": "high", "messages": [{"role": "user", "content": "hi"}]});
    let v = convert(Dialect::OpenaiChat, Dialect::Anthropic, &plain, &strict()).unwrap();
    assert_eq!(
        v["thinking"],
        json!({"type": "enabled", "budget_tokens": 24576})
    );
    assert!(v["max_tokens"].as_u64().unwrap() > 24576);
}

#[test]
fn gemini_calls_without_ids_pair_with_their_responses_by_name() {
    let body = json!({"contents": [
        {"role": "user", "parts": [{"text": "weather in Paris and Rome"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "w", "args": {"c": "Paris"}}},
                                     {"functionCall": {"name": "w", "args": {"c": "Rome"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "w", "response": {"output": "18"}}},
                                    {"functionResponse": {"name": "w", "response": {"output": "21"}}}]}]});
    let options = RequestOptions {
        model: Some("gpt-5".into()),
        ..RequestOptions::default()
    };
    let v: Value = serde_json::from_slice(
        &convert_request(
            Dialect::Gemini,
            Dialect::OpenaiChat,
            body.to_string().as_bytes(),
            &options,
        )
        .unwrap()
        .body,
    )
    .unwrap();
    let calls = &v["messages"][1]["tool_calls"];
    assert_eq!(v["messages"][2]["tool_call_id"], calls[0]["id"]);
    assert_eq!(v["messages"][3]["tool_call_id"], calls[1]["id"]);
    assert_eq!(v["messages"][3]["content"], "21");
    let orphan = json!({"contents": [{"role": "user", "parts": [{"functionResponse": {"name": "w", "response": {}}}]}]});
    let e = convert_request(
        Dialect::Gemini,
        Dialect::Anthropic,
        orphan.to_string().as_bytes(),
        &options,
    )
    .unwrap_err();
    assert_eq!(e.field(), "contents[0].parts[0].functionResponse");
}

#[test]
fn an_upstream_error_mid_stream_becomes_one_clean_client_error() {
    let upstream = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"c\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n",
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    );
    let (out, conv) = super::convert_stream(
        Dialect::Anthropic,
        Dialect::OpenaiChat,
        &[upstream.as_bytes()],
    );
    let text = String::from_utf8(out).unwrap();
    assert!(text.ends_with("\"message\":\"Overloaded\",\"type\":\"server_error\",\"param\":null,\"code\":\"server_is_overloaded\"}}\n\n"), "{text}");
    assert!(!text.contains("[DONE]"));
    assert_eq!(
        conv.stream_error().map(|e| e.error_type.as_str()),
        Some("overloaded_error")
    );
    assert_eq!(
        conv.usage().map(|u| u.input_tokens),
        Some(5),
        "partial usage is still billed"
    );
}

/// Gemini CLI's router request asks for JSON matching a schema; the other dialects get their
/// own structured-output field.
#[test]
fn structured_output_maps_where_the_target_has_it() {
    let schema = json!({"type": "object", "properties": {"model": {"type": "string"}}, "required": ["model"]});
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "route"}]}],
        "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": schema}});
    let options = RequestOptions {
        model: Some("gemini-2.5-flash-lite".into()),
        ..RequestOptions::default()
    };
    let go = |target| -> Value {
        serde_json::from_slice(
            &convert_request(
                Dialect::Gemini,
                target,
                body.to_string().as_bytes(),
                &options,
            )
            .unwrap()
            .body,
        )
        .unwrap()
    };
    assert_eq!(
        go(Dialect::OpenaiChat)["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "response", "schema": schema}})
    );
    assert_eq!(
        go(Dialect::OpenaiResponses)["text"]["format"]["schema"],
        schema
    );
    assert_eq!(
        go(Dialect::Anthropic)["output_config"],
        json!({"format": {"type": "json_schema", "schema": schema}})
    );
}

/// Code Assist (Gemini CLI with a Google login) wraps the request; the model comes with it.
#[test]
fn code_assist_requests_are_read_through_their_wrapper() {
    let body = json!({"model": "gemini-2.5-pro", "project": "p-1", "user_prompt_id": "u",
        "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "session_id": "s"}});
    let out = convert_request(
        Dialect::Gemini,
        Dialect::Anthropic,
        body.to_string().as_bytes(),
        &strict(),
    )
    .unwrap();
    assert_eq!(out.model.as_deref(), Some("gemini-2.5-pro"));
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(v["messages"][0]["content"][0]["text"], "hi");
}

/// A Chat client that did not ask for the usage chunk does not get one (the upstream is still
/// asked, and the relay still bills it).
#[test]
fn chat_clients_get_the_usage_chunk_only_when_they_asked() {
    use crate::convert::{StreamConverter, StreamOptions};
    use crate::transform::StreamTransform;
    let bytes = fixture("stream_anthropic.sse");
    let mut c = StreamConverter::new(
        Dialect::Anthropic,
        Dialect::OpenaiChat,
        &StreamOptions::default(),
    );
    let mut out = Vec::new();
    c.push(&bytes, &mut out);
    c.finish(&mut out);
    let s = super::validity::validate(Dialect::OpenaiChat, &out, false).unwrap();
    assert_eq!(s.usage_events, 0);
    assert_eq!(c.usage().map(|u| u.output_tokens), Some(80));
    assert!(
        String::from_utf8(out)
            .unwrap()
            .ends_with("data: [DONE]\n\n")
    );
}

/// Nothing a client or an upstream sends makes the converter panic.
mod robustness {
    use super::*;
    use crate::convert::{StreamConverter, StreamOptions, convert_error};
    use crate::transform::StreamTransform;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn no_panic_on_arbitrary_bodies(body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..256),
            "[{}\\[\\]\":,a-z0-9 _\\n]{0,256}".prop_map(String::into_bytes),
        ], split in any::<usize>()) {
            for (a, b) in super::super::pairs() {
                let _ = convert_request(a, b, &body, &lossy());
                let _ = convert_request(a, b, &body, &strict());
                let _ = convert_response(a, b, &body, &ResponseOptions::default());
                let _ = convert_error(a, 400, &body, b);
                let mut c = StreamConverter::new(a, b, &StreamOptions::default());
                let mut out = Vec::new();
                let split = split % (body.len() + 1);
                c.push(&body[..split], &mut out);
                c.push(&body[split..], &mut out);
                c.finish(&mut out);
            }
        }

        #[test]
        fn no_panic_on_mangled_requests(cut in any::<usize>(), flip in any::<u8>()) {
            for (a, b) in super::super::pairs() {
                let mut body = fixture(&format!("request_{}.json", super::super::short(a)));
                let at = cut % body.len();
                body[at] ^= flip;
                let _ = convert_request(a, b, &body, &lossy());
            }
        }
    }
}

/// Call ids may repeat across turns (providers that number calls per answer); a result is
/// named after the latest call with its id.
#[test]
fn repeated_call_ids_answer_the_latest_call() {
    let call = |name: &str| {
        json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": name, "arguments": "{}"}}]})
    };
    let result = |text: &str| json!({"role": "tool", "tool_call_id": "call_1", "content": text});
    let body = json!({"model": "m", "messages": [
        {"role": "user", "content": "go"}, call("ls"), result("a"), call("cat"), result("b")]});
    let v = convert(Dialect::OpenaiChat, Dialect::Gemini, &body, &strict()).unwrap();
    assert_eq!(
        v["contents"][2]["parts"][0]["functionResponse"]["name"],
        "ls"
    );
    assert_eq!(
        v["contents"][4]["parts"][0]["functionResponse"]["name"],
        "cat"
    );
}

/// Codex's free-form tools (`apply_patch`) reach other providers as a function of one string
/// and come back to Codex as free-form calls, in whole answers and in streams.
#[test]
fn codex_freeform_tools_cross_over_and_back() {
    use crate::convert::{StreamConverter, StreamOptions};
    use crate::transform::StreamTransform;
    let body = json!({"model": "gpt-5-codex", "stream": true, "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix it"}]},
        {"type": "custom_tool_call", "call_id": "call_7", "name": "apply_patch", "input": "*** Begin Patch\n*** End Patch"},
        {"type": "custom_tool_call_output", "call_id": "call_7", "output": "Done"}],
        "tools": [{"type": "custom", "name": "apply_patch", "description": "Edit files.",
            "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch"}}]});
    let out = convert_request(
        Dialect::OpenaiResponses,
        Dialect::Anthropic,
        body.to_string().as_bytes(),
        &strict(),
    )
    .unwrap();
    assert_eq!(out.freeform_tools, vec!["apply_patch".to_owned()]);
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(v["tools"][0]["input_schema"]["required"], json!(["input"]));
    assert!(
        v["tools"][0]["description"]
            .as_str()
            .unwrap()
            .contains("lark grammar:\nstart: begin_patch")
    );
    assert_eq!(
        v["messages"][1]["content"][0]["input"],
        json!({"input": "*** Begin Patch\n*** End Patch"})
    );

    let answer = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "c",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "apply_patch", "input": {"input": "*** Begin Patch"}}],
        "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 2}});
    let options = ResponseOptions {
        freeform_tools: out.freeform_tools.clone(),
        ..ResponseOptions::default()
    };
    let r = convert_response(
        Dialect::Anthropic,
        Dialect::OpenaiResponses,
        answer.to_string().as_bytes(),
        &options,
    )
    .unwrap();
    let r: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(r["output"][0]["type"], "custom_tool_call");
    assert_eq!(r["output"][0]["input"], "*** Begin Patch");

    let stream = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"c\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"apply_patch\",\"input\":{}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"input\\\": \\\"*** Begin\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\" Patch\\\"}\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":9}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let options = StreamOptions {
        freeform_tools: out.freeform_tools,
        ..StreamOptions::default()
    };
    let mut c = StreamConverter::new(Dialect::Anthropic, Dialect::OpenaiResponses, &options);
    let mut bytes = Vec::new();
    c.push(stream.as_bytes(), &mut bytes);
    c.finish(&mut bytes);
    let s = super::validity::validate(Dialect::OpenaiResponses, &bytes, true)
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&bytes)));
    assert_eq!(
        s.tools,
        vec![(
            "apply_patch".to_owned(),
            json!({"input": "*** Begin Patch"})
        )]
    );
}

/// Claude Code reading an image gets it back as a tool result; targets whose tool results are
/// text only see the image right after the result instead of losing it.
#[test]
fn images_returned_by_tools_follow_the_result() {
    let body = json!({"model": "m", "max_tokens": 100, "messages": [
        {"role": "user", "content": "look at cat.png"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "cat.png"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [
            {"type": "text", "text": "cat.png:"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]}]}]});
    let g = convert(Dialect::Anthropic, Dialect::Gemini, &body, &strict()).unwrap();
    assert_eq!(
        g["contents"][2]["parts"][0]["functionResponse"]["response"]["output"],
        "cat.png:"
    );
    assert_eq!(
        g["contents"][2]["parts"][1]["inlineData"]["mimeType"],
        "image/png"
    );
    let c = convert(Dialect::Anthropic, Dialect::OpenaiChat, &body, &strict()).unwrap();
    assert_eq!(c["messages"][2]["role"], "tool");
    assert_eq!(c["messages"][3]["role"], "user");
    assert_eq!(
        c["messages"][3]["content"][0]["image_url"]["url"],
        "data:image/png;base64,iVBORw0KGgo="
    );
    let r = convert(
        Dialect::Anthropic,
        Dialect::OpenaiResponses,
        &body,
        &strict(),
    )
    .unwrap();
    assert_eq!(r["input"][2]["output"][1]["type"], "input_image");
}

/// Gemini CLI with a Google login speaks Code Assist: answers and stream chunks come wrapped.
#[test]
fn code_assist_clients_get_wrapped_answers() {
    use crate::convert::{StreamConverter, StreamOptions};
    use crate::transform::StreamTransform;
    let options = ResponseOptions {
        gemini_code_assist: true,
        ..ResponseOptions::default()
    };
    let r = convert_response(
        Dialect::Anthropic,
        Dialect::Gemini,
        &fixture("response_anthropic.json"),
        &options,
    )
    .unwrap();
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["response"]["candidates"][0]["finishReason"], "STOP");
    let options = StreamOptions {
        gemini_code_assist: true,
        ..StreamOptions::default()
    };
    let mut c = StreamConverter::new(Dialect::Anthropic, Dialect::Gemini, &options);
    let mut out = Vec::new();
    c.push(&fixture("stream_anthropic.sse"), &mut out);
    c.finish(&mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.split("\r\n\r\n")
            .filter(|e| !e.is_empty())
            .all(|e| e.starts_with("data: {\"response\":{")),
        "{text}"
    );
    // The relay's own Code Assist unwrapping reads it back as a public stream.
    let mut public = crate::CodeAssistSseToPublic::new();
    let mut unwrapped = Vec::new();
    StreamTransform::push(&mut public, text.as_bytes(), &mut unwrapped);
    StreamTransform::finish(&mut public, &mut unwrapped);
    super::validity::validate(Dialect::Gemini, &unwrapped, true).unwrap();
}

/// Reasoning off has no word every OpenAI model takes; it is left to the model and said so.
#[test]
fn reasoning_off_is_left_to_openai_models() {
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}});
    let options = RequestOptions {
        model: Some("gpt-4.1".into()),
        ..RequestOptions::default()
    };
    let out = convert_request(
        Dialect::Gemini,
        Dialect::OpenaiChat,
        body.to_string().as_bytes(),
        &options,
    )
    .unwrap();
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    assert!(v.get("reasoning_effort").is_none());
    assert!(
        out.dropped
            .iter()
            .any(|d| d.field == "generationConfig.thinkingConfig"),
        "{:?}",
        out.dropped
    );
}

/// Codex's `namespace` tools (its sub-agent tools) reach other providers as functions under
/// the flat `{namespace}__{name}` Codex itself uses, in the tool list and in the history.
#[test]
fn codex_namespace_tools_flatten_to_codex_flat_names() {
    let body = json!({"model": "gpt-5-codex", "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "split it"}]},
        {"type": "function_call", "call_id": "call_1", "namespace": "multi_agent_v1", "name": "close_agent", "arguments": "{\"id\":\"a1\"}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "closed"}],
        "tools": [
            {"type": "function", "name": "exec_command", "parameters": {"type": "object", "properties": {}}},
            {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents.", "tools": [
                {"type": "function", "name": "close_agent", "description": "Close an agent.",
                 "parameters": {"type": "object", "properties": {"id": {"type": "string"}}}}]}]});
    for target in [Dialect::Anthropic, Dialect::OpenaiChat, Dialect::Gemini] {
        let v = convert(Dialect::OpenaiResponses, target, &body, &strict()).unwrap();
        let text = v.to_string();
        assert!(
            text.contains("\"multi_agent_v1__close_agent\""),
            "{target:?}: {text}"
        );
        assert!(!text.contains("\"close_agent\""), "{target:?}: {text}");
        assert!(
            text.contains("Part of multi_agent_v1: Sub-agents."),
            "{target:?}: {text}"
        );
    }
    let v = convert(
        Dialect::OpenaiResponses,
        Dialect::Anthropic,
        &body,
        &strict(),
    )
    .unwrap();
    assert_eq!(v["tools"][1]["name"], "multi_agent_v1__close_agent");
    assert_eq!(
        v["messages"][1]["content"][0]["name"],
        "multi_agent_v1__close_agent"
    );

    // A kind of tool a namespace may hold that has no counterpart is refused by its path.
    let mut odd = body.clone();
    odd["tools"][1]["tools"][0]["type"] = "web_search".into();
    assert_eq!(
        refused_field(Dialect::OpenaiResponses, Dialect::Anthropic, &odd),
        "tools[1].tools[0].type"
    );
}
