//! A connection flood on real TCP: 1,000 clients from 1,000 distinct
//! loopback addresses (127.0.3.1 onward) each open a connection to one
//! `peerlink-node` with an inbound limit of 200 and send a valid `Hello`.
//! The limit holds exactly, every refused client gets a reason, the node's
//! memory stays bounded, and the node's two configured honest peers stay
//! connected on the same connection throughout.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::BytesMut;
use common::PeersView;
use common::{peers_of, raise_fd_limit, try_peers_of, wait_until, NodeProcess};
use peerlink::wire::{decode_frame, Hello, Message, Reason, PROTOCOL_VERSION};
use peerlink::NodeId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Flooding clients.
const CLIENTS: u16 = 1000;
/// The node's inbound limit.
const MAX_INBOUND: usize = 200;
/// Largest resident memory the flooded node may reach.
const RSS_BOUND_KIB: u64 = 64 * 1024;

const TARGET: &str = "127.0.0.1:27400";
const TARGET_ADMIN: &str = "127.0.0.1:27401";
const HONEST: [&str; 2] = ["127.0.0.2:27400", "127.0.0.3:27400"];

/// The source IP of client `k`: 127.0.3.1, …, 127.0.3.250, 127.0.4.1, …
fn client_ip(k: u16) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        (3 + k / 250) as u8,
        (1 + k % 250) as u8,
    ))
}

/// Opens a connection from `source`, sends a valid hello, and returns the
/// stream with the node's answer (`HelloAccept` or `HelloReject`).
async fn hello_from(source: IpAddr, id: u128) -> (TcpStream, Message) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(source, 0))
        .expect("bind source");
    let target: SocketAddr = TARGET.parse().expect("addr");
    let mut stream = socket.connect(target).await.expect("connect");
    let hello = Hello {
        version: PROTOCOL_VERSION,
        network_id: 0,
        node_id: NodeId(id),
        listen_port: 0,
    };
    stream
        .write_all(&Message::Hello(hello).to_frame())
        .await
        .expect("write hello");
    let mut buf = BytesMut::new();
    let answer = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(body) = decode_frame(&mut buf, 1024).expect("frame") {
                return Message::decode(body).expect("message");
            }
            assert_ne!(
                stream.read_buf(&mut buf).await.expect("read"),
                0,
                "closed unanswered"
            );
        }
    })
    .await
    .expect("the node answers every hello");
    (stream, answer)
}

/// The node's resident memory, from /proc.
fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS");
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("number")
}

/// The honest peers' rows: (peer, active connection, connections, disconnects).
fn honest_rows(view: &PeersView) -> Vec<(String, Option<String>, u64, u64)> {
    let honest: Vec<&str> = HONEST
        .iter()
        .map(|a| a.split(':').next().unwrap_or(a))
        .collect();
    view.peers
        .iter()
        .filter(|p| honest.contains(&p.peer.as_str()))
        .map(|p| {
            (
                p.peer.clone(),
                p.active.clone(),
                p.counters.connections,
                p.counters.disconnects,
            )
        })
        .collect()
}

/// 1,000 clients against an inbound limit of 200: exactly 200 admitted,
/// exactly 800 refused with `too_many_inbound`, the node under 64 MiB, and
/// its two honest peers connected on their original connection throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_of_a_thousand_addresses() {
    raise_fd_limit(4096);
    let admin: SocketAddr = TARGET_ADMIN.parse().expect("addr");
    let quiet = [
        "--ping-interval",
        "10s",
        "--pong-timeout",
        "10s",
        "--log-level",
        "warn",
    ];
    let honest: Vec<NodeProcess> = HONEST
        .iter()
        .enumerate()
        .map(|(i, listen)| {
            let mut args = vec!["--listen".to_string(), listen.to_string()];
            args.extend(quiet.map(String::from));
            NodeProcess::spawn(&format!("honest{i}"), &args)
        })
        .collect();
    let mut args: Vec<String> = ["--listen", TARGET, "--admin", TARGET_ADMIN]
        .into_iter()
        .chain(["--max-inbound", "200", "--max-pending", "50"])
        .chain(HONEST.iter().flat_map(|h| ["--peer", h]))
        .map(String::from)
        .collect();
    args.extend(quiet.map(String::from));
    let mut target = NodeProcess::spawn("flooded", &args);
    let before = tokio::task::spawn_blocking(move || {
        wait_until(
            "target connected to both honest peers",
            Duration::from_secs(15),
            Duration::from_millis(50),
            || try_peers_of(admin).filter(|v| v.connected == 2),
            || format!("{:?}", try_peers_of(admin)),
        )
    })
    .await
    .expect("probe");
    let honest_before = honest_rows(&before);
    assert_eq!(honest_before.len(), 2, "{honest_before:?}");

    let mut admitted = Vec::new();
    let mut refused = std::collections::BTreeMap::<Reason, usize>::new();
    for k in 0..CLIENTS {
        let (stream, answer) = hello_from(client_ip(k), 10_000 + u128::from(k)).await;
        match answer {
            Message::HelloAccept(_) => admitted.push(stream),
            Message::HelloReject(reason) => *refused.entry(reason).or_default() += 1,
            other => panic!("client {k}: unexpected {other:?}"),
        }
    }
    assert_eq!(admitted.len(), MAX_INBOUND, "refused: {refused:?}");
    assert_eq!(
        refused,
        [(Reason::TooManyInbound, usize::from(CLIENTS) - MAX_INBOUND)].into()
    );

    let rss = rss_kib(target.pid());
    assert!(rss < RSS_BOUND_KIB, "flooded node at {rss} KiB");
    let after = tokio::task::spawn_blocking(move || peers_of(admin))
        .await
        .expect("probe");
    assert_eq!(after.connected, 2 + MAX_INBOUND);
    assert_eq!(honest_rows(&after), honest_before, "honest peers untouched");
    assert_eq!(
        after.stats.inbound_refused,
        u64::from(CLIENTS) - MAX_INBOUND as u64
    );

    drop(admitted);
    target.signal(libc::SIGTERM);
    assert!(target.wait_exit(Duration::from_secs(15)).success());
    for mut node in honest {
        node.signal(libc::SIGTERM);
        assert!(node.wait_exit(Duration::from_secs(15)).success());
    }
}
