//! Scale: one node holding 1,000 and 10,000 idle peers with ping running at
//! the default interval (15 s): resident memory per connection and CPU use
//! per second of idle, against a raw tokio node of the same shape.
//!
//! The node runs in its own process (this binary re-executed with
//! `--node MODE N`), so its figures exclude the peers' side, which lives in
//! this process. The node is a `ConnectionManager` on 127.0.0.1 with default
//! settings except `max_inbound` and `max_pending_handshakes`; the raw node
//! accepts on 127.0.0.1 and runs one task per stream that sends a 21-byte
//! ping frame every 15 s and answers pings with pongs. Peers dial from
//! distinct 127.1.x.y addresses (peerlink: `PeerConnection`s with default
//! settings; raw: the same ping task). Both processes raise RLIMIT_NOFILE to
//! the hard limit.
//!
//! Measured from this process, on the node's pid: `VmRSS` from
//! /proc/PID/status before any peer connects and after the idle window;
//! user + system CPU time from /proc/PID/stat over the idle window, which
//! starts after a settling period longer than one ping interval.
//!
//! `cargo bench --bench scale [-- --peers 1000,10000 --window 30 --settle 16]`

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use peerlink::id::ConnectionIds;
use peerlink::manager::{ConnectionManager, ManagerOptions, PeerEvent};
use peerlink::peer::PeerConnection;
use peerlink::transport::TcpTransport;
use peerlink::wire::Message;
use peerlink::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, Semaphore};

/// Dials in flight at once.
const CONCURRENCY: usize = 128;
/// The default ping interval, which the raw pinger copies.
const PING_INTERVAL: Duration = Duration::from_secs(15);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    raise_nofile();
    if let Some(i) = args.iter().position(|a| a == "--node") {
        let mode = args.get(i + 1).expect("mode").clone();
        let n: usize = args
            .get(i + 2)
            .and_then(|v| v.parse().ok())
            .expect("peer count");
        return node(&mode, n);
    }
    let peers: Vec<usize> = value(&args, "--peers")
        .unwrap_or("1000,10000")
        .split(',')
        .filter_map(|v| v.parse().ok())
        .collect();
    let window = Duration::from_secs(
        value(&args, "--window")
            .and_then(|v| v.parse().ok())
            .unwrap_or(30),
    );
    let settle = Duration::from_secs(
        value(&args, "--settle")
            .and_then(|v| v.parse().ok())
            .unwrap_or(16),
    );
    println!("nofile limit: {}", raise_nofile());
    print_machine();
    println!(
        "scale: idle window {} s after {} s settling; ping interval 15 s (default)",
        window.as_secs(),
        settle.as_secs()
    );
    println!("| node | peers | RSS before KiB | RSS after KiB | KiB per connection | CPU % of one core | load at window start..end |");
    println!("|---|---|---|---|---|---|---|");
    for &n in &peers {
        for mode in ["raw", "peerlink"] {
            measure(mode, n, settle, window);
        }
    }
}

/// Starts a node process, connects `n` peers, and prints one table row.
fn measure(mode: &str, n: usize, settle: Duration, window: Duration) {
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .args(["--node", mode, &n.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node process");
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr: SocketAddr = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| l.strip_prefix("LISTEN ").and_then(|a| a.parse().ok()))
        .expect("node address");
    std::thread::sleep(Duration::from_secs(1));
    let rss_before = rss_kib(pid);
    let rt = runtime();
    let _peers = rt.block_on(async {
        match mode {
            "raw" => raw_peers(addr, n).await,
            _ => peerlink_peers(addr, n).await,
        }
    });
    let connected = lines.next().and_then(Result::ok).unwrap_or_default();
    assert_eq!(
        connected,
        format!("CONNECTED {n}"),
        "node did not report all peers"
    );
    std::thread::sleep(settle);
    let load_start = loadavg();
    let cpu_start = cpu_time(pid);
    let watch = Stopwatch::start();
    std::thread::sleep(window);
    let cpu = cpu_time(pid).saturating_sub(cpu_start).as_secs_f64() / watch.secs();
    let rss_after = rss_kib(pid);
    let per_conn = (rss_after.saturating_sub(rss_before)) as f64 / n as f64;
    println!(
        "| {mode} | {n} | {rss_before} | {rss_after} | {per_conn:.1} | {:.2} | {load_start}..{} |",
        cpu * 100.0,
        loadavg()
    );
    // Closing the node's stdin ends it; kill it if it does not.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"stop\n");
    }
    drop(child.stdin.take());
    if child.wait().is_err() {
        let _ = child.kill();
    }
    rt.shutdown_timeout(Duration::from_secs(5));
}

