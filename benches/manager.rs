//! Traffic through the public `ConnectionManager` API on both ends, against
//! raw tokio TCP with the same framing (4-byte big-endian length, `App` type
//! byte, payload): what an application using the manager gets.
//!
//! Every round runs in spawned tasks on the 2-worker runtime; raw and
//! peerlink rounds interleave. Time is from the first send to the last
//! message received.
//!
//! - `1to1-64B`, `1to1-1KiB`, `1to1-64KiB`: a sending manager (listening on
//!   127.0.0.2, `local_ip` 127.0.0.2, the receiver as its only configured
//!   peer, so only it dials) and a receiving manager on 127.0.0.1. Once both
//!   see `PeerEvent::Connected`, a task calls `manager.send(peer, payload)`
//!   `n` times (`yield_now` and retry on `SendError::QueueFull`); the
//!   receiver's owner counts `PeerEvent::Message` events until `n` arrived.
//!   A third series uses the batched paths: `manager.send_batch` with 256
//!   payloads per call, and `Events::recv_many` of up to 256 events.
//!   Raw: a fresh TCP connection (127.0.0.2 to 127.0.0.1) per round; one
//!   task writes `n` frames through a 64 KiB `BufWriter` and flushes, the
//!   reader splits frames off a `BytesMut` as `Bytes`.
//! - `fanin-64B`, `fanin-1KiB`: 50 managers on distinct loopback IPs
//!   (127.1.12.x) dial one hub manager on 127.0.0.1; each sends `n / 50`
//!   payloads as above, the hub's owner counts all `n`. Raw: 50 connections
//!   to one listener, a reader task per connection forwarding each frame
//!   (`Bytes`) into one bounded mpsc channel (capacity 1024), one consumer
//!   counting.
//! - `admission`: time from starting a manager that dials a hub (`peers:
//!   vec![hub]`) until the hub's owner sees `PeerEvent::Connected` for it,
//!   on an idle hub and on a hub that another manager floods with 64 B
//!   `send`s (yield on `QueueFull`). A fresh dialer (its own IP) per
//!   measurement; each round measures idle, then flooded. A dialer not
//!   admitted within 20 s counts as a timeout.
//!
//! All managers run `Config::default()`. Everything binds to 127.0.0.0/8 on
//! ephemeral ports and stops by itself (every wait is bounded).
//!
//! `cargo bench --bench manager [-- --rounds N --case NAME]` (a `--case`
//! prefix such as `1to1` or `fanin` runs every case it starts).

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use peerlink::error::SendError;
use peerlink::manager::{ConnectionManager, Events, ManagerOptions, PeerEvent};
use peerlink::transport::TcpTransport;
use peerlink::{Config, PeerId};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

/// The sending side of the 1:1 cases.
const SENDER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// Fan-in: peers, and the first `peer_ip` index (127.1.12.1 onwards).
const FAN_PEERS: usize = 50;
const FAN_BASE: usize = 3000;
/// Admission: the flooder's `peer_ip` index; dialers take the ones after.
const ADMIT_BASE: usize = 3100;
/// Bound on one throughput round (a stall fails the bench, never hangs it).
const ROUND_LIMIT: Duration = Duration::from_secs(60);
/// Bound on one admission.
const ADMIT_LIMIT: Duration = Duration::from_secs(20);
/// Bound on set-up waits (connections, quiet hub).
const SETUP_LIMIT: Duration = Duration::from_secs(30);

/// Throughput cases: name, fan-in peers (1 for 1:1), payload bytes,
/// messages per round (a raw round plus a peerlink round about 1 s on the
/// 2-core machine of docs/performance.md; peerlink takes most of it).
const CASES: [(&str, usize, usize, usize); 5] = [
    ("1to1-64B", 1, 64, 1_000_000),
    ("1to1-1KiB", 1, 1024, 300_000),
    ("1to1-64KiB", 1, 64 * 1024, 10_000),
    ("fanin-64B", FAN_PEERS, 64, 400_000),
    ("fanin-1KiB", FAN_PEERS, 1024, 200_000),
];

