//! Five `peerlink-node` processes on real TCP over loopback (127.0.0.1–5,
//! fixed ports), each told about all the others and started at once. Checks
//! the mesh through every node's `/peers` and `/metrics` and against the
//! kernel's own socket table (`ss`: one connection per pair, and the
//! directions, from who holds the ephemeral port), holds it under running
//! pings, then kills one node
//! with SIGKILL, checks detection within the dead-peer bound, restarts it,
//! and checks the mesh returns.

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::PeersView;
use common::{
    fast_dead_peer_bound, fast_flags, http_get, peers_of, ss_established, stop_all, try_peers_of,
    wait_until, NodeProcess,
};
use prometheus_parse::{Scrape, Value};
use tokio::time::Instant;

/// Nodes in the mesh.
const NODES: u8 = 5;
/// Listen port of every node (each on its own 127.0.0.x); below the
/// kernel's ephemeral range so no outbound socket can hold it.
const PORT: u16 = 27_100;
/// Admin port of every node, on its own 127.0.0.x.
const ADMIN_PORT: u16 = 27_180;
/// How long the formed mesh must hold without a single new dial.
const HOLD: Duration = Duration::from_secs(20);
/// "Within a few seconds": the mesh forms (and re-forms) within this.
const FORM_WITHIN: Duration = Duration::from_secs(5);

fn ip(i: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, i))
}

fn listen(i: u8) -> SocketAddr {
    SocketAddr::new(ip(i), PORT)
}

fn admin(i: u8) -> SocketAddr {
    SocketAddr::new(ip(i), ADMIN_PORT)
}

fn spawn_node(i: u8) -> NodeProcess {
    let mut args = vec![
        "--listen".to_string(),
        listen(i).to_string(),
        "--admin".into(),
        admin(i).to_string(),
    ];
    for j in (1..=NODES).filter(|j| *j != i) {
        args.push("--peer".into());
        args.push(listen(j).to_string());
    }
    args.extend(fast_flags());
    NodeProcess::spawn(&format!("mesh-n{i}"), &args)
}

/// Every node's table, or `None` if one is not answering.
fn tables() -> Option<Vec<PeersView>> {
    (1..=NODES).map(|i| try_peers_of(admin(i))).collect()
}

/// Whether `view` is connected to exactly the other four nodes, one open
/// connection each and no handshake in flight.
fn is_full(view: &PeersView, me: u8) -> bool {
    let want: Vec<String> = (1..=NODES)
        .filter(|j| *j != me)
        .map(|j| ip(j).to_string())
        .collect();
    let connected: Vec<String> = view
        .connected_peers()
        .into_iter()
        .map(String::from)
        .collect();
    let rows_ok = view.peers.iter().all(|r| {
        r.state == "connected"
            && r.pending == 0
            && r.connections.len() == 1
            && !r.connections[0].closing
    });
    view.connected == 4 && view.peers.len() == 4 && connected == want && rows_ok
}

/// Every connection every node reports, as `(local, remote)`.
fn reported_sockets(views: &[PeersView]) -> BTreeSet<(SocketAddr, SocketAddr)> {
    views
        .iter()
        .flat_map(|v| &v.peers)
        .flat_map(|r| &r.connections)
        .map(|c| (c.local_addr, c.remote_addr))
        .collect()
}

/// The kernel's established sockets between the nodes: both ends on node
/// IPs, one of them a node's listen address.
fn kernel_sockets() -> BTreeSet<(SocketAddr, SocketAddr)> {
    let ips: BTreeSet<IpAddr> = (1..=NODES).map(ip).collect();
    let listens: BTreeSet<SocketAddr> = (1..=NODES).map(listen).collect();
    ss_established()
        .into_iter()
        .filter(|(l, r)| ips.contains(&l.ip()) && ips.contains(&r.ip()))
        .filter(|(l, r)| listens.contains(l) || listens.contains(r))
        .collect()
}

/// One row of a [`Fingerprint`]: peer, active connection, dials, handshakes.
type RowPrint = (String, Option<String>, u64, u64);
/// Per node: its id and its rows.
type Fingerprint = Vec<(String, Vec<RowPrint>)>;

