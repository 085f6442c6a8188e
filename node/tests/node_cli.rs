//! The `peerlink-node` binary as an operator meets it: bad flags and config
//! files give one line on stderr and exit code 2; a config file is read;
//! the admin endpoint answers, refuses what it does not serve with the
//! right status and bounds what it reads, how long and how many; SIGTERM and SIGINT send every peer `Goodbye(shutdown)`
//! and exit 0.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use bytes::BytesMut;
use common::{http_exchange, http_get, peers_of, try_peers_of, wait_until, NodeProcess, NODE_BIN};
use peerlink::wire::{decode_frame, Hello, Message, Reason, PROTOCOL_VERSION};
use peerlink::NodeId;
use peerlink_node::admin::{
    MAX_ADMIN_CONNECTIONS, MAX_BODY_BYTES, MAX_HEADER_BYTES, REQUEST_DEADLINE,
};
use peerlink_node::views::{HealthView, PeersView};
use prometheus_parse::{Scrape, Value};
use tokio::time::Instant;

/// Runs the binary to completion (bounded) and returns code and stderr.
fn run_to_exit(args: &[&str]) -> (Option<i32>, String, String) {
    let mut child = Command::new(NODE_BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn node");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("{args:?}: still running after 10 s (expected to fail at start)");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("output");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

fn temp_file(name: &str, contents: &str) -> String {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("node-cli");
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(format!("{}-{name}", std::process::id()));
    std::fs::write(&path, contents).expect("write");
    path.to_string_lossy().into_owned()
}

/// Every kind of bad start — malformed `--peer`, unknown flag, a listen
/// address not on this machine or already in use, an admin address off
/// loopback or in use, a missing, unreadable or invalid config file, an
/// impossible combination — exits with code 2 and exactly one line on
/// stderr naming the problem, and prints nothing on stdout.
#[test]
fn bad_starts_exit_2_with_one_line() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = taken.local_addr().expect("addr").to_string();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = dir.to_string_lossy().into_owned();
    let bad_toml = temp_file("bad.toml", "listen = \"127.0.0.1:27290\"\n[peers\n");
    let unknown_key = temp_file("unknown.toml", "listen = \"127.0.0.1:27290\"\nlisen = 1\n");
    let bad_duration = temp_file(
        "dur.toml",
        "listen = \"127.0.0.1:27290\"\nping_interval = \"soon\"\n",
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--listen", "127.0.0.1:27290", "--peer", "127.0.0.2"],
            "invalid value '127.0.0.2' for '--peer <IP:PORT>'",
        ),
        (
            vec!["--listen", "127.0.0.1:27290", "--peer", "0.0.0.0:9000"],
            "peer address 0.0.0.0:9000 cannot be dialled",
        ),
        (
            vec!["--listen", "127.0.0.1:27290", "--frobnicate"],
            "unexpected argument '--frobnicate'",
        ),
        (vec![], "no listen address"),
        // TEST-NET-1: never assigned to a local interface, so bind fails.
        (
            vec!["--listen", "192.0.2.1:27290"],
            "cannot listen on 192.0.2.1:27290: Cannot assign requested address",
        ),
        (vec!["--listen", &taken], "Address already in use"),
        (
            vec!["--listen", "127.0.0.1:27290", "--admin", &taken],
            "cannot bind admin endpoint",
        ),
        (
            vec!["--listen", "127.0.0.1:27290", "--admin", "0.0.0.0:27291"],
            "must be a loopback address",
        ),
        (
            vec!["--config", "/nonexistent/peerlink.toml"],
            "cannot read config file /nonexistent/peerlink.toml: No such file",
        ),
        (vec!["--config", &dir], "cannot read config file"),
        (vec!["--config", &bad_toml], "line 2: invalid table header"),
        (
            vec!["--config", &unknown_key],
            "line 2: unknown field `lisen`",
        ),
        (
            vec!["--config", &bad_duration],
            "invalid duration for ping_interval: \"soon\"",
        ),
        (
            vec!["--listen", "127.0.0.1:27290", "--ping-interval", "fast"],
            "invalid value 'fast' for '--ping-interval <DURATION>'",
        ),
        (
            vec![
                "--listen",
                "127.0.0.1:27290",
                "--redial-backoff-min",
                "10s",
                "--redial-backoff-max",
                "1s",
            ],
            "redial_backoff_min must not exceed redial_backoff_max",
        ),
        (
            vec!["--listen", "127.0.0.1:27290", "--max-pending", "0"],
            "max_pending_handshakes must be greater than zero",
        ),
        (
            vec!["--listen", "127.0.0.1:27290", "--log-level", "info,[="],
            "invalid log filter",
        ),
    ];
    for (args, expected) in cases {
        let (code, stdout, stderr) = run_to_exit(&args);
        assert_eq!(code, Some(2), "{args:?}: stderr {stderr:?}");
        assert_eq!(stdout, "", "{args:?}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: not one line: {stderr:?}");
        assert!(
            lines[0].starts_with("peerlink-node: error: "),
            "{args:?}: {stderr:?}"
        );
        assert!(
            lines[0].contains(expected),
            "{args:?}: {stderr:?} lacks {expected:?}"
        );
    }
}

