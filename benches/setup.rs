//! Connection setup: handshakes per second into one node, from many
//! loopback source addresses.
//!
//! Ours: a fresh `ConnectionManager` on 127.0.0.1 per round; N dialers,
//! each `PeerConnection::new_outbound` from its own 127.1.x.y address, at
//! most 64 in flight. A round ends when every dial has completed its
//! handshake and the node has reported N `Connected` events. Raw: the same
//! N source addresses connect to a raw listener, 64 in flight, write the
//! same 33-byte `Hello` frame and read a 33-byte `HelloAccept` frame that a
//! task per accepted stream writes after reading the hello. Streams are held
//! open until the round ends either way. Rounds interleave raw and ours.
//!
//! `cargo bench --bench setup [-- --rounds N --peers N]`

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::*;
use peerlink::id::ConnectionIds;
use peerlink::manager::{ConnectionManager, ManagerOptions, PeerEvent};
use peerlink::peer::PeerConnection;
use peerlink::transport::TcpTransport;
use peerlink::wire::{Hello, Message, PROTOCOL_VERSION};
use peerlink::{Config, NodeId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, watch, Semaphore};

/// Dials in flight at once.
const CONCURRENCY: usize = 64;
/// First peer index (127.1.8.1 onwards), clear of the other benches.
const FIRST_IP: usize = 2000;

fn main() {
    let rounds = arg("--rounds").unwrap_or(3);
    let n = arg("--peers").unwrap_or(1000);
    println!("nofile limit: {}", raise_nofile());
    print_machine();
    println!("setup: {n} connections per round from {n} source addresses, {CONCURRENCY} in flight, {rounds} interleaved rounds");
    let rt = runtime();
    let bench = rt.spawn(async move {
        ours_round(n / 10).await;
        raw_round(n / 10).await;
        let (mut r, mut o, mut q) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let a = n as f64 / raw_round(n).await;
            let b = n as f64 / ours_round(n).await;
            r.push(a);
            o.push(b);
            q.push(b / a);
        }
        let (rm, rlo, rhi) = spread(&r);
        let (om, olo, ohi) = spread(&o);
        let (qm, qlo, qhi) = spread(&q);
        println!("| connections | raw per s | raw min..max | peerlink handshakes per s | peerlink min..max | ratio (median) | ratio min..max |");
        println!("|---|---|---|---|---|---|---|");
        println!("| {n} | {rm:.0} | {rlo:.0}..{rhi:.0} | {om:.0} | {olo:.0}..{ohi:.0} | {qm:.2} | {qlo:.2}..{qhi:.2} |");
    });
    rt.block_on(bench).expect("bench task");
    println!("load average (1 min) at end {}", loadavg());
}

/// N handshakes into a fresh manager; seconds until all done.
async fn ours_round(n: usize) -> f64 {
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
    let (manager, mut node_events) = ConnectionManager::start(TcpTransport, config, options)
        .await
        .expect("manager");
    let addr = manager.listen_addr().expect("listening");
    let (count_tx, mut count_rx) = watch::channel(0usize);
    tokio::spawn(async move {
        let mut connected = 0;
        while let Some(event) = node_events.recv().await {
            if let PeerEvent::Connected { .. } = event {
                connected += 1;
                let _ = count_tx.send(connected);
            }
        }
    });
    let watch = Stopwatch::start();
    let gate = Arc::new(Semaphore::new(CONCURRENCY));
    let mut dials = Vec::new();
    for i in 0..n {
        let gate = gate.clone();
        dials.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.expect("open");
            let ctx = context(
                1000 + i as u128,
                Config::default(),
                Some(peer_ip(FIRST_IP + i)),
            );
            PeerConnection::new_outbound(
                &TcpTransport,
                addr,
                &ctx,
                // Each dialer is its own node: its one connection is its c1.
                ConnectionIds::new().allocate(),
                rng(i as u64),
            )
            .await
            .expect("dial")
        }));
    }
    let mut conns = Vec::new();
    for d in dials {
        conns.push(d.await.expect("dial task"));
    }
    count_rx.wait_for(|c| *c == n).await.expect("node events");
    let secs = watch.secs();
    drop(conns);
    manager.shutdown().await;
    secs
}

/// N raw connect + hello exchanges; seconds until all done.
async fn raw_round(n: usize) -> f64 {
    let hello = Hello {
        version: PROTOCOL_VERSION,
        network_id: 0,
        node_id: NodeId(1),
        listen_port: 0,
    };
    let hello_frame = Message::Hello(hello).to_frame();
    let accept_frame = Message::HelloAccept(hello).to_frame();
    let frame_len = hello_frame.len();
    let listener = TcpListener::bind(SocketAddr::new(NODE_IP, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("bound");
    let (held_tx, mut held_rx) = mpsc::channel(n);
    let server = tokio::spawn(async move {
        for _ in 0..n {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let (accept_frame, held_tx) = (accept_frame.clone(), held_tx.clone());
            tokio::spawn(async move {
                stream.set_nodelay(true).expect("nodelay");
                let mut buf = vec![0u8; frame_len];
                stream.read_exact(&mut buf).await.expect("hello");
                stream.write_all(&accept_frame).await.expect("accept");
                let _ = held_tx.send(stream).await;
            });
        }
    });
    let watch = Stopwatch::start();
    let gate = Arc::new(Semaphore::new(CONCURRENCY));
    let mut dials = Vec::new();
    for i in 0..n {
        let (gate, hello_frame) = (gate.clone(), hello_frame.clone());
        dials.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.expect("open");
            let socket = TcpSocket::new_v4().expect("socket");
            socket
                .bind(SocketAddr::new(peer_ip(FIRST_IP + i), 0))
                .expect("bind source");
            let mut stream = socket.connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            stream.write_all(&hello_frame).await.expect("hello");
            let mut buf = vec![0u8; frame_len];
            stream.read_exact(&mut buf).await.expect("reply");
            stream
        }));
    }
    let mut conns = Vec::new();
    for d in dials {
        conns.push(d.await.expect("dial task"));
    }
    let mut held = Vec::new();
    while held.len() < n {
        held.push(held_rx.recv().await.expect("server"));
    }
    let secs = watch.secs();
    server.await.expect("server task");
    drop((conns, held));
    secs
}
