//! What routing needs from a Gemini request: the public API (`/v1beta/models/{model}:{action}`,
//! also under `/v1/`, which google-genai uses) and Code Assist (`/v1internal:{method}`, Gemini
//! CLI with a Google login).
//!
//! On the public API the model and the action live in the path, so the body is read only for
//! session material. Code Assist names the model in the body (`model`, or `request.model` as
//! `models/…` for countTokens) and wraps the public request in `request`.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

use crate::inspect::{InspectError, as_string, parse_object, required_string};

/// Which Gemini surface a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GeminiSurface {
    /// `generativelanguage.googleapis.com`: `/v1beta/models/{model}:{action}` or `/v1/…`.
    Public,
    /// `cloudcode-pa.googleapis.com`: `/v1internal:{method}`.
    CodeAssist,
}

/// The method after the colon.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GeminiAction {
    GenerateContent,
    StreamGenerateContent,
    CountTokens,
    /// Code Assist only: project and tier discovery.
    LoadCodeAssist,
    /// Code Assist only: first-time setup of the free tier.
    OnboardUser,
    /// Code Assist only: Gemini CLI's quota display.
    RetrieveUserQuota,
    /// Code Assist only: Gemini CLI's feature flags.
    ListExperiments,
    /// Any other method (e.g. Code Assist `recordCodeAssistMetrics`, `fetchAdminControls`,
    /// public `embedContent`); the server decides whether to pass it through.
    Other(String),
    /// Code Assist long-running operation polling: `GET /v1internal/{name}` (e.g.
    /// `operations/…` after `onboardUser`).
    Operation(String),
}

impl GeminiAction {
    pub fn parse(s: &str) -> GeminiAction {
        match s {
            "generateContent" => GeminiAction::GenerateContent,
            "streamGenerateContent" => GeminiAction::StreamGenerateContent,
            "countTokens" => GeminiAction::CountTokens,
            "loadCodeAssist" => GeminiAction::LoadCodeAssist,
            "onboardUser" => GeminiAction::OnboardUser,
            "retrieveUserQuota" => GeminiAction::RetrieveUserQuota,
            "listExperiments" => GeminiAction::ListExperiments,
            other => GeminiAction::Other(other.to_owned()),
        }
    }

    /// The method name as it appears after the colon.
    pub fn as_str(&self) -> &str {
        match self {
            GeminiAction::GenerateContent => "generateContent",
            GeminiAction::StreamGenerateContent => "streamGenerateContent",
            GeminiAction::CountTokens => "countTokens",
            GeminiAction::LoadCodeAssist => "loadCodeAssist",
            GeminiAction::OnboardUser => "onboardUser",
            GeminiAction::RetrieveUserQuota => "retrieveUserQuota",
            GeminiAction::ListExperiments => "listExperiments",
            GeminiAction::Other(s) | GeminiAction::Operation(s) => s,
        }
    }

    /// Calls that run the model (and are billed): the ones that carry a model and contents.
    pub fn is_generation(&self) -> bool {
        matches!(
            self,
            GeminiAction::GenerateContent
                | GeminiAction::StreamGenerateContent
                | GeminiAction::CountTokens
        )
    }
}

/// Routing facts of a Gemini request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeminiRequest {
    pub surface: GeminiSurface,
    pub action: GeminiAction,
    /// Without a `models/` prefix. Always present for generation actions; `None` for Code Assist
    /// account calls (`loadCodeAssist`, …), which no model serves.
    pub model: Option<String>,
    /// `streamGenerateContent`. Whether the answer is SSE or a streamed JSON array depends on
    /// `alt=sse` in the query: see [`wants_sse`].
    pub stream: bool,
    /// Tagged session material: `session:<Code Assist request.session_id>` or
    /// `first:<text of the first content>`, or `None`.
    pub session_material: Option<String>,
}

