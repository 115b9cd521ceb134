//! HTTP clients, one per proxy configuration, reused for every request (connection pooling,
//! HTTP/2 where the upstream offers it).
//!
//! Proxies: `http://`, `https://`, `socks5://` (the name is resolved here) and `socks5h://`
//! (the proxy resolves it), each optionally with `user:password@`. SOCKS needs reqwest's
//! `socks` feature: without it reqwest accepts a `socks5://` URL and every request through it
//! fails without the proxy ever seeing a connection.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Upstream hosts and timeouts the adapters need, from the server's configuration.
#[derive(Debug, Clone)]
pub struct UpstreamHosts {
    pub anthropic_api: String,
    pub claude_oauth_token_url: String,
    pub claude_ai: String,
    pub chatgpt: String,
    pub openai_auth: String,
    pub openai_api: String,
    pub gemini_api: String,
    /// Code Assist (`cloudcode-pa.googleapis.com`), what Gemini CLI's Google login talks to.
    pub code_assist: String,
    /// Google's OAuth host (`oauth2.googleapis.com`); the token endpoint is `{google_oauth}/token`.
    pub google_oauth: String,
    /// Bedrock runtime URL template; `{region}` is replaced by the account's region.
    pub bedrock_runtime: String,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build an HTTP client{}: {reason}", proxy.as_deref().map(|p| format!(" for proxy {}", switchyard_core::secret::redact_url(p))).unwrap_or_default())]
pub struct ClientError {
    proxy: Option<String>,
    reason: String,
}

pub struct ClientPool {
    connect_timeout: Duration,
    direct: reqwest::Client,
    proxied: Mutex<HashMap<String, reqwest::Client>>,
}

/// Installs the process-wide TLS provider once (ring); reqwest is built without its own.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl ClientPool {
    pub fn new(connect_timeout: Duration) -> Result<Self, ClientError> {
        install_tls_provider();
        Ok(Self {
            connect_timeout,
            direct: build(connect_timeout, None)?,
            proxied: Mutex::new(HashMap::new()),
        })
    }

    /// The client for `proxy` (none: direct). Built once per distinct proxy URL.
    pub fn get(&self, proxy: Option<&str>) -> Result<reqwest::Client, ClientError> {
        let Some(proxy) = proxy.filter(|p| !p.is_empty()) else {
            return Ok(self.direct.clone());
        };
        let mut map = self.proxied.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = map.get(proxy) {
            return Ok(c.clone());
        }
        let client = build(self.connect_timeout, Some(proxy))?;
        map.insert(proxy.to_string(), client.clone());
        Ok(client)
    }
}

fn build(connect_timeout: Duration, proxy: Option<&str>) -> Result<reqwest::Client, ClientError> {
    let err = |reason: String| ClientError {
        proxy: proxy.map(str::to_string),
        reason,
    };
    // No total timeout: streams may run for many minutes. Connect and first-byte timeouts
    // are applied by the caller; idle time inside a body by the passthrough body.
    let mut builder = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    if let Some(p) = proxy {
        check_proxy_url(p).map_err(|e| err(e.to_string()))?;
        // reqwest's message may quote the URL: never pass it on.
        builder =
            builder.proxy(reqwest::Proxy::all(p).map_err(|_| err("invalid proxy URL".into()))?);
    }
    builder.build().map_err(|e| err(e.to_string()))
}

/// Why a proxy URL cannot be used. Never quotes the URL (it may carry a password).
/// What an account's proxy resolves to when it names a proxy that does not exist: a URL this
/// pool refuses, so the account fails closed instead of quietly going direct.
pub const MISSING_PROXY_SCHEME: &str = "missing-proxy";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyUrlError {
    #[error("the account names proxy `{0}`, which does not exist")]
    Missing(String),
    #[error("proxy URL must look like scheme://host:port")]
    Malformed,
    #[error("proxy scheme `{0}` is not supported (use http, https, socks5 or socks5h)")]
    Scheme(String),
    #[error("proxy URL has no host")]
    NoHost,
}

/// Checks that `url` is a proxy URL this pool can use, before anything is stored or built.
pub fn check_proxy_url(url: &str) -> Result<(), ProxyUrlError> {
    let (scheme, rest) = url.split_once("://").ok_or(ProxyUrlError::Malformed)?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme == MISSING_PROXY_SCHEME {
        return Err(ProxyUrlError::Missing(rest.to_string()));
    }
    if !matches!(scheme.as_str(), "http" | "https" | "socks5" | "socks5h") {
        return Err(ProxyUrlError::Scheme(scheme));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() || host.starts_with(':') {
        return Err(ProxyUrlError::NoHost);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_are_checked_without_quoting_them() {
        for ok in [
            "http://127.0.0.1:3128",
            "https://proxy.example:443",
            "socks5://u:p@127.0.0.1:1080",
            "SOCKS5H://proxy:1080",
        ] {
            assert_eq!(check_proxy_url(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_proxy_url("proxy:1080"), Err(ProxyUrlError::Malformed));
        assert_eq!(
            check_proxy_url("socks4://h:1"),
            Err(ProxyUrlError::Scheme("socks4".into()))
        );
        assert_eq!(
            check_proxy_url("socks5://u:p@:1"),
            Err(ProxyUrlError::NoHost)
        );
        let e = ClientPool::new(Duration::from_secs(1))
            .unwrap()
            .get(Some("ftp://user:hunter2@h:1"))
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }

    /// What a dead proxy's failure says, down the whole source chain (what logs print), must
    /// not carry the proxy's password.
    #[tokio::test]
    async fn a_dead_proxy_error_never_shows_its_password() {
        for scheme in ["socks5", "socks5h", "http"] {
            let url = switchyard_testkit::dead_proxy_url(scheme)
                .await
                .replace("://", "://user:hunter2-pw@");
            let pool = ClientPool::new(Duration::from_secs(2)).unwrap();
            let err = pool
                .get(Some(&url))
                .unwrap()
                .get("http://127.0.0.1:9/x")
                .send()
                .await
                .unwrap_err();
            assert!(err.is_connect(), "{scheme}: {err:?}");
            let mut chain = String::new();
            let mut source = std::error::Error::source(&err);
            while let Some(s) = source {
                chain.push_str(&format!(" / {s} {s:?}"));
                source = s.source();
            }
            let err = err.without_url();
            chain.push_str(&format!(" / {err} {err:?}"));
            assert!(!chain.contains("hunter2"), "{scheme}: {chain}");
        }
    }
}
