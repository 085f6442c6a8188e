//! The figures a manager's snapshot carries for operators, on real TCP
//! over loopback: per-connection traffic and ages, send-queue refusals,
//! the manager's totals (kept after a connection ends), opens and closes
//! by direction and reason, the handshake and RTT histograms, and the last
//! and minimum RTT.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use peerlink::manager::{ConnectionManager, Events, ManagerOptions, PeerEvent, Snapshot, Traffic};
use peerlink::transport::TcpTransport;
use peerlink::{Config, ConnectionDirection, DisconnectReason, PeerId, Reason, SendError};

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

async fn start(last: u8, config: Config) -> (ConnectionManager, Events) {
    let options = ManagerOptions {
        listen: Some(SocketAddr::new(ip(last), 0)),
        local_ip: Some(ip(last)),
        seed: Some(u64::from(last)),
        peers: vec![],
    };
    ConnectionManager::start(TcpTransport, config, options)
        .await
        .expect("manager starts")
}

/// Waits (bounded) until `cond` holds on `m`'s snapshot.
async fn wait_for(m: &ConnectionManager, cond: impl Fn(&Snapshot) -> bool) -> Snapshot {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let snap = m.snapshot();
            if cond(&snap) {
                return snap;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("condition not reached in 10 s:\n{}", m.snapshot()))
}

/// The one connection's figures in `snap`.
fn only_traffic(snap: &Snapshot) -> Traffic {
    let conns: Vec<_> = snap.peers.iter().flat_map(|r| &r.connections).collect();
    assert_eq!(conns.len(), 1, "{snap}");
    conns[0]
        .stats
        .expect("the manager fills connection stats")
        .traffic
}

/// Node 6 dials node 7 and sends 50 messages of 100 bytes into a queue of
/// 4 frames without waiting: every refusal is counted as a send-queue-full
/// event, every accepted message as one message and 105 bytes (4-byte
/// length, type, payload) out on one side and in on the other, exactly,
/// beside the one ping and pong each end writes at the start (the next
/// are an hour away). The totals survive the connection's end, and
/// the close is counted by direction and by who closed it (the peer's
/// goodbye counts 6 bytes in).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_and_closes_are_counted_exactly() {
    let mut config = Config::default();
    config.send_queue_len = 4;
    config.ping_interval = Duration::from_secs(3600);
    let (a, mut a_rx) = start(6, config.clone()).await;
    let (b, mut b_rx) = start(7, config).await;
    a.add_peer(b.listen_addr().unwrap());
    let peer_b = PeerId::new(ip(7));
    loop {
        match a_rx.recv().await {
            Some(PeerEvent::Connected { peer, .. }) if peer == peer_b => break,
            Some(_) => {}
            None => panic!("events ended"),
        }
    }
    let (mut ok, mut full) = (0u64, 0u64);
    for i in 0..50u8 {
        match a.send(peer_b, Bytes::from(vec![i; 100])) {
            Ok(()) => ok += 1,
            Err(SendError::QueueFull) => full += 1,
            Err(e) => panic!("send failed: {e}"),
        }
    }
    assert!(ok >= 1 && full >= 1, "ok {ok}, full {full}");
    let mut received = 0;
    while received < ok {
        let event = tokio::time::timeout(Duration::from_secs(5), b_rx.recv()).await;
        if let Ok(Some(PeerEvent::Message { .. })) = event {
            received += 1;
        }
    }
    // Each end pings once at the start (the next ping is an hour away):
    // wait until both pings are answered and every byte one end wrote
    // has been read by the other.
    let settled = |a: &Snapshot, b: &Snapshot| {
        let (ta, tb) = (only_traffic(a), only_traffic(b));
        let no_ping = |s: &Snapshot| {
            s.peers[0].connections[0]
                .stats
                .unwrap()
                .ping_pending
                .is_none()
        };
        ta.messages_out == ok
            && ta.bytes_out == tb.bytes_in
            && tb.bytes_out == ta.bytes_in
            && tb.bytes_out > 0
            && no_ping(a)
            && no_ping(b)
    };
    let (sent, got) = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (sa, sb) = (a.snapshot(), b.snapshot());
            if settled(&sa, &sb) {
                return (sa, sb);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("traffic settles");
    // B wrote only control frames (its ping and its pong); A wrote the
    // same two, plus 105 bytes per message.
    let control = only_traffic(&got).bytes_out;
    let expected_out = Traffic {
        bytes_in: control,
        bytes_out: ok * 105 + control,
        messages_out: ok,
        send_queue_full: full,
        ..Traffic::default()
    };
    assert_eq!(only_traffic(&sent), expected_out);
    assert_eq!(sent.stats.traffic, expected_out);
    let expected_in = Traffic {
        bytes_in: ok * 105 + control,
        bytes_out: control,
        messages_in: ok,
        ..Traffic::default()
    };
    assert_eq!(only_traffic(&got), expected_in);
    let row = &got.peers[0].connections[0];
    let stats = row.stats.unwrap();
    assert!(
        stats.last_receive.is_some_and(|d| d <= stats.age),
        "{stats:?}"
    );
    assert!(stats.last_send.is_some_and(|d| d <= stats.age), "{stats:?}");
    assert_eq!(row.direction, ConnectionDirection::Inbound);
    b.shutdown().await;
    let after = wait_for(&a, |s| s.open_connections() == 0).await;
    // Kept after the close, plus B's goodbye: 4-byte length, type, reason.
    let with_goodbye = Traffic {
        bytes_in: control + 6,
        ..expected_out
    };
    assert_eq!(after.stats.traffic, with_goodbye);
    let closed: Vec<_> = after.stats.closed.clone().into_iter().collect();
    let remote = DisconnectReason::Remote(Reason::Shutdown);
    assert_eq!(closed, vec![((ConnectionDirection::Outbound, remote), 1)]);
    let closed: Vec<_> = b.snapshot().stats.closed.into_iter().collect();
    let local = DisconnectReason::Local(Reason::Shutdown);
    assert_eq!(closed, vec![((ConnectionDirection::Inbound, local), 1)]);
    assert_eq!(
        (after.stats.dials, after.stats.handshake_duration.count()),
        (1, 1)
    );
    a.shutdown().await;
}

/// With pings every 50 ms, both ends measure RTTs: the last and the
/// minimum are set (minimum no larger), the RTT histogram counts at least
/// as many as the rows have seen, and each side's handshake was timed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtts_are_kept() {
    let mut config = Config::default();
    config.ping_interval = Duration::from_millis(50);
    let (a, _a_rx) = start(8, config.clone()).await;
    let (b, _b_rx) = start(9, config).await;
    a.add_peer(b.listen_addr().unwrap());
    for m in [&a, &b] {
        let snap = wait_for(m, |s| s.stats.ping_rtt.count() >= 3).await;
        let row = &snap.peers[0];
        let (last, min) = (row.last_rtt.unwrap(), row.min_rtt.unwrap());
        assert!(min <= last, "min {min:?} last {last:?}");
        assert!(snap.stats.ping_rtt.sum >= min * 3);
        assert_eq!(snap.stats.handshake_duration.count(), 1);
        let opened: Vec<_> = snap.stats.opened.clone().into_iter().collect();
        assert_eq!(opened.len(), 1);
        assert_eq!(opened[0].1, 1);
    }
    a.shutdown().await;
    b.shutdown().await;
}
