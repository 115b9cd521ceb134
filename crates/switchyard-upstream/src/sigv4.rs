//! AWS Signature Version 4 for header-signed requests (what Bedrock accounts with an access key
//! pair use).
//!
//! The signature covers a *canonical request*: method, canonical URI, sorted query, the signed
//! headers (lower-case names, trimmed values, sorted) and the SHA-256 of the body. Two details
//! decide whether AWS accepts it:
//!
//! - **The path is encoded twice.** For every service but S3, the canonical URI is the path *as
//!   sent* (already percent-encoded) encoded once more, segment by segment. A Bedrock model id
//!   `…-v1:0` travels as `…-v1%3A0` and is signed as `…-v1%253A0`; signing the single-encoded form
//!   is the classic "signature does not match" bug.
//! - **`host` is signed exactly once**, with the value the HTTP client will send (default ports
//!   dropped), and `x-amz-date` / `x-amz-security-token` are signed with the values this module
//!   returns, so the caller must send exactly those.
//!
//! Time is passed in so tests can reproduce AWS's published vectors.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};
use sha2::{Digest, Sha256};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// An AWS access key pair, with the session token of temporary (STS) credentials.
#[derive(Clone, Copy)]
pub struct AwsCredentials<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: Option<&'a str>,
}

impl std::fmt::Debug for AwsCredentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret and the token never reach a log.
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// What is being signed.
#[derive(Debug, Clone, Copy)]
pub struct SigningRequest<'a> {
    pub method: &'a str,
    /// The full URL exactly as it will be sent (path already percent-encoded).
    pub url: &'a str,
    /// Headers to sign besides `host`, `x-amz-date` and `x-amz-security-token` (which this
    /// module adds). Every header given here must be sent unchanged.
    pub headers: &'a HeaderMap,
    /// Lower-case hex SHA-256 of the body ([`sha256_hex`]).
    pub payload_sha256: &'a str,
}

/// Region, service and time of a signature.
#[derive(Debug, Clone, Copy)]
pub struct SigningScope<'a> {
    pub region: &'a str,
    pub service: &'a str,
    pub time: DateTime<Utc>,
}

/// The result: the headers to add to the request, and the intermediate strings (for tests and
/// for debugging a rejected signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// `Authorization` header value.
    pub authorization: String,
    /// `x-amz-date` header value (`YYYYMMDDTHHMMSSZ`).
    pub amz_date: String,
    /// `x-amz-security-token` header value, for temporary credentials.
    pub security_token: Option<String>,
    pub signed_headers: String,
    pub signature: String,
    pub canonical_request: String,
    pub string_to_sign: String,
}

impl Signed {
    /// Adds `authorization`, `x-amz-date` and (if any) `x-amz-security-token` to `headers`,
    /// marking the secret-bearing ones sensitive.
    pub fn apply(&self, headers: &mut HeaderMap) -> Result<(), SigV4Error> {
        let value = |name: &'static str, v: &str| {
            HeaderValue::from_str(v).map_err(|_| SigV4Error::HeaderValue(name.to_owned()))
        };
        let mut auth = value("authorization", &self.authorization)?;
        auth.set_sensitive(true);
        headers.insert(http::header::AUTHORIZATION, auth);
        headers.insert(
            HeaderName::from_static("x-amz-date"),
            value("x-amz-date", &self.amz_date)?,
        );
        if let Some(token) = &self.security_token {
            let mut v = value("x-amz-security-token", token)?;
            v.set_sensitive(true);
            headers.insert(HeaderName::from_static("x-amz-security-token"), v);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    #[error("cannot sign: the URL is not absolute or not valid")]
    InvalidUrl,
    #[error("cannot sign: header `{0}` is not visible ASCII")]
    HeaderValue(String),
    #[error("cannot sign: the secret access key is unusable as an HMAC key")]
    Key,
}

/// Lower-case hex SHA-256, the form the canonical request and `x-amz-content-sha256` use.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> Result<[u8; 32], SigV4Error> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| SigV4Error::Key)?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().into())
}

