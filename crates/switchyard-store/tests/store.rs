//! Store round trips against a real SQLite file in a temporary data directory, through the
//! public `open` function and the `Store` trait, as the binary and the server use them.

// Helpers outside `#[test]` functions panic on failure too, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use switchyard_core::account::{AccountKind, AccountStatus, Credentials};
use switchyard_core::key::{self, KeyPolicy, KeyStatus};
use switchyard_core::pricing::ModelPrice;
use switchyard_core::{Secret, TokenUsage};
use switchyard_store::sql::StoreLocation;
use switchyard_store::{
    AccountPatch, AccountState, NewAccount, NewApiKey, Store, StoreError, UsageRecord, crypto,
};

mod backend;

use backend::{Backend, TestDb, fresh};

on_both_backends!(
    users_round_trip,
    keys_create_list_and_revoke_by_id_prefix_and_name,
    accounts_round_trip_with_decrypted_credentials,
    data_survives_close_and_reopen,
    settings_set_update_and_reset,
    price_overrides_round_trip,
    usage_records_round_trip_every_field_newest_first,
    audit_entries_newest_first,
    change_seq_grows_with_every_change_the_server_snapshots,
    a_different_master_key_is_refused_with_a_clear_error,
    runtime_state_never_overrides_an_operator_disable,
    spend_sums_per_key_and_user_including_unpriced_and_old_records,
    a_pending_oauth_sign_in_is_taken_once,
    records_the_store_cannot_take_at_shutdown_are_spilled_and_stored_at_the_next_start,
    named_proxies_are_encrypted_and_removal_reassigns_accounts,
);

const KEY_A: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const KEY_B: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

async fn open_in(dir: &Path, master_key: Option<&str>) -> Result<Arc<dyn Store>, StoreError> {
    switchyard_store::open(StoreLocation {
        data_dir: dir,
        database_url: None,
        master_key,
    })
    .await
}

fn open_err(result: Result<Arc<dyn Store>, StoreError>) -> StoreError {
    match result {
        Ok(_) => panic!("the store opened, but an error was expected"),
        Err(e) => e,
    }
}

/// A fixed time with microsecond precision, the precision the store keeps.
fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn claude_account(name: &str, api_key: &str) -> NewAccount {
    NewAccount {
        kind: Some(AccountKind::Claude),
        name: name.into(),
        credentials: Credentials {
            api_key: Some(Secret::new(api_key)),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn new_key(user_id: i64, name: &str) -> (String, NewApiKey) {
    let generated = key::generate();
    let new = NewApiKey {
        user_id,
        name: name.into(),
        prefix: generated.prefix.clone(),
        hash: generated.hash.clone(),
        ..Default::default()
    };
    (generated.full, new)
}

#[tokio::test]
async fn open_creates_the_data_directory_database_and_private_key_file() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("nested").join("data");
    let store = open_in(&dir, None).await.unwrap();
    store.ping().await.unwrap();
    assert!(dir.join("switchyard.db").is_file(), "database file created");
    let key_file = dir.join("master.key");
    let key_text = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(
        key_text.trim().len(),
        64,
        "master.key holds 64 hex characters"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "master.key must be private to its owner");
    }
    // The write probe leaves nothing behind.
    assert!(!dir.join(".write-test").exists());
    store.close().await;

    // A second open reuses the same key file and the same data.
    let again = open_in(&dir, None).await.unwrap();
    again.ping().await.unwrap();
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key_text);
    again.close().await;
}

#[tokio::test]
async fn the_data_directory_and_database_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let store = open_in(&dir, None).await.unwrap();
    // Writes make SQLite create the WAL and shared-memory files.
    store.create_user("bob", "user", None).await.unwrap();
    assert_eq!(mode(&dir), 0o700, "data directory");
    for file in ["switchyard.db", "switchyard.db-wal", "switchyard.db-shm"] {
        let path = dir.join(file);
        assert!(path.exists(), "{file} exists");
        assert_eq!(mode(&path), 0o600, "{file}");
    }
    store.close().await;
    // An installation from before keeps working and is tightened at the next start.
    std::fs::set_permissions(
        dir.join("switchyard.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let again = open_in(&dir, None).await.unwrap();
    assert_eq!(mode(&dir.join("switchyard.db")), 0o600);
    assert_eq!(again.list_users().await.unwrap().len(), 1);
    again.close().await;
}

async fn users_round_trip(b: Backend) {
    let (_dir, store) = fresh(b).await;
    assert!(store.list_users().await.unwrap().is_empty());

    let hash = crypto::hash_password("correct horse").unwrap();
    let admin = store
        .create_user("admin", "admin", Some(&hash))
        .await
        .unwrap();
    assert_eq!(admin.name, "admin");
    assert_eq!(admin.role, "admin");
    assert_eq!(admin.status, "active");
    let bob = store.create_user("bob", "user", None).await.unwrap();
    assert_eq!(bob.role, "user");
    assert!(bob.password_hash.is_none());

    let users = store.list_users().await.unwrap();
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["admin", "bob"]);

    let found = store.user_by_name("admin").await.unwrap().unwrap();
    assert_eq!(found.id, admin.id);
    assert!(crypto::verify_password(
        "correct horse",
        found.password_hash.as_deref().unwrap()
    ));
    assert!(store.user_by_name("nobody").await.unwrap().is_none());

    let new_hash = crypto::hash_password("battery staple").unwrap();
    store.set_user_password("admin", &new_hash).await.unwrap();
    let found = store.user_by_name("admin").await.unwrap().unwrap();
    let stored = found.password_hash.unwrap();
    assert!(crypto::verify_password("battery staple", &stored));
    assert!(!crypto::verify_password("correct horse", &stored));

    match store.create_user("bob", "user", None).await {
        Err(StoreError::Conflict(msg)) => assert!(msg.contains("bob"), "{msg}"),
        other => panic!("duplicate user: expected Conflict, got {other:?}"),
    }
    match store.create_user("eve", "root", None).await {
        Err(StoreError::Invalid(msg)) => assert!(msg.contains("root"), "{msg}"),
        other => panic!("unknown role: expected Invalid, got {other:?}"),
    }
    match store.set_user_password("nobody", &new_hash).await {
        Err(e @ StoreError::NotFound(_)) => assert!(e.to_string().contains("nobody")),
        other => panic!("unknown user: expected NotFound, got {other:?}"),
    }
    assert_eq!(store.list_users().await.unwrap().len(), 2);
}