/// `n` peerlink peers dialling `addr`; their handles keep them open.
async fn peerlink_peers(addr: SocketAddr, n: usize) -> Vec<peerlink::peer::ConnectionHandle> {
    let (events_tx, mut events) = mpsc::channel(4096);
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let gate = Arc::new(Semaphore::new(CONCURRENCY));
    let mut dials = Vec::new();
    for i in 0..n {
        let (gate, events_tx) = (gate.clone(), events_tx.clone());
        dials.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.expect("open");
            let ctx = context(1000 + i as u128, Config::default(), Some(peer_ip(i)));
            let conn = PeerConnection::new_outbound(
                &TcpTransport,
                addr,
                &ctx,
                // Each dialer is its own node: its one connection is its c1.
                ConnectionIds::new().allocate(),
                rng(i as u64),
            )
            .await
            .expect("peer dial");
            conn.spawn(events_tx)
        }));
    }
    let mut handles = Vec::new();
    for d in dials {
        handles.push(d.await.expect("dial task"));
    }
    handles
}

/// `n` raw peers dialling `addr`, each running the raw ping task.
async fn raw_peers(addr: SocketAddr, n: usize) -> Vec<peerlink::peer::ConnectionHandle> {
    let gate = Arc::new(Semaphore::new(CONCURRENCY));
    let mut dials = Vec::new();
    for i in 0..n {
        let gate = gate.clone();
        dials.push(tokio::spawn(async move {
            let permit = gate.acquire().await.expect("open");
            let socket = TcpSocket::new_v4().expect("socket");
            socket
                .bind(SocketAddr::new(peer_ip(i), 0))
                .expect("bind source");
            let stream = socket.connect(addr).await.expect("connect");
            drop(permit);
            tokio::spawn(pinger(stream));
        }));
    }
    for d in dials {
        d.await.expect("dial task");
    }
    Vec::new()
}

/// The raw node and peer: a ping frame every interval, pongs for pings.
async fn pinger(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let ping = Message::Ping {
        nonce: 1,
        timestamp_ms: 0,
    }
    .to_frame();
    let pong = Message::Pong {
        nonce: 1,
        timestamp_ms: 0,
    }
    .to_frame();
    let mut ticker = tokio::time::interval(PING_INTERVAL);
    let mut buf = [0u8; 21];
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if writer.write_all(&ping).await.is_err() { return; }
            }
            read = reader.read_exact(&mut buf) => {
                if read.is_err() { return; }
                if buf[4] == 0x04 && writer.write_all(&pong).await.is_err() { return; }
            }
        }
    }
}

/// The node process: listens, reports its address, reports when `n` peers
/// are connected, and runs until its stdin closes.
fn node(mode: &str, n: usize) {
    let rt = runtime();
    let mode = mode.to_string();
    rt.spawn(async move {
        match mode.as_str() {
            "raw" => raw_node(n).await,
            _ => peerlink_node(n).await,
        }
    });
    // Block until the parent closes stdin.
    let mut line = String::new();
    while std::io::stdin().read_line(&mut line).is_ok_and(|r| r > 0) {
        line.clear();
    }
    std::process::exit(0);
}

async fn peerlink_node(n: usize) {
    let config = {
        let mut c = Config::default();
        c.max_inbound = n + 16;
        c.max_pending_handshakes = 2 * CONCURRENCY;
        c
    };
    let options = ManagerOptions {
        listen: Some(SocketAddr::new(NODE_IP, 0)),
        seed: Some(7),
        ..ManagerOptions::default()
    };
    let (manager, mut events) = ConnectionManager::start(TcpTransport, config, options)
        .await
        .expect("manager");
    announce(manager.listen_addr().expect("listening"));
    let mut connected = 0;
    while let Some(event) = events.recv().await {
        match event {
            PeerEvent::Connected { .. } => {
                connected += 1;
                if connected == n {
                    say(&format!("CONNECTED {n}"));
                }
            }
            PeerEvent::Disconnected { peer, reason, .. } => {
                eprintln!("node: {peer} disconnected: {reason}");
            }
            _ => {}
        }
    }
}

async fn raw_node(n: usize) {
    let listener = TcpListener::bind(SocketAddr::new(NODE_IP, 0))
        .await
        .expect("bind");
    announce(listener.local_addr().expect("bound"));
    let mut accepted = 0;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(pinger(stream));
                accepted += 1;
                if accepted == n {
                    say(&format!("CONNECTED {n}"));
                }
            }
            Err(e) => {
                eprintln!("node: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn announce(addr: SocketAddr) {
    say(&format!("LISTEN {addr}"));
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The value after `name` on the command line.
fn value<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}
