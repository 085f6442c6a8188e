//! Broadcast of a 1 KiB message to 100 and 1000 connected peers: time from
//! the call until every peer has received it.
//!
//! Ours: a `ConnectionManager` on 127.0.0.1 accepts N peers, each a
//! `PeerConnection` dialled from its own 127.1.x.y address; all peers report
//! to one event channel. A round is `ConnectionManager::broadcast` and then
//! N `Message` events. Raw: the same N source addresses hold raw TCP
//! connections to a raw listener; a round writes the same frame to each
//! accepted stream in turn (`write_all`), and a reader task per peer reports
//! each frame on one channel. Rounds interleave raw and ours.
//!
//! `cargo bench --bench broadcast [-- --rounds N]`

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use peerlink::id::ConnectionIds;
use peerlink::manager::{ConnectionManager, ManagerOptions, PeerEvent};
use peerlink::peer::{ConnectionEventKind, ConnectionHandle, PeerConnection};
use peerlink::transport::TcpTransport;
use peerlink::Config;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, watch, Semaphore};

/// Payload size.
const PAYLOAD: usize = 1024;
/// Dials in flight at once while peers connect.
const DIAL_CONCURRENCY: usize = 64;

fn main() {
    let rounds = arg("--rounds").unwrap_or(20);
    println!("nofile limit: {}", raise_nofile());
    print_machine();
    println!("broadcast: {PAYLOAD}-byte payload, {rounds} interleaved rounds per peer count");
    println!("| peers | raw median ms | raw min..max | peerlink median ms | peerlink min..max | ratio (median) | ratio min..max |");
    println!("|---|---|---|---|---|---|---|");
    let rt = runtime();
    let bench = rt.spawn(async move {
        for (n, first_ip) in [(100, 0), (1000, 1000)] {
            let payload = Bytes::from(vec![0x42u8; PAYLOAD]);
            let mut ours = Ours::connect(n, first_ip).await;
            let mut raw = Raw::connect(n, first_ip).await;
            ours.round(&payload).await;
            raw.round(&payload).await;
            let (mut r, mut o, mut q) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rounds {
                let a = raw.round(&payload).await;
                let b = ours.round(&payload).await;
                r.push(a);
                o.push(b);
                q.push(b / a);
            }
            let (rm, rlo, rhi) = spread(&r);
            let (om, olo, ohi) = spread(&o);
            let (qm, qlo, qhi) = spread(&q);
            println!(
                "| {n} | {rm:.2} | {rlo:.2}..{rhi:.2} | {om:.2} | {olo:.2}..{ohi:.2} | {qm:.2} | {qlo:.2}..{qhi:.2} |"
            );
            ours.manager.shutdown().await;
        }
    });
    rt.block_on(bench).expect("bench task");
    println!("load average (1 min) at end {}", loadavg());
}

/// The library side: a manager and N peer connections.
struct Ours {
    manager: ConnectionManager,
    n: usize,
    events: mpsc::Receiver<peerlink::peer::ConnectionEvent>,
    _peers: Vec<ConnectionHandle>,
}

impl Ours {
    async fn connect(n: usize, first_ip: usize) -> Ours {
        let config = {
            let mut c = Config::default();
            c.max_inbound = n + 16;
            c.max_pending_handshakes = 2 * DIAL_CONCURRENCY;
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
        // Drain the node's events; publish the connected count.
        let (count_tx, mut count_rx) = watch::channel(0usize);
        tokio::spawn(async move {
            let mut connected = 0;
            while let Some(event) = node_events.recv().await {
                match event {
                    PeerEvent::Connected { .. } => connected += 1,
                    PeerEvent::Disconnected { .. } => connected -= 1,
                    _ => {}
                }
                let _ = count_tx.send(connected);
            }
        });
        let (events_tx, events) = mpsc::channel(4 * n);
        let gate = Arc::new(Semaphore::new(DIAL_CONCURRENCY));
        let mut dials = Vec::new();
        for i in 0..n {
            let (gate, events_tx) = (gate.clone(), events_tx.clone());
            dials.push(tokio::spawn(async move {
                let _permit = gate.acquire().await.expect("open");
                let ctx = context(
                    1000 + i as u128,
                    Config::default(),
                    Some(peer_ip(first_ip + i)),
                );
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
        let mut peers = Vec::new();
        for d in dials {
            peers.push(d.await.expect("dial task"));
        }
        count_rx.wait_for(|c| *c == n).await.expect("node events");
        Ours {
            manager,
            n,
            events,
            _peers: peers,
        }
    }

    /// One broadcast; milliseconds until every peer has it.
    async fn round(&mut self, payload: &Bytes) -> f64 {
        let watch = Stopwatch::start();
        let report = self.manager.broadcast(payload.clone());
        assert_eq!(report.queued.len(), self.n, "failed: {:?}", report.failed);
        let mut got = 0;
        while got < self.n {
            let event = self.events.recv().await.expect("peers open");
            match event.kind {
                ConnectionEventKind::Message(_) => got += 1,
                ConnectionEventKind::Rtt(_) => {}
                ConnectionEventKind::Closed(e) => panic!("peer closed: {e}"),
            }
        }
        watch.secs() * 1e3
    }
}

/// The raw side: N accepted streams and a reader per peer.
struct Raw {
    writers: Vec<OwnedWriteHalf>,
    frames: mpsc::Receiver<()>,
}

impl Raw {
    async fn connect(n: usize, first_ip: usize) -> Raw {
        let listener = TcpListener::bind(SocketAddr::new(NODE_IP, 0))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("bound");
        let (tx, frames) = mpsc::channel(4 * n);
        let mut writers = Vec::new();
        for i in 0..n {
            let socket = TcpSocket::new_v4().expect("socket");
            socket
                .bind(SocketAddr::new(peer_ip(first_ip + i), 0))
                .expect("bind source");
            let (client, accepted) = tokio::join!(socket.connect(addr), listener.accept());
            let (client, (server, _)) = (client.expect("connect"), accepted.expect("accept"));
            client.set_nodelay(true).expect("nodelay");
            server.set_nodelay(true).expect("nodelay");
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut reader = RawReader::new(client);
                while reader.next().await.is_some() {
                    if tx.send(()).await.is_err() {
                        return;
                    }
                }
            });
            writers.push(server.into_split().1);
        }
        Raw { writers, frames }
    }

    /// One frame to every stream; milliseconds until every reader has it.
    async fn round(&mut self, payload: &Bytes) -> f64 {
        let watch = Stopwatch::start();
        let frame = app_frame(payload);
        for w in &mut self.writers {
            w.write_all(&frame).await.expect("write");
        }
        for _ in 0..self.writers.len() {
            self.frames.recv().await.expect("readers open");
        }
        watch.secs() * 1e3
    }
}
