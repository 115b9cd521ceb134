//! Runs the mock upstream on its own, for trying real clients against Switchyard without any
//! provider: `cargo run -p switchyard-testkit --bin mock-upstream [PORT]`.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let mock = switchyard_testkit::MockUpstream::try_start_on(port).await?;
    println!("mock upstream listening on {}", mock.url());
    tokio::signal::ctrl_c().await?;
    mock.shutdown().await;
    Ok(())
}
