//! The `bedrock` adapter: how a client's Anthropic Messages request becomes an AWS Bedrock
//! `InvokeModel` / `InvokeModelWithResponseStream` request.
//!
//! Bedrock speaks the Anthropic body with three differences (docs/upstream-protocols.md §5):
//! the model is in the URL (`/model/{id}/invoke`, the id percent-encoded), `stream` is chosen by
//! the path instead of the body, and the body carries `"anthropic_version":"bedrock-2023-05-31"`
//! and the betas as `"anthropic_beta":[…]` instead of headers. The body is edited with
//! [`switchyard_protocol::json_edit`], so everything else stays byte-identical.
//!
//! Authentication is either a Bedrock API key (`Authorization: Bearer`) or SigV4 with the
//! account's AWS key pair ([`crate::sigv4`]). None of the client's headers travel: AWS signs what
//! it receives, and nothing from the client is meaningful to Bedrock.
//!
//! The response side lives in [`switchyard_protocol::bedrock`]: a stream is transformed into
//! Anthropic SSE, an error body into an Anthropic error.

use std::borrow::Cow;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use http::header::{ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use switchyard_core::account::{Account, AccountKind};
use switchyard_protocol::InspectError;
use switchyard_protocol::json_edit;

use crate::adapter::{AdapterError, ClientRequest, Prepared, Reshape};
use crate::client::UpstreamHosts;
use crate::headers::response_forwardable;
use crate::sigv4::{self, AwsCredentials, SigV4Error, SigningRequest, SigningScope};

/// The `anthropic_version` Bedrock requires in the body.
pub const ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";
/// Region used when the account names none (`extra.region`).
pub const DEFAULT_REGION: &str = "us-east-1";
/// SigV4 service name of the Bedrock runtime.
pub const SERVICE: &str = "bedrock";
/// Content type of a Bedrock response stream.
pub const EVENTSTREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// Default Bedrock model ids (US cross-region inference profiles) for Anthropic model names,
/// with and without date suffix, per the naming rules of Anthropic's model-ids page
/// (dated `anthropic.claude-…-YYYYMMDD-v1:0` before the 4.6 generation, dateless after).
///
/// These are only defaults: the account's `model_map` is applied first by the caller
/// ([`Account::upstream_model`]), and an operator mapping to a Bedrock id (or to an ARN) is
/// never changed, because this function only knows Anthropic names. Operators whose accounts
/// lack a profile, or need provisioned throughput, edit the map.
pub fn default_model_id(anthropic_model: &str) -> Option<&'static str> {
    const TABLE: &[(&[&str], &str)] = &[
        (&["claude-opus-4-7"], "us.anthropic.claude-opus-4-7"),
        (&["claude-opus-4-6"], "us.anthropic.claude-opus-4-6-v1"),
        (&["claude-sonnet-4-6"], "us.anthropic.claude-sonnet-4-6"),
        (
            &["claude-opus-4-5", "claude-opus-4-5-20251101"],
            "us.anthropic.claude-opus-4-5-20251101-v1:0",
        ),
        (
            &["claude-opus-4-1", "claude-opus-4-1-20250805"],
            "us.anthropic.claude-opus-4-1-20250805-v1:0",
        ),
        (
            &["claude-opus-4", "claude-opus-4-0", "claude-opus-4-20250514"],
            "us.anthropic.claude-opus-4-20250514-v1:0",
        ),
        (
            &["claude-sonnet-4-5", "claude-sonnet-4-5-20250929"],
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        (
            &[
                "claude-sonnet-4",
                "claude-sonnet-4-0",
                "claude-sonnet-4-20250514",
            ],
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
        ),
        (
            &["claude-haiku-4-5", "claude-haiku-4-5-20251001"],
            "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        ),
        (
            &[
                "claude-3-7-sonnet",
                "claude-3-7-sonnet-latest",
                "claude-3-7-sonnet-20250219",
            ],
            "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        ),
        (
            &[
                "claude-3-5-haiku",
                "claude-3-5-haiku-latest",
                "claude-3-5-haiku-20241022",
            ],
            "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        ),
        (
            &[
                "claude-3-5-sonnet",
                "claude-3-5-sonnet-latest",
                "claude-3-5-sonnet-20241022",
            ],
            "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
        ),
        (
            &["claude-3-5-sonnet-20240620"],
            "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
        ),
        (
            &["claude-3-haiku", "claude-3-haiku-20240307"],
            "us.anthropic.claude-3-haiku-20240307-v1:0",
        ),
        (
            &[
                "claude-3-opus",
                "claude-3-opus-latest",
                "claude-3-opus-20240229",
            ],
            "us.anthropic.claude-3-opus-20240229-v1:0",
        ),
    ];
    TABLE
        .iter()
        .find(|(names, _)| names.contains(&anthropic_model))
        .map(|(_, id)| *id)
}

/// The account's region: `extra.region`, else [`DEFAULT_REGION`].
pub fn region(account: &Account) -> Result<&str, AdapterError> {
    let region = account
        .extra
        .get("region")
        .and_then(|v| v.as_str())
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .unwrap_or(DEFAULT_REGION);
    // The region goes into the host name and the signing scope: refuse anything else.
    let valid = region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(region)
    } else {
        Err(AdapterError::InvalidRegion(
            account.name.clone(),
            region.to_owned(),
        ))
    }
}

/// The model id to put in the URL for `upstream_model` (the name after the account's
/// `model_map`). An Anthropic name gets its default id, with the `us.` inference-profile prefix
/// swapped for the geography of `region` (`eu.` for `eu-*`, `apac.` for `ap-*`), since a
/// profile only exists in its own geography; anything else is taken as a Bedrock id already.
pub fn model_id<'a>(upstream_model: &'a str, region: &str) -> Cow<'a, str> {
    let Some(default) = default_model_id(upstream_model) else {
        return Cow::Borrowed(upstream_model);
    };
    let geo = if region.starts_with("eu-") {
        "eu."
    } else if region.starts_with("ap-") {
        "apac."
    } else {
        return Cow::Borrowed(default);
    };
    match default.strip_prefix("us.") {
        Some(rest) => Cow::Owned(format!("{geo}{rest}")),
        None => Cow::Borrowed(default),
    }
}

/// The runtime base URL: the account's `base_url`, else the configured template with `{region}`
/// filled in.
fn base_url(account: &Account, hosts: &UpstreamHosts, region: &str) -> String {
    let base = match account.base_url.as_deref().filter(|b| !b.is_empty()) {
        Some(b) => b.to_owned(),
        None => hosts.bedrock_runtime.replace("{region}", region),
    };
    base.trim_end_matches('/').to_owned()
}

/// Betas Bedrock's Anthropic models accept. Bedrock refuses a whole request that names any
/// other (Claude Code sends a long list of first-party betas), so the rest are dropped. An
/// account's `extra.bedrock_betas` (a list) replaces this list.
pub const DEFAULT_BETAS: &[&str] = &[
    "computer-use-2024-10-22",
    "computer-use-2025-01-24",
    "token-efficient-tools-2025-02-19",
    "interleaved-thinking-2025-05-14",
    "fine-grained-tool-streaming-2025-05-14",
    "output-128k-2025-02-19",
    "dev-full-thinking-2025-05-14",
    "context-1m-2025-08-07",
    "context-management-2025-06-27",
];

/// The client's betas that this account's Bedrock accepts.
fn allowed_betas(account: &Account, client_headers: &HeaderMap) -> Vec<String> {
    let custom: Option<Vec<&str>> = account
        .extra
        .get("bedrock_betas")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|b| b.as_str()).collect());
    client_betas(client_headers)
        .into_iter()
        .filter(|b| match &custom {
            Some(list) => list.contains(&b.as_str()),
            None => DEFAULT_BETAS.contains(&b.as_str()),
        })
        .collect()
}

