//! ConnectionManager on real tokio TCP over loopback: three nodes on
//! 127.0.0.1–3, each told about the others at the same instant.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use peerlink::manager::{ConnectionManager, Events, ManagerOptions, PeerEvent, PeerState};
use peerlink::transport::TcpTransport;
use peerlink::{Config, PeerId};

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

async fn start(last: u8, seed: u64) -> (ConnectionManager, Events) {
    let options = ManagerOptions {
        listen: Some(SocketAddr::new(ip(last), 0)),
        local_ip: Some(ip(last)),
        seed: Some(seed),
        peers: vec![],
    };
    ConnectionManager::start(TcpTransport, Config::default(), options)
        .await
        .expect("manager starts")
}

/// Waits (bounded) until `cond` holds on the managers' snapshots.
async fn wait_for(managers: &[ConnectionManager], cond: impl Fn(&[ConnectionManager]) -> bool) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while !cond(managers) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        let tables: Vec<String> = managers.iter().map(|m| m.snapshot().to_string()).collect();
        panic!("condition not reached in 10 s:\n{}", tables.join("\n"))
    });
}

/// Three nodes started together, each dialling the other two at once, form
/// exactly three connections, the same TCP connection on both ends of each
/// pair; application messages reach each peer once; shutdown sends every
/// peer a goodbye.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_node_mesh_on_loopback() {
    let mut nodes = Vec::new();
    for last in 1..=3u8 {
        nodes.push(start(last, u64::from(last)).await);
    }
    let addrs: Vec<SocketAddr> = nodes
        .iter()
        .map(|(m, _)| m.listen_addr().unwrap())
        .collect();
    for (i, (manager, _)) in nodes.iter().enumerate() {
        for (j, addr) in addrs.iter().enumerate() {
            if i != j {
                manager.add_peer(*addr);
            }
        }
    }
    let managers: Vec<ConnectionManager> = nodes.iter().map(|(m, _)| m.clone()).collect();
    let mut receivers: Vec<_> = nodes.into_iter().map(|(_, rx)| rx).collect();
    wait_for(&managers, |ms| {
        ms.iter().all(|m| {
            let s = m.snapshot();
            s.open_connections() == 2
                && s.peers
                    .iter()
                    .all(|r| r.state == PeerState::Connected && r.pending == 0)
        })
    })
    .await;
    for (i, a) in managers.iter().enumerate() {
        for (j, b) in managers.iter().enumerate().skip(i + 1) {
            let ra = a
                .snapshot()
                .peer(PeerId::new(ip(j as u8 + 1)))
                .cloned()
                .unwrap();
            let rb = b
                .snapshot()
                .peer(PeerId::new(ip(i as u8 + 1)))
                .cloned()
                .unwrap();
            assert_eq!(ra.connections.len(), 1);
            assert_eq!(rb.connections.len(), 1);
            let (ca, cb) = (&ra.connections[0], &rb.connections[0]);
            assert_eq!(
                (ca.local_addr, ca.remote_addr),
                (cb.remote_addr, cb.local_addr)
            );
        }
    }
    // A broadcast from node 1 reaches exactly nodes 2 and 3, once each.
    let report = managers[0].broadcast(Bytes::from_static(b"block 42"));
    assert_eq!(report.queued, vec![PeerId::new(ip(2)), PeerId::new(ip(3))]);
    assert!(report.failed.is_empty());
    for rx in receivers.iter_mut().skip(1) {
        let got = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let Some(PeerEvent::Message { peer, bytes, .. }) = rx.recv().await {
                    return (peer, bytes);
                }
            }
        })
        .await
        .expect("broadcast arrives");
        assert_eq!(got, (PeerId::new(ip(1)), Bytes::from_static(b"block 42")));
    }
    // Shutdown of node 1: the others see it leave with reason "shutdown".
    managers[0].shutdown().await;
    assert!(managers[0].is_finished());
    for rx in receivers.iter_mut().skip(1) {
        let reason = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let Some(PeerEvent::Disconnected { peer, reason, .. }) = rx.recv().await {
                    if peer == PeerId::new(ip(1)) {
                        return reason;
                    }
                }
            }
        })
        .await
        .expect("disconnect seen");
        assert_eq!(
            reason,
            peerlink::DisconnectReason::Remote(peerlink::Reason::Shutdown)
        );
    }
    for m in &managers[1..] {
        m.shutdown().await;
    }
}

/// Shutdown returns even when the owner never reads events and the event
/// queue is full: it may be the very task awaiting `shutdown()`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_a_full_event_queue() {
    let config = {
        let mut c = Config::default();
        c.event_queue_len = 1;
        c
    };
    let options = |last: u8| ManagerOptions {
        listen: Some(SocketAddr::new(ip(last), 0)),
        local_ip: Some(ip(last)),
        seed: Some(u64::from(last)),
        peers: vec![],
    };
    let (stuck, _never_read) = ConnectionManager::start(TcpTransport, config, options(4))
        .await
        .unwrap();
    let (sender, mut sender_events) =
        ConnectionManager::start(TcpTransport, Config::default(), options(5))
            .await
            .unwrap();
    sender.add_peer(stuck.listen_addr().unwrap());
    let peer = loop {
        if let Some(PeerEvent::Connected { peer, .. }) = sender_events.recv().await {
            break peer;
        }
    };
    for i in 0..50u8 {
        let _ = sender.send(peer, Bytes::from(vec![i; 16]));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::time::timeout(Duration::from_secs(10), stuck.shutdown())
        .await
        .expect("shutdown returns although nobody reads events");
    assert!(stuck.is_finished());
    sender.shutdown().await;
}
