//! The two-node exchange over real tokio TCP on loopback: a listener on
//! 127.0.0.1 (port 0) and dialers bound to 127.0.0.2 and 127.0.0.3 through
//! `ConnectionContext::local_ip`. Real time, each test bounded by a timeout.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use peerlink::error::ConnectionError;
use peerlink::transport::TcpTransport;
use peerlink::wire::Reason;
use peerlink::{Config, ConnectionDirection, NodeId, PeerId};

const NODE_LISTENER: u128 = 0x1111;
const NODE_DIALER: u128 = 0x2222;
/// Upper bound for any single wait on loopback.
const WAIT: Duration = Duration::from_secs(5);
/// Upper bound for a whole test.
const TEST_LIMIT: Duration = Duration::from_secs(10);

/// Handshake, App payloads both ways, an RTT measured on each side, the
/// peer ids the two ends see (127.0.0.2 at the listener, 127.0.0.1 at the
/// dialer), and an orderly close, over real TCP.
#[tokio::test(unhandled_panic = "shutdown_runtime")]
async fn two_nodes_exchange_over_loopback() {
    tokio::time::timeout(TEST_LIMIT, async {
        let config = Config::default();
        let node_ctx = context(NODE_LISTENER, config.clone(), None);
        let (addr, mut taps) = tcp_node(loopback(1), node_ctx, 1).await;
        assert_eq!(addr.ip(), loopback(1));
        assert_ne!(addr.port(), 0);

        let ctx = context(NODE_DIALER, config, Some(loopback(2)));
        let mut a = dial(&TcpTransport, addr, &ctx, conn_id(1), 2)
            .await
            .expect("dial");
        let b = taps.accepted.recv().await.expect("accepted").handle;
        let (a_info, b_info) = (a.handle.info().clone(), b.info().clone());

        assert_eq!(b_info.peer, PeerId::new(loopback(2)));
        assert_eq!(a_info.peer, PeerId::new(loopback(1)));
        assert_eq!(a_info.local_addr.ip(), loopback(2));
        assert_eq!(b_info.remote_addr, a_info.local_addr);
        assert_eq!(a_info.remote_addr, addr);
        assert_eq!(a_info.direction, ConnectionDirection::Outbound);
        assert_eq!(b_info.direction, ConnectionDirection::Inbound);
        assert_eq!(a_info.remote.node_id, NodeId(NODE_LISTENER));
        assert_eq!(b_info.remote.node_id, NodeId(NODE_DIALER));
        assert_eq!(b_info.id, conn_id(1));

        a.handle
            .send(Bytes::from_static(b"to-listener"))
            .expect("send");
        b.send(Bytes::from_static(b"to-dialer")).expect("send");
        let (_, got) = next_message(&mut taps.events, b_info.id, WAIT).await;
        assert_eq!(got, Bytes::from_static(b"to-listener"));
        let (_, got) = next_message(&mut a.events, a_info.id, WAIT).await;
        assert_eq!(got, Bytes::from_static(b"to-dialer"));

        // The first ping of each side goes out on establishment.
        let (_, a_rtt) = next_rtt(&mut a.events, a_info.id, WAIT).await;
        let (_, b_rtt) = next_rtt(&mut taps.events, b_info.id, WAIT).await;
        assert!(a_rtt > Duration::ZERO && a_rtt < WAIT, "{a_rtt:?}");
        assert!(b_rtt > Duration::ZERO && b_rtt < WAIT, "{b_rtt:?}");

        b.close(Reason::Shutdown);
        let (_, err) = next_closed(&mut taps.events, b_info.id, WAIT).await;
        assert!(
            matches!(err, ConnectionError::LocalClosed(Reason::Shutdown)),
            "{err:?}"
        );
        let (_, err) = next_closed(&mut a.events, a_info.id, WAIT).await;
        assert!(
            matches!(err, ConnectionError::RemoteClosed(Reason::Shutdown)),
            "{err:?}"
        );
        assert_eq!(a.panics.load(Ordering::SeqCst), 0);
        assert_eq!(taps.panics.load(Ordering::SeqCst), 0);
    })
    .await
    .expect("test finished in time");
}

/// Two dialers bound to different loopback addresses are two peers at the
/// listener, each identified by its source IP and never by its port.
#[tokio::test(unhandled_panic = "shutdown_runtime")]
async fn source_ip_is_the_peer_identity() {
    tokio::time::timeout(TEST_LIMIT, async {
        let config = Config::default();
        let (addr, mut taps) =
            tcp_node(loopback(1), context(NODE_LISTENER, config.clone(), None), 3).await;
        let mut peers = Vec::new();
        for (i, x) in [2u8, 3].into_iter().enumerate() {
            let ctx = context(NODE_DIALER + i as u128, config.clone(), Some(loopback(x)));
            let dialed = dial(&TcpTransport, addr, &ctx, conn_id(1), 4)
                .await
                .expect("dial");
            let accepted = taps.accepted.recv().await.expect("accepted").handle;
            let remote: SocketAddr = accepted.info().remote_addr;
            assert_eq!(accepted.info().peer, PeerId::new(loopback(x)));
            assert_eq!(PeerId::from_socket_addr(remote), PeerId::new(loopback(x)));
            assert_eq!(dialed.handle.info().local_addr.ip(), loopback(x));
            peers.push((dialed, accepted));
        }
        assert_ne!(peers[0].1.info().peer, peers[1].1.info().peer);
    })
    .await
    .expect("test finished in time");
}
