//! Spawns the real server in-process on port 0 with a fresh SQLite store, against a testkit
//! mock upstream.

use std::sync::Arc;
use std::time::Duration;
use switchyard_core::Secret;
use switchyard_core::account::{Account, AccountKind, Credentials};
use switchyard_core::key;
use switchyard_server::state::AppState;
use switchyard_server::{App, Config};
use switchyard_store::sql::StoreLocation;
use switchyard_store::{NewAccount, NewApiKey, Store, UsageRecord};
use switchyard_testkit::MockUpstream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

pub struct TestApp {
    pub url: String,
    pub state: Arc<AppState>,
    pub store: Arc<dyn Store>,
    pub key: String,
    pub key_id: i64,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

pub struct AccountSpec {
    pub kind: AccountKind,
    pub name: &'static str,
    pub secret: &'static str,
    pub priority: i32,
    pub weight: u32,
    pub max_concurrency: u32,
    pub models: Vec<String>,
    pub model_map: Vec<(&'static str, &'static str)>,
    pub refresh_token: Option<&'static str>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub base_url: Option<String>,
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl AccountSpec {
    pub fn claude(name: &'static str, secret: &'static str) -> Self {
        Self {
            kind: AccountKind::Claude,
            name,
            secret,
            priority: 50,
            weight: 1,
            max_concurrency: 0,
            models: vec![],
            model_map: vec![],
            refresh_token: None,
            expires_at: None,
            base_url: None,
            extra: Default::default(),
        }
    }

    pub fn openai(name: &'static str, key: &'static str, base_url: String) -> Self {
        Self {
            kind: AccountKind::Openai,
            base_url: Some(base_url),
            ..Self::claude(name, key)
        }
    }

    /// An `openai-responses` account: a ChatGPT token when `secret` is a JWT, else an API key.
    pub fn codex(name: &'static str, secret: &'static str) -> Self {
        Self {
            kind: AccountKind::OpenaiResponses,
            ..Self::claude(name, secret)
        }
    }

    /// A `bedrock` account: SigV4 when `secret` is an access key id (`AKIA…`, with the
    /// secret key [`AWS_SECRET`]), else a Bedrock API key.
    pub fn bedrock(name: &'static str, secret: &'static str) -> Self {
        Self {
            kind: AccountKind::Bedrock,
            ..Self::claude(name, secret)
        }
    }

    /// A `gemini-api` account (an API key for the public Gemini API).
    pub fn gemini_api(name: &'static str, key: &'static str) -> Self {
        Self {
            kind: AccountKind::GeminiApi,
            ..Self::claude(name, key)
        }
    }

    /// A Google-login `gemini` account (Code Assist).
    pub fn gemini(name: &'static str, token: &'static str, refresh: &'static str) -> Self {
        Self {
            kind: AccountKind::Gemini,
            refresh_token: Some(refresh),
            ..Self::claude(name, token)
        }
    }

    pub fn oauth(name: &'static str, token: &'static str, refresh: &'static str) -> Self {
        Self {
            kind: AccountKind::ClaudeOfficial,
            refresh_token: Some(refresh),
            expires_at: Some(chrono::Utc::now() + chrono::Duration::hours(8)),
            ..Self::claude(name, token)
        }
    }
}

impl TestApp {
    pub async fn start(mock: &MockUpstream) -> TestApp {
        Self::start_with(mock, |_| {}).await
    }

    /// [`TestApp::start`] with a configuration change applied before the server is built.
    pub async fn start_with(mock: &MockUpstream, configure: impl FnOnce(&mut Config)) -> TestApp {
        Self::start_in(mock, tempfile::tempdir().unwrap(), configure).await
    }

    /// [`TestApp::start_with`] with its data directory in `dir` (e.g. on a small filesystem).
    pub async fn start_in(
        mock: &MockUpstream,
        dir: tempfile::TempDir,
        configure: impl FnOnce(&mut Config),
    ) -> TestApp {
        let mut app = Self::start_at(mock, dir.path(), configure).await;
        app._dir = Some(dir);
        app
    }