fn main() {
    let rounds = arg("--rounds").unwrap_or(5).max(1);
    let only = arg_str("--case");
    println!("nofile limit: {}", raise_nofile());
    print_machine();
    println!(
        "manager: {rounds} interleaved rounds per case; ConnectionManager on both ends, Config::default()"
    );
    let rt = runtime();
    // Everything runs in spawned tasks on the two workers, as in a node.
    let bench = rt.spawn(async move {
        let selected = |name: &str| match only.as_deref() {
            Some(prefix) => name.starts_with(prefix),
            None => true,
        };
        let mut header = false;
        for (name, peers, size, n) in CASES {
            if !selected(name) {
                continue;
            }
            if !header {
                println!(
                    "| case | series | msgs/s (median) | ratio to raw (median) | ratio min..max |"
                );
                println!("|---|---|---|---|---|");
                header = true;
            }
            throughput_case(name, peers, size, n, rounds).await;
        }
        if selected("admission") {
            admission(rounds).await;
        }
    });
    rt.block_on(bench).expect("bench task");
    println!("load average (1 min) at end {}", loadavg());
}

// ---- The manager API, isolated: start-up and receiving. ----

/// The owner's next event; `None` once the manager has stopped.
async fn next_event(events: &mut Events) -> Option<PeerEvent> {
    events.recv().await
}

/// Starts a manager with `Config::default()`.
async fn start_manager(
    listen: Option<IpAddr>,
    local_ip: IpAddr,
    peers: Vec<SocketAddr>,
    seed: u64,
) -> (ConnectionManager, Events) {
    let options = ManagerOptions {
        listen: listen.map(|ip| SocketAddr::new(ip, 0)),
        local_ip: Some(local_ip),
        peers,
        seed: Some(seed),
    };
    ConnectionManager::start(TcpTransport, Config::default(), options)
        .await
        .expect("manager starts")
}

/// Reads `events` until `peer` is reported connected.
async fn wait_connected(events: &mut Events, peer: PeerId) {
    let wait = async {
        while let Some(event) = next_event(events).await {
            if let PeerEvent::Connected { peer: p, .. } = event {
                if p == peer {
                    return;
                }
            }
        }
        panic!("manager stopped before {peer} connected");
    };
    tokio::time::timeout(SETUP_LIMIT, wait)
        .await
        .unwrap_or_else(|_| panic!("{peer} not connected within {SETUP_LIMIT:?}"));
}

/// Reads `events` until `n` messages arrived.
async fn count_messages(events: &mut Events, n: usize) {
    let count = async {
        let mut got = 0;
        while got < n {
            match next_event(events).await {
                Some(PeerEvent::Message { .. }) => got += 1,
                Some(PeerEvent::Disconnected { peer, reason, .. }) => {
                    panic!("{peer} disconnected mid-round: {reason}")
                }
                Some(_) => {}
                None => panic!("manager stopped mid-round"),
            }
        }
    };
    tokio::time::timeout(ROUND_LIMIT, count)
        .await
        .unwrap_or_else(|_| panic!("{n} messages not received within {ROUND_LIMIT:?}"));
}

/// Sends `n` copies of `payload` to `peer`, yielding while its queue is
/// full: with `send` when `batch` is 1, else with `send_batch` of up to
/// `batch` payloads per call. Gives up (returns fewer) after `ROUND_LIMIT`.
async fn send_n(
    manager: ConnectionManager,
    peer: PeerId,
    payload: Bytes,
    n: usize,
    batch: usize,
) -> usize {
    let watch = Stopwatch::start();
    let payloads = vec![payload; batch.min(n).max(1)];
    let mut sent = 0;
    while sent < n {
        let outcome = match payloads.get(..(n - sent).min(batch)) {
            Some([one]) => manager.send(peer, one.clone()).map(|()| 1),
            Some(some) => manager.send_batch(peer, some),
            None => unreachable!("batch is at least 1"),
        };
        match outcome {
            Ok(queued) => sent += queued,
            Err(SendError::QueueFull) => {
                if watch.elapsed() > ROUND_LIMIT {
                    break;
                }
                tokio::task::yield_now().await;
            }
            Err(e) => panic!("send to {peer} failed: {e}"),
        }
    }
    sent
}

// ---- Throughput: 1:1 and fan-in. ----

/// The managers of one throughput case: receivers' owner side and senders.
struct Nodes {
    hub: ConnectionManager,
    hub_events: Events,
    /// The sending managers (their events are kept, unread: only pings).
    senders: Vec<(ConnectionManager, Events)>,
}

