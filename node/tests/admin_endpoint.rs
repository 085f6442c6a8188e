//! The admin endpoint of a running `peerlink-node`, over real sockets:
//! routes and status codes, the bounds on what it reads, how long and how
//! many connections, and `/metrics` checked against the node's own
//! `/peers` table with a Prometheus text parser.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::peers::{HealthView, PeersView};
use common::{http_exchange, http_get, try_peers_of, wait_for_admin, wait_until, NodeProcess};
use peerlink::manager::HISTOGRAM_BOUNDS;
use peerlink_node::admin::{
    MAX_ADMIN_CONNECTIONS, MAX_BODY_BYTES, MAX_HEADER_BYTES, REQUEST_DEADLINE,
};
use prometheus_parse::{Scrape, Value};
use tokio::time::Instant;

/// Reads until the server closes; the text read (an interrupted read is
/// retried, a reset ends the answer).
fn read_answer(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("read: {e}"),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// Sends `request` raw on a new connection; the answer's status line.
fn raw_status(admin: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(admin).expect("connect");
    let _ = stream.write_all(request);
    let answer = read_answer(&mut stream);
    answer.lines().next().unwrap_or_default().to_string()
}

/// The admin endpoint answers `/health`, 404 for unknown paths, 405 for
/// another method, 431 for an oversized request head, 413 for a body over
/// its limit; refuses a connection over its connection limit and serves
/// again once one is released; and closes an idle connection after its
/// request deadline.
#[test]
fn admin_endpoint_routes_and_bounds() {
    let listen: SocketAddr = "127.0.0.1:27230".parse().expect("addr");
    let admin: SocketAddr = "127.0.0.1:27231".parse().expect("addr");
    let args = ["--listen", "127.0.0.1:27230", "--admin", "127.0.0.1:27231"].map(String::from);
    let node = NodeProcess::spawn("admin", &args);
    let view = wait_for_admin(admin, &node);
    let mut idle = TcpStream::connect(admin).expect("idle connect");
    let idle_since = Instant::now();

    let (status, body) = http_get(admin, "/metrics").expect("metrics");
    assert_eq!(status, 200);
    assert!(
        body.contains("peerlink_connections{direction=\"inbound\"} 0\n"),
        "{body}"
    );
    let (status, body) = http_get(admin, "/health").expect("health");
    assert_eq!(status, 200);
    let health: HealthView = serde_json::from_str(&body).expect("health JSON");
    let want = HealthView {
        status: "running".into(),
        node_id: view.node_id.clone(),
        connected_peers: 0,
    };
    assert_eq!(health, want);
    let (status, body) = http_get(admin, "/nope").expect("404");
    assert_eq!(
        (status, body.as_str()),
        (404, "not found: try /peers, /metrics or /health\n")
    );
    let post = raw_status(admin, b"POST /peers HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(post, "HTTP/1.1 405 Method Not Allowed");
    let filler = format!(
        "GET /peers HTTP/1.1\r\nX-Fill: {}\r\n",
        "a".repeat(MAX_HEADER_BYTES)
    );
    let big = raw_status(admin, filler.as_bytes());
    assert_eq!(big, "HTTP/1.1 431 Request Header Fields Too Large");
    let body = "b".repeat(MAX_BODY_BYTES + 1);
    let request = format!(
        "GET /peers HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let too_long = raw_status(admin, request.as_bytes());
    assert_eq!(too_long, "HTTP/1.1 413 Payload Too Large");
    let mut again = TcpStream::connect(admin).expect("connect");
    let (status, body) = http_exchange(&mut again, "/peers").expect("peers");
    assert_eq!((status, body.contains(&listen.to_string())), (200, true));

    // With `idle` and MAX - 1 more connections held, one more is closed
    // unanswered; once they are released, requests are served again.
    let held: Vec<TcpStream> = (1..MAX_ADMIN_CONNECTIONS)
        .map(|_| TcpStream::connect(admin).expect("hold"))
        .collect();
    let refused = raw_status(admin, b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(refused, "", "over the connection limit");
    drop(held);
    wait_until(
        "served again after the held connections close",
        Duration::from_secs(2),
        Duration::from_millis(20),
        || http_get(admin, "/health").ok().filter(|(s, _)| *s == 200),
        || node.log_text(),
    );

    // The idle client is cut off at the request deadline, not before long.
    idle.set_read_timeout(Some(REQUEST_DEADLINE * 2))
        .expect("timeout");
    let mut byte = [0u8; 1];
    // Another test's child exiting can interrupt this blocking read
    // (EINTR); that is not the server's answer, so read again.
    let n = loop {
        match idle.read(&mut byte) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => break other.expect("server closes the idle connection"),
        }
    };
    let waited = idle_since.elapsed();
    assert_eq!(n, 0);
    assert!(
        waited >= REQUEST_DEADLINE && waited < REQUEST_DEADLINE * 2,
        "{waited:?}"
    );
}

/// One sample's value in a parsed scrape, by name and exact label set;
/// panics unless exactly one sample matches.
fn sample(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && s.labels.len() == labels.len())
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            ref other => panic!("{name}: unexpected {other:?}"),
        })
        .collect();
    assert_eq!(found.len(), 1, "{name}{labels:?}: {found:?}");
    found[0]
}

