//! Usage recorded by the real binary survives `kill -9` (all but the last batch linger).

use super::*;
use switchyard_testkit::MockUpstream;

/// `kill -9` loses at most the usage of requests that finished within the writer's batch
/// linger (20 ms) before the kill: everything that finished earlier is in the store when the
/// server starts again. (With the old 200 ms linger, the first 40 here were lost.)
#[test]
fn kill_9_loses_no_usage_of_requests_finished_before_the_batch_linger() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = rt.block_on(MockUpstream::start());
    let sb = Sandbox::new();
    let env = [("SWITCHYARD_UPSTREAM_ANTHROPIC_API", mock.url())];
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    sb.run_with(
        &[
            "account",
            "add",
            "claude",
            "--name",
            "a",
            "--api-key",
            "sk-ant-api03-k9",
        ],
        &env_refs,
        None,
    )
    .ok();
    let created = sb
        .run_with(&["key", "create", "--name", "k", "--json"], &env_refs, None)
        .ok()
        .json();
    let key = created["key"].as_str().unwrap().to_string();
    let mut cmd = base_command(sb.tmp.path());
    cmd.envs(env_refs.iter().copied());
    let mut server = Server::start_cmd(&sb, cmd);
    for _ in 0..40 {
        assert_eq!(messages(&server.addr, &key).0, 200);
    }
    // 90 ms after the 40th answer (over four times the linger), five more, then SIGKILL at once.
    std::thread::sleep(Duration::from_millis(90));
    for _ in 0..5 {
        assert_eq!(messages(&server.addr, &key).0, 200);
    }
    server.child.kill().unwrap();
    let _ = server.child.wait();
    drop(server);
    let stored = sb
        .run_with(
            &["usage", "recent", "--limit", "100", "--json"],
            &env_refs,
            None,
        )
        .ok()
        .json();
    let n = stored.as_array().unwrap().len();
    assert!(
        (40..=45).contains(&n),
        "{n} usage records after kill -9: the 40 finished 90 ms before it must all be there"
    );
    drop(mock);
}

/// `usage recent` names the key and the account for people; `--json` keeps their ids.
#[test]
fn usage_recent_prints_key_and_account_names_and_json_keeps_ids() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = rt.block_on(MockUpstream::start());
    let sb = Sandbox::new();
    let env = [("SWITCHYARD_UPSTREAM_ANTHROPIC_API", mock.url())];
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let account = sb
        .run_with(
            &[
                "account",
                "add",
                "claude",
                "--name",
                "named-account",
                "--api-key",
                "sk-ant-api03-names",
                "--json",
            ],
            &env_refs,
            None,
        )
        .ok()
        .json();
    let created = sb
        .run_with(
            &["key", "create", "--name", "named-key", "--json"],
            &env_refs,
            None,
        )
        .ok()
        .json();
    let key = created["key"].as_str().unwrap().to_string();
    let mut cmd = base_command(sb.tmp.path());
    cmd.envs(env_refs.iter().copied());
    let server = Server::start_cmd(&sb, cmd);
    assert_eq!(messages(&server.addr, &key).0, 200);
    let (exit, _, _, stderr) = server.stop();
    assert!(exit.success(), "{stderr}");

    let table = sb.run_with(&["usage", "recent"], &env_refs, None).ok();
    let row = table
        .stdout
        .lines()
        .nth(1)
        .unwrap_or_else(|| panic!("no usage row: {table:#?}"));
    assert!(
        row.contains("named-key") && row.contains("named-account"),
        "{row}"
    );
    let json = sb
        .run_with(&["usage", "recent", "--json"], &env_refs, None)
        .ok()
        .json();
    assert_eq!(json[0]["api_key_id"], created["id"], "{json}");
    assert_eq!(json[0]["account_id"], account["id"], "{json}");
    drop(mock);
}