/// Signs `request` with `credentials` for `scope`.
pub fn sign(
    request: &SigningRequest<'_>,
    scope: &SigningScope<'_>,
    credentials: &AwsCredentials<'_>,
) -> Result<Signed, SigV4Error> {
    let uri: http::Uri = request.url.parse().map_err(|_| SigV4Error::InvalidUrl)?;
    let host = host_header(&uri).ok_or(SigV4Error::InvalidUrl)?;
    let amz_date = scope.time.format("%Y%m%dT%H%M%SZ").to_string();
    let date = scope.time.format("%Y%m%d").to_string();

    // name → values in arrival order; BTreeMap sorts by the lower-case name.
    let mut headers: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, value) in request.headers {
        let name = name.as_str();
        if matches!(
            name,
            "host" | "authorization" | "x-amz-date" | "x-amz-security-token"
        ) {
            continue;
        }
        let value = value
            .to_str()
            .map_err(|_| SigV4Error::HeaderValue(name.to_owned()))?;
        headers
            .entry(name.to_owned())
            .or_default()
            .push(trim_all(value));
    }
    headers.insert("host".to_owned(), vec![host]);
    headers.insert("x-amz-date".to_owned(), vec![amz_date.clone()]);
    if let Some(token) = credentials.session_token {
        headers.insert("x-amz-security-token".to_owned(), vec![trim_all(token)]);
    }

    let mut canonical_headers = String::new();
    for (name, values) in &headers {
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(&values.join(","));
        canonical_headers.push('\n');
    }
    let signed_headers = headers
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method.to_ascii_uppercase(),
        canonical_uri(uri.path()),
        canonical_query(uri.query().unwrap_or("")),
        canonical_headers,
        signed_headers,
        request.payload_sha256,
    );
    let credential_scope = format!("{date}/{}/{}/aws4_request", scope.region, scope.service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{credential_scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let k_date = hmac(
        format!("AWS4{}", credentials.secret_access_key).as_bytes(),
        date.as_bytes(),
    )?;
    let k_region = hmac(&k_date, scope.region.as_bytes())?;
    let k_service = hmac(&k_region, scope.service.as_bytes())?;
    let k_signing = hmac(&k_service, b"aws4_request")?;
    let signature = hex::encode(hmac(&k_signing, string_to_sign.as_bytes())?);
    let authorization = format!(
        "{ALGORITHM} Credential={}/{credential_scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    );
    Ok(Signed {
        authorization,
        amz_date,
        security_token: credentials.session_token.map(str::to_owned),
        signed_headers,
        signature,
        canonical_request,
        string_to_sign,
    })
}

/// The `Host` header an HTTP client sends for `uri`: lower-case host, port only when it is not
/// the scheme's default.
fn host_header(uri: &http::Uri) -> Option<String> {
    let authority = uri.authority()?;
    let host = authority.host().to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let default_port = match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    };
    Some(match authority.port_u16() {
        Some(port) if Some(port) != default_port => format!("{host}:{port}"),
        _ => host,
    })
}

/// Trims the value and collapses runs of spaces into one, as SigV4 requires.
fn trim_all(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for word in value.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// SigV4's URI encoding: every byte except the unreserved `A-Za-z0-9-._~` becomes `%XX`
/// (upper-case hex), including `/` — callers split paths into segments first.
pub fn uri_encode(input: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in input {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        }
    }
}

/// Encodes one path segment for use in a URL (e.g. a Bedrock model id: `:` → `%3A`).
pub fn encode_path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len() + 8);
    uri_encode(segment.as_bytes(), &mut out);
    out
}

/// The canonical URI of a non-S3 service: each segment of the path as sent, encoded again.
fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let mut out = String::with_capacity(path.len() + 16);
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        uri_encode(segment.as_bytes(), &mut out);
    }
    out
}