/// What the stability check compares: per node, its id and per peer the
/// active connection, dials and handshakes.
fn fingerprint(views: &[PeersView]) -> Fingerprint {
    views
        .iter()
        .map(|v| {
            let rows = v.peers.iter().map(|r| {
                let k = &r.counters;
                (r.peer.clone(), r.active.clone(), k.dials, k.connections)
            });
            (v.node_id.clone(), rows.collect())
        })
        .collect()
}

fn describe(nodes: &[NodeProcess]) -> String {
    let mut out = format!("kernel sockets: {:?}\n", kernel_sockets());
    for (n, i) in nodes.iter().zip(1..) {
        let table = try_peers_of(admin(i)).map(|v| format!("{v:?}"));
        out += &format!("--- {} /peers: {table:?}\n", n.name);
        let log = n.log_text();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        out += &tail.into_iter().rev().collect::<Vec<_>>().join("\n");
        out += "\n";
    }
    out
}

/// Waits for the full mesh, then checks it pairwise and against `ss`.
fn wait_for_mesh(nodes: &[NodeProcess], within: Duration) -> Vec<PeersView> {
    let views = wait_until(
        "full mesh of five",
        within,
        Duration::from_millis(50),
        || {
            let views = tables()?;
            let full = views.iter().zip(1..).all(|(v, i)| is_full(v, i));
            full.then_some(views)
        },
        || describe(nodes),
    );
    // One connection per pair: i's socket to j is j's socket to i, reversed.
    for (va, a) in views.iter().zip(1..=NODES) {
        for (vb, b) in views.iter().zip(1..=NODES).filter(|(_, b)| *b != a) {
            let ca = &va.peer(&ip(b).to_string()).expect("row").connections[0];
            let cb = &vb.peer(&ip(a).to_string()).expect("row").connections[0];
            assert_eq!(
                (ca.local_addr, ca.remote_addr),
                (cb.remote_addr, cb.local_addr)
            );
            assert_eq!(ca.remote_node, vb.node_id);
        }
    }
    // The kernel agrees: exactly those 10 connections (20 sockets).
    let reported = reported_sockets(&views);
    assert_eq!(reported.len(), 20);
    let kernel = kernel_sockets();
    assert_eq!(kernel, reported, "ss disagrees with /peers");
    check_against_kernel(&views, &kernel);
    views
}

/// Every node's `/peers` directions and `/metrics` gauges against the
/// kernel's sockets: exactly one connection per pair; a connection is
/// inbound at the end that holds its listen port and outbound at the end
/// that holds the ephemeral one; each node's connected peers and open
/// connections by direction, as scraped, are those counts.
fn check_against_kernel(views: &[PeersView], kernel: &BTreeSet<(SocketAddr, SocketAddr)>) {
    for a in 1..=NODES {
        for b in (1..=NODES).filter(|b| *b != a) {
            let pair = kernel
                .iter()
                .filter(|(l, r)| l.ip() == ip(a) && r.ip() == ip(b));
            assert_eq!(pair.count(), 1, "ss: one socket from node {a} to node {b}");
        }
    }
    for (view, i) in views.iter().zip(1..=NODES) {
        let mine: Vec<&(SocketAddr, SocketAddr)> =
            kernel.iter().filter(|(l, _)| l.ip() == ip(i)).collect();
        let inbound = mine.iter().filter(|(l, _)| *l == listen(i)).count();
        let outbound = mine.len() - inbound;
        for conn in view.peers.iter().flat_map(|r| &r.connections) {
            let held = if conn.local_addr == listen(i) {
                "inbound"
            } else {
                "outbound"
            };
            assert_eq!(conn.direction, held, "node {i}: {conn:?}");
        }
        let (status, text) = http_get(admin(i), "/metrics").expect("scrape");
        assert_eq!(status, 200, "{text}");
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses");
        for (direction, n) in [("inbound", inbound), ("outbound", outbound)] {
            for name in ["peerlink_connected_peers", "peerlink_connections"] {
                let value = gauge(&scrape, name, direction);
                assert_eq!(value, n as f64, "node {i}: {name}{{direction={direction}}}");
            }
        }
    }
}

/// A gauge's value by its `direction` label.
fn gauge(scrape: &Scrape, name: &str, direction: &str) -> f64 {
    let found = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && s.labels.get("direction") == Some(direction));
    match found.map(|s| &s.value) {
        Some(Value::Gauge(v)) => *v,
        other => panic!("{name}{{direction={direction}}}: {other:?}"),
    }
}