/// The client's betas (`anthropic-beta`, comma lists, repeated headers), trimmed, in order,
/// without duplicates.
fn client_betas(client_headers: &HeaderMap) -> Vec<String> {
    let mut betas: Vec<String> = Vec::new();
    for b in client_headers
        .get_all("anthropic-beta")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if !betas.iter().any(|seen| seen == b) {
            betas.push(b.to_owned());
        }
    }
    betas
}

/// The Bedrock body: the client's body without `model` and `stream`, with `anthropic_version`
/// and (when the client sent betas) `anthropic_beta`.
pub fn body(client_body: &[u8], betas: &[String]) -> Result<Vec<u8>, InspectError> {
    let body = json_edit::remove_top_level(client_body, "model")?;
    let body = json_edit::remove_top_level(&body, "stream")?;
    // Betas come from the header, filtered; one a client put in the body would bypass that.
    let body = json_edit::remove_top_level(&body, "anthropic_beta")?;
    let version = format!("\"{ANTHROPIC_VERSION}\"");
    let mut body = json_edit::set_top_level(&body, "anthropic_version", &version)?;
    if !betas.is_empty() {
        let list =
            serde_json::to_string(betas).map_err(|e| InspectError::InvalidValue(e.to_string()))?;
        body = json_edit::set_top_level(&body, "anthropic_beta", &list)?;
    }
    Ok(body)
}