/// Query parameters decoded, re-encoded strictly and sorted by name, then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let mut key = String::new();
            let mut value = String::new();
            uri_encode(&percent_decode(k), &mut key);
            uri_encode(&percent_decode(v), &mut value);
            (key, value)
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `%XX` → byte; anything else (a stray `%` included) is kept as is.
fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|c| char::from(*c).to_digit(16)),
                bytes.get(i + 2).and_then(|c| char::from(*c).to_digit(16)),
            )
        {
            // Two hex digits make at most 0xFF.
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    // AWS's SigV4 test suite: these credentials, region us-east-1, service `service`,
    // 2015-08-30T12:36:00Z, host example.amazonaws.com.
    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const STS_TOKEN: &str = concat!(
        "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSP",
        "fIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7",
        "WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlz",
        "m8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
    );

    fn suite_time() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 8, 30, 12, 36, 0).unwrap()
    }

    struct Case {
        name: &'static str,
        method: &'static str,
        url: &'static str,
        headers: &'static [(&'static str, &'static str)],
        body: &'static [u8],
        token: Option<&'static str>,
        signed_headers: &'static str,
        signature: &'static str,
    }

    fn run(case: &Case) -> Signed {
        let mut headers = HeaderMap::new();
        for (n, v) in case.headers {
            headers.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let payload = sha256_hex(case.body);
        sign(
            &SigningRequest {
                method: case.method,
                url: case.url,
                headers: &headers,
                payload_sha256: &payload,
            },
            &SigningScope {
                region: "us-east-1",
                service: "service",
                time: suite_time(),
            },
            &AwsCredentials {
                access_key_id: AKID,
                secret_access_key: SECRET,
                session_token: case.token,
            },
        )
        .unwrap()
    }

    /// Expected values are AWS's: the `authorization` strings of the SigV4 test suite as the
    /// AWS SDK for JavaScript v3 ships it (`packages/signature-v4/src/suite.fixture.ts`), and,
    /// for the session-token cases, AWS's signing test suite in `awslabs/aws-c-auth`
    /// (`tests/aws-signing-test-suite/v4/{post-sts-header-before,get-vanilla-with-session-token}`).
    const CASES: &[Case] = &[
        Case {
            name: "get-vanilla",
            method: "GET",
            url: "https://example.amazonaws.com/",
            headers: &[],
            body: b"",
            token: None,
            signed_headers: "host;x-amz-date",
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        },
        Case {
            name: "get-vanilla-query-order-key-case",
            method: "GET",
            url: "https://example.amazonaws.com/?Param2=value2&Param1=value1",
            headers: &[],
            body: b"",
            token: None,
            signed_headers: "host;x-amz-date",
            signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        },
        Case {
            name: "get-vanilla-empty-query-key",
            method: "GET",
            url: "https://example.amazonaws.com/?Param1=value1",
            headers: &[],
            body: b"",
            token: None,
            signed_headers: "host;x-amz-date",
            signature: "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
        },
        Case {
            name: "get-vanilla-query-unreserved",
            method: "GET",
            url: concat!(
                "https://example.amazonaws.com/?",
                "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=",
                "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
            ),
            headers: &[],
            body: b"",
            token: None,
            signed_headers: "host;x-amz-date",
            signature: "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
        },
        Case {
            name: "get-unreserved",
            method: "GET",
            url: "https://example.amazonaws.com/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            headers: &[],
            body: b"",
            token: None,
            signed_headers: "host;x-amz-date",
            signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
        },
        Case {
            name: "get-header-value-trim",
            method: "GET",
            url: "https://example.amazonaws.com/",
            headers: &[("My-Header1", " value1"), ("My-Header2", "\"a   b   c\"")],
            body: b"",
            token: None,
            signed_headers: "host;my-header1;my-header2;x-amz-date",
            signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
        },
        Case {
            name: "get-header-key-duplicate",
            method: "GET",
            url: "https://example.amazonaws.com/",
            headers: &[
                ("My-Header1", "value2"),
                ("My-Header1", "value2"),
                ("My-Header1", "value1"),
            ],
            body: b"",
            token: None,
            signed_headers: "host;my-header1;x-amz-date",
            signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
        },
        Case {
            name: "get-header-value-order",
            method: "GET",
            url: "https://example.amazonaws.com/",
            headers: &[
                ("My-Header1", "value4"),
                ("My-Header1", "value1"),
                ("My-Header1", "value3"),
                ("My-Header1", "value2"),
            ],
            body: b"",
            token: None,
            signed_headers: "host;my-header1;x-amz-date",
            signature: "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
        },
        Case {
            name: "post-vanilla",
            method: "POST",
            url: "https://example.amazonaws.com/",
            headers: &[],
            body: b"",
            token: None,
            signed_headers: "host;x-amz-date",
            signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        },
        Case {
            name: "post-vanilla-query",
            method: "POST",
            url: "https://example.amazonaws.com/?Param1=value1",
            headers: &[],
            body: b"",
            token: None,
            signed_headers: "host;x-amz-date",
            signature: "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
        },
        Case {
            name: "post-header-value-case",
            method: "POST",
            url: "https://example.amazonaws.com/",
            headers: &[("My-Header1", "VALUE1")],
            body: b"",
            token: None,
            signed_headers: "host;my-header1;x-amz-date",
            signature: "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
        },
        Case {
            name: "post-vanilla-query-nonunreserved",
            method: "POST",
            // `@#$%^=` and `+=/,?><`";:\|][{}` as a client sends them, percent-encoded.
            url: "https://example.amazonaws.com/?%40%23%24%25%5E=&%2B=%2F%2C%3F%3E%3C%60%22%3B%3A%5C%7C%5D%5B%7B%7D",
            headers: &[],
            body: b"",
            token: None,
            signed_headers: "host;x-amz-date",
            signature: "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e",
        },
        Case {
            name: "post-x-www-form-urlencoded",
            method: "POST",
            url: "https://example.amazonaws.com/",
            headers: &[("Content-Type", "application/x-www-form-urlencoded")],
            body: b"Param1=value1",
            token: None,
            signed_headers: "content-type;host;x-amz-date",
            signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
        },
        Case {
            name: "post-x-www-form-urlencoded-parameters",
            method: "POST",
            url: "https://example.amazonaws.com/",
            headers: &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf8",
            )],
            body: b"Param1=value1",
            token: None,
            signed_headers: "content-type;host;x-amz-date",
            signature: "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe",
        },
        Case {
            name: "post-sts-token (post-sts-header-before)",
            method: "POST",
            url: "https://example.amazonaws.com/",
            headers: &[],
            body: b"",
            token: Some(STS_TOKEN),
            signed_headers: "host;x-amz-date;x-amz-security-token",
            signature: "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
        },
        Case {
            name: "get-vanilla-with-session-token",
            method: "GET",
            url: "https://example.amazonaws.com/",
            headers: &[],
            body: b"",
            token: Some("6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"),
            signed_headers: "host;x-amz-date;x-amz-security-token",
            signature: "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
        },
    ];

    #[test]
    fn aws_sigv4_test_suite() {
        for case in CASES {
            let signed = run(case);
            assert_eq!(signed.signed_headers, case.signed_headers, "{}", case.name);
            assert_eq!(signed.signature, case.signature, "{}", case.name);
            assert_eq!(
                signed.authorization,
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={}, Signature={}",
                    case.signed_headers, case.signature
                ),
                "{}",
                case.name
            );
            assert_eq!(signed.amz_date, "20150830T123600Z");
            assert_eq!(signed.security_token.as_deref(), case.token);
        }
    }

    #[test]
    fn get_vanilla_intermediate_strings() {
        // The suite's get-vanilla canonical request and string to sign.
        let signed = run(&CASES[0]);
        assert_eq!(
            signed.canonical_request,
            format!(
                "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{EMPTY_SHA256}"
            )
        );
        assert_eq!(
            signed.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
    }

    #[test]
    fn bedrock_model_id_is_encoded_twice_in_the_canonical_uri() {
        let model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
        let url = format!(
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/{}/invoke-with-response-stream",
            encode_path_segment(model)
        );
        assert!(url.contains("/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/"));
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert(
            "accept",
            HeaderValue::from_static("application/vnd.amazon.eventstream"),
        );
        let body = br#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[]}"#;
        let payload = sha256_hex(body);
        let signed = sign(
            &SigningRequest {
                method: "POST",
                url: &url,
                headers: &headers,
                payload_sha256: &payload,
            },
            &SigningScope {
                region: "us-east-1",
                service: "bedrock",
                time: suite_time(),
            },
            &AwsCredentials {
                access_key_id: AKID,
                secret_access_key: SECRET,
                session_token: None,
            },
        )
        .unwrap();
        let lines: Vec<&str> = signed.canonical_request.lines().collect();
        assert_eq!(lines[0], "POST");
        assert_eq!(
            lines[1],
            "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%253A0/invoke-with-response-stream"
        );
        assert_eq!(lines[2], "");
        assert_eq!(
            &lines[3..7],
            &[
                "accept:application/vnd.amazon.eventstream",
                "content-type:application/json",
                "host:bedrock-runtime.us-east-1.amazonaws.com",
                "x-amz-date:20150830T123600Z",
            ]
        );
        assert_eq!(lines[8], "accept;content-type;host;x-amz-date");
        assert_eq!(lines[9], payload);
        assert!(signed.authorization.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=accept;content-type;host;x-amz-date, Signature="
        ));
        // Regression value, cross-checked once with an independent HMAC-SHA256 implementation
        // (Python's hmac/hashlib) over the canonical request above.
        assert_eq!(
            signed.signature,
            "3beb396831a894f95753fd455473d134a9965916cff57faa8df74866071203b2"
        );
    }

    #[test]
    fn host_once_and_default_ports() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("ignored.example"));
        let sign_url = |url: &str| {
            sign(
                &SigningRequest {
                    method: "GET",
                    url,
                    headers: &headers,
                    payload_sha256: EMPTY_SHA256,
                },
                &SigningScope {
                    region: "us-east-1",
                    service: "service",
                    time: suite_time(),
                },
                &AwsCredentials {
                    access_key_id: AKID,
                    secret_access_key: SECRET,
                    session_token: None,
                },
            )
            .unwrap()
        };
        let s = sign_url("https://Example.AmazonAWS.com:443/");
        assert_eq!(s.signed_headers, "host;x-amz-date");
        assert_eq!(s.canonical_request.matches("host:").count(), 1);
        assert!(
            s.canonical_request
                .contains("\nhost:example.amazonaws.com\n")
        );
        let s = sign_url("http://127.0.0.1:8123/model/x/invoke");
        assert!(s.canonical_request.contains("\nhost:127.0.0.1:8123\n"));
        assert!(
            sign(
                &SigningRequest {
                    method: "GET",
                    url: "/relative",
                    headers: &headers,
                    payload_sha256: EMPTY_SHA256,
                },
                &SigningScope {
                    region: "r",
                    service: "s",
                    time: suite_time(),
                },
                &AwsCredentials {
                    access_key_id: AKID,
                    secret_access_key: SECRET,
                    session_token: None,
                },
            )
            .is_err()
        );
    }

    #[test]
    fn apply_sets_the_headers() {
        let signed = run(&CASES[14]);
        let mut h = HeaderMap::new();
        signed.apply(&mut h).unwrap();
        assert_eq!(h["x-amz-date"], "20150830T123600Z");
        assert_eq!(h["x-amz-security-token"], STS_TOKEN);
        assert!(h["authorization"].is_sensitive());
        assert!(
            h["authorization"]
                .to_str()
                .unwrap()
                .ends_with("85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead")
        );
    }

    #[test]
    fn encoding_helpers() {
        assert_eq!(encode_path_segment("a:b/c d~"), "a%3Ab%2Fc%20d~");
        assert_eq!(canonical_uri("/a%3Ab/c"), "/a%253Ab/c");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_query("b=2&a=&a=1&&c"), "a=&a=1&b=2&c=");
        assert_eq!(percent_decode("%41%zz%4"), b"A%zz%4");
        assert_eq!(trim_all("  a \t b  "), "a b");
        let creds = AwsCredentials {
            access_key_id: "AKID",
            secret_access_key: "very-secret",
            session_token: Some("tok"),
        };
        let dbg = format!("{creds:?}");
        assert!(!dbg.contains("very-secret") && !dbg.contains("tok"));
    }
}