/// Inspects a Gemini request. `path` is the request path below the host, with or without the
/// leading `/`, the version segment and the query: `/v1beta/models/gemini-2.5-pro:generateContent`,
/// `models/gemini-2.5-pro:generateContent`, `v1internal:streamGenerateContent?alt=sse` all work.
pub fn inspect_gemini(path: &str, body: &[u8]) -> Result<GeminiRequest, InspectError> {
    let path = path
        .split('?')
        .next()
        .unwrap_or(path)
        .trim_start_matches('/');
    if let Some(name) = path.strip_prefix("v1internal/") {
        let plain = !name.is_empty()
            && name.len() <= 256
            && name.split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            });
        if !plain {
            return Err(InspectError::InvalidField {
                field: "path",
                expected: "`v1internal/{operation name}` of plain path segments",
            });
        }
        return Ok(GeminiRequest {
            surface: GeminiSurface::CodeAssist,
            stream: false,
            action: GeminiAction::Operation(name.to_owned()),
            model: None,
            session_material: None,
        });
    }
    if let Some(method) = path.strip_prefix("v1internal:") {
        if !is_method_name(method) {
            return Err(InspectError::InvalidField {
                field: "path",
                expected: "`v1internal:{method}` with a method name of letters only",
            });
        }
        return inspect_code_assist(GeminiAction::parse(method), body);
    }
    let tail = path
        .strip_prefix("v1beta/")
        .or_else(|| path.strip_prefix("v1/"))
        .unwrap_or(path);
    let Some((model, action)) = tail
        .strip_prefix("models/")
        .and_then(|rest| rest.rsplit_once(':'))
        .filter(|(model, action)| !model.is_empty() && !model.contains('/') && !action.is_empty())
    else {
        return Err(InspectError::InvalidField {
            field: "path",
            expected: "`models/{model}:{method}` or `v1internal:{method}`",
        });
    };
    // Both go into the upstream URL: anything but a plain name could walk the path (`%2F..`)
    // past the key's model rules or to another endpoint with the account's credentials.
    let model = percent_decode(model).into_owned();
    if !is_model_name(&model) || !is_method_name(action) {
        return Err(InspectError::InvalidField {
            field: "path",
            expected: "a model name of letters, digits, `.`, `-` and `_`, and a method name of letters",
        });
    }
    let action = GeminiAction::parse(action);
    let session_material = if action.is_generation() {
        let parsed: PublicBody<'_> = parse_object(body)?;
        first_content_material(parsed.contents)
    } else {
        None
    };
    Ok(GeminiRequest {
        surface: GeminiSurface::Public,
        stream: action == GeminiAction::StreamGenerateContent,
        action,
        model: Some(model),
        session_material,
    })
}

/// A Gemini model id as it may appear in a URL path segment.
pub fn is_model_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// An RPC method name (`generateContent`, `loadCodeAssist`, …).
fn is_method_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphabetic())
}

/// Whether a public `streamGenerateContent` answers in SSE (`alt=sse`) rather than as a streamed
/// JSON array.
pub fn wants_sse(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|p| p == "alt=sse"))
}

fn inspect_code_assist(action: GeminiAction, body: &[u8]) -> Result<GeminiRequest, InspectError> {
    if !action.is_generation() {
        return Ok(GeminiRequest {
            surface: GeminiSurface::CodeAssist,
            stream: false,
            action,
            model: None,
            session_material: None,
        });
    }
    let parsed: CodeAssistBody<'_> = parse_object(body)?;
    let inner = match parsed.request {
        Some(raw) if raw.get() != "null" => Some(
            serde_json::from_str::<CodeAssistInner<'_>>(raw.get()).map_err(|_| {
                InspectError::InvalidField {
                    field: "request",
                    expected: "an object",
                }
            })?,
        ),
        _ => None,
    };
    // countTokens names the model inside `request` (`models/…`); the others at the top.
    let model_raw = parsed
        .model
        .filter(|m| m.get() != "null")
        .or_else(|| inner.as_ref().and_then(|i| i.model));
    let model = required_string(model_raw, "model")?;
    let model = model.strip_prefix("models/").unwrap_or(&model).to_owned();
    if model.is_empty() {
        return Err(InspectError::InvalidField {
            field: "model",
            expected: "a non-empty string",
        });
    }
    let session_material = inner.and_then(|i| {
        i.session_id
            .and_then(as_string)
            .filter(|s| !s.is_empty())
            .map(|s| format!("session:{s}"))
            .or_else(|| first_content_material(i.contents))
    });
    Ok(GeminiRequest {
        surface: GeminiSurface::CodeAssist,
        stream: action == GeminiAction::StreamGenerateContent,
        action,
        model: Some(model),
        session_material,
    })
}

