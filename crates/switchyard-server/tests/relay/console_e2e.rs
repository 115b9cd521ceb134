//! The web console in real headless Chromium (`console/e2e/run.mjs`, puppeteer-core driving
//! Debian's `/usr/bin/chromium`), against this server on loopback with the testkit mock
//! upstream. A missing chromium or Node.js fails the test: it never skips. Screenshots go to
//! `console/e2e-screenshots/`.

use crate::support::TestApp;
use std::path::PathBuf;
use switchyard_store::{NewApiKey, UsageRecord};
use switchyard_testkit::MockUpstream;

const CHROMIUM: &str = "/usr/bin/chromium";

fn console_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../console")
}

/// `npm ci` when the console's test tools are not installed yet (a fresh clone).
async fn ensure_node_modules(dir: &std::path::Path) {
    if dir
        .join("node_modules/puppeteer-core/package.json")
        .exists()
    {
        return;
    }
    let out = tokio::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .output()
        .await
        .expect("npm (Node.js) is needed for the console's browser tests");
    assert!(
        out.status.success(),
        "npm ci in console/ failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Like the console's npm packages, the browser is installed by the test when it is missing
/// (Debian's package, as root), so the README's one test command is all a reader runs.
async fn ensure_chromium() {
    if !std::path::Path::new(CHROMIUM).exists() {
        for args in [
            &["update", "-qq"][..],
            &["install", "-y", "-qq", "chromium"][..],
        ] {
            let _ = tokio::process::Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .await;
        }
    }
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing and `apt-get install -y chromium` did not provide it"
    );
}

#[tokio::test]
async fn console_in_headless_chromium() {
    ensure_chromium().await;
    let dir = console_dir();
    ensure_node_modules(&dir).await;

    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let admin = switchyard_server::bootstrap::ensure_admin(app.store.as_ref())
        .await
        .unwrap()
        .expect("a fresh store gets an admin");
    let password = admin.generated_password.expect("a one-time password");

    // Lists that grow: 10,000 keys and 100,000 usage records over the last 30 days (before
    // the browser's own requests, so those stay the newest).
    let seeded = std::time::Instant::now();
    seed(&app).await;
    eprintln!(
        "seeded 10,000 keys and 100,000 usage records in {:?}",
        seeded.elapsed()
    );

    let out = tokio::process::Command::new("node")
        .arg("e2e/run.mjs")
        .current_dir(&dir)
        .env("SWITCHYARD_URL", &app.url)
        .env("ADMIN_USER", &admin.name)
        .env("ADMIN_PASSWORD", &password)
        .env("CHROMIUM", CHROMIUM)
        .env("SCREENSHOTS", dir.join("e2e-screenshots"))
        .kill_on_drop(true)
        .output()
        .await
        .expect("node (Node.js) is needed for the console's browser tests");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser test failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all steps passed"), "{stdout}\n{stderr}");
    // Figures (first-load time, first-screen size) for `--nocapture`.
    eprintln!("{stdout}");

    // What the browser did reached the store.
    let account = app.account("ui-claude").await;
    assert_eq!(account.status, switchyard_core::AccountStatus::Disabled);
    assert!(
        app.store
            .user_by_name("bob")
            .await
            .unwrap()
            .is_some_and(|u| u.role == "user")
    );
    app.stop().await;
}

async fn seed(app: &TestApp) {
    let owner = app.store.user_by_name("alice").await.unwrap().unwrap();
    for i in 0..10_000 {
        let k = switchyard_core::key::generate();
        app.store
            .create_key(NewApiKey {
                user_id: owner.id,
                name: format!("bulk-{i:05}"),
                prefix: k.prefix,
                hash: k.hash,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let now = chrono::Utc::now();
    let mut batch = Vec::with_capacity(1000);
    for i in 0..100_000i64 {
        batch.push(UsageRecord {
            // Oldest first, the newest a minute ago.
            created_at: now - chrono::Duration::seconds(60 + (100_000 - i) * 26),
            request_id: format!("req_seed_{i}"),
            api_key_id: Some(app.key_id),
            user_id: Some(owner.id),
            account_id: None,
            dialect: "anthropic".into(),
            endpoint: "/v1/messages".into(),
            requested_model: Some(
                if i % 3 == 0 {
                    "claude-opus-4-1"
                } else {
                    "claude-sonnet-4-20250514"
                }
                .into(),
            ),
            upstream_model: None,
            usage: switchyard_core::usage::TokenUsage {
                input_tokens: 100,
                output_tokens: 20,
                ..Default::default()
            },
            cost_usd: Some(0.0006),
            stream: i % 2 == 0,
            status: if i % 50 == 0 { 529 } else { 200 },
            error_kind: (i % 50 == 0).then(|| "overloaded".to_string()),
            attempts: 1,
            ttfb_ms: Some(300),
            duration_ms: 900,
            session_hash: None,
            dropped_fields: None,
        });
        if batch.len() == 1000 {
            app.store.insert_usage(&batch).await.unwrap();
            batch.clear();
        }
    }
    app.state.refresh_if_changed().await.unwrap();
}
