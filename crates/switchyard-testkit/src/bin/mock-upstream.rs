//! Runs the mock upstream on its own, for trying real clients against Switchyard without any
//! provider: `cargo run -p switchyard-testkit --bin mock-upstream [PORT] [--cut-after N]
//! [--for CREDENTIAL]`.
//!
//! `--cut-after N` breaks every answer after N stream events (half the body for a non-streaming
//! request), to see what a client makes of a broken upstream; `--for` limits that to the
//! requests made with one upstream credential (so other accounts answer normally).

use switchyard_testkit::{Fault, MockUpstream};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut port = 0u16;
    let mut cut_after = None;
    let mut only = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cut-after" => cut_after = args.next().and_then(|n| n.parse::<usize>().ok()),
            "--for" => only = args.next(),
            p => port = p.parse().unwrap_or(0),
        }
    }
    let mock = MockUpstream::try_start_on(port).await?;
    if let Some(after_events) = cut_after {
        let fault = Fault::DisconnectMidStream { after_events };
        for _ in 0..100_000 {
            match &only {
                Some(credential) => mock.push_for(credential.clone(), fault.clone()),
                None => mock.push(fault.clone()),
            }
        }
    }
    println!("mock upstream listening on {}", mock.url());
    tokio::signal::ctrl_c().await?;
    mock.shutdown().await;
    Ok(())
}