#[derive(Deserialize)]
struct PublicBody<'a> {
    #[serde(borrow)]
    contents: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct CodeAssistBody<'a> {
    #[serde(borrow)]
    model: Option<&'a RawValue>,
    #[serde(borrow)]
    request: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct CodeAssistInner<'a> {
    #[serde(borrow)]
    model: Option<&'a RawValue>,
    #[serde(borrow)]
    session_id: Option<&'a RawValue>,
    #[serde(borrow)]
    contents: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Content<'a> {
    #[serde(borrow)]
    parts: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
struct Part<'a> {
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
}

/// `first:` + the text parts of the first content, joined with `\n`.
fn first_content_material(contents: Option<&RawValue>) -> Option<String> {
    let items: Vec<&RawValue> = serde_json::from_str(contents?.get()).ok()?;
    let first: Content<'_> = serde_json::from_str(items.first()?.get()).ok()?;
    let mut text = String::new();
    for part in first.parts? {
        let Ok(Part { text: Some(t) }) = serde_json::from_str::<Part<'_>>(part.get()) else {
            continue;
        };
        if t.is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&t);
    }
    (!text.is_empty()).then(|| format!("first:{text}"))
}

/// Model ids are plain, but a client may percent-encode the path segment; an invalid escape is
/// left as it is.
fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(decoded) => Cow::Owned(decoded),
        Err(_) => Cow::Borrowed(s),
    }
}

#[cfg(test)]
mod traversal_tests {
    use super::*;