/// Holds the formed mesh for [`HOLD`], checking every second that no
/// node dialled, handshook or switched connection and that the kernel's
/// sockets are the same; returns the tables at the end.
fn hold_steady(nodes: &[NodeProcess], formed: &[PeersView]) -> Vec<PeersView> {
    let baseline = fingerprint(formed);
    let hold_until = Instant::now() + HOLD;
    while Instant::now() < hold_until {
        std::thread::sleep(Duration::from_secs(1));
        let views = tables().expect("all nodes answer during the hold");
        assert_eq!(fingerprint(&views), baseline, "churn:\n{}", describe(nodes));
        assert_eq!(
            kernel_sockets(),
            reported_sockets(formed),
            "kernel sockets changed"
        );
    }
    let held = tables().expect("tables");
    for v in &held {
        assert!(
            v.peers.iter().all(|r| r.last_rtt_seconds.is_some()),
            "pings measured RTT"
        );
        assert_eq!(v.stats.reasons.get("ping_timeout"), None);
    }
    held
}

/// SIGKILLs node `victim` and returns how long until every other node's
/// `/peers` shows it disconnected (failing past the dead-peer bound).
fn kill_and_detect(nodes: &mut [NodeProcess], victim: u8) -> Duration {
    let bound = fast_dead_peer_bound();
    let slot = usize::from(victim - 1);
    nodes[slot].signal(libc::SIGKILL);
    let killed_at = Instant::now();
    let _ = nodes[slot].wait_exit(Duration::from_secs(5));
    let others: Vec<u8> = (1..=NODES).filter(|i| *i != victim).collect();
    let detected = wait_until(
        "killed node dropped by every other node",
        bound,
        Duration::from_millis(20),
        || {
            let gone = others.iter().all(|i| {
                let view = peers_of(admin(*i));
                view.peer(&ip(victim).to_string())
                    .is_some_and(|r| r.active.is_none())
            });
            gone.then(|| killed_at.elapsed())
        },
        || describe(nodes),
    );
    eprintln!("kill detected by all in {detected:?} (bound {bound:?})");
    assert!(detected <= bound);
    let victim_sockets = kernel_sockets()
        .into_iter()
        .filter(|(l, r)| l.ip() == ip(victim) || r.ip() == ip(victim))
        .count();
    assert_eq!(
        victim_sockets, 0,
        "the kernel still has the dead node's connections"
    );
    detected
}

/// Five processes started at once form exactly one connection per pair
/// within a few seconds (per `/peers` and per the kernel), keep it for 20 s
/// of pings with no new dial or handshake, detect a SIGKILLed node within
/// the dead-peer bound, and re-form the mesh when it restarts with a new
/// node id; SIGTERM then stops every node with exit code 0.
#[test]
fn five_processes_mesh_survive_kill_and_restart() {
    let started = Instant::now();
    let mut nodes: Vec<NodeProcess> = (1..=NODES).map(spawn_node).collect();
    let formed = wait_for_mesh(&nodes, FORM_WITHIN);
    eprintln!("mesh formed in {:?}", started.elapsed());
    let held = hold_steady(&nodes, &formed);

    let victim = 3u8;
    let slot = usize::from(victim - 1);
    let old_id = held[slot].node_id.clone();
    kill_and_detect(&mut nodes, victim);

    // Restart it: a new node id, and the full mesh again.
    nodes[slot] = spawn_node(victim);
    let restarted = Instant::now();
    let reformed = wait_for_mesh(&nodes, FORM_WITHIN);
    eprintln!("mesh re-formed in {:?}", restarted.elapsed());
    let new_id = reformed[slot].node_id.clone();
    assert_ne!(new_id, old_id, "node id is random per start");
    // Each survivor lost the victim exactly once. (Counted from the hold:
    // a simultaneous dial at start may already have counted a transient
    // `duplicate` disconnect.)
    let pairs = reformed.iter().zip(&held).zip(1..);
    for ((view, before), i) in pairs.filter(|(_, i)| *i != victim) {
        let row = view.peer(&ip(victim).to_string()).expect("row");
        let old_row = before.peer(&ip(victim).to_string()).expect("row");
        assert_eq!(row.connections[0].remote_node, new_id, "node {i}");
        let lost = row.counters.disconnects - old_row.counters.disconnects;
        assert_eq!(lost, 1, "node {i}");
    }
    stop_all(&mut nodes);
}