/// `--help` prints usage on stdout and exits 0.
#[test]
fn help_exits_0() {
    let (code, stdout, stderr) = run_to_exit(&["--help"]);
    assert_eq!(code, Some(0), "{stderr}");
    for flag in [
        "--listen",
        "--peer",
        "--config",
        "--admin",
        "--max-inbound",
        "--ping-interval",
    ] {
        assert!(stdout.contains(flag), "help lacks {flag}");
    }
}

/// Opens a raw connection to `addr` and completes the handshake by hand.
fn raw_handshake(addr: SocketAddr, network_id: u32) -> (TcpStream, BytesMut) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let hello = Hello {
        version: PROTOCOL_VERSION,
        network_id,
        node_id: NodeId(0x5eed),
        listen_port: 0,
    };
    stream
        .write_all(&Message::Hello(hello).to_frame())
        .expect("hello");
    let mut buf = BytesMut::new();
    match read_message(&mut stream, &mut buf) {
        Some(Message::HelloAccept(h)) => assert_eq!(h.network_id, network_id),
        other => panic!("expected HelloAccept, got {other:?}"),
    }
    (stream, buf)
}

/// The next message on a raw stream; `None` at end of stream.
fn read_message(stream: &mut TcpStream, buf: &mut BytesMut) -> Option<Message> {
    loop {
        if let Some(body) = decode_frame(buf, 1 << 20).expect("valid frame") {
            return Some(Message::decode(body).expect("valid message"));
        }
        let mut chunk = [0u8; 4096];
        let n = match stream.read(&mut chunk) {
            // A child process exiting can interrupt the read (EINTR).
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => other.expect("read"),
        };
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A node started from a config file (flags only for the network id)
/// accepts a peer; on SIGTERM, and again on SIGINT, the peer receives
/// `Goodbye(shutdown)` and then end of stream, and the node exits 0.
#[test]
fn signals_send_goodbye_and_exit_0() {
    for (signal, port) in [(libc::SIGTERM, 27_210u16), (libc::SIGINT, 27_220)] {
        let listen: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let admin: SocketAddr = format!("127.0.0.1:{}", port + 1).parse().expect("addr");
        let config = temp_file(
            &format!("node-{port}.toml"),
            &format!("listen = \"{listen}\"\nadmin = \"{admin}\"\nnetwork_id = 5\nlog_level = \"debug\"\n"),
        );
        let args = ["--config", &config, "--network-id", "77"].map(String::from);
        let mut node = NodeProcess::spawn(&format!("sig{signal}"), &args);
        let view = wait_until(
            "admin endpoint up",
            Duration::from_secs(5),
            Duration::from_millis(20),
            || try_peers_of(admin),
            || node.log_text(),
        );
        assert_eq!(view.listen, Some(listen.to_string()));
        // The flag overrides the file: a hello with network 77 is accepted.
        let (mut stream, mut buf) = raw_handshake(listen, 77);
        wait_until(
            "raw peer connected",
            Duration::from_secs(5),
            Duration::from_millis(20),
            || (peers_of(admin).connected == 1).then_some(()),
            || node.log_text(),
        );
        node.signal(signal);
        let goodbye = loop {
            match read_message(&mut stream, &mut buf) {
                Some(Message::Ping { .. } | Message::Pong { .. }) => continue,
                other => break other,
            }
        };
        assert_eq!(goodbye, Some(Message::Goodbye(Reason::Shutdown)));
        assert_eq!(
            read_message(&mut stream, &mut buf),
            None,
            "stream ends after goodbye"
        );
        let status = node.wait_exit(Duration::from_secs(10));
        assert_eq!(status.code(), Some(0), "{}", node.log_text());
        let log = node.log_text();
        let name = if signal == libc::SIGTERM {
            "SIGTERM"
        } else {
            "SIGINT"
        };
        assert!(
            log.contains(&format!("shutting down signal=\"{name}\"")),
            "{log}"
        );
        assert!(log.contains("node stopped"), "{log}");
    }
}

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
    let view = wait_until(
        "admin endpoint up",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || try_peers_of(admin),
        || node.log_text(),
    );
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
    add("dial_failures_total", vec![], s.dial_failures as f64);
    add("inbound_refused_total", vec![], s.inbound_refused as f64);
    add(
        "duplicates_resolved_total",
        vec![],
        s.duplicates_resolved as f64,
    );
    add("strikes_total", vec![], s.strikes as f64);
    add("bans_total", vec![], s.bans as f64);
    add(
        "app_messages_received_total",
        vec![],
        view.app_messages as f64,
    );
    for p in &view.peers {
        let peer = || vec![("peer", p.peer.clone())];
        if let (Some(rtt), Some(_)) = (p.last_rtt_us, &p.active) {
            // /peers truncates to whole microseconds.
            let seconds = sample(&scrape, "peerlink_peer_rtt_seconds", &[("peer", &p.peer)]);
            assert_eq!((seconds * 1e6).floor() as u64, rtt, "{}", p.peer);
            add("peer_rtt_seconds", peer(), seconds);
        }
        let k = &p.counters;
        add("peer_dials_total", peer(), k.dials as f64);
        add("peer_dial_failures_total", peer(), k.dial_failures as f64);
        add("peer_connections_total", peer(), k.connections as f64);
        add("peer_disconnects_total", peer(), k.disconnects as f64);
    }
    for (name, labels, value) in &want {
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
