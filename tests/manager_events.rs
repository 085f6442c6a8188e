//! What the owner of a `ConnectionManager` sees on its `Events`, on real
//! TCP over loopback: messages framed by `Connected` and `Disconnected`,
//! back-pressure from a slow owner, and shutdown when the last handle goes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use peerlink::error::SendError;
use peerlink::manager::{ConnectionManager, Events, ManagerOptions, PeerEvent};
use peerlink::transport::TcpTransport;
use peerlink::wire::Reason;
use peerlink::{Config, DisconnectReason, PeerId};

/// Every wait in these tests is bounded by this.
const LIMIT: Duration = Duration::from_secs(20);

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 4, last))
}

async fn start(last: u8, config: Config, peers: Vec<SocketAddr>) -> (ConnectionManager, Events) {
    let options = ManagerOptions {
        listen: Some(SocketAddr::new(ip(last), 0)),
        local_ip: Some(ip(last)),
        seed: Some(u64::from(last)),
        peers,
    };
    ConnectionManager::start(TcpTransport, config, options)
        .await
        .expect("manager starts")
}

/// The next event other than a round-trip time, within [`LIMIT`].
async fn next(events: &mut Events) -> Option<PeerEvent> {
    let event = async {
        loop {
            match events.recv().await {
                Some(PeerEvent::Rtt { .. }) => continue,
                other => return other,
            }
        }
    };
    tokio::time::timeout(LIMIT, event)
        .await
        .expect("an event within the limit")
}

/// Waits for `Connected` and returns the peer.
async fn connected(events: &mut Events) -> PeerId {
    match next(events).await {
        Some(PeerEvent::Connected { peer, .. }) => peer,
        other => panic!("expected Connected, got {other:?}"),
    }
}

/// A node dialled by a peer that sends 5,000 messages and then shuts down
/// sees exactly: `Connected`, the 5,000 messages in order on that
/// connection, then `Disconnected(shutdown)`, and nothing in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_arrive_between_connected_and_disconnected() {
    let (receiver, mut receiver_events) = start(1, Config::default(), vec![]).await;
    let addr = receiver.listen_addr().unwrap();
    let (sender, mut sender_events) = start(2, Config::default(), vec![addr]).await;
    let to_receiver = connected(&mut sender_events).await;
    const N: u32 = 5_000;
    for i in 0..N {
        let payload = Bytes::copy_from_slice(&i.to_be_bytes());
        sender.send_wait(to_receiver, payload).await.unwrap();
    }
    sender.shutdown().await;

    let (peer, conn) = match next(&mut receiver_events).await {
        Some(PeerEvent::Connected { peer, conn_id, .. }) => (peer, conn_id),
        other => panic!("expected Connected first, got {other:?}"),
    };
    assert_eq!(peer, PeerId::new(ip(2)));
    for i in 0..N {
        match next(&mut receiver_events).await {
            Some(PeerEvent::Message {
                peer: p,
                conn_id,
                bytes,
            }) => {
                assert_eq!((p, conn_id), (peer, conn));
                assert_eq!(bytes.as_ref(), i.to_be_bytes(), "message {i} out of order");
            }
            other => panic!("expected message {i}, got {other:?}"),
        }
    }
    match next(&mut receiver_events).await {
        Some(PeerEvent::Disconnected {
            peer: p,
            conn_id,
            reason,
        }) => assert_eq!(
            (p, conn_id, reason),
            (peer, conn, DisconnectReason::Remote(Reason::Shutdown))
        ),
        other => panic!("expected Disconnected after the last message, got {other:?}"),
    }
    receiver.shutdown().await;
}

/// An owner that stops taking events holds at most its byte budget of
/// messages: the connection stops reading, TCP and the peer's send queue
/// fill, and the peer's sends stay refused with `QueueFull` long before
/// 50 MB are sent (without the budget, the connection would keep reading
/// into the owner's queue, 1024 batches of up to 256 KiB, and the sender
/// would get through all 50 MB). Once the owner reads again, every
/// message that was queued arrives, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_owner_back_pressures_the_sender() {
    let config = {
        let mut c = Config::default();
        c.event_queue_bytes = 64 * 1024;
        c
    };
    let (receiver, mut receiver_events) = start(3, config, vec![]).await;
    let addr = receiver.listen_addr().unwrap();
    let (sender, mut sender_events) = start(4, Config::default(), vec![addr]).await;
    let to_receiver = connected(&mut sender_events).await;
    let payload = |i: u32| {
        let mut p = vec![0u8; 1024];
        p[..4].copy_from_slice(&i.to_be_bytes());
        Bytes::from(p)
    };
    const MAX: u32 = 50_000;
    let mut sent = 0;
    // Rounds of: send until the queue refuses, then give the connections
    // time to move what they can. Once the owner's budget is full the
    // pipeline stops, and a round queues nothing more.
    let mut stalled = false;
    let fill = async {
        while sent < MAX && !stalled {
            let before = sent;
            while sent < MAX {
                match sender.send(to_receiver, payload(sent)) {
                    Ok(()) => sent += 1,
                    Err(SendError::QueueFull) => break,
                    Err(e) => panic!("send failed: {e}"),
                }
                if sent % 256 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            stalled = sent == before;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(LIMIT, fill).await.unwrap();
    assert!(
        stalled && sent < MAX,
        "{sent} messages of 1 KiB queued while the owner read nothing"
    );

    assert!(matches!(
        next(&mut receiver_events).await,
        Some(PeerEvent::Connected { .. })
    ));
    for i in 0..sent {
        match next(&mut receiver_events).await {
            Some(PeerEvent::Message { bytes, .. }) => {
                assert_eq!(bytes[..4], i.to_be_bytes(), "message {i} out of order");
            }
            other => panic!("expected message {i}, got {other:?}"),
        }
    }
    sender.shutdown().await;
    receiver.shutdown().await;
}

/// Dropping the last handle of a manager shuts it down like `shutdown()`:
/// its peer gets `Goodbye(shutdown)` and reports `Disconnected(shutdown)`,
/// and the dropped manager's `Events` ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_handle_shuts_the_manager_down() {
    let (stays, mut stays_events) = start(5, Config::default(), vec![]).await;
    let addr = stays.listen_addr().unwrap();
    let (goes, mut goes_events) = start(6, Config::default(), vec![addr]).await;
    connected(&mut goes_events).await;
    let peer = connected(&mut stays_events).await;
    let clone = goes.clone();
    drop(goes);
    // One handle is left: nothing happens yet.
    assert!(!clone.is_finished());
    drop(clone);
    match next(&mut stays_events).await {
        Some(PeerEvent::Disconnected {
            peer: p, reason, ..
        }) => assert_eq!(
            (p, reason),
            (peer, DisconnectReason::Remote(Reason::Shutdown))
        ),
        other => panic!("expected Disconnected(shutdown), got {other:?}"),
    }
    let ended = async { while goes_events.recv().await.is_some() {} };
    tokio::time::timeout(LIMIT, ended)
        .await
        .expect("the dropped manager's events end");
    stays.shutdown().await;
}