    #[test]
    fn path_tricks_are_refused() {
        let body = br#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#;
        for path in [
            "/v1beta/models/gemini-2.5-flash%2F..%2Fgemini-2.5-pro:generateContent",
            "/v1beta/models/x%2F..%2F..%2FcachedContents%23:generateContent",
            "/v1beta/models/..:generateContent",
            "/v1beta/models/gemini-2.5-flash:generate%2FContent",
            "/v1internal:x/../..",
            "/v1internal:load%2FCodeAssist",
        ] {
            assert!(inspect_gemini(path, body).is_err(), "{path}");
        }
        assert!(inspect_gemini("/v1beta/models/gemini-2.5-flash:generateContent", body).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BODY: &[u8] = br#"{"contents":[{"role":"user","parts":[{"text":"hi"},{"inlineData":{}},{"text":"there"}]},{"role":"model","parts":[{"text":"x"}]}],"generationConfig":{"maxOutputTokens":4000}}"#;

    #[test]
    fn public_paths() {
        for path in [
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            "v1/models/gemini-2.5-flash:streamGenerateContent",
            "models/gemini-2.5-flash:streamGenerateContent",
        ] {
            let req = inspect_gemini(path, BODY).unwrap();
            assert_eq!(
                req,
                GeminiRequest {
                    surface: GeminiSurface::Public,
                    action: GeminiAction::StreamGenerateContent,
                    model: Some("gemini-2.5-flash".into()),
                    stream: true,
                    session_material: Some("first:hi\nthere".into()),
                },
                "{path}"
            );
        }
        let req = inspect_gemini(
            "/v1beta/models/gemini-2.5-pro:countTokens",
            br#"{"contents":[]}"#,
        )
        .unwrap();
        assert_eq!(req.action, GeminiAction::CountTokens);
        assert!(!req.stream);
        assert_eq!(req.session_material, None);
        let req = inspect_gemini("/v1beta/models/gemini%2D2.5:generateContent", BODY).unwrap();
        assert_eq!(req.model.as_deref(), Some("gemini-2.5"));
        let req = inspect_gemini("/v1beta/models/text-embedding-004:embedContent", b"").unwrap();
        assert_eq!(req.action, GeminiAction::Other("embedContent".into()));
    }

    #[test]
    fn public_errors() {
        assert!(matches!(
            inspect_gemini("/v1beta/models", BODY),
            Err(InspectError::InvalidField { field: "path", .. })
        ));
        assert!(matches!(
            inspect_gemini("/v1beta/models/:generateContent", BODY),
            Err(InspectError::InvalidField { field: "path", .. })
        ));
        assert!(matches!(
            inspect_gemini("/v1beta/models/a/b:generateContent", BODY),
            Err(InspectError::InvalidField { field: "path", .. })
        ));
        assert_eq!(
            inspect_gemini("/v1beta/models/m:generateContent", b"[1]"),
            Err(InspectError::NotAnObject)
        );
        assert!(matches!(
            inspect_gemini("/v1beta/models/m:generateContent", b""),
            Err(InspectError::InvalidJson(_))
        ));
    }

    #[test]
    fn code_assist_generation() {
        let body = br#"{"model":"gemini-2.5-pro","project":"p","user_prompt_id":"u","request":{"contents":[{"role":"user","parts":[{"text":"hello"}]}],"session_id":"5f1c7c8e"}}"#;
        let req = inspect_gemini("/v1internal:streamGenerateContent?alt=sse", body).unwrap();
        assert_eq!(
            req,
            GeminiRequest {
                surface: GeminiSurface::CodeAssist,
                action: GeminiAction::StreamGenerateContent,
                model: Some("gemini-2.5-pro".into()),
                stream: true,
                session_material: Some("session:5f1c7c8e".into()),
            }
        );
        let no_session = br#"{"model":"gemini-2.5-pro","request":{"contents":[{"role":"user","parts":[{"text":"hello"}]}],"session_id":""}}"#;
        assert_eq!(
            inspect_gemini("v1internal:generateContent", no_session)
                .unwrap()
                .session_material
                .as_deref(),
            Some("first:hello")
        );
        let count = br#"{"request":{"model":"models/gemini-2.5-flash","contents":[]}}"#;
        let req = inspect_gemini("/v1internal:countTokens", count).unwrap();
        assert_eq!(req.model.as_deref(), Some("gemini-2.5-flash"));
        assert_eq!(req.action, GeminiAction::CountTokens);
        assert_eq!(
            inspect_gemini("/v1internal:generateContent", br#"{"request":{}}"#),
            Err(InspectError::MissingField("model"))
        );
        assert!(matches!(
            inspect_gemini(
                "/v1internal:generateContent",
                br#"{"model":"m","request":[1]}"#
            ),
            Err(InspectError::InvalidField {
                field: "request",
                ..
            })
        ));
    }

    #[test]
    fn code_assist_account_calls_need_no_body() {
        for (method, action) in [
            ("loadCodeAssist", GeminiAction::LoadCodeAssist),
            ("onboardUser", GeminiAction::OnboardUser),
            ("retrieveUserQuota", GeminiAction::RetrieveUserQuota),
            ("listExperiments", GeminiAction::ListExperiments),
            (
                "recordCodeAssistMetrics",
                GeminiAction::Other("recordCodeAssistMetrics".into()),
            ),
        ] {
            let req = inspect_gemini(&format!("/v1internal:{method}"), b"not json").unwrap();
            assert_eq!(req.action, action);
            assert_eq!(req.action.as_str(), method);
            assert_eq!(req.model, None);
            assert!(!req.stream);
        }
    }

    #[test]
    fn sse_query() {
        assert!(wants_sse(Some("alt=sse")));
        assert!(wants_sse(Some("key=x&alt=sse")));
        assert!(!wants_sse(Some("alt=json")));
        assert!(!wants_sse(None));
    }

    proptest! {
        #[test]
        fn no_panic_on_arbitrary_input(
            path in "(/v1beta/|/v1/|/|)(models/|v1internal:)?[a-z0-9%:/.?=&-]{0,24}",
            body in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..64),
                "[{}\\[\\]\":,a-z0-9 \\\\\n\r]{0,64}".prop_map(String::into_bytes),
            ],
        ) {
            let _ = inspect_gemini(&path, &body);
            let _ = percent_decode(&path);
        }
    }
}
