//! One `peerlink-node` process serving 500 peers that connect from 500
//! distinct loopback addresses (127.0.1.1–127.0.2.250). The peers are real
//! `ConnectionManager`s in this test process on one tokio runtime, each
//! dialling from its own source IP, handshaking and pinging over real TCP.
//! The node's admin endpoint must keep answering throughout.

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::PeersView;
use common::{http_get, peers_of, raise_fd_limit, ss_established, try_peers_of, NodeProcess};
use peerlink::manager::{ConnectionManager, ManagerOptions};
use peerlink::transport::TcpTransport;
use peerlink::{Config, PeerId};
use tokio::time::Instant;

/// Peers connecting to the node.
const PEERS: u16 = 500;
/// The node's listen address.
const NODE: &str = "127.0.0.1:27300";
/// The node's admin endpoint.
const ADMIN: &str = "127.0.0.1:27301";
/// Every admin answer must come within this, however busy the node is.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// How long all 500 stay connected while the endpoint is queried.
const HOLD: Duration = Duration::from_secs(3);
/// All 500 must be connected within this.
const CONNECT_WITHIN: Duration = Duration::from_secs(30);
/// The node must exit within this after SIGTERM.
const EXIT_WITHIN: Duration = Duration::from_secs(15);

/// The source IP of peer `k`: 127.0.1.1, …, 127.0.1.250, 127.0.2.1, …
fn peer_ip(k: u16) -> IpAddr {
    let (hi, lo) = (1 + k / 250, 1 + k % 250);
    IpAddr::V4(Ipv4Addr::new(127, 0, hi as u8, lo as u8))
}

/// `GET path` off the runtime's threads, timed; panics on a non-200.
async fn timed_get(admin: SocketAddr, path: &'static str) -> (Duration, String) {
    let started = Instant::now();
    let answer = tokio::task::spawn_blocking(move || http_get(admin, path))
        .await
        .expect("probe thread");
    let (status, body) = answer.unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(status, 200, "GET {path}: {body}");
    (started.elapsed(), body)
}

