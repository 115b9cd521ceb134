//! The web console in real headless Chromium (`console/e2e/run.mjs`, puppeteer-core driving
//! Debian's `/usr/bin/chromium`), against this server on loopback with the testkit mock
//! upstream. A missing chromium or Node.js fails the test: it never skips. Screenshots go to
//! `console/e2e-screenshots/`.

use crate::support::TestApp;
use std::path::PathBuf;
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

#[tokio::test]
async fn console_in_headless_chromium() {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does)"
    );
    let dir = console_dir();
    ensure_node_modules(&dir).await;

    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let admin = switchyard_server::bootstrap::ensure_admin(app.store.as_ref())
        .await
        .unwrap()
        .expect("a fresh store gets an admin");
    let password = admin.generated_password.expect("a one-time password");

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