/// Starts the receiving manager on 127.0.0.1 and `peers` senders dialling
/// it (one at a time, so no handshake is refused for the pending limit).
async fn nodes(peers: usize, seed: u64) -> Nodes {
    let (hub, mut hub_events) = start_manager(Some(NODE_IP), NODE_IP, vec![], seed).await;
    let hub_addr = hub.listen_addr().expect("listening");
    let mut senders = Vec::new();
    for i in 0..peers {
        let ip = if peers == 1 {
            SENDER_IP
        } else {
            peer_ip(FAN_BASE + i)
        };
        // 1:1: the sender listens too, as a node would; fan-in: outbound only.
        let listen = (peers == 1).then_some(ip);
        let (m, mut events) = start_manager(listen, ip, vec![hub_addr], seed + 1 + i as u64).await;
        wait_connected(&mut hub_events, PeerId::new(ip)).await;
        wait_connected(&mut events, PeerId::new(NODE_IP)).await;
        senders.push((m, events));
    }
    Nodes {
        hub,
        hub_events,
        senders,
    }
}

/// One throughput case: rounds of raw and peerlink, interleaved.
async fn throughput_case(name: &str, peers: usize, size: usize, n: usize, rounds: usize) {
    let payload = Bytes::from(vec![0xa5u8; size]);
    let n = n / peers * peers;
    let mut nodes = nodes(peers, 10 + 100 * size as u64).await;
    // One warm-up round each, not recorded.
    raw_round(peers, &payload, n / 10).await;
    ours_round(&mut nodes, &payload, n / 10).await;
    ours_round_batched(&mut nodes, &payload, n / 10).await;
    let (mut raw, mut ours, mut batched) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        raw.push(n as f64 / raw_round(peers, &payload, n).await);
        ours.push(n as f64 / ours_round(&mut nodes, &payload, n).await);
        batched.push(n as f64 / ours_round_batched(&mut nodes, &payload, n).await);
    }
    for (series, rates) in [
        ("raw", &raw),
        ("peerlink", &ours),
        ("peerlink (send_batch, recv_many)", &batched),
    ] {
        let (m, _, _) = spread(rates);
        let ratios: Vec<f64> = rates.iter().zip(&raw).map(|(o, r)| o / r).collect();
        let (q, lo, hi) = spread(&ratios);
        println!("| {name} ({n} msgs) | {series} | {m:.0} | {q:.2} | {lo:.2}..{hi:.2} |");
    }
    for (m, _) in &nodes.senders {
        m.shutdown().await;
    }
    nodes.hub.shutdown().await;
}

/// Every sender sends `n / senders` payloads to the hub; seconds until the
/// hub's owner has all `n`.
async fn ours_round(nodes: &mut Nodes, payload: &Bytes, n: usize) -> f64 {
    let hub = PeerId::new(NODE_IP);
    let per = n / nodes.senders.len();
    let watch = Stopwatch::start();
    let sends: Vec<_> = nodes
        .senders
        .iter()
        .map(|(m, _)| tokio::spawn(send_n(m.clone(), hub, payload.clone(), per, 1)))
        .collect();
    count_messages(&mut nodes.hub_events, n).await;
    let secs = watch.secs();
    for s in sends {
        assert_eq!(s.await.expect("sender"), per);
    }
    secs
}

/// [`ours_round`] with the batched paths: each sender queues up to
/// [`BATCH`] payloads per `send_batch` call, the hub's owner takes its
/// events with `recv_many`.
async fn ours_round_batched(nodes: &mut Nodes, payload: &Bytes, n: usize) -> f64 {
    let hub = PeerId::new(NODE_IP);
    let per = n / nodes.senders.len();
    let watch = Stopwatch::start();
    let sends: Vec<_> = nodes
        .senders
        .iter()
        .map(|(m, _)| tokio::spawn(send_n(m.clone(), hub, payload.clone(), per, BATCH)))
        .collect();
    let count = async {
        let (mut got, mut events) = (0, Vec::with_capacity(BATCH));
        while got < n {
            events.clear();
            if nodes.hub_events.recv_many(&mut events, BATCH).await == 0 {
                panic!("manager stopped mid-round");
            }
            for event in &events {
                match event {
                    PeerEvent::Message { .. } => got += 1,
                    PeerEvent::Disconnected { peer, reason, .. } => {
                        panic!("{peer} disconnected mid-round: {reason}")
                    }
                    _ => {}
                }
            }
        }
    };
    tokio::time::timeout(ROUND_LIMIT, count)
        .await
        .unwrap_or_else(|_| panic!("{n} messages not received within {ROUND_LIMIT:?}"));
    let secs = watch.secs();
    for s in sends {
        assert_eq!(s.await.expect("sender"), per);
    }
    secs
}

/// Payloads per `send_batch` call and events per `recv_many` call.
const BATCH: usize = 256;

