//! Several `switchyard serve` processes sharing the machine's PostgreSQL (a schema of their
//! own per test) and Redis (a key prefix of their own) act as one. PostgreSQL and Redis must
//! answer: these tests fail, never skip, when either is missing.

use super::*;
use sqlx::Connection;
use switchyard_testkit::{Fault, MockUpstream};

const MASTER_KEY: &str = "3c1f0e9d8b7a69584736251403f2e1d0c3b4a59687f8e9d0a1b2c3d4e5f60718";
const ADMIN_PASSWORD: &str = "scaleout-admin-pass-1";

/// One test's shared world: a PostgreSQL schema, a Redis prefix, a mock upstream, and the
/// environment every process of the test gets.
struct Cluster {
    rt: tokio::runtime::Runtime,
    mock: Option<MockUpstream>,
    env: Vec<(String, String)>,
    /// For CLI commands (its data directory holds nothing shared).
    cli: Sandbox,
    server: String,
    schema: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mock) = self.mock.take() {
            self.rt.block_on(mock.shutdown());
        }
        let (server, schema) = (self.server.clone(), self.schema.clone());
        self.rt.block_on(async move {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&server).await {
                let sql =
                    format!("SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {schema} CASCADE");
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await;
                let _ = conn.close().await;
            }
        });
    }
}

/// One running instance and its own data directory.
struct Instance {
    server: Server,
    _data: Sandbox,
}

