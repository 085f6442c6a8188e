//! Message throughput over one `PeerConnection` against raw tokio TCP with
//! the same framing (4-byte big-endian length, `App` type byte, payload).
//!
//! Ours: the dialer's owner queues `n` payloads with `ConnectionSender::send`
//! (yielding when the queue is full), or with `ConnectionSender::send_wait`
//! (parked while it is full); the acceptor's owner receives `n` `Message`
//! events, one `recv` at a time or (last series) with `recv_many`. Raw: one task writes the same `n` frames through a
//! 64 KiB `BufWriter` on a `TcpStream` and flushes; a raw reader splits
//! them off a read buffer as `Bytes`. Both run on loopback (127.1.0.1 to
//! 127.0.0.1), in the same 2-worker runtime, interleaved round by round.
//! Time is from the first send to the last message received.
//!
//! `cargo bench --bench throughput [-- --rounds N --size BYTES]`

mod common;

use std::net::SocketAddr;

use bytes::Bytes;
use common::*;
use peerlink::error::SendError;
use peerlink::peer::ConnectionEventKind;
use peerlink::Config;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpSocket};

/// The series, in the order each round runs them.
const SENDERS: [&str; 4] = [
    "raw",
    "peerlink (send)",
    "peerlink (send_wait)",
    "peerlink (send_wait, recv_many)",
];

/// Payload sizes and messages per round.
const CASES: [(usize, usize); 3] = [(64, 1_000_000), (1024, 400_000), (64 * 1024, 10_000)];

fn main() {
    let rounds = arg("--rounds").unwrap_or(5);
    print_machine();
    println!("throughput: {rounds} interleaved rounds per size; MB = 10^6 payload bytes");
    println!("peerlink (send): ConnectionSender::send, yield_now while the queue is full");
    println!("peerlink (send_wait): ConnectionSender::send_wait, parked while the queue is full");
    println!("peerlink (send_wait, recv_many): the same, and the receiving owner takes its events with recv_many");
    println!(
        "| payload | sender | msgs/s (median) | MB/s | ratio to raw (median) | ratio min..max |"
    );
    println!("|---|---|---|---|---|---|");
    let rt = runtime();
    // Everything runs in spawned tasks on the two workers, as in a node
    // (not on the `block_on` thread, whose every wake-up is a futex call).
    let bench = rt.spawn(async move {
        let only = arg("--size");
        for (size, n) in CASES {
            if only.is_some_and(|o| o != size) {
                continue;
            }
            let payload = Bytes::from(vec![0xa5u8; size]);
            let config = {
                let mut c = Config::default();
                c.send_queue_bytes =
                    arg("--queue-bytes").unwrap_or(Config::default().send_queue_bytes);
                c
            };
            let mut pair = pair(&config, peer_ip(0)).await;
            // One warm-up round each, not recorded.
            raw_round(&payload, n / 10).await;
            ours_round(&mut pair, &payload, n / 10, false, false).await;
            if std::env::args().any(|a| a == "--profile-ours") {
                // Profiling aid: only the library side, several rounds.
                for _ in 0..rounds {
                    ours_round(&mut pair, &payload, n, false, false).await;
                }
                continue;
            }
            let mut rates = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
            for _ in 0..rounds {
                rates[0].push(n as f64 / raw_round(&payload, n).await);
                rates[1].push(n as f64 / ours_round(&mut pair, &payload, n, false, false).await);
                rates[2].push(n as f64 / ours_round(&mut pair, &payload, n, true, false).await);
                rates[3].push(n as f64 / ours_round(&mut pair, &payload, n, true, true).await);
            }
            for (i, name) in SENDERS.iter().enumerate() {
                let (m, _, _) = spread(&rates[i]);
                let ratios: Vec<f64> = rates[i].iter().zip(&rates[0]).map(|(o, r)| o / r).collect();
                let (q, lo, hi) = spread(&ratios);
                println!(
                    "| {size} B | {name} | {m:.0} | {:.0} | {q:.2} | {lo:.2}..{hi:.2} |",
                    m * size as f64 / 1e6
                );
            }
            pair.dialer.close(peerlink::wire::Reason::Shutdown);
        }
    });
    rt.block_on(bench).expect("bench task");
    println!("load average (1 min) at end {}", loadavg());
}

/// Sends `n` payloads through the library; seconds until all arrived.
async fn ours_round(pair: &mut Pair, payload: &Bytes, n: usize, wait: bool, batch: bool) -> f64 {
    let watch = Stopwatch::start();
    let sender = pair.dialer.sender().clone();
    let payload = payload.clone();
    let send = tokio::spawn(async move {
        if wait {
            for _ in 0..n {
                sender.send_wait(payload.clone()).await.expect("send");
            }
            return;
        }
        let mut sent = 0;
        while sent < n {
            match sender.send(payload.clone()) {
                Ok(()) => sent += 1,
                Err(SendError::QueueFull) => tokio::task::yield_now().await,
                Err(e) => panic!("send failed: {e}"),
            }
        }
    });
    let mut got = 0;
    let mut events = Vec::with_capacity(if batch { 256 } else { 1 });
    while got < n {
        if batch {
            pair.acceptor_events.recv_many(&mut events, 256).await;
        } else {
            events.push(pair.acceptor_events.recv().await.expect("connection open"));
        }
        for event in events.drain(..) {
            match event.kind {
                ConnectionEventKind::Message(_) => got += 1,
                ConnectionEventKind::Rtt(_) => {}
                ConnectionEventKind::Closed(e) => panic!("closed: {e}"),
            }
        }
    }
    let secs = watch.secs();
    send.await.expect("sender");
    secs
}

/// Sends `n` frames over a fresh raw TCP connection; seconds until all
/// arrived.
async fn raw_round(payload: &Bytes, n: usize) -> f64 {
    let listener = TcpListener::bind(SocketAddr::new(NODE_IP, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("bound");
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(peer_ip(0), 0))
        .expect("bind source");
    let (client, accepted) = tokio::join!(socket.connect(addr), listener.accept());
    let (client, (server, _)) = (client.expect("connect"), accepted.expect("accept"));
    client.set_nodelay(true).expect("nodelay");
    server.set_nodelay(true).expect("nodelay");
    let watch = Stopwatch::start();
    let payload = payload.clone();
    let send = tokio::spawn(async move {
        let mut out = BufWriter::with_capacity(64 * 1024, client);
        let header = app_header(payload.len());
        for _ in 0..n {
            out.write_all(&header).await.expect("write");
            out.write_all(&payload).await.expect("write");
        }
        out.flush().await.expect("flush");
        out
    });
    let mut reader = RawReader::new(server);
    for _ in 0..n {
        reader.next().await.expect("frame");
    }
    let secs = watch.secs();
    drop(send.await.expect("writer"));
    secs
}
