//! The `peerlink-node` binary as an operator meets it: bad flags and config
//! files give one line on stderr and exit code 2; a config file is read;
//! JSON logs are one object per line; SIGTERM and SIGINT send every peer
//! `Goodbye(shutdown)` and exit 0. The admin endpoint has its own file,
//! `admin_endpoint.rs`.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use bytes::BytesMut;
use common::{peers_of, wait_for_admin, wait_until, NodeProcess, NODE_BIN};
use peerlink::wire::{decode_frame, Hello, Message, Reason, PROTOCOL_VERSION};
use peerlink::NodeId;
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
        (
            vec!["--listen", "127.0.0.1:27290", "--log-format", "xml"],
            "invalid value 'xml' for '--log-format <FORMAT>'",
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
        let view = wait_for_admin(admin, &node);
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

/// With `--log-format json` every line the node logs from start to a
/// SIGTERM shutdown is one JSON object with a level, a target and fields;
/// the start line carries the listen address as a field.
#[test]
fn json_logs_are_one_object_per_line() {
    let admin: SocketAddr = "127.0.0.1:27261".parse().expect("addr");
    let args = [
        "--listen",
        "127.0.0.1:27260",
        "--admin",
        "127.0.0.1:27261",
        "--log-format",
        "json",
    ];
    let mut node = NodeProcess::spawn("json-logs", &args.map(String::from));
    wait_for_admin(admin, &node);
    node.signal(libc::SIGTERM);
    let status = node.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", node.log_text());
    let log = node.log_text();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for line in &lines {
        assert!(line["level"].is_string(), "{line}");
        assert!(line["target"].is_string(), "{line}");
        assert!(line["fields"]["message"].is_string(), "{line}");
    }
    let messages: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["fields"]["message"].as_str())
        .filter(|m| ["node started", "shutting down", "node stopped"].contains(m))
        .collect();
    assert_eq!(messages, ["node started", "shutting down", "node stopped"]);
    let started = lines
        .iter()
        .find(|l| l["fields"]["message"] == "node started")
        .expect("start line");
    assert_eq!(started["level"], "INFO");
    assert_eq!(started["fields"]["listen"], "127.0.0.1:27260");
    assert_eq!(started["fields"]["admin"], "127.0.0.1:27261");
    let warnings: Vec<&serde_json::Value> = lines.iter().filter(|l| l["level"] == "WARN").collect();
    assert!(warnings.is_empty(), "default settings warn: {warnings:?}");
}

/// A flap threshold an honest peer's backoff can reach (5, under the
/// bound of 26 for the default timers) starts the node with one warning
/// that names both numbers.
#[test]
fn a_flap_threshold_honest_peers_can_reach_is_warned_about() {
    let admin: SocketAddr = "127.0.0.1:27271".parse().expect("addr");
    let args = [
        "--listen",
        "127.0.0.1:27270",
        "--admin",
        "127.0.0.1:27271",
        "--log-format",
        "json",
        "--flap-threshold",
        "5",
    ];
    let mut node = NodeProcess::spawn("flap-warning", &args.map(String::from));
    wait_for_admin(admin, &node);
    node.signal(libc::SIGTERM);
    let status = node.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", node.log_text());
    let log = node.log_text();
    let warnings: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON line"))
        .filter(|l| l["level"] == "WARN")
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert_eq!(warnings[0]["fields"]["flap_threshold"], 5);
    assert_eq!(warnings[0]["fields"]["honest_flap_bound"], 26);
}