impl Cluster {
    fn new(lease_seconds: u64) -> Cluster {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mock = rt.block_on(MockUpstream::start());
        let server = std::env::var("SWITCHYARD_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into());
        let redis = std::env::var("SWITCHYARD_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let schema = format!("sy_scaleout_{}_{nanos}", std::process::id());
        rt.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&server)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {server} does not answer: {e}"));
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        });
        let probe = Command::new("redis-cli")
            .args(["-u", &redis, "ping"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        assert_eq!(
            probe.as_deref().ok(),
            Some("PONG"),
            "Redis at {redis} does not answer"
        );
        let sep = if server.contains('?') { '&' } else { '?' };
        let env = vec![
            (
                "SWITCHYARD_DATABASE_URL".into(),
                format!("{server}{sep}options[search_path]={schema}"),
            ),
            ("SWITCHYARD_REDIS_URL".into(), redis),
            ("SWITCHYARD_REDIS_PREFIX".into(), schema.clone()),
            (
                "SWITCHYARD_REDIS_LEASE_SECONDS".into(),
                lease_seconds.to_string(),
            ),
            ("SWITCHYARD_MASTER_KEY".into(), MASTER_KEY.into()),
            ("SWITCHYARD_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()),
            ("SWITCHYARD_UPSTREAM_ANTHROPIC_API".into(), mock.url()),
        ];
        Cluster {
            rt,
            mock: Some(mock),
            env,
            cli: Sandbox::new(),
            server,
            schema,
        }
    }

    fn mock(&self) -> &MockUpstream {
        self.mock.as_ref().unwrap()
    }

    fn env_refs(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn cli(&self, args: &[&str]) -> Run {
        self.cli.run_with(args, &self.env_refs(), None).ok()
    }

    fn account(&self, name: &str, api_key: &str, extra: &[&str]) {
        let mut args = vec![
            "account",
            "add",
            "claude",
            "--name",
            name,
            "--api-key",
            api_key,
        ];
        args.extend_from_slice(extra);
        self.cli(&args);
    }

    /// A new key; returns (id, secret).
    fn key(&self, extra: &[&str]) -> (String, String) {
        let mut args = vec!["key", "create", "--name", "k", "--json"];
        args.extend_from_slice(extra);
        let created = self.cli(&args).json();
        (
            created["id"].to_string(),
            created["key"].as_str().unwrap().to_string(),
        )
    }

    fn start(&self) -> Instance {
        let data = Sandbox::new();
        let mut cmd = base_command(data.tmp.path());
        cmd.envs(self.env_refs());
        Instance {
            server: Server::start_cmd(&data, cmd),
            _data: data,
        }
    }
}

impl Instance {
    fn addr(&self) -> &str {
        &self.server.addr
    }
}

fn session_messages(addr: &str, key: &str, session: &str) -> u16 {
    let body = serde_json::json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 16,
        "metadata": {"user_id": format!("user_{}_account__session_{session}", "a".repeat(64))},
        "messages": [{"role": "user", "content": "hi"}]
    });
    post_messages(addr, key, &body.to_string()).0
}

/// Sends a request and leaves it in flight (the caller keeps the connection open).
fn open_request(addr: &str, key: &str) -> TcpStream {
    let body = SHORT_MESSAGE;
    let mut stream = TcpStream::connect(addr).unwrap();
    let request = format!(
        "POST /v1/messages HTTP/1.1\r\nHost: {addr}\r\ncontent-type: application/json\r\nanthropic-version: 2023-06-01\r\nx-api-key: {key}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    stream
}

/// Polls `check` every 20 ms for up to `limit`; returns how long it took to hold.
fn within(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// A session started on A stays on its account when its next requests land on B; a key's
/// concurrency limit of 2 holds across both; one health-check round runs, not one per
/// instance.
#[test]
fn two_instances_share_sessions_concurrency_and_the_health_check_round() {
    let c = Cluster::new(30);
    // API-key accounts are not checked unless asked.
    c.account("one", "sk-ant-api03-ONE", &["--health-check", "true"]);
    c.account("two", "sk-ant-api03-TWO", &["--health-check", "true"]);
    c.cli(&["settings", "set", "account_health_check_enabled", "true"]);
    c.cli(&["settings", "set", "concurrency_queue_wait_seconds", "0"]);
    let (_, key) = c.key(&["--concurrency", "2"]);
    let a = c.start();
    let b = c.start();

    // Each instance would run a round at once; the lease lets one of them.
    std::thread::sleep(Duration::from_secs(3));
    let probes =
        c.mock().probe_count_for("sk-ant-api03-ONE") + c.mock().probe_count_for("sk-ant-api03-TWO");
    assert_eq!(probes, 2, "one round over two accounts, by one instance");

    // Sessions: wherever the first request went, the next ones on B follow it.
    for n in 0..6 {
        let session = format!("5e55{n:04}-0000-4000-8000-000000000000");
        assert_eq!(session_messages(a.addr(), &key, &session), 200);
        let one = c.mock().count_for("sk-ant-api03-ONE");
        let two = c.mock().count_for("sk-ant-api03-TWO");
        for _ in 0..4 {
            assert_eq!(session_messages(b.addr(), &key, &session), 200);
        }
        let one_after = c.mock().count_for("sk-ant-api03-ONE") - one;
        let two_after = c.mock().count_for("sk-ant-api03-TWO") - two;
        assert!(
            (one_after, two_after) == (4, 0) || (one_after, two_after) == (0, 4),
            "session {n}: B served it from both accounts ({one_after}, {two_after})"
        );
    }

    // Concurrency: two slow requests, one per instance; a third is refused on either.
    c.mock()
        .push_n(2, Fault::SlowFirstByte(Duration::from_millis(2500)));
    let before = c.mock().request_count();
    let slow_a = open_request(a.addr(), &key);
    let slow_b = open_request(b.addr(), &key);
    assert!(
        within(Duration::from_secs(5), || c.mock().request_count()
            >= before + 2)
        .is_some(),
        "both slow requests reached the upstream"
    );
    let (status_a, head_a) = messages_status(a.addr(), &key);
    let (status_b, _) = messages_status(b.addr(), &key);
    assert_eq!((status_a, status_b), (429, 429), "{head_a}");
    drop((slow_a, slow_b));
    assert!(
        within(Duration::from_secs(6), || messages_status(b.addr(), &key).0
            == 200)
        .is_some(),
        "the slots come back when the slow requests end"
    );
    // Nothing above fell back to per-instance state.
    for instance in [&a, &b] {
        let (status, _, text) = http(instance.addr(), "GET", "/readyz", &[], "");
        assert_eq!((status, text.as_str()), (200, "ready\nredis: ok\n"));
    }
}

fn messages_status(addr: &str, key: &str) -> (u16, String) {
    post_messages(addr, key, SHORT_MESSAGE)
}

/// An account disabled and a key revoked through A's admin API are out on B within a second.
#[test]
fn changes_through_one_instances_admin_api_reach_the_other_within_a_second() {
    let c = Cluster::new(30);
    c.account("only", "sk-ant-api03-ONLY", &[]);
    let (key_id, key) = c.key(&[]);
    let (_, other_key) = c.key(&[]);
    let a = c.start();
    let b = c.start();
    assert_eq!(messages_status(b.addr(), &key).0, 200);
    let token = sign_in(&a.server, "admin", ADMIN_PASSWORD);

    let (status, body) = api(
        &a.server,
        &token,
        "POST",
        &format!("/keys/{key_id}/revoke"),
        &Value::Null,
    );
    assert_eq!(status, 200, "{body}");
    let took = within(Duration::from_secs(5), || {
        messages_status(b.addr(), &key).0 == 401
    })
    .expect("the revoked key still works on B after 5 s");
    eprintln!("key revoked on A refused on B after {took:?}");
    assert!(
        took <= Duration::from_secs(1),
        "revocation took {took:?} to reach B"
    );
    assert_eq!(messages_status(b.addr(), &other_key).0, 200);

    let (status, body) = api(
        &a.server,
        &token,
        "POST",
        "/accounts/only/disable",
        &Value::Null,
    );
    assert_eq!(status, 200, "{body}");
    let took = within(Duration::from_secs(5), || {
        messages_status(b.addr(), &other_key).0 != 200
    })
    .expect("the disabled account still serves on B after 5 s");
    eprintln!("account disabled on A out of rotation on B after {took:?}");
    assert!(
        took <= Duration::from_secs(1),
        "disabling took {took:?} to reach B"
    );
}

/// `kill -9` of A while it holds the only slot of an account: the requests A finished are
/// in PostgreSQL, and B gets the slot once A's lease expires.
#[test]
fn kill_9_of_one_instance_keeps_its_usage_and_frees_its_slots() {
    let c = Cluster::new(3);
    c.account("solo", "sk-ant-api03-SOLO", &["--max-concurrency", "1"]);
    let (_, key) = c.key(&[]);
    let mut a = c.start();
    let b = c.start();
    for _ in 0..5 {
        assert_eq!(messages_status(a.addr(), &key).0, 200);
    }
    c.mock().push(Fault::Hang);
    let before = c.mock().request_count();
    let _held = open_request(a.addr(), &key);
    assert!(within(Duration::from_secs(5), || c.mock().request_count() > before).is_some());
    let (status, text) = messages_status(b.addr(), &key);
    assert_ne!(status, 200, "the account's one slot is held on A: {text}");

    std::thread::sleep(Duration::from_millis(200));
    a.server.child.kill().unwrap();
    let _ = a.server.child.wait();
    let took = within(Duration::from_secs(10), || {
        messages_status(b.addr(), &key).0 == 200
    })
    .expect("B never got the dead instance's slot");
    eprintln!("A's lease freed for B {took:?} after kill -9 (lease 3 s)");
    // Renewed every second, the lease outlives A by 2 to 3 s: not at once, not forever.
    assert!(
        took >= Duration::from_secs(1) && took <= Duration::from_secs(5),
        "the lease took {took:?} to expire; B's log:\n{}",
        b.server.stop().3
    );

    // Every request is recorded, the refused polls above too: count the served ones.
    let stored = c
        .cli(&["usage", "recent", "--limit", "5000", "--json"])
        .json();
    let records = stored.as_array().unwrap();
    let ok = records.iter().filter(|r| r["status"] == 200).count();
    assert!(
        ok >= 6,
        "A's five requests and B's one are stored: {ok} of {}",
        records.len()
    );
}

/// A key's requests-per-minute and daily cost limits count the requests of every instance.
#[test]
fn rate_and_cost_limits_hold_across_instances() {
    let c = Cluster::new(30);
    c.account("only", "sk-ant-api03-RATES", &[]);
    let (_, limited_rate) = c.key(&["--rpm", "4"]);
    // Each mock answer costs $0.000618: the second request reaches $0.001.
    let (_, limited_cost) = c.key(&["--daily-usd", "0.001"]);
    let a = c.start();
    let b = c.start();

    let statuses: Vec<u16> = (0..6)
        .map(|n| {
            let addr = if n % 2 == 0 { a.addr() } else { b.addr() };
            messages_status(addr, &limited_rate).0
        })
        .collect();
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 429, 429],
        "4 per minute in all"
    );

    assert_eq!(messages_status(a.addr(), &limited_cost).0, 200);
    assert_eq!(messages_status(b.addr(), &limited_cost).0, 200);
    // The second answer's cost travels to the shared counters after the response.
    let refused = within(Duration::from_secs(3), || {
        messages_status(a.addr(), &limited_cost).0 == 429
    });
    assert!(refused.is_some(), "A admits past the cost B recorded");
    let (status, text) = messages_status(b.addr(), &limited_cost);
    assert_eq!(status, 429);
    assert!(text.contains("daily cost limit of $0.00"), "{text}");
}

/// A single instance on SQLite moves to PostgreSQL with `store copy`: an instance started on
/// the copy serves the same keys through the same accounts (their secrets intact) and lists the
/// old usage; a second copy into the now used database is refused.
#[test]
fn store_copy_moves_a_sqlite_installation_to_postgresql() {
    let c = Cluster::new(30);
    let old = Sandbox::new();
    let mock_env = [("SWITCHYARD_UPSTREAM_ANTHROPIC_API", c.mock().url())];
    let mock_env: Vec<(&str, &str)> = mock_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    old.run_with(
        &[
            "account",
            "add",
            "claude",
            "--name",
            "moved",
            "--api-key",
            "sk-ant-api03-MOVED",
        ],
        &mock_env,
        None,
    )
    .ok();
    let key = old
        .run_with(&["key", "create", "--name", "k", "--json"], &mock_env, None)
        .ok()
        .json()["key"]
        .as_str()
        .unwrap()
        .to_string();
    {
        let mut cmd = base_command(old.tmp.path());
        cmd.envs(mock_env.iter().copied());
        let server = Server::start_cmd(&old, cmd);
        for _ in 0..3 {
            assert_eq!(messages_status(&server.addr, &key).0, 200);
        }
        server.stop();
    }
    let master = std::fs::read_to_string(old.data.join("master.key")).unwrap();
    let pg = c.env[0].1.clone();

    let copied = old
        .run_with(&["store", "copy", "--to", &pg, "--json"], &[], None)
        .ok()
        .json();
    let rows = |table: &str| {
        copied
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == table)
            .unwrap_or_else(|| panic!("{table} missing: {copied}"))["rows"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        (rows("accounts"), rows("api_keys"), rows("usage_records")),
        (1, 1, 3)
    );

    // An instance on the copy, with the installation's master key.
    let data = Sandbox::new();
    let mut cmd = base_command(data.tmp.path());
    cmd.env("SWITCHYARD_DATABASE_URL", &pg)
        .env("SWITCHYARD_MASTER_KEY", master.trim())
        .env("SWITCHYARD_UPSTREAM_ANTHROPIC_API", c.mock().url());
    let server = Server::start_cmd(&data, cmd);
    let before = c.mock().count_for("sk-ant-api03-MOVED");
    assert_eq!(messages_status(&server.addr, &key).0, 200);
    assert_eq!(
        c.mock().count_for("sk-ant-api03-MOVED"),
        before + 1,
        "the secret survived"
    );
    let env = [
        ("SWITCHYARD_DATABASE_URL", pg.as_str()),
        ("SWITCHYARD_MASTER_KEY", master.trim()),
    ];
    let usage = data
        .run_with(&["usage", "recent", "--json"], &env, None)
        .ok()
        .json();
    assert_eq!(
        usage.as_array().unwrap().len(),
        4,
        "three old records and the new one (its id continues after the copied ones)"
    );
    let again = old.run_with(&["store", "copy", "--to", &pg], &[], None);
    assert!(!again.success);
    assert!(again.stderr.contains("already holds data"), "{again:?}");
}

fn snapshot_reloads(addr: &str) -> u64 {
    let (_, _, text) = http(addr, "GET", "/metrics", &[], "");
    text.lines()
        .find_map(|l| l.strip_prefix("switchyard_snapshot_reloads_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// An account cooled on A (its upstream said 429) is out of rotation on B at once, and B
/// applied that one account's state: no full snapshot reload.
#[test]
fn a_cool_down_on_one_instance_reaches_the_other_without_a_reload() {
    let c = Cluster::new(30);
    c.account("cool", "sk-ant-api03-COOL", &[]);
    let (_, key) = c.key(&[]);
    let a = c.start();
    let b = c.start();
    assert_eq!(messages_status(b.addr(), &key).0, 200);
    std::thread::sleep(Duration::from_millis(700));
    let reloads = snapshot_reloads(b.addr());

    c.mock().push(Fault::status(
        429,
        r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
    ));
    assert_eq!(messages_status(a.addr(), &key).0, 429);
    let took = within(Duration::from_secs(3), || {
        messages_status(b.addr(), &key).0 != 200
    })
    .expect("B still sends to the account A cooled");
    eprintln!("cool-down on A seen on B after {took:?}");
    assert!(took <= Duration::from_secs(1), "took {took:?}");
    let upstream_before = c.mock().count_for("sk-ant-api03-COOL");
    for _ in 0..3 {
        assert_ne!(messages_status(b.addr(), &key).0, 200);
    }
    assert_eq!(
        c.mock().count_for("sk-ant-api03-COOL"),
        upstream_before,
        "B sends nothing to the cooling account"
    );
    assert_eq!(
        snapshot_reloads(b.addr()),
        reloads,
        "B reloaded its whole snapshot"
    );
}

/// Failed admin sign-ins are counted over every instance: five on A, then B makes the sixth
/// guess wait.
#[test]
fn failed_sign_ins_on_one_instance_hold_back_guesses_on_the_other() {
    let c = Cluster::new(30);
    let a = c.start();
    let b = c.start();
    let wrong =
        serde_json::json!({"username": "admin", "password": "not-the-password"}).to_string();
    let login = |addr: &str| {
        http(
            addr,
            "POST",
            "/api/admin/login",
            &[("content-type", "application/json")],
            &wrong,
        )
        .0
    };
    for _ in 0..5 {
        assert_eq!(login(a.addr()), 401);
    }
    assert_eq!(login(b.addr()), 429, "B counts A's failures");
}

/// An instance whose Redis does not answer still serves, coordinating alone, and says so on
/// `/readyz` and in `/metrics`.
#[test]
fn without_redis_an_instance_serves_alone_and_says_so() {
    let c = Cluster::new(30);
    c.account("alone", "sk-ant-api03-ALONE", &["--max-concurrency", "1"]);
    let (_, key) = c.key(&["--rpm", "100"]);
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = Sandbox::new();
    let mut cmd = base_command(data.tmp.path());
    cmd.envs(c.env_refs())
        .env("SWITCHYARD_REDIS_URL", format!("redis://127.0.0.1:{port}"));
    let server = Server::start_cmd(&data, cmd);
    for _ in 0..5 {
        assert_eq!(messages_status(&server.addr, &key).0, 200);
    }
    let (status, _, text) = http(&server.addr, "GET", "/readyz", &[], "");
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("redis: degraded"), "{text}");
    let (_, _, metrics) = http(&server.addr, "GET", "/metrics", &[], "");
    let degraded = metrics
        .lines()
        .find_map(|l| l.strip_prefix("switchyard_redis_degraded_seconds "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no degraded gauge in\n{metrics}"));
    assert!(degraded >= 1.0, "{degraded}");
    let (_, _, _, stderr) = server.stop();
    assert!(stderr.contains("Redis is not answering"), "{stderr}");
}