/// A histogram's buckets in a parsed scrape, as `(le, cumulative count)`.
fn histogram(scrape: &Scrape, name: &str) -> Vec<(f64, f64)> {
    let found = scrape.samples.iter().find(|s| s.metric == name);
    let Some(Value::Histogram(buckets)) = found.map(|s| &s.value) else {
        panic!("{name}: no histogram");
    };
    buckets.iter().map(|b| (b.less_than, b.count)).collect()
}

/// The buckets `/metrics` must show for per-bucket `counts` from `/peers`
/// (the library's bounds, then `+Inf`).
fn cumulative(counts: &[u64]) -> Vec<(f64, f64)> {
    let bounds = HISTOGRAM_BOUNDS.iter().map(|b| b.as_secs_f64());
    let bounds = bounds.chain([f64::INFINITY]);
    let mut total = 0;
    let totals = counts.iter().map(|n| {
        total += n;
        total as f64
    });
    bounds.zip(totals).collect()
}

/// `/metrics` and `/peers` of one node at one settled instant: two
/// identical scrapes around the table.
fn settled_metrics(admin: SocketAddr) -> (String, PeersView) {
    wait_until(
        "two identical scrapes around /peers",
        Duration::from_secs(5),
        Duration::from_millis(50),
        || {
            let (_, before) = http_get(admin, "/metrics").ok()?;
            let view = try_peers_of(admin)?;
            let (_, after) = http_get(admin, "/metrics").ok()?;
            (before == after).then_some((before, view))
        },
        String::new,
    )
}

