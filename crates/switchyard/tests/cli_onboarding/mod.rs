//! Account onboarding from the CLI: named proxies (with a real SOCKS5 proxy on loopback),
//! OAuth sign-in against mock providers, and credential import/export.

use super::*;
use switchyard_testkit::TestProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A tiny HTTP server that answers every request with `{"ip": "<caller's address>"}`, like
/// the public "what is my IP" services `proxy test` reads.
async fn echo_server() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut c, peer)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf).await;
                let body = format!("{{\"ip\":\"{}\"}}", peer.ip());
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = c.write_all(resp.as_bytes()).await;
            });
        }
    });
    addr
}

#[test]
fn proxy_add_list_test_remove_and_default_proxy() {
    let sb = Sandbox::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let proxy = rt.block_on(TestProxy::socks5_auth("carol", "sock-secret-991"));
    let echo = rt.block_on(echo_server());
    let mut output = String::new();

    let added = sb
        .run(&["proxy", "add", "tokyo", &proxy.url(), "--json"])
        .ok();
    output += &added.all_output();
    assert_eq!(
        added.json()["url"],
        format!("socks5://***@{}", proxy.addr())
    );
    assert_eq!(added.json()["authenticated"], true);
    let bad = sb.run(&["proxy", "add", "bad", "socks4://u:pw-leak-1@h:1"]);
    let line = bad.one_line_error();
    assert!(
        line.contains("socks4") && !line.contains("pw-leak-1"),
        "{line}"
    );

    sb.run(&[
        "account",
        "add",
        "claude",
        "--name",
        "a",
        "--api-key",
        "sk-ant-api03-PROXIEDACCOUNTKEY-0001",
        "--proxy",
        "tokyo",
    ])
    .ok();
    let missing = sb.run(&[
        "account",
        "add",
        "claude",
        "--name",
        "b",
        "--api-key",
        "sk-ant-api03-PROXIEDACCOUNTKEY-0002",
        "--proxy",
        "nowhere",
    ]);
    assert!(
        missing
            .one_line_error()
            .contains("no proxy named `nowhere`"),
        "{missing:?}"
    );

    let tested = sb
        .run(&[
            "proxy",
            "test",
            "tokyo",
            "--url",
            &format!("http://{echo}/ip"),
            "--json",
        ])
        .ok();
    output += &tested.all_output();
    let t = tested.json();
    assert_eq!(t["ok"], true, "{t}");
    assert_eq!(t["status"], 200);
    assert_eq!(t["exit_address"], "127.0.0.1");
    assert_eq!(proxy.connections(), 1, "the test went through the proxy");

    sb.run(&["settings", "set", "default_proxy", "tokyo"]).ok();
    let url_default = sb.run(&["settings", "set", "default_proxy", "http://u:p-leak-2@h:1"]);
    assert!(!url_default.one_line_error().contains("p-leak-2"));

    let list = sb.run(&["proxy", "list", "--json"]).ok();
    output += &list.all_output();
    let l = list.json();
    assert_eq!(l[0]["accounts"], serde_json::json!(["a"]));
    assert_eq!(l[0]["default"], true);
    let table = sb.run(&["proxy", "list"]).ok();
    output += &table.all_output();
    output += &sb.run(&["account", "list", "--json"]).ok().all_output();

    let refused = sb.run(&["proxy", "remove", "tokyo"]);
    let why = refused.one_line_error();
    assert!(
        why.contains("account `a`") && why.contains("default_proxy") && why.contains("--force"),
        "{why}"
    );
    let forced = sb.run(&["proxy", "remove", "tokyo", "--force"]).ok();
    assert!(forced.stdout.contains("a"), "{forced:?}");
    let a = sb.accounts();
    assert_eq!(by_name(&a, "a")["proxy_url"], Value::Null);
    assert!(sb.run(&["proxy", "list", "--json"]).ok().json()[0].is_null());

    assert!(
        !output.contains("sock-secret-991"),
        "proxy password leaked:\n{output}"
    );
}
