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
use peerlink_node::views::HealthView;
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