/// A sample expected: full name, labels, value.
type Expected = (String, Vec<(&'static str, String)>, f64);

/// Every figure of `/metrics`, parsed by a Prometheus text parser, equals
/// the one the same node's `/peers` table gives, and nothing else is
/// exported.
fn assert_metrics_match_table(text: &str, view: &PeersView) {
    assert!(text.ends_with("# EOF\n"), "{text}");
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses");
    let mut want: Vec<Expected> = Vec::new();
    let mut add = |name: &str, labels: Vec<(&'static str, String)>, value: f64| {
        want.push((format!("peerlink_{name}"), labels, value));
    };
    add("node_info", vec![("node_id", view.node_id.clone())], 1.0);
    for state in ["idle", "dialing", "handshaking", "connected", "backoff"] {
        let n = view.peers.iter().filter(|p| p.state == state).count();
        add("peers", vec![("state", state.into())], n as f64);
    }
    for direction in ["inbound", "outbound"] {
        let active = view.peers.iter().filter(|p| {
            let conn = p
                .connections
                .iter()
                .find(|c| Some(&c.id) == p.active.as_ref());
            conn.is_some_and(|c| c.direction == direction)
        });
        let labels = vec![("direction", direction.to_string())];
        add("connected_peers", labels.clone(), active.count() as f64);
        let conns = view.peers.iter().flat_map(|p| &p.connections);
        let open = conns.filter(|c| !c.closing && c.direction == direction);
        add("connections", labels, open.count() as f64);
    }
    let pending: usize = view.peers.iter().map(|p| p.pending).sum();
    add("pending_handshakes", vec![], pending as f64);
    add("banned_peers", vec![], view.banned.len() as f64);
    let s = &view.stats;
    add(
        "handshakes_total",
        vec![("result", "ok".into())],
        s.handshakes_ok as f64,
    );
    add(
        "handshakes_total",
        vec![("result", "failed".into())],
        s.handshakes_failed as f64,
    );
    for (reason, n) in &s.reasons {
        add("closes_total", vec![("reason", reason.clone())], *n as f64);
    }
    for direction in ["inbound", "outbound"] {
        let n = s.opened.get(direction).copied().unwrap_or(0);
        let labels = vec![("direction", direction.to_string())];
        add("connections_opened_total", labels, n as f64);
    }
    for c in &s.closed {
        let labels = vec![
            ("direction", c.direction.clone()),
            ("side", c.side.clone()),
            ("reason", c.reason.clone()),
        ];
        add("connections_closed_total", labels, c.count as f64);
    }
    add("dial_attempts_total", vec![], s.dials as f64);
    // Known label values are exported at 0 before their first event.
    let with_zeros = |map: &BTreeMap<String, u64>, known: &[&str]| {
        let mut map = map.clone();
        for k in known {
            map.entry(k.to_string()).or_insert(0);
        }
        map
    };
    let failures = with_zeros(&s.dial_failures_by, &["connect_failed"]);
    assert_eq!(failures.values().sum::<u64>(), s.dial_failures);
    for (error, n) in failures {
        add("dial_failures_total", vec![("error", error)], n as f64);
    }
    let strikes = with_zeros(&s.strikes_by, &peerlink::manager::STRIKE_REASONS);
    assert_eq!(strikes.values().sum::<u64>(), s.strikes);
    for (reason, n) in strikes {
        add("strikes_total", vec![("reason", reason)], n as f64);
    }
    add("inbound_refused_total", vec![], s.inbound_refused as f64);
    add(
        "duplicates_resolved_total",
        vec![],
        s.duplicates_resolved as f64,
    );
    add("bans_total", vec![], s.bans as f64);
    let t = &s.traffic;
    add("send_queue_full_total", vec![], t.send_queue_full as f64);
    add("received_bytes_total", vec![], t.bytes_in as f64);
    add("sent_bytes_total", vec![], t.bytes_out as f64);
    add("received_messages_total", vec![], t.messages_in as f64);
    add("sent_messages_total", vec![], t.messages_out as f64);
    for (name, h) in [
        ("handshake_duration_seconds", &s.handshake_duration),
        ("ping_rtt_seconds", &s.ping_rtt),
    ] {
        let full = format!("peerlink_{name}");
        let count: u64 = h.counts.iter().sum();
        assert_eq!(histogram(&scrape, &full), cumulative(&h.counts), "{name}");
        add(&format!("{name}_count"), vec![], count as f64);
        add(&format!("{name}_sum"), vec![], h.sum_seconds);
        // The histogram's own sample (its buckets), checked above.
        add(name, vec![], f64::NAN);
    }
    add(
        "app_messages_received_total",
        vec![],
        view.app_messages as f64,
    );
    for p in &view.peers {
        let peer = || vec![("peer", p.peer.clone())];
        if let (Some(rtt), Some(_)) = (p.last_rtt_seconds, &p.active) {
            // Both print the same f64 of the same duration.
            add("peer_rtt_seconds", peer(), rtt);
        }
        if let (Some(min), Some(_)) = (p.min_rtt_seconds, &p.active) {
            add("peer_min_rtt_seconds", peer(), min);
        }
        let k = &p.counters;
        add("peer_dials_total", peer(), k.dials as f64);
        add("peer_dial_failures_total", peer(), k.dial_failures as f64);
        add("peer_connections_total", peer(), k.connections as f64);
        add("peer_disconnects_total", peer(), k.disconnects as f64);
    }
    for (name, labels, value) in &want {
        if value.is_nan() {
            continue;
        }
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(sample(&scrape, name, &labels), *value, "{name}{labels:?}");
    }
    assert_eq!(scrape.samples.len(), want.len(), "{text}");
}

/// Two nodes, one dialling the other: each node's `/metrics`, read with a
/// Prometheus text parser, carries exactly the figures of its own `/peers`
/// table (one inbound and one outbound connected peer, one handshake each).
#[test]
fn metrics_match_the_peer_table() {
    let a_admin: SocketAddr = "127.0.0.1:27241".parse().expect("addr");
    let b_admin: SocketAddr = "127.0.0.1:27242".parse().expect("addr");
    let a_args = ["--listen", "127.0.0.41:27240", "--admin", "127.0.0.1:27241"];
    let b_args = [
        "--listen",
        "127.0.0.42:27240",
        "--admin",
        "127.0.0.1:27242",
        "--peer",
        "127.0.0.41:27240",
    ];
    let a = NodeProcess::spawn("metrics-a", &a_args.map(String::from));
    let b = NodeProcess::spawn("metrics-b", &b_args.map(String::from));
    for (admin, node) in [(a_admin, &a), (b_admin, &b)] {
        wait_until(
            "peer connected",
            Duration::from_secs(10),
            Duration::from_millis(20),
            || try_peers_of(admin).filter(|v| v.connected == 1),
            || node.log_text(),
        );
    }
    for (admin, direction) in [(a_admin, "inbound"), (b_admin, "outbound")] {
        let (text, view) = settled_metrics(admin);
        assert_metrics_match_table(&text, &view);
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses");
        let labels = [("direction", direction)];
        assert_eq!(sample(&scrape, "peerlink_connected_peers", &labels), 1.0);
        let ok = [("result", "ok")];
        assert_eq!(sample(&scrape, "peerlink_handshakes_total", &ok), 1.0);
    }
}

/// Two nodes, one dialling the other: each `/peers` row shows the figures
/// operators expect, consistent between the two ends of the one
/// connection once both first pings are answered: direction, traffic each
/// way (what one end wrote the other read; only pings and pongs, the same
/// number each way), ages, last and minimum RTT, strikes and ban state, and
/// the manager's totals and histograms.
#[test]
fn peers_show_traffic_ages_and_rtts() {
    let a_admin: SocketAddr = "127.0.0.1:27251".parse().expect("addr");
    let b_admin: SocketAddr = "127.0.0.1:27252".parse().expect("addr");
    let a_args = ["--listen", "127.0.0.51:27250", "--admin", "127.0.0.1:27251"];
    let b_args = [
        "--listen",
        "127.0.0.52:27250",
        "--admin",
        "127.0.0.1:27252",
        "--peer",
        "127.0.0.51:27250",
    ];
    let a = NodeProcess::spawn("peers-a", &a_args.map(String::from));
    let _b = NodeProcess::spawn("peers-b", &b_args.map(String::from));
    let settled = |v: &PeersView| {
        v.connected == 1
            && v.peers[0].last_rtt_seconds.is_some()
            && v.peers[0].connections[0]
                .stats
                .as_ref()
                .is_some_and(|s| s.ping_pending_seconds.is_none())
    };
    let (va, vb) = wait_until(
        "both ends pinged, every byte written read",
        Duration::from_secs(10),
        Duration::from_millis(20),
        || {
            let (va, vb) = (try_peers_of(a_admin)?, try_peers_of(b_admin)?);
            let (ta, tb) = (traffic(&va), traffic(&vb));
            let even = ta.bytes_in == tb.bytes_out && ta.bytes_out == tb.bytes_in;
            (settled(&va) && settled(&vb) && even).then_some((va, vb))
        },
        || a.log_text(),
    );
    for (view, direction, opened) in [(&va, "inbound", "inbound"), (&vb, "outbound", "outbound")] {
        let row = &view.peers[0];
        let conn = &row.connections[0];
        assert_eq!(conn.direction, direction);
        let stats = conn.stats.as_ref().expect("stats");
        let t = &stats.traffic;
        // One ping and one pong each way per interval, nothing else.
        assert!(t.bytes_in > 0 && t.bytes_in == t.bytes_out, "{t:?}");
        assert_eq!(
            (t.messages_in, t.messages_out, t.send_queue_full),
            (0, 0, 0)
        );
        assert_eq!(view.stats.traffic, *t, "the one connection is the total");
        let received = stats.last_receive_seconds_ago.expect("received");
        let sent = stats.last_send_seconds_ago.expect("sent");
        assert!(received <= stats.age_seconds && sent <= stats.age_seconds);
        let (last, min) = (row.last_rtt_seconds.unwrap(), row.min_rtt_seconds.unwrap());
        assert!(min > 0.0 && min <= last, "min {min} last {last}");
        assert_eq!((row.strikes, row.banned_for_seconds), (0, None));
        let s = &view.stats;
        assert_eq!(s.opened.get(opened), Some(&1));
        assert_eq!(s.handshake_duration.counts.iter().sum::<u64>(), 1);
        assert!(s.ping_rtt.counts.iter().sum::<u64>() >= 1);
        assert!(s.ping_rtt.sum_seconds >= min);
    }
    let (ca, cb) = (&va.peers[0].connections[0], &vb.peers[0].connections[0]);
    assert_eq!(
        (ca.local_addr, ca.remote_addr),
        (cb.remote_addr, cb.local_addr)
    );
}

/// The one connection's traffic in a view (zeros when there is none).
fn traffic(view: &PeersView) -> common::peers::TrafficView {
    let conn = view.peers.first().and_then(|p| p.connections.first());
    let stats = conn.and_then(|c| c.stats.as_ref());
    stats.map(|s| s.traffic.clone()).unwrap_or_default()
}