/// Builds the upstream request for a Messages call (dispatched from [`crate::adapter`]).
/// `upstream_model` is the model after the account's `model_map` ([`Account::upstream_model`]);
/// `now` is the signing time.
pub(crate) fn prepare(
    account: &Account,
    hosts: &UpstreamHosts,
    req: &ClientRequest,
    upstream_model: &str,
    now: DateTime<Utc>,
) -> Result<Prepared, AdapterError> {
    let mut prepared = build(
        account,
        hosts,
        &req.headers,
        req.body.clone(),
        upstream_model,
        req.stream,
        now,
    )?;
    prepared.answer.reshape = Reshape::Bedrock;
    Ok(prepared)
}

fn build(
    account: &Account,
    hosts: &UpstreamHosts,
    client_headers: &HeaderMap,
    body: Bytes,
    upstream_model: &str,
    stream: bool,
    now: DateTime<Utc>,
) -> Result<Prepared, AdapterError> {
    if account.kind != AccountKind::Bedrock {
        return Err(AdapterError::WrongKind(account.name.clone(), account.kind));
    }
    let region = region(account)?;
    let model = model_id(upstream_model, region);
    if model.starts_with("claude-") {
        // An Anthropic name with no Bedrock id: sent as is, Bedrock would only answer "The
        // provided model identifier is invalid". Another account may map it.
        return Err(AdapterError::UnmappedModel {
            account: account.name.clone(),
            model: upstream_model.to_owned(),
            hint: format!(
                "add a mapping from `{upstream_model}` to a Bedrock model id or inference profile (e.g. `us.anthropic.…`) to the account's model map"
            ),
        });
    }
    let action = if stream {
        "invoke-with-response-stream"
    } else {
        "invoke"
    };
    let url = format!(
        "{}/model/{}/{action}",
        base_url(account, hosts, region),
        sigv4::encode_path_segment(&model)
    );
    let new_body = self::body(&body, &allowed_betas(account, client_headers))?;

    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        ACCEPT,
        HeaderValue::from_static(if stream {
            EVENTSTREAM_CONTENT_TYPE
        } else {
            "application/json"
        }),
    );
    let creds = &account.credentials;
    if let Some(key) = creds.api_key.as_ref().filter(|k| !k.is_empty()) {
        let mut v = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
            .map_err(|_| SigV4Error::HeaderValue("authorization".to_owned()))?;
        v.set_sensitive(true);
        headers.insert(AUTHORIZATION, v);
    } else {
        let (Some(id), Some(secret)) = (
            creds.aws_access_key_id.as_ref().filter(|k| !k.is_empty()),
            creds
                .aws_secret_access_key
                .as_ref()
                .filter(|k| !k.is_empty()),
        ) else {
            return Err(AdapterError::MissingAwsCredentials(account.name.clone()));
        };
        let payload = sigv4::sha256_hex(&new_body);
        let signed = sigv4::sign(
            &SigningRequest {
                method: "POST",
                url: &url,
                headers: &headers,
                payload_sha256: &payload,
            },
            &SigningScope {
                region,
                service: SERVICE,
                time: now,
            },
            &AwsCredentials {
                access_key_id: id.expose(),
                secret_access_key: secret.expose(),
                session_token: creds
                    .aws_session_token
                    .as_ref()
                    .map(|t| t.expose())
                    .filter(|t| !t.is_empty()),
            },
        )?;
        signed.apply(&mut headers)?;
    }
    // Not signed (added after signing): a proxy may rewrite it, and AWS does not need it.
    headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    Ok(Prepared::post(url, headers, Bytes::from(new_body)))
}