/// Raw baseline over fresh connections: `peers` writers of `n / peers`
/// frames each. One connection: the bench task reads it. Several: a reader
/// task per connection forwards frames into one channel (capacity 1024)
/// that the bench task counts. Seconds until all `n` arrived.
async fn raw_round(peers: usize, payload: &Bytes, n: usize) -> f64 {
    let per = n / peers;
    if peers == 1 {
        let (client, server) = raw_pair(SENDER_IP).await;
        let watch = Stopwatch::start();
        let send = tokio::spawn(raw_write_frames(client, payload.clone(), n));
        let mut reader = RawReader::new(server);
        let read = async {
            for _ in 0..n {
                reader.next().await.expect("frame");
            }
        };
        tokio::time::timeout(ROUND_LIMIT, read)
            .await
            .expect("raw round within the limit");
        let secs = watch.secs();
        drop(send.await.expect("writer"));
        return secs;
    }
    let listener = TcpListener::bind(SocketAddr::new(NODE_IP, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("bound");
    let (tx, mut rx) = mpsc::channel::<Bytes>(1024);
    let (mut clients, mut readers) = (Vec::new(), Vec::new());
    for i in 0..peers {
        clients.push(raw_connect(addr, peer_ip(FAN_BASE + i)).await);
        let (server, _) = listener.accept().await.expect("accept");
        server.set_nodelay(true).expect("nodelay");
        let tx = tx.clone();
        readers.push(tokio::spawn(async move {
            let mut reader = RawReader::new(server);
            while let Some(frame) = reader.next().await {
                if tx.send(frame).await.is_err() {
                    break;
                }
            }
        }));
    }
    drop(tx);
    let watch = Stopwatch::start();
    let writers: Vec<_> = clients
        .into_iter()
        .map(|c| tokio::spawn(raw_write_frames(c, payload.clone(), per)))
        .collect();
    let count = async {
        for _ in 0..n {
            rx.recv().await.expect("readers alive");
        }
    };
    tokio::time::timeout(ROUND_LIMIT, count)
        .await
        .expect("raw round within the limit");
    let secs = watch.secs();
    for w in writers {
        drop(w.await.expect("writer"));
    }
    for r in readers {
        r.await.expect("reader");
    }
    secs
}

// ---- Admission under load. ----

/// The hub's owner: counts messages and reports every `Connected` peer.
async fn hub_owner(
    mut events: Events,
    received: Arc<AtomicU64>,
    connected: mpsc::UnboundedSender<PeerId>,
) {
    while let Some(event) = next_event(&mut events).await {
        match event {
            PeerEvent::Message { .. } => {
                received.fetch_add(1, Ordering::Relaxed);
            }
            PeerEvent::Connected { peer, .. } => {
                let _ = connected.send(peer);
            }
            _ => {}
        }
    }
}

/// Waits (bounded) for the hub's owner to report `peer` connected.
async fn hub_sees(
    connected: &mut mpsc::UnboundedReceiver<PeerId>,
    peer: PeerId,
    limit: Duration,
) -> bool {
    let wait = async {
        while let Some(p) = connected.recv().await {
            if p == peer {
                return true;
            }
        }
        false
    };
    tokio::time::timeout(limit, wait).await.unwrap_or(false)
}

/// The flooder: 64 B sends to `peer` while `on` says so, yielding on
/// `QueueFull`, until `stop`. Returns how many it sent.
async fn flood(
    manager: ConnectionManager,
    peer: PeerId,
    mut on: watch::Receiver<bool>,
    stop: Arc<AtomicBool>,
) -> u64 {
    /// Bound on the whole flood.
    const FLOOD_LIMIT: Duration = Duration::from_secs(600);
    let payload = Bytes::from(vec![0xa5u8; 64]);
    let watch = Stopwatch::start();
    let mut sent = 0u64;
    while !stop.load(Ordering::Relaxed) && watch.elapsed() < FLOOD_LIMIT {
        let flooding = *on.borrow();
        if !flooding {
            let _ = tokio::time::timeout(Duration::from_secs(1), on.changed()).await;
            continue;
        }
        for _ in 0..256 {
            match manager.send(peer, payload.clone()) {
                Ok(()) => sent += 1,
                Err(SendError::QueueFull) => tokio::task::yield_now().await,
                Err(e) => panic!("flood send failed: {e}"),
            }
        }
    }
    sent
}

/// Waits until the hub has received nothing for 50 ms (bounded).
async fn quiet(received: &AtomicU64) {
    let watch = Stopwatch::start();
    let mut last = received.load(Ordering::Relaxed);
    while watch.elapsed() < SETUP_LIMIT {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = received.load(Ordering::Relaxed);
        if now == last {
            return;
        }
        last = now;
    }
    panic!("hub still receiving {SETUP_LIMIT:?} after the flood paused");
}

/// Starts a manager on `ip` that dials `hub`; milliseconds until the hub's
/// owner reports it connected, `None` past `ADMIT_LIMIT`.
async fn admit_once(
    hub: SocketAddr,
    ip: IpAddr,
    seed: u64,
    connected: &mut mpsc::UnboundedReceiver<PeerId>,
) -> Option<f64> {
    let watch = Stopwatch::start();
    let (manager, events) = start_manager(None, ip, vec![hub], seed).await;
    let admitted = hub_sees(connected, PeerId::new(ip), ADMIT_LIMIT).await;
    let ms = watch.secs() * 1e3;
    manager.shutdown().await;
    drop(events);
    admitted.then_some(ms)
}

/// The admission case: per round, one dial into the idle hub, then one
/// into the flooded hub.
async fn admission(rounds: usize) {
    let (hub, hub_events) = start_manager(Some(NODE_IP), NODE_IP, vec![], 500).await;
    let hub_addr = hub.listen_addr().expect("listening");
    let received = Arc::new(AtomicU64::new(0));
    let (connected_tx, mut connected) = mpsc::unbounded_channel();
    let owner = tokio::spawn(hub_owner(hub_events, received.clone(), connected_tx));
    let flood_ip = peer_ip(ADMIT_BASE);
    let (flooder, mut flooder_events) = start_manager(None, flood_ip, vec![hub_addr], 501).await;
    assert!(
        hub_sees(&mut connected, PeerId::new(flood_ip), SETUP_LIMIT).await,
        "flooder not connected"
    );
    wait_connected(&mut flooder_events, PeerId::new(NODE_IP)).await;
    let (on_tx, on_rx) = watch::channel(false);
    let stop = Arc::new(AtomicBool::new(false));
    let flood_task = tokio::spawn(flood(
        flooder.clone(),
        PeerId::new(NODE_IP),
        on_rx,
        stop.clone(),
    ));
    let (mut idle, mut loaded, mut rates) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        quiet(&received).await;
        let ip = peer_ip(ADMIT_BASE + 1 + 2 * r);
        idle.push(admit_once(hub_addr, ip, 600 + 2 * r as u64, &mut connected).await);
        on_tx.send_replace(true);
        // Let the flood reach its steady state first.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (before, watch) = (received.load(Ordering::Relaxed), Stopwatch::start());
        let ip = peer_ip(ADMIT_BASE + 2 + 2 * r);
        loaded.push(admit_once(hub_addr, ip, 601 + 2 * r as u64, &mut connected).await);
        rates.push((received.load(Ordering::Relaxed) - before) as f64 / watch.secs());
        on_tx.send_replace(false);
    }
    stop.store(true, Ordering::Relaxed);
    on_tx.send_replace(true);
    let sent = flood_task.await.expect("flood task");
    flooder.shutdown().await;
    hub.shutdown().await;
    drop(flooder_events);
    tokio::time::timeout(SETUP_LIMIT, owner)
        .await
        .expect("hub owner ends after shutdown")
        .expect("hub owner");
    let (rate, rate_lo, rate_hi) = spread(&rates);
    println!();
    println!(
        "admission: ms from ConnectionManager::start of a dialer to the hub's PeerEvent::Connected; timeout = not admitted within {ADMIT_LIMIT:?}"
    );
    println!(
        "flood: hub received {rate:.0} msgs/s (min..max {rate_lo:.0}..{rate_hi:.0}) during the flooded admissions; {sent} sent in all"
    );
    println!("| case | series | per round (ms) | median (ms) |");
    println!("|---|---|---|---|");
    for (series, values) in [("idle hub", &idle), ("flooded hub (1 peer, 64 B)", &loaded)] {
        let shown: Vec<String> = values
            .iter()
            .map(|v| v.map_or("timeout".to_string(), |ms| format!("{ms:.1}")))
            .collect();
        // A timeout counts as the limit for the median (a lower bound then).
        let ms: Vec<f64> = values
            .iter()
            .map(|v| v.unwrap_or(ADMIT_LIMIT.as_secs_f64() * 1e3))
            .collect();
        let (median, _, _) = spread(&ms);
        let timeouts = values.iter().filter(|v| v.is_none()).count();
        let median = if timeouts > values.len() / 2 {
            format!("> {median:.0}")
        } else {
            format!("{median:.1}")
        };
        println!("| admission | {series} | {} | {median} |", shown.join(", "));
    }
}
