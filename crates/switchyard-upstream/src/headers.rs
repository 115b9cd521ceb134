//! Header hygiene: what may travel from the client to the upstream.

use http::HeaderMap;
use http::header::{self, HeaderName, HeaderValue};

/// Headers never forwarded upstream: hop-by-hop headers, the client's own credentials and
/// cookies, and headers the HTTP client sets itself.
const DROP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
    "host",
    "content-length",
    "accept-encoding",
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "api-key",
    "cookie",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    // Scoping headers of the client's own OpenAI setup: sent to our accounts they would be
    // wrong (401 mismatched_organization) and condemn every account in turn.
    "openai-organization",
    "openai-project",
    "chatgpt-account-id",
];

/// Copies the client's headers minus [`DROP`] and anything named by `Connection`, then asks
/// for an uncompressed body (a compressed body without `Content-Encoding` corrupts streams).
pub fn forwardable(client: &HeaderMap) -> HeaderMap {
    let named_by_connection: Vec<String> = client
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::with_capacity(client.len());
    for (name, value) in client {
        let n = name.as_str();
        if DROP.contains(&n) || named_by_connection.iter().any(|c| c == n) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    out
}

/// Response headers worth passing back to the client: everything except hop-by-hop
/// headers and a length/encoding that no longer describe the forwarded body.
pub fn response_forwardable(upstream: &HeaderMap) -> HeaderMap {
    const DROP_RESPONSE: &[&str] = &[
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-authenticate",
        "content-length",
        "set-cookie",
    ];
    let mut out = HeaderMap::with_capacity(upstream.len());
    for (name, value) in upstream {
        if !DROP_RESPONSE.contains(&name.as_str()) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Merges `required` betas into a comma-separated `anthropic-beta` value, keeping the client's
/// order and dropping duplicates.
pub fn merge_beta(headers: &mut HeaderMap, required: &[&str]) {
    let name = HeaderName::from_static("anthropic-beta");
    let mut betas: Vec<String> = headers
        .get_all(&name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    for r in required {
        if !betas.iter().any(|b| b == r) {
            betas.insert(0, (*r).to_string());
        }
    }
    let mut seen = Vec::with_capacity(betas.len());
    betas.retain(|b| {
        let fresh = !seen.contains(b);
        seen.push(b.clone());
        fresh
    });
    if let Ok(v) = HeaderValue::from_str(&betas.join(",")) {
        headers.insert(name, v);
    }
}

/// The client's query string without Switchyard's own `key=` parameter (a key sent that way
/// must never reach an upstream).
pub fn forwardable_query(query: Option<&str>) -> Option<String> {
    let kept: Vec<&str> = query?
        .split('&')
        .filter(|p| !p.is_empty() && *p != "key" && !p.starts_with("key="))
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_credentials_and_hop_by_hop() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer sk-sy-x"));
        h.insert("x-api-key", HeaderValue::from_static("sk-sy-x"));
        h.insert("cookie", HeaderValue::from_static("a=b"));
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-custom"),
        );
        h.insert("x-custom", HeaderValue::from_static("1"));
        h.insert("accept-encoding", HeaderValue::from_static("gzip, br"));
        h.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        let out = forwardable(&h);
        assert_eq!(out.len(), 2);
        assert_eq!(out["anthropic-version"], "2023-06-01");
        assert_eq!(out["accept-encoding"], "identity");
    }

    #[test]
    fn query_without_key() {
        assert_eq!(
            forwardable_query(Some("beta=true&key=sk-sy-x")).as_deref(),
            Some("beta=true")
        );
        assert_eq!(forwardable_query(Some("key=sk-sy-x")), None);
        assert_eq!(forwardable_query(Some("keys=1")).as_deref(), Some("keys=1"));
        assert_eq!(forwardable_query(None), None);
    }

    #[test]
    fn beta_merge() {
        let mut h = HeaderMap::new();
        h.insert("anthropic-beta", HeaderValue::from_static("a, b,a"));
        merge_beta(&mut h, &["oauth-2025-04-20"]);
        assert_eq!(h["anthropic-beta"], "oauth-2025-04-20,a,b");
        merge_beta(&mut h, &["oauth-2025-04-20"]);
        assert_eq!(h["anthropic-beta"], "oauth-2025-04-20,a,b");
    }
}