async fn keys_create_list_and_revoke_by_id_prefix_and_name(b: Backend) {
    let (_dir, store) = fresh(b).await;
    let user = store.create_user("alice", "user", None).await.unwrap();

    let expires = at("2030-01-02T03:04:05.123456Z");
    let (_full, mut policy) = new_key(user.id, "with-policy");
    policy.policy = KeyPolicy {
        expires_at: Some(expires),
        expires_after_seconds: Some(30 * 86_400),
        allowed_models: vec!["claude-sonnet-*".into(), "claude-opus-4".into()],
        allowed_dialects: vec!["anthropic".into()],
        allowed_clients: vec!["claude_code".into()],
        concurrency_limit: 3,
        rate_limit_per_minute: 60,
        tokens_per_minute: 100_000,
        daily_cost_limit_usd: Some(12.5),
        weekly_cost_limit_usd: Some(50.0),
        total_cost_limit_usd: Some(100.25),
        bound_account_id: None,
        bound_group_id: None,
        pool_fallback: true,
        cross_dialect: Some(switchyard_core::model_routes::CrossDialect::Any),
    };
    let created = store.create_key(policy.clone()).await.unwrap();
    assert_eq!(created.user_id, user.id);
    assert_eq!(created.name, "with-policy");
    assert_eq!(created.prefix, policy.prefix);
    assert_eq!(created.hash, policy.hash);
    assert_eq!(created.status, KeyStatus::Active);
    assert_eq!(
        created.policy, policy.policy,
        "every policy field round-trips"
    );
    assert!(created.first_used_at.is_none());
    assert!(created.last_used_at.is_none());

    let (_, by_prefix) = new_key(user.id, "by-prefix");
    let by_prefix = store.create_key(by_prefix).await.unwrap();
    let (_, twin1) = new_key(user.id, "twin");
    let twin1 = store.create_key(twin1).await.unwrap();
    let (_, twin2) = new_key(user.id, "twin");
    let twin2 = store.create_key(twin2).await.unwrap();

    let listed = store.list_keys().await.unwrap();
    assert_eq!(listed.len(), 4);
    assert_eq!(listed[0], created, "list returns what create returned");
    assert!(listed.iter().all(|k| k.status == KeyStatus::Active));

    // By id.
    let revoked = store.revoke_key(&created.id.to_string()).await.unwrap();
    assert_eq!(revoked.id, created.id);
    assert_eq!(revoked.status, KeyStatus::Revoked);
    // By display prefix.
    let revoked = store.revoke_key(&by_prefix.prefix).await.unwrap();
    assert_eq!(revoked.id, by_prefix.id);
    assert_eq!(revoked.status, KeyStatus::Revoked);
    // By name, when the name is ambiguous: refused, nothing revoked.
    match store.revoke_key("twin").await {
        Err(StoreError::Conflict(msg)) => {
            assert!(msg.contains("twin") && msg.contains('2'), "{msg}");
        }
        other => panic!("ambiguous selector: expected Conflict, got {other:?}"),
    }
    // Unknown selector.
    match store.revoke_key("no-such-key").await {
        Err(e @ StoreError::NotFound(_)) => assert!(e.to_string().contains("no-such-key")),
        other => panic!("unknown key: expected NotFound, got {other:?}"),
    }

    let status: BTreeMap<i64, KeyStatus> = store
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.id, k.status))
        .collect();
    assert_eq!(status[&created.id], KeyStatus::Revoked);
    assert_eq!(status[&by_prefix.id], KeyStatus::Revoked);
    assert_eq!(status[&twin1.id], KeyStatus::Active);
    assert_eq!(status[&twin2.id], KeyStatus::Active);

    // A unique name revokes by name.
    let (_, solo) = new_key(user.id, "solo");
    let solo = store.create_key(solo).await.unwrap();
    assert_eq!(store.revoke_key("solo").await.unwrap().id, solo.id);

    // The same key (hash) cannot be stored twice.
    assert!(matches!(
        store.create_key(policy).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn accounts_round_trip_with_decrypted_credentials(b: Backend) {
    let (_dir, store) = fresh(b).await;
    let expires = at("2026-12-01T00:00:00Z");
    let mut extra = serde_json::Map::new();
    extra.insert("region".into(), "us-east-1".into());
    let new = NewAccount {
        kind: Some(AccountKind::ClaudeOfficial),
        name: "max-1".into(),
        base_url: Some("https://mirror.example.com".into()),
        priority: Some(10),
        weight: Some(3),
        allowed_models: vec!["claude-sonnet-*".into()],
        model_map: BTreeMap::from([("opus".to_string(), "claude-opus-4".to_string())]),
        max_concurrency: Some(4),
        proxy_url: Some("socks5://127.0.0.1:1080".into()),
        extra: extra.clone(),
        credentials: Credentials {
            api_key: Some(Secret::new("sk-ant-api03-roundtrip-api-key-0001")),
            access_token: Some(Secret::new("sk-ant-oat01-roundtrip-access-0002")),
            refresh_token: Some(Secret::new("sk-ant-ort01-roundtrip-refresh-0003")),
            expires_at: Some(expires),
            session_key: Some(Secret::new("sk-ant-sid01-roundtrip-session-0004")),
            aws_access_key_id: Some(Secret::new("AKIAROUNDTRIP0005")),
            aws_secret_access_key: Some(Secret::new("roundtrip-aws-secret-0006")),
            aws_session_token: Some(Secret::new("roundtrip-aws-session-0007")),
            client_secret: Some(Secret::new("roundtrip-client-secret-0008")),
        },
    };
    let created = store.create_account(new.clone()).await.unwrap();
    assert_eq!(created.kind, AccountKind::ClaudeOfficial);
    assert_eq!(created.name, "max-1");
    assert_eq!(
        created.base_url.as_deref(),
        Some("https://mirror.example.com")
    );
    assert_eq!(created.priority, 10);
    assert_eq!(created.weight, 3);
    assert_eq!(created.allowed_models, new.allowed_models);
    assert_eq!(created.model_map, new.model_map);
    assert_eq!(created.max_concurrency, 4);
    assert_eq!(
        created.proxy_url.as_deref(),
        Some("socks5://127.0.0.1:1080")
    );
    assert_eq!(created.extra, extra);
    assert_eq!(created.credentials, new.credentials);
    assert_eq!(created.status, AccountStatus::Active);
    assert_eq!(created.consecutive_errors, 0);

    // Defaults for what was not given.
    let plain = store
        .create_account(claude_account(
            "anthropic-1",
            "sk-ant-api03-second-account-key",
        ))
        .await
        .unwrap();
    assert_eq!(plain.priority, 50);
    assert_eq!(plain.weight, 1);
    assert_eq!(plain.max_concurrency, 0);
    assert!(plain.allowed_models.is_empty() && plain.model_map.is_empty());
    assert!(plain.base_url.is_none() && plain.proxy_url.is_none());

    let listed = store.list_accounts().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0], created);
    assert_eq!(listed[1], plain);

    assert_eq!(store.find_account("max-1").await.unwrap(), created);
    assert_eq!(
        store.find_account(&plain.id.to_string()).await.unwrap(),
        plain
    );
    match store.find_account("nope").await {
        Err(e @ StoreError::NotFound(_)) => assert!(e.to_string().contains("nope")),
        other => panic!("unknown account: expected NotFound, got {other:?}"),
    }

    // Duplicate name: a conflict naming the account; nothing added.
    match store
        .create_account(claude_account("max-1", "sk-ant-api03-duplicate"))
        .await
    {
        Err(StoreError::Conflict(msg)) => assert!(msg.contains("max-1"), "{msg}"),
        other => panic!("duplicate name: expected Conflict, got {other:?}"),
    }
    assert!(matches!(
        store.create_account(NewAccount::default()).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store
            .create_account(claude_account("   ", "sk-ant-api03-x"))
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(store.list_accounts().await.unwrap().len(), 2);

    // A partial update changes only what it names.
    let updated = store
        .update_account(
            created.id,
            AccountPatch {
                name: Some("max-renamed".into()),
                base_url: Some(None),
                priority: Some(-5),
                allowed_models: Some(vec![]),
                credentials: Some(Credentials {
                    access_token: Some(Secret::new("sk-ant-oat01-rotated-access-0005")),
                    ..new.credentials.clone()
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.name, "max-renamed");
    assert!(updated.base_url.is_none());
    assert_eq!(updated.priority, -5);
    assert!(updated.allowed_models.is_empty());
    assert_eq!(updated.weight, 3, "untouched field kept");
    assert_eq!(updated.model_map, new.model_map, "untouched field kept");
    assert_eq!(updated.proxy_url, created.proxy_url, "untouched field kept");
    assert_eq!(
        updated.credentials.access_token.as_ref().unwrap().expose(),
        "sk-ant-oat01-rotated-access-0005"
    );
    assert_eq!(
        updated.credentials.refresh_token,
        new.credentials.refresh_token
    );
    assert_eq!(store.find_account("max-renamed").await.unwrap(), updated);

    // Renaming onto another account's name is refused and changes nothing.
    let clash = store
        .update_account(
            updated.id,
            AccountPatch {
                name: Some("anthropic-1".into()),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
    assert_eq!(store.find_account("max-renamed").await.unwrap(), updated);

    // Runtime state and refreshed credentials.
    let until = at("2030-06-01T12:00:00.500000Z");
    store
        .set_account_state(
            plain.id,
            &AccountState {
                status: AccountStatus::Cooling,
                reason: Some("rate limited".into()),
                until: Some(until),
                consecutive_errors: 2,
            },
        )
        .await
        .unwrap();
    let refreshed = Credentials {
        access_token: Some(Secret::new("sk-ant-oat01-refreshed-by-oauth")),
        refresh_token: Some(Secret::new("sk-ant-ort01-refreshed-by-oauth")),
        expires_at: Some(at("2031-01-01T00:00:00Z")),
        ..Default::default()
    };
    store
        .set_account_credentials(plain.id, &refreshed)
        .await
        .unwrap();
    let got = store.find_account("anthropic-1").await.unwrap();
    assert_eq!(got.status, AccountStatus::Cooling);
    assert_eq!(got.status_reason.as_deref(), Some("rate limited"));
    assert_eq!(got.status_until, Some(until));
    assert_eq!(got.consecutive_errors, 2);
    assert_eq!(got.credentials, refreshed);

    // Remove.
    store.remove_account(plain.id).await.unwrap();
    assert!(matches!(
        store.find_account("anthropic-1").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.remove_account(plain.id).await,
        Err(StoreError::NotFound(_))
    ));
    let left = store.list_accounts().await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, created.id);
}

async fn data_survives_close_and_reopen(b: Backend) {
    let dir = TestDb::new(b).await;
    let store = dir.open(None).await.unwrap();
    let account = store
        .create_account(claude_account("persisted", "sk-ant-api03-persisted-secret"))
        .await
        .unwrap();
    store.set_setting("max_attempts", "7").await.unwrap();
    store.close().await;

    let store = dir.open(None).await.unwrap();
    assert_eq!(store.find_account("persisted").await.unwrap(), account);
    assert_eq!(
        store
            .settings()
            .await
            .unwrap()
            .get("max_attempts")
            .map(String::as_str),
        Some("7")
    );
    store.close().await;
}

async fn settings_set_update_and_reset(b: Backend) {
    let (_dir, store) = fresh(b).await;
    assert!(store.settings().await.unwrap().is_empty());
    store.set_setting("max_attempts", "5").await.unwrap();
    store
        .set_setting("account_health_check_enabled", "true")
        .await
        .unwrap();
    store.set_setting("max_attempts", "6").await.unwrap();
    let s = store.settings().await.unwrap();
    assert_eq!(
        s,
        BTreeMap::from([
            (
                "account_health_check_enabled".to_string(),
                "true".to_string()
            ),
            ("max_attempts".to_string(), "6".to_string()),
        ])
    );
    store.reset_setting("max_attempts").await.unwrap();
    let s = store.settings().await.unwrap();
    assert!(!s.contains_key("max_attempts"));
    assert_eq!(s.len(), 1);
    // Resetting something never set is harmless.
    store.reset_setting("max_attempts").await.unwrap();
}

async fn price_overrides_round_trip(b: Backend) {
    let (_dir, store) = fresh(b).await;
    assert!(store.price_overrides().await.unwrap().is_empty());
    let price = ModelPrice {
        input_cost_per_token: 3e-6,
        output_cost_per_token: 1.5e-5,
        cache_creation_input_token_cost: Some(3.75e-6),
        cache_creation_input_token_cost_above_1hr: Some(6e-6),
        cache_read_input_token_cost: Some(3e-7),
        output_cost_per_reasoning_token: None,
    };
    store.set_price("my-model", &price).await.unwrap();
    let cheap = ModelPrice {
        input_cost_per_token: 1e-7,
        output_cost_per_token: 2e-7,
        cache_creation_input_token_cost: None,
        cache_creation_input_token_cost_above_1hr: None,
        cache_read_input_token_cost: None,
        output_cost_per_reasoning_token: Some(4e-7),
    };
    store.set_price("cheap-model", &cheap).await.unwrap();
    let got = store.price_overrides().await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got["my-model"], price);
    assert_eq!(got["cheap-model"], cheap);

    // Setting again replaces.
    store.set_price("my-model", &cheap).await.unwrap();
    assert_eq!(store.price_overrides().await.unwrap()["my-model"], cheap);
}

fn usage_record(n: u64, created_at: DateTime<Utc>) -> UsageRecord {
    UsageRecord {
        created_at,
        request_id: format!("req-{n}"),
        api_key_id: Some(10 + n as i64),
        user_id: Some(20 + n as i64),
        account_id: Some(30 + n as i64),
        dialect: "anthropic".into(),
        endpoint: "/v1/messages".into(),
        requested_model: Some("claude-sonnet-4-5".into()),
        upstream_model: Some("claude-sonnet-4-5-20250929".into()),
        usage: TokenUsage {
            input_tokens: 100 + n,
            output_tokens: 200 + n,
            cache_creation_5m_tokens: 300 + n,
            cache_creation_1h_tokens: 400 + n,
            cache_read_tokens: 500 + n,
            reasoning_tokens: 60 + n,
        },
        cost_usd: Some(0.012345 * n as f64),
        stream: n.is_multiple_of(2),
        status: 200,
        error_kind: Some(format!("kind-{n}")),
        attempts: 2,
        ttfb_ms: Some(123 + n),
        duration_ms: 4567 + n,
        session_hash: Some(format!("session-{n}")),
        dropped_fields: None,
    }
}

async fn usage_records_round_trip_every_field_newest_first(b: Backend) {
    let (_dir, store) = fresh(b).await;
    assert!(store.recent_usage(10).await.unwrap().is_empty());

    let t0 = at("2026-03-04T05:06:07.123456Z");
    let first = usage_record(1, t0);
    let second = usage_record(2, t0 + Duration::seconds(1));
    // A record with every optional field empty: an unpriced, failed request.
    let bare = UsageRecord {
        created_at: t0 + Duration::seconds(2),
        request_id: "req-bare".into(),
        api_key_id: None,
        user_id: None,
        account_id: None,
        dialect: "openai-chat".into(),
        endpoint: "/v1/chat/completions".into(),
        requested_model: None,
        upstream_model: None,
        usage: TokenUsage::default(),
        cost_usd: None,
        stream: true,
        status: 503,
        error_kind: None,
        attempts: 0,
        ttfb_ms: None,
        duration_ms: 0,
        session_hash: None,
        dropped_fields: None,
    };
    store
        .insert_usage(&[first.clone(), second.clone()])
        .await
        .unwrap();
    store
        .insert_usage(std::slice::from_ref(&bare))
        .await
        .unwrap();
    store.insert_usage(&[]).await.unwrap();

    let all = store.recent_usage(10).await.unwrap();
    assert_eq!(all, vec![bare.clone(), second.clone(), first]);
    let newest = store.recent_usage(2).await.unwrap();
    assert_eq!(newest, vec![bare, second]);
}

async fn audit_entries_newest_first(b: Backend) {
    let (_dir, store) = fresh(b).await;
    let before = Utc::now() - Duration::seconds(5);
    store
        .audit("cli", "account.add", Some("anthropic-1"), Some("claude"))
        .await
        .unwrap();
    store.audit("system", "start", None, None).await.unwrap();
    let entries = store.recent_audit(10).await.unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].actor, "system");
    assert_eq!(entries[0].action, "start");
    assert!(entries[0].target.is_none() && entries[0].detail.is_none());
    assert_eq!(entries[1].actor, "cli");
    assert_eq!(entries[1].action, "account.add");
    assert_eq!(entries[1].target.as_deref(), Some("anthropic-1"));
    assert_eq!(entries[1].detail.as_deref(), Some("claude"));
    assert!(entries[1].at >= before && entries[1].at <= Utc::now());
    assert!(entries[0].id > entries[1].id);
    assert_eq!(store.recent_audit(1).await.unwrap().len(), 1);
}

async fn change_seq_grows_with_every_change_the_server_snapshots(b: Backend) {
    let (_dir, store) = fresh(b).await;
    let mut last = store.change_seq().await.unwrap();
    let mut grew = |label: &str, now: i64| {
        assert!(
            now > last,
            "change_seq did not grow after {label}: {last} -> {now}"
        );
        last = now;
    };

    let account = store
        .create_account(claude_account("seq", "sk-ant-api03-seq"))
        .await
        .unwrap();
    grew("create_account", store.change_seq().await.unwrap());
    store
        .update_account(
            account.id,
            AccountPatch {
                priority: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    grew("update_account", store.change_seq().await.unwrap());
    store
        .set_account_state(
            account.id,
            &AccountState {
                status: AccountStatus::Disabled,
                reason: Some("operator".into()),
                until: None,
                consecutive_errors: 0,
            },
        )
        .await
        .unwrap();
    grew("set_account_state", store.change_seq().await.unwrap());
    store
        .set_account_credentials(account.id, &Credentials::default())
        .await
        .unwrap();
    grew("set_account_credentials", store.change_seq().await.unwrap());
    store.remove_account(account.id).await.unwrap();
    grew("remove_account", store.change_seq().await.unwrap());

    let user = store.create_user("u", "user", None).await.unwrap();
    let (_, k) = new_key(user.id, "k");
    let k = store.create_key(k).await.unwrap();
    grew("create_key", store.change_seq().await.unwrap());
    store.revoke_key(&k.id.to_string()).await.unwrap();
    grew("revoke_key", store.change_seq().await.unwrap());

    store.set_setting("max_attempts", "4").await.unwrap();
    grew("set_setting (insert)", store.change_seq().await.unwrap());
    store.set_setting("max_attempts", "5").await.unwrap();
    grew("set_setting (update)", store.change_seq().await.unwrap());
    store.reset_setting("max_attempts").await.unwrap();
    grew("reset_setting", store.change_seq().await.unwrap());

    let price = ModelPrice {
        input_cost_per_token: 1e-6,
        output_cost_per_token: 2e-6,
        cache_creation_input_token_cost: None,
        cache_creation_input_token_cost_above_1hr: None,
        cache_read_input_token_cost: None,
        output_cost_per_reasoning_token: None,
    };
    store.set_price("m", &price).await.unwrap();
    grew("set_price", store.change_seq().await.unwrap());

    // Usage and audit writes are not snapshot inputs and must not cause reloads.
    let quiet = store.change_seq().await.unwrap();
    store
        .insert_usage(&[usage_record(1, Utc::now())])
        .await
        .unwrap();
    store.audit("cli", "noop", None, None).await.unwrap();
    assert_eq!(store.change_seq().await.unwrap(), quiet);
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The database file and its write-ahead log, concatenated.
fn database_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(dir.join("switchyard.db")).unwrap();
    if let Ok(wal) = std::fs::read(dir.join("switchyard.db-wal")) {
        bytes.extend_from_slice(&wal);
    }
    bytes
}

#[tokio::test]
async fn credentials_are_ciphertext_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(dir.path(), None).await.unwrap();
    let api_key = "sk-ant-api03-PLAINTEXT-MUST-NOT-LEAK-1111";
    let access = "sk-ant-oat01-PLAINTEXT-ACCESS-TOKEN-2222";
    let refresh = "sk-ant-ort01-PLAINTEXT-REFRESH-TOKEN-3333";
    let session = "sk-ant-sid01-PLAINTEXT-SESSION-KEY-4444";
    let rotated = "sk-ant-oat01-PLAINTEXT-ROTATED-TOKEN-5555";
    let account = store
        .create_account(NewAccount {
            kind: Some(AccountKind::ClaudeOfficial),
            name: "visible-account-name".into(),
            credentials: Credentials {
                api_key: Some(Secret::new(api_key)),
                access_token: Some(Secret::new(access)),
                refresh_token: Some(Secret::new(refresh)),
                session_key: Some(Secret::new(session)),
                expires_at: None,
                ..Default::default()
            },
            ..Default::default()
        })
        .await
        .unwrap();
    store
        .set_account_credentials(
            account.id,
            &Credentials {
                access_token: Some(Secret::new(rotated)),
                refresh_token: Some(Secret::new(refresh)),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    // While the store is open (recent writes live in the WAL, which proves WAL mode).
    assert!(
        dir.path().join("switchyard.db-wal").exists(),
        "the database runs in WAL mode"
    );
    let bytes = database_bytes(dir.path());
    assert!(
        contains(&bytes, "visible-account-name"),
        "sanity: plain fields are readable on disk"
    );
    for secret in [api_key, access, refresh, session, rotated] {
        assert!(!contains(&bytes, secret), "`{secret}` found in plain text");
        // Not even a recognisable fragment of it.
        assert!(
            !contains(&bytes, &secret[13..]),
            "`{secret}` fragment found"
        );
    }
    store.close().await;

    // And after close, when the log has been folded into the main file.
    let bytes = database_bytes(dir.path());
    assert!(contains(&bytes, "visible-account-name"));
    for secret in [api_key, access, refresh, session, rotated] {
        assert!(!contains(&bytes, &secret[13..]), "`{secret}` found on disk");
    }
}

async fn a_different_master_key_is_refused_with_a_clear_error(b: Backend) {
    let dir = TestDb::new(b).await;
    let store = dir.open(Some(KEY_A)).await.unwrap();
    let account = store
        .create_account(claude_account("enc", "sk-ant-api03-encrypted-under-key-a"))
        .await
        .unwrap();
    store.close().await;

    let err = open_err(dir.open(Some(KEY_B)).await);
    assert!(matches!(err, StoreError::WrongMasterKey), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("master key"), "{msg}");
    assert!(msg.contains("SWITCHYARD_MASTER_KEY"), "{msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");

    // The right key, also written as base64 of the same 32 bytes, still reads the data.
    let b64 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(hex::decode(KEY_A).unwrap())
    };
    let store = dir.open(Some(&b64)).await.unwrap();
    assert_eq!(store.find_account("enc").await.unwrap(), account);
    store.close().await;
}

#[tokio::test]
async fn a_refused_open_writes_no_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(dir.path(), Some(KEY_A)).await.unwrap();
    store.close().await;
    assert!(!dir.path().join("master.key").exists());
    // The operator forgot SWITCHYARD_MASTER_KEY this time.
    let err = open_err(open_in(dir.path(), None).await);
    assert!(matches!(err, StoreError::WrongMasterKey), "{err:?}");
    assert!(
        !dir.path().join("master.key").exists(),
        "a failed open generated a key file that can never decrypt this data"
    );
}

#[tokio::test]
async fn an_explicit_key_that_differs_from_the_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(dir.path(), None).await.unwrap();
    store
        .create_account(claude_account("filekey", "sk-ant-api03-under-file-key"))
        .await
        .unwrap();
    store.close().await;
    let file_key = std::fs::read_to_string(dir.path().join("master.key")).unwrap();
    assert_ne!(file_key.trim(), KEY_B);

    let err = open_err(open_in(dir.path(), Some(KEY_B)).await);
    assert!(matches!(err, StoreError::WrongMasterKey), "{err:?}");

    // The same key given explicitly is accepted.
    let store = open_in(dir.path(), Some(file_key.trim())).await.unwrap();
    assert_eq!(store.list_accounts().await.unwrap().len(), 1);
    store.close().await;
}

#[tokio::test]
async fn a_malformed_master_key_is_a_config_error_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["short", &KEY_A[..62], "not base64 at all!!"] {
        let err = open_err(open_in(dir.path(), Some(bad)).await);
        match &err {
            StoreError::Config(msg) => assert!(msg.contains("SWITCHYARD_MASTER_KEY"), "{msg}"),
            other => panic!("bad key `{bad}`: expected Config, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_a_clear_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    let garbage: Vec<u8> = b"this is not a database, just some text\n"
        .iter()
        .copied()
        .cycle()
        .take(8192)
        .collect();
    std::fs::write(&db, &garbage).unwrap();
    let err = open_err(open_in(dir.path(), None).await);
    match &err {
        StoreError::Config(msg) => {
            assert!(msg.contains("not a SQLite database"), "{msg}");
            assert!(
                msg.contains(&db.display().to_string()),
                "names the file: {msg}"
            );
            assert!(!msg.contains('\n'), "one line: {msg}");
        }
        other => panic!("expected Config, got {other:?}"),
    }
    // The file was left as it was.
    assert_eq!(std::fs::read(&db).unwrap(), garbage);
}

/// Whether this process can create files in `dir` despite its permissions (root can).
fn can_write_into(dir: &Path) -> bool {
    let probe = dir.join("probe");
    let ok = std::fs::write(&probe, b"x").is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

#[tokio::test]
async fn an_unusable_data_directory_is_a_clear_config_error() {
    let tmp = tempfile::tempdir().unwrap();

    // A path below a regular file can never be created, whoever runs the test.
    let file = tmp.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let under_file: PathBuf = file.join("sub");
    let err = open_err(open_in(&under_file, None).await);
    match &err {
        StoreError::Config(msg) => {
            assert!(msg.contains("data directory"), "{msg}");
            assert!(msg.contains(&under_file.display().to_string()), "{msg}");
        }
        other => panic!("expected Config, got {other:?}"),
    }

    // A read-only directory, unless permissions do not bind this user (root).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let ro = tmp.path().join("read-only");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        if !can_write_into(&ro) {
            let err = open_err(open_in(&ro, None).await);
            match &err {
                StoreError::Config(msg) => {
                    assert!(msg.contains("not writable"), "{msg}");
                    assert!(msg.contains(&ro.display().to_string()), "{msg}");
                }
                other => panic!("expected Config, got {other:?}"),
            }
            assert!(!ro.join("master.key").exists(), "nothing written");
            assert!(!ro.join("switchyard.db").exists(), "nothing written");
        }
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[tokio::test]
async fn database_url_selects_the_file_and_rejects_other_schemes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("elsewhere.db");
    let url = format!("sqlite://{}", db.display());
    let store = switchyard_store::open(StoreLocation {
        data_dir: dir.path(),
        database_url: Some(&url),
        master_key: None,
    })
    .await
    .unwrap();
    store
        .create_account(claude_account("via-url", "sk-ant-api03-via-url"))
        .await
        .unwrap();
    store.close().await;
    assert!(db.is_file(), "the database lives where the URL says");
    assert!(!dir.path().join("switchyard.db").exists());

    for (bad, expect) in [
        ("mysql://u:p@h/db", "mysql"),
        // Nothing listens on port 1: PostgreSQL is selected, and cannot be reached.
        (
            "postgres://u:p@127.0.0.1:1/db?acquire_timeout=1",
            "cannot connect to PostgreSQL",
        ),
    ] {
        let err = open_err(
            switchyard_store::open(StoreLocation {
                data_dir: dir.path(),
                database_url: Some(bad),
                master_key: None,
            })
            .await,
        );
        match &err {
            StoreError::Config(msg) => {
                assert!(msg.contains(expect), "{msg}");
                assert!(!msg.contains("u:p"), "no credentials in the message: {msg}");
            }
            other => panic!("{bad}: expected Config, got {other:?}"),
        }
    }
}

async fn runtime_state_never_overrides_an_operator_disable(b: Backend) {
    let dir = TestDb::new(b).await;
    let store = dir.open(None).await.unwrap();
    let a = store
        .create_account(claude_account("guarded", "sk-ant-api03-guarded-secret"))
        .await
        .unwrap();
    let disabled = AccountState {
        status: AccountStatus::Disabled,
        reason: Some("operator".into()),
        until: None,
        consecutive_errors: 0,
    };
    store
        .set_account_state_by_operator(a.id, &disabled)
        .await
        .unwrap();
    // A relay 429 or a health-check pass racing with the operator must not undo it.
    let cooling = AccountState {
        status: AccountStatus::Cooling,
        reason: Some("rate limited".into()),
        until: Some(Utc::now()),
        consecutive_errors: 1,
    };
    store.set_account_state(a.id, &cooling).await.unwrap();
    assert_eq!(
        store.find_account("guarded").await.unwrap().status,
        AccountStatus::Disabled
    );
    // The health check's own disable can be lifted by the health check.
    let by_check = AccountState {
        reason: Some("health check".into()),
        ..disabled
    };
    store
        .set_account_state_by_operator(a.id, &by_check)
        .await
        .unwrap();
    store.set_account_state(a.id, &cooling).await.unwrap();
    assert_eq!(
        store.find_account("guarded").await.unwrap().status,
        AccountStatus::Cooling
    );
}

async fn spend_sums_per_key_and_user_including_unpriced_and_old_records(b: Backend) {
    let (_dir, store) = fresh(b).await;
    let now = Utc::now();
    let day = now - chrono::Duration::hours(1);
    let week = now - chrono::Duration::days(2);
    let mut priced = usage_record(1, now);
    priced.cost_usd = Some(0.25);
    // An unpriced model: its cost is NULL, which must not break the sums.
    let mut unpriced = usage_record(1, now);
    unpriced.cost_usd = None;
    let mut last_week = usage_record(1, now - chrono::Duration::days(3));
    last_week.cost_usd = Some(1.0);
    let mut only_unpriced = usage_record(2, now);
    only_unpriced.cost_usd = None;
    store
        .insert_usage(&[priced, unpriced, last_week, only_unpriced])
        .await
        .unwrap();
    let spend = store.spend(day, week).await.unwrap();
    let key = spend.keys[&11];
    assert_eq!(key.day_usd, 0.25);
    assert_eq!(key.week_usd, 0.25);
    assert_eq!(key.total_usd, 1.25);
    assert_eq!(spend.users[&21].total_usd, 1.25);
    let nothing = spend.keys[&12];
    assert_eq!((nothing.day_usd, nothing.total_usd), (0.0, 0.0));
}

async fn named_proxies_are_encrypted_and_removal_reassigns_accounts(b: Backend) {
    let (dir, store) = fresh(b).await;
    let url = "socks5h://pool:proxy-pass-store-1@10.0.0.9:1080";
    let p = store.create_proxy("tokyo", url).await.unwrap();
    assert_eq!(p.url.expose(), url);
    assert!(matches!(
        store.create_proxy("tokyo", url).await,
        Err(StoreError::Conflict(_))
    ));
    let seq = store.change_seq().await.unwrap();
    store
        .set_proxy_url("tokyo", "http://10.0.0.9:3128")
        .await
        .unwrap();
    assert!(store.change_seq().await.unwrap() > seq, "snapshots reload");
    store.set_proxy_url("tokyo", url).await.unwrap();
    store.close().await;
    let raw = if dir.is_postgres() {
        dir.table_text("proxies").await.into_bytes()
    } else {
        std::fs::read(dir.path().join("switchyard.db")).unwrap()
    };
    assert!(contains(&raw, "tokyo"), "the proxy row was read");
    assert!(
        !raw.windows(16).any(|w| w == b"proxy-pass-store"),
        "proxy password stored in plain text"
    );

    let store = dir.open(None).await.unwrap();
    assert_eq!(store.list_proxies().await.unwrap()[0].url.expose(), url);
    store
        .create_account(NewAccount {
            kind: Some(AccountKind::Claude),
            name: "uses-tokyo".into(),
            proxy_url: Some("tokyo".into()),
            credentials: Credentials {
                api_key: Some(Secret::new("sk-ant-api03-x")),
                ..Default::default()
            },
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(store.delete_proxy("tokyo", None).await.unwrap(), 1);
    assert_eq!(
        store.find_account("uses-tokyo").await.unwrap().proxy_url,
        None
    );
    assert!(store.list_proxies().await.unwrap().is_empty());
    assert!(matches!(
        store.delete_proxy("tokyo", None).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn a_pending_oauth_sign_in_is_taken_once(b: Backend) {
    let (_dir, store) = fresh(b).await;
    let now = Utc::now();
    let pending = switchyard_store::OAuthPending {
        state: "st-1".into(),
        kind: "claude".into(),
        data: Secret::new("{\"verifier\":\"v\"}"),
        created_at: now,
        expires_at: now + Duration::minutes(10),
    };
    store.put_oauth_pending(&pending).await.unwrap();
    let taken = store.take_oauth_pending("st-1").await.unwrap().unwrap();
    assert_eq!(taken.data.expose(), "{\"verifier\":\"v\"}");
    assert_eq!(taken.kind, "claude");
    assert!(store.take_oauth_pending("st-1").await.unwrap().is_none());
    assert!(store.take_oauth_pending("other").await.unwrap().is_none());
}

async fn records_the_store_cannot_take_at_shutdown_are_spilled_and_stored_at_the_next_start(
    b: Backend,
) {
    use switchyard_store::usage_writer::{UsageWriter, replay_spills};
    let (dir, store) = fresh(b).await;
    let (sink, writer) = UsageWriter::spawn(store.clone(), 64, dir.path().to_path_buf());
    // The store goes away under the writer (here: its connections are closed), so every
    // write fails until shutdown.
    store.close().await;
    for n in 0..7 {
        sink.send(usage_record(n, Utc::now())).await.unwrap();
    }
    let failing = async {
        while !sink.health().failing() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), failing)
        .await
        .expect("the writer notices the failing store");
    assert_eq!(sink.backlog(), 7);
    drop(sink);
    tokio::time::timeout(std::time::Duration::from_secs(15), writer.close())
        .await
        .expect("shutdown does not wait forever on a failing store");
    let spilled: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("usage-spill-"))
        .collect();
    assert_eq!(spilled.len(), 1, "one spill file in the data directory");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        spilled[0].metadata().unwrap().permissions().mode() & 0o777,
        0o600
    );

    // The next start stores them and removes the file.
    let again = dir.open(None).await.unwrap();
    assert_eq!(replay_spills(again.as_ref(), dir.path()).await, 7);
    assert_eq!(again.recent_usage(100).await.unwrap().len(), 7);
    assert!(!spilled[0].path().exists());
    assert_eq!(
        replay_spills(again.as_ref(), dir.path()).await,
        0,
        "only once"
    );
    again.close().await;
}

#[tokio::test]
async fn credentials_inside_urls_are_sealed_at_rest() {
    let (dir, store) = fresh(Backend::Sqlite).await;
    let proxy = "http://proxyuser:PROXYPASSWORD-8841@127.0.0.1:3128";
    let base = "https://upuser:UPSTREAMURLPASS-5512@mirror.example/v1";
    let created = store
        .create_account(NewAccount {
            kind: Some(AccountKind::Claude),
            name: "behind-proxy".into(),
            base_url: Some(base.into()),
            proxy_url: Some(proxy.into()),
            credentials: Credentials {
                api_key: Some(Secret::new("sk-ant-api03-at-rest")),
                ..Default::default()
            },
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(created.proxy_url.as_deref(), Some(proxy), "read back whole");
    assert_eq!(created.base_url.as_deref(), Some(base));
    // A URL without credentials stays as it was.
    let plain = store
        .update_account(
            created.id,
            AccountPatch {
                proxy_url: Some(Some("socks5://127.0.0.1:1080".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(plain.proxy_url.as_deref(), Some("socks5://127.0.0.1:1080"));
    store
        .update_account(
            created.id,
            AccountPatch {
                proxy_url: Some(Some(proxy.into())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    store.close().await;
    // Nothing the store wrote holds the passwords in the clear (database, WAL, anything).
    for entry in std::fs::read_dir(dir.path()).unwrap().flatten() {
        let bytes = std::fs::read(entry.path()).unwrap();
        for secret in [
            "PROXYPASSWORD-8841",
            "UPSTREAMURLPASS-5512",
            "sk-ant-api03-at-rest",
        ] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} in {}",
                entry.path().display()
            );
        }
    }
    let again = open_in(dir.path(), None).await.unwrap();
    let found = again.find_account("behind-proxy").await.unwrap();
    assert_eq!(found.proxy_url.as_deref(), Some(proxy));
    again.close().await;
}