    /// A server on the data directory `path`, which outlives it (for restarts). The store
    /// gets the test user and key only when it has no users yet.
    pub async fn start_at(
        mock: &MockUpstream,
        path: &std::path::Path,
        configure: impl FnOnce(&mut Config),
    ) -> TestApp {
        switchyard_upstream::client::install_tls_provider();
        let dir = path;
        let mut config = Config::default();
        config.set("listen", "127.0.0.1:0").unwrap();
        config.data_dir = dir.to_path_buf();
        config.set("upstream.anthropic_api", &mock.url()).unwrap();
        config
            .set(
                "upstream.claude_oauth_token_url",
                &format!("{}/v1/oauth/token", mock.url()),
            )
            .unwrap();
        for host in [
            "upstream.chatgpt",
            "upstream.openai_api",
            "upstream.openai_auth",
            "upstream.claude_ai",
            "upstream.gemini_api",
            "upstream.code_assist",
            "upstream.google_oauth",
            "upstream.bedrock_runtime",
        ] {
            config.set(host, &mock.url()).unwrap();
        }
        config.timeouts.shutdown_grace_seconds = 2;
        configure(&mut config);
        let store = switchyard_store::open(StoreLocation {
            data_dir: dir,
            database_url: None,
            master_key: None,
        })
        .await
        .unwrap();
        // A restart on the same data directory keeps its user and gets a key of its own.
        let (user, key_name) = match store.user_by_name("alice").await.unwrap() {
            Some(u) => (u, format!("test-{}", key::generate().prefix)),
            None => (
                store.create_user("alice", "user", None).await.unwrap(),
                "test".to_string(),
            ),
        };
        let generated = key::generate();
        let created = store
            .create_key(NewApiKey {
                user_id: user.id,
                name: key_name,
                prefix: generated.prefix.clone(),
                hash: generated.hash.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        let app = App::build(config, store.clone()).await.unwrap();
        let url = format!("http://{}", app.local_addr());
        let state = app.state();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        TestApp {
            url,
            state,
            store,
            key: generated.full,
            key_id: created.id,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            stop: Some(stop),
            task: Some(task),
            _dir: None,
        }
    }

    pub async fn add_account(&self, spec: AccountSpec) -> Account {
        let secret = Some(Secret::new(spec.secret));
        let credentials = match spec.kind {
            AccountKind::OpenaiResponses if spec.secret.starts_with("eyJ") => Credentials {
                access_token: secret,
                refresh_token: spec.refresh_token.map(Secret::new),
                expires_at: spec.expires_at,
                ..Default::default()
            },
            AccountKind::Bedrock if spec.secret.starts_with("AKIA") => Credentials {
                aws_access_key_id: secret,
                aws_secret_access_key: Some(Secret::new(AWS_SECRET)),
                ..Default::default()
            },
            AccountKind::ClaudeOfficial | AccountKind::Gemini => Credentials {
                access_token: secret,
                refresh_token: spec.refresh_token.map(Secret::new),
                expires_at: spec.expires_at,
                ..Default::default()
            },
            _ => Credentials {
                api_key: secret,
                ..Default::default()
            },
        };
        let account = self
            .store
            .create_account(NewAccount {
                kind: Some(spec.kind),
                name: spec.name.into(),
                priority: Some(spec.priority),
                weight: Some(spec.weight),
                max_concurrency: Some(spec.max_concurrency),
                base_url: spec.base_url,
                extra: spec.extra,
                allowed_models: spec.models,
                model_map: spec
                    .model_map
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
                credentials,
                ..Default::default()
            })
            .await
            .unwrap();
        self.state.refresh_if_changed().await.unwrap();
        account
    }

    pub fn messages(&self, body: serde_json::Value) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/v1/messages", self.url))
            .header("x-api-key", &self.key)
            .header("anthropic-version", "2023-06-01")
            .json(&body)
    }

    pub fn post(&self, path: &str, body: serde_json::Value) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.url))
            .header("authorization", format!("Bearer {}", self.key))
            .json(&body)
    }

    /// Waits until at least `n` usage records are stored and returns them, oldest first.
    pub async fn usage(&self, n: usize) -> Vec<UsageRecord> {
        eventually(Duration::from_secs(5), || async {
            let mut records = self.store.recent_usage(1000).await.unwrap();
            records.reverse();
            (records.len() >= n).then_some(records)
        })
        .await
        .unwrap_or_else(|| panic!("fewer than {n} usage records after 5 s"))
    }

    /// An admin user (`root` / `admin-password-1`), signed in to the admin API; returns the
    /// session token to send as `Authorization: Bearer`.
    pub async fn admin(&self) -> String {
        let hash = switchyard_store::crypto::hash_password("admin-password-1").unwrap();
        self.store
            .create_user("root", "admin", Some(&hash))
            .await
            .unwrap();
        self.login("root", "admin-password-1").await
    }

    /// Signs in to the admin API; returns the session token.
    pub async fn login(&self, user: &str, password: &str) -> String {
        let resp = self
            .http
            .post(format!("{}/api/admin/login", self.url))
            .json(&serde_json::json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "login as {user}");
        let v: serde_json::Value = resp.json().await.unwrap();
        v["token"].as_str().unwrap().to_string()
    }

    pub async fn setting(&self, key: &str, value: &str) {
        self.store.set_setting(key, value).await.unwrap();
        self.state.refresh_if_changed().await.unwrap();
    }

    pub async fn account(&self, name: &str) -> Account {
        self.store.find_account(name).await.unwrap()
    }

    /// The account as the request path sees it now (its state reaches the store a moment
    /// later, in the background).
    pub fn live_account(&self, name: &str) -> Account {
        let snap = self.state.snapshot.load();
        let found = snap.accounts.iter().find(|a| a.name == name);
        found.map(|a| (**a).clone()).unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .expect("server stops within 10 s")
                .unwrap();
        }
    }
}

pub fn body(stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": "hi"}]
    })
}

pub fn session_body(session: &str) -> serde_json::Value {
    serde_json::json!({
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 64,
        "stream": false,
        "metadata": {"user_id": format!("user_{}_account__session_{session}", "a".repeat(64))},
        "messages": [{"role": "user", "content": "hi"}]
    })
}

/// Sends `req` and returns the status the client got.
pub async fn send_status(req: reqwest::RequestBuilder) -> u16 {
    req.send().await.unwrap().status().as_u16()
}

/// Reads a response body to its end; returns the bytes received and whether the transfer was
/// aborted (the body failed instead of ending cleanly).
pub async fn read_until_error(resp: reqwest::Response) -> (Vec<u8>, bool) {
    use futures_util::StreamExt;
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(b) => out.extend_from_slice(&b),
            Err(_) => return (out, true),
        }
    }
    (out, false)
}

/// Sends `req` and returns its JSON body.
pub async fn send_json(req: reqwest::RequestBuilder) -> serde_json::Value {
    req.send().await.unwrap().json().await.unwrap()
}

/// Polls `probe` every 25 ms until it returns `Some`, for at most `within`. For effects that
/// land asynchronously (slots released by a dropped body, background writes, rounds).
pub async fn eventually<T, F, Fut>(within: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