/// Starts the node with room for 600 inbound peers and handshakes, and
/// waits (bounded) for its admin endpoint.
async fn start_node(admin: SocketAddr) -> NodeProcess {
    let args = [
        "--listen",
        NODE,
        "--admin",
        ADMIN,
        "--max-inbound",
        "600",
        "--max-pending",
        "600",
        "--ping-interval",
        "1s",
        "--pong-timeout",
        "3s",
        "--log-level",
        "warn",
    ]
    .map(String::from);
    let node = NodeProcess::spawn("many", &args);
    let up = Instant::now() + Duration::from_secs(5);
    while tokio::task::spawn_blocking(move || try_peers_of(admin))
        .await
        .expect("probe")
        .is_none()
    {
        assert!(
            Instant::now() < up,
            "admin endpoint not up:\n{}",
            node.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    node
}

/// Starts the 500 peer managers, each dialling the node from its own IP.
async fn start_peers(node_addr: SocketAddr) -> Vec<ConnectionManager> {
    let config = {
        let mut c = Config::default();
        c.ping_interval = Duration::from_secs(1);
        c.pong_timeout = Duration::from_secs(3);
        c.redial_backoff_min = Duration::from_millis(200);
        c.redial_backoff_max = Duration::from_secs(1);
        c
    };
    let mut peers = Vec::new();
    for k in 0..PEERS {
        let options = ManagerOptions {
            listen: None,
            local_ip: Some(peer_ip(k)),
            seed: Some(u64::from(k)),
            peers: vec![node_addr],
        };
        let (manager, events) = ConnectionManager::start(TcpTransport, config.clone(), options)
            .await
            .expect("peer manager starts");
        drop(events); // a dropped receiver: the manager emits nothing
        peers.push(manager);
    }
    peers
}

/// Queries the endpoint until all 500 are connected, then through
/// [`HOLD`]; returns the slowest answer and how many there were.
async fn query_throughout(admin: SocketAddr) -> (Duration, u32) {
    let (mut slowest, mut answers) = (Duration::ZERO, 0u32);
    let started = Instant::now();
    loop {
        let (took, body) = timed_get(admin, "/peers").await;
        (slowest, answers) = (slowest.max(took), answers + 1);
        let view: PeersView = serde_json::from_str(&body).expect("json");
        if view.connected == usize::from(PEERS) {
            break;
        }
        assert!(
            started.elapsed() < CONNECT_WITHIN,
            "only {} of 500 connected",
            view.connected
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("500 peers connected in {:?}", started.elapsed());
    let hold_until = Instant::now() + HOLD;
    while Instant::now() < hold_until {
        for path in ["/peers", "/metrics"] {
            let (took, _) = timed_get(admin, path).await;
            (slowest, answers) = (slowest.max(took), answers + 1);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (slowest, answers)
}

/// The table lists exactly the 500 source IPs, one inbound connection
/// each on the node's address, every one pinged; so does the kernel.
fn check_table(view: &PeersView, node_addr: SocketAddr) {
    let want: BTreeSet<String> = (0..PEERS).map(|k| peer_ip(k).to_string()).collect();
    let got: BTreeSet<String> = view.peers.iter().map(|r| r.peer.clone()).collect();
    assert_eq!(got, want);
    assert_eq!(view.connected, 500);
    for row in &view.peers {
        assert_eq!(row.connections.len(), 1, "{}", row.peer);
        let c = &row.connections[0];
        assert_eq!((c.direction.as_str(), c.local_addr), ("inbound", node_addr));
        assert_eq!(c.remote_addr.ip().to_string(), row.peer);
        assert!(row.last_rtt_seconds.is_some(), "{} never pinged", row.peer);
    }
    assert_eq!(view.stats.reasons.get("ping_timeout"), None);
    let kernel = ss_established()
        .into_iter()
        .filter(|(local, remote)| *local == node_addr && want.contains(&remote.ip().to_string()))
        .count();
    assert_eq!(
        kernel, 500,
        "kernel's established sockets on the node's port"
    );
}

/// The node's admin endpoint answers `/peers` and `/metrics` within 2 s
/// every time while 500 peers from 500 distinct loopback IPs connect, ping
/// and stay connected; the table lists exactly those 500 IPs with one
/// inbound connection each, as does the kernel's socket table; on SIGTERM
/// the node exits 0 and every peer sees it leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_answers_while_serving_500_peers() {
    raise_fd_limit(4096);
    let node_addr: SocketAddr = NODE.parse().expect("addr");
    let admin: SocketAddr = ADMIN.parse().expect("addr");
    let mut node = start_node(admin).await;
    let peers = start_peers(node_addr).await;
    let (slowest, answers) = query_throughout(admin).await;
    eprintln!("{answers} admin answers, slowest {slowest:?}");
    assert!(slowest <= ANSWER_WITHIN, "slowest admin answer {slowest:?}");
    let view = tokio::task::spawn_blocking(move || peers_of(admin))
        .await
        .expect("probe");
    check_table(&view, node_addr);
    let (_, metrics) = timed_get(admin, "/metrics").await;
    assert!(metrics.contains("\npeerlink_connections{direction=\"inbound\"} 500\n"));
    let node_peer = PeerId::new(node_addr.ip());
    for m in &peers {
        assert_eq!(m.snapshot().connected(), vec![node_peer]);
    }

    // SIGTERM: exit 0, and every peer sees the node leave.
    node.signal(libc::SIGTERM);
    let (status, node) = tokio::task::spawn_blocking(move || (node.wait_exit(EXIT_WITHIN), node))
        .await
        .expect("wait thread");
    assert_eq!(status.code(), Some(0), "{}", node.log_text());
    let gone_by = Instant::now() + Duration::from_secs(5);
    while peers.iter().any(|m| !m.snapshot().connected().is_empty()) {
        assert!(
            Instant::now() < gone_by,
            "a peer still sees the node connected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stops: Vec<_> = peers
        .into_iter()
        .map(|m| tokio::spawn(async move { m.shutdown().await }))
        .collect();
    for stop in stops {
        stop.await.expect("peer shutdown");
    }
}