/// Response headers for the client of a successful Bedrock response: the forwardable upstream
/// headers, with the content type of what the client actually receives (Anthropic SSE after
/// [`switchyard_protocol::BedrockToAnthropic`] for a stream).
pub fn response_headers(upstream: &HeaderMap, stream: bool) -> HeaderMap {
    let mut out = response_forwardable(upstream);
    out.remove(http::header::CONTENT_ENCODING);
    if stream {
        out.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream; charset=utf-8"),
        );
        out.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        );
    }
    out
}

/// The Anthropic error body for a Bedrock error response (`x-amzn-ErrorType` and the JSON
/// `message` are read; see [`switchyard_protocol::bedrock::error_response_body`]).
pub fn error_body(status: u16, upstream: &HeaderMap, body: &[u8]) -> String {
    let error_type = upstream
        .get(HeaderName::from_static("x-amzn-errortype"))
        .and_then(|v| v.to_str().ok());
    switchyard_protocol::bedrock::error_response_body(status, error_type, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use switchyard_core::Secret;
    use switchyard_core::account::{AccountStatus, Credentials};

    fn hosts() -> UpstreamHosts {
        UpstreamHosts {
            anthropic_api: "https://api.anthropic.com".into(),
            claude_oauth_token_url: String::new(),
            claude_ai: String::new(),
            chatgpt: String::new(),
            openai_auth: String::new(),
            openai_api: String::new(),
            gemini_api: String::new(),
            code_assist: String::new(),
            google_oauth: String::new(),
            bedrock_runtime: "https://bedrock-runtime.{region}.amazonaws.com".into(),
        }
    }

    fn account(credentials: Credentials, region: Option<&str>) -> Account {
        let mut extra = serde_json::Map::new();
        if let Some(r) = region {
            extra.insert("region".into(), serde_json::Value::String(r.into()));
        }
        Account {
            id: 7,
            kind: AccountKind::Bedrock,
            name: "bdrk".into(),
            base_url: None,
            priority: 50,
            weight: 1,
            allowed_models: Vec::new(),
            model_map: Default::default(),
            max_concurrency: 0,
            proxy_url: None,
            status: AccountStatus::Active,
            status_reason: None,
            status_until: None,
            consecutive_errors: 0,
            last_check_at: None,
            last_check_result: None,
            extra,
            credentials,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn aws_keys(token: Option<&str>) -> Credentials {
        Credentials {
            aws_access_key_id: Some(Secret::new("AKIDEXAMPLE")),
            aws_secret_access_key: Some(Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")),
            aws_session_token: token.map(Secret::new),
            ..Credentials::default()
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
    }

    const CLIENT_BODY: &str = r#"{"model":"claude-sonnet-4-5-20250929","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"hi"}],"metadata":{"user_id":"u"}}"#;

    fn client_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer sk-sy-client"),
        );
        h.insert("x-api-key", HeaderValue::from_static("sk-sy-client"));
        h.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        h.append(
            "anthropic-beta",
            HeaderValue::from_static(
                "interleaved-thinking-2025-05-14, fine-grained-tool-streaming-2025-05-14",
            ),
        );
        h.append(
            "anthropic-beta",
            HeaderValue::from_static("interleaved-thinking-2025-05-14"),
        );
        h.insert("user-agent", HeaderValue::from_static("claude-cli/2.0.53"));
        h.insert("cookie", HeaderValue::from_static("a=b"));
        h
    }

    #[test]
    fn sigv4_stream_request() {
        let acct = account(aws_keys(Some("sts-token")), Some("us-west-2"));
        let p = build(
            &acct,
            &hosts(),
            &client_headers(),
            Bytes::from_static(CLIENT_BODY.as_bytes()),
            "claude-sonnet-4-5-20250929",
            true,
            now(),
        )
        .unwrap();
        assert_eq!(
            p.url,
            "https://bedrock-runtime.us-west-2.amazonaws.com/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream"
        );
        assert_eq!(
            std::str::from_utf8(&p.body).unwrap(),
            r#"{"max_tokens":1024,"messages":[{"role":"user","content":"hi"}],"metadata":{"user_id":"u"},"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["interleaved-thinking-2025-05-14","fine-grained-tool-streaming-2025-05-14"]}"#
        );
        let auth = p.headers["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-west-2/bedrock/aws4_request, SignedHeaders=accept;content-type;host;x-amz-date;x-amz-security-token, Signature="
            ),
            "{auth}"
        );
        assert_eq!(p.headers["x-amz-date"], "20250101T000000Z");
        assert_eq!(p.headers["x-amz-security-token"], "sts-token");
        assert_eq!(p.headers["accept"], EVENTSTREAM_CONTENT_TYPE);
        assert_eq!(p.headers["content-type"], "application/json");
        assert_eq!(p.headers["accept-encoding"], "identity");
        // Nothing of the client's travels.
        for h in [
            "x-api-key",
            "anthropic-version",
            "anthropic-beta",
            "user-agent",
            "cookie",
        ] {
            assert!(!p.headers.contains_key(h), "{h}");
        }
        // The signature verifies over what is sent.
        let mut signed_only = HeaderMap::new();
        signed_only.insert(CONTENT_TYPE, p.headers[CONTENT_TYPE].clone());
        signed_only.insert(ACCEPT, p.headers[ACCEPT].clone());
        let again = sigv4::sign(
            &SigningRequest {
                method: "POST",
                url: &p.url,
                headers: &signed_only,
                payload_sha256: &sigv4::sha256_hex(&p.body),
            },
            &SigningScope {
                region: "us-west-2",
                service: "bedrock",
                time: now(),
            },
            &AwsCredentials {
                access_key_id: "AKIDEXAMPLE",
                secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                session_token: Some("sts-token"),
            },
        )
        .unwrap();
        assert_eq!(again.authorization, auth);
        assert!(
            again
                .canonical_request
                .contains("-v1%253A0/invoke-with-response-stream\n")
        );
    }

    #[test]
    fn api_key_non_stream_request() {
        let acct = account(
            Credentials {
                api_key: Some(Secret::new("bedrock-api-key-123")),
                ..aws_keys(None)
            },
            None,
        );
        let body = r#"{"max_tokens":5,"messages":[],"model":"x","stream":false}"#;
        let p = build(
            &acct,
            &hosts(),
            &HeaderMap::new(),
            Bytes::from_static(body.as_bytes()),
            "us.anthropic.claude-3-haiku-20240307-v1:0",
            false,
            now(),
        )
        .unwrap();
        assert_eq!(
            p.url,
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-3-haiku-20240307-v1%3A0/invoke"
        );
        assert_eq!(p.headers["authorization"], "Bearer bedrock-api-key-123");
        assert!(p.headers["authorization"].is_sensitive());
        assert!(!p.headers.contains_key("x-amz-date"));
        assert_eq!(p.headers["accept"], "application/json");
        assert_eq!(
            std::str::from_utf8(&p.body).unwrap(),
            r#"{"max_tokens":5,"messages":[],"anthropic_version":"bedrock-2023-05-31"}"#
        );
    }

    #[test]
    fn base_url_wins_and_errors() {
        let mut acct = account(aws_keys(None), Some("eu-central-1"));
        acct.base_url = Some("http://127.0.0.1:9999/".into());
        let p = build(
            &acct,
            &hosts(),
            &HeaderMap::new(),
            Bytes::from_static(b"{}"),
            "claude-haiku-4-5",
            false,
            now(),
        )
        .unwrap();
        assert_eq!(
            p.url,
            "http://127.0.0.1:9999/model/eu.anthropic.claude-haiku-4-5-20251001-v1%3A0/invoke"
        );
        assert!(
            p.headers["authorization"]
                .to_str()
                .unwrap()
                .contains("/eu-central-1/bedrock/aws4_request")
        );

        let none = account(Credentials::default(), None);
        assert!(matches!(
            build(
                &none,
                &hosts(),
                &HeaderMap::new(),
                Bytes::from_static(b"{}"),
                "m",
                false,
                now()
            ),
            Err(AdapterError::MissingAwsCredentials(_))
        ));
        let bad_region = account(aws_keys(None), Some("us-east-1.evil.com/"));
        assert!(matches!(
            build(
                &bad_region,
                &hosts(),
                &HeaderMap::new(),
                Bytes::from_static(b"{}"),
                "m",
                false,
                now()
            ),
            Err(AdapterError::InvalidRegion(..))
        ));
        let mut claude = account(aws_keys(None), None);
        claude.kind = AccountKind::Claude;
        assert!(matches!(
            build(
                &claude,
                &hosts(),
                &HeaderMap::new(),
                Bytes::from_static(b"{}"),
                "m",
                false,
                now()
            ),
            Err(AdapterError::WrongKind(..))
        ));
        assert!(matches!(
            build(
                &account(aws_keys(None), None),
                &hosts(),
                &HeaderMap::new(),
                Bytes::from_static(b"[1]"),
                "m",
                false,
                now()
            ),
            Err(AdapterError::Body(_))
        ));
    }

    #[test]
    fn default_ids() {
        for (name, id) in [
            (
                "claude-sonnet-4-5",
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            ),
            (
                "claude-sonnet-4-5-20250929",
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            ),
            (
                "claude-sonnet-4-20250514",
                "us.anthropic.claude-sonnet-4-20250514-v1:0",
            ),
            (
                "claude-opus-4-1-20250805",
                "us.anthropic.claude-opus-4-1-20250805-v1:0",
            ),
            (
                "claude-opus-4-5",
                "us.anthropic.claude-opus-4-5-20251101-v1:0",
            ),
            ("claude-opus-4-6", "us.anthropic.claude-opus-4-6-v1"),
            ("claude-sonnet-4-6", "us.anthropic.claude-sonnet-4-6"),
            (
                "claude-haiku-4-5-20251001",
                "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            ),
            (
                "claude-3-7-sonnet-20250219",
                "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            ),
            (
                "claude-3-5-haiku-latest",
                "us.anthropic.claude-3-5-haiku-20241022-v1:0",
            ),
        ] {
            assert_eq!(default_model_id(name), Some(id), "{name}");
        }
        assert_eq!(default_model_id("gpt-5"), None);
        assert_eq!(default_model_id("us.anthropic.claude-sonnet-4-6"), None);
        // An operator's mapping (applied before) is kept as is.
        assert_eq!(
            model_id(
                "arn:aws:bedrock:us-east-1:123:application-inference-profile/abc",
                "us-east-1"
            ),
            "arn:aws:bedrock:us-east-1:123:application-inference-profile/abc"
        );
        assert_eq!(
            model_id("claude-sonnet-4-6", "ap-northeast-1"),
            "apac.anthropic.claude-sonnet-4-6"
        );
        assert_eq!(
            model_id("claude-sonnet-4-6", "us-east-2"),
            "us.anthropic.claude-sonnet-4-6"
        );
    }

    #[test]
    fn response_side_helpers() {
        let mut up = HeaderMap::new();
        up.insert(
            "content-type",
            HeaderValue::from_static(EVENTSTREAM_CONTENT_TYPE),
        );
        up.insert("content-length", HeaderValue::from_static("123"));
        up.insert("x-amzn-requestid", HeaderValue::from_static("r-1"));
        let h = response_headers(&up, true);
        assert_eq!(h["content-type"], "text/event-stream; charset=utf-8");
        assert!(!h.contains_key("content-length"));
        assert_eq!(h["x-amzn-requestid"], "r-1");

        let mut err = HeaderMap::new();
        err.insert(
            "x-amzn-ErrorType",
            HeaderValue::from_static(
                "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            ),
        );
        assert_eq!(
            error_body(429, &err, br#"{"message":"Too many requests"}"#),
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"Too many requests"}}"#
        );
    }

    /// The whole request path against the testkit mock: the URL and signature survive the
    /// HTTP client (Host with port, `%3A` kept), the mock's structural SigV4 check passes, and
    /// its independently encoded frames come out as the expected Anthropic SSE.
    #[tokio::test]
    async fn against_the_mock() {
        use switchyard_protocol::{BedrockToAnthropic, StreamTransform};
        use switchyard_testkit::{MockUpstream, MockUsage};

        let mock = MockUpstream::start().await;
        let client = crate::ClientPool::new(std::time::Duration::from_secs(5))
            .unwrap()
            .get(None)
            .unwrap();
        let mut acct = account(aws_keys(Some("sts-token")), Some("us-west-2"));
        acct.base_url = Some(mock.url());
        let p = build(
            &acct,
            &hosts(),
            &client_headers(),
            Bytes::from_static(CLIENT_BODY.as_bytes()),
            "claude-sonnet-4-5",
            true,
            Utc::now(),
        )
        .unwrap();
        let resp = client
            .post(&p.url)
            .headers(p.headers)
            .body(p.body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], EVENTSTREAM_CONTENT_TYPE);
        let bytes = resp.bytes().await.unwrap();
        let mut t = BedrockToAnthropic::new();
        let mut sse = Vec::new();
        t.push(&bytes, &mut sse);
        t.finish(&mut sse);
        let model_id = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
        let usage = MockUsage::default();
        assert_eq!(
            String::from_utf8(sse).unwrap(),
            MockUpstream::bedrock_anthropic_sse(
                model_id,
                &usage,
                switchyard_testkit::bodies::DEFAULT_DELTAS
            )
        );
        let rec = mock.last_request().unwrap();
        assert_eq!(rec.bedrock_model_id().as_deref(), Some(model_id));
        assert!(rec.path.contains("-v1%3A0/invoke-with-response-stream"));
        let sig = rec.sigv4().unwrap();
        assert_eq!(
            (
                sig.access_key_id.as_str(),
                sig.region.as_str(),
                sig.service.as_str()
            ),
            ("AKIDEXAMPLE", "us-west-2", "bedrock")
        );
        assert_eq!(
            sig.signed_headers,
            [
                "accept",
                "content-type",
                "host",
                "x-amz-date",
                "x-amz-security-token"
            ]
        );
        assert_eq!(rec.header("x-amz-security-token"), Some("sts-token"));
        assert_eq!(rec.header("x-api-key"), None);

        // A Bedrock API key, non-stream; a 429 becomes an Anthropic rate_limit_error body.
        let key_acct = Account {
            credentials: Credentials {
                api_key: Some(Secret::new("bedrock-key")),
                ..Credentials::default()
            },
            ..acct.clone()
        };
        let prepared = || {
            build(
                &key_acct,
                &hosts(),
                &HeaderMap::new(),
                Bytes::from_static(CLIENT_BODY.as_bytes()),
                "claude-haiku-4-5",
                false,
                Utc::now(),
            )
            .unwrap()
        };
        let p = prepared();
        let resp = client
            .post(&p.url)
            .headers(p.headers)
            .body(p.body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
        assert_eq!(v["model"], "claude-haiku-4-5-20251001");
        assert_eq!(mock.count_for("bedrock-key"), 1);

        mock.push(switchyard_testkit::Fault::rate_limited(4_000_000_000));
        let p = prepared();
        let resp = client
            .post(&p.url)
            .headers(p.headers)
            .body(p.body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.unwrap();
        assert_eq!(
            error_body(status, &headers, &body),
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"Too many requests"}}"#
        );
    }
}
