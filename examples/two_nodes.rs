//! Two peerlink nodes on one machine, from start to shutdown: the smallest
//! program to copy when embedding the library.
//!
//! Node A listens on 127.0.0.1 and node B on 127.0.0.2 (Linux routes all of
//! 127.0.0.0/8 to the loopback interface, so each node has its own IP, which
//! is its identity). B is told about A and dials it; each side greets the
//! other on `Connected`, prints what it receives, and both shut down once
//! the greetings have crossed.
//!
//! `cargo run --example two_nodes`

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use peerlink::{Config, ConnectionManager, Events, ManagerOptions, PeerEvent, TcpTransport};

/// Starts a node listening on `ip` (port chosen by the OS) that keeps
/// `peers` connected.
async fn start(
    ip: IpAddr,
    peers: Vec<SocketAddr>,
) -> Result<(ConnectionManager, Events), peerlink::StartError> {
    let options = ManagerOptions {
        listen: Some(SocketAddr::new(ip, 0)),
        local_ip: Some(ip),
        peers,
        // Leave `seed` unset in production; set it for reproducible ids.
        ..ManagerOptions::default()
    };
    ConnectionManager::start(TcpTransport, Config::default(), options).await
}

/// Greets each peer once connected; returns after the first message.
async fn run(name: &str, manager: &ConnectionManager, events: &mut Events) {
    while let Some(event) = events.recv().await {
        match event {
            PeerEvent::Connected { peer, node_id, .. } => {
                println!("{name}: connected to {peer} (node {node_id})");
                let greeting = format!("hello from {name}");
                if let Err(e) = manager.send(peer, Bytes::from(greeting)) {
                    println!("{name}: could not greet {peer}: {e}");
                }
            }
            PeerEvent::Message { peer, bytes, .. } => {
                println!("{name}: {peer} says {:?}", String::from_utf8_lossy(&bytes));
                return;
            }
            PeerEvent::Disconnected { peer, reason, .. } => {
                println!("{name}: {peer} disconnected ({reason})");
            }
            _ => {} // round-trip times, and kinds a newer version may add
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (a, mut a_events) = start(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), vec![]).await?;
    let a_addr = a.listen_addr().ok_or("node A is not listening")?;
    let (b, mut b_events) = start(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), vec![a_addr]).await?;
    let both = async {
        tokio::join!(run("A", &a, &mut a_events), run("B", &b, &mut b_events));
    };
    tokio::time::timeout(Duration::from_secs(10), both)
        .await
        .map_err(|_| "the greetings did not cross within 10 s")?;
    // Goodbyes go out; dropping the last handle would do the same.
    tokio::join!(a.shutdown(), b.shutdown());
    println!("both nodes shut down");
    Ok(())
}
