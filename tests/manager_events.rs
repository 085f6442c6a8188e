//! What the owner of a `ConnectionManager` sees on its `Events`, on real
//! TCP over loopback: messages framed by `Connected` and `Disconnected`,
//! back-pressure from a slow owner, and shutdown when the last handle goes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use peerlink::error::SendError;
use peerlink::manager::{ConnectionManager, Events, ManagerOptions, PeerEvent};
use peerlink::transport::TcpTransport;
use peerlink::wire::{Hello, Message, Reason, PROTOCOL_VERSION};
use peerlink::{Config, ConnectionId, DisconnectReason, NodeId, PeerId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

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

/// A hand-driven peer on real TCP: dials the node from its own source IP,
/// says hello as `node_id` and reads the node's `HelloAccept`.
struct RawPeer {
    stream: TcpStream,
}

impl RawPeer {
    async fn connect(from: IpAddr, node: SocketAddr, node_id: u128) -> RawPeer {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(from, 0)).unwrap();
        let mut stream = socket.connect(node).await.unwrap();
        let hello = Hello {
            version: PROTOCOL_VERSION,
            network_id: Config::default().network_id,
            node_id: NodeId(node_id),
            listen_port: 0,
        };
        stream
            .write_all(&Message::Hello(hello).to_frame())
            .await
            .unwrap();
        let mut peer = RawPeer { stream };
        let reply = peer.read_message().await;
        assert!(matches!(reply, Message::HelloAccept(_)), "{reply:?}");
        peer
    }

    /// Sends `App` messages of 1 KiB, each starting with `tag` and its
    /// index, in one write.
    async fn send_apps(&mut self, tag: u8, count: u8) {
        let mut bytes = Vec::new();
        for i in 0..count {
            bytes.extend_from_slice(&Message::App(app(tag, i)).to_frame());
        }
        self.stream.write_all(&bytes).await.unwrap();
    }

    /// Sends a ping and waits for its pong: the node has read everything
    /// sent before it.
    async fn ping_pong(&mut self, nonce: u64) {
        let ping = Message::Ping {
            nonce,
            timestamp_ms: 0,
        };
        self.stream.write_all(&ping.to_frame()).await.unwrap();
        let pong = Message::Pong {
            nonce,
            timestamp_ms: 0,
        };
        assert_eq!(self.read_message().await, pong);
    }

    /// The next message the node sends, skipping pings.
    async fn read_message(&mut self) -> Message {
        tokio::time::timeout(LIMIT, self.read_message_unbounded())
            .await
            .expect("a message from the node within the limit")
    }

    async fn read_message_unbounded(&mut self) -> Message {
        loop {
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).await.unwrap();
            let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
            self.stream.read_exact(&mut body).await.unwrap();
            match Message::decode(Bytes::from(body)).unwrap() {
                Message::Ping { .. } => continue,
                message => return message,
            }
        }
    }
}

/// The payload of message `index` tagged `tag`: 1 KiB.
fn app(tag: u8, index: u8) -> Bytes {
    let mut payload = vec![0u8; 1024];
    payload[..2].copy_from_slice(&[tag, index]);
    Bytes::from(payload)
}

/// The next `count` events, all messages from `peer`: for each, its
/// connection and the tag and index its payload starts with, after
/// checking the payload is the one [`app`] made.
async fn take_apps(events: &mut Events, peer: PeerId, count: usize) -> Vec<(ConnectionId, u8, u8)> {
    let mut got = Vec::new();
    for _ in 0..count {
        match next(events).await {
            Some(PeerEvent::Message {
                peer: p,
                conn_id,
                bytes,
            }) if p == peer && bytes.len() == 1024 => {
                assert_eq!(bytes, app(bytes[0], bytes[1]));
                got.push((conn_id, bytes[0], bytes[1]));
            }
            other => panic!("expected a message from {peer}, got {other:?}"),
        }
    }
    got
}

/// Messages 0..count tagged `tag` on `conn`, as [`take_apps`] lists them.
fn apps(conn: ConnectionId, tag: u8, count: u8) -> Vec<(ConnectionId, u8, u8)> {
    (0..count).map(|i| (conn, tag, i)).collect()
}

/// A superseded connection keeps what it had read. The peer restarts (a
/// new node id from the same IP) while its old connection holds a batch it
/// read but could not yet hand over (the owner's 4 KiB budget is taken).
/// The new connection replaces the old one at once; the old one still
/// delivers its held batch, tagged with its own id, after the new
/// connection's `Connected`, and only then says `Goodbye(duplicate)`; the
/// peer never disconnects. Exact outcome: `Connected(old)` first; old's
/// messages are all of A and a prefix of B, in order, some of them after
/// `Connected(new)`; new's are all of C, in order; nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_superseded_connection_delivers_what_it_read() {
    // Time for the node to read batch B (8 KiB, never more than a few
    // reads) before the peer restarts. A held batch stops the connection's
    // reads, so no pong can confirm it; on loopback a read takes
    // microseconds.
    const SETTLE: Duration = Duration::from_millis(500);
    let config = {
        let mut c = Config::default();
        c.event_queue_bytes = 4096;
        c
    };
    let (node, mut events) = start(7, config, vec![]).await;
    let node_addr = node.listen_addr().unwrap();
    let from = ip(8);

    let mut old = RawPeer::connect(from, node_addr, 1).await;
    // Batch A (2 KiB) fits the budget; the pong shows the node read it.
    old.send_apps(b'A', 2).await;
    old.ping_pong(1).await;
    // Batch B does not fit what is left: the node reads it and holds what
    // the owner has no room for.
    old.send_apps(b'B', 8).await;
    tokio::time::sleep(SETTLE).await;
    // The peer restarts: a new node id from the same IP replaces `old`.
    let mut new = RawPeer::connect(from, node_addr, 2).await;
    new.send_apps(b'C', 2).await;

    let peer = PeerId::new(from);
    let old_id = match next(&mut events).await {
        Some(PeerEvent::Connected {
            peer: p, conn_id, ..
        }) if p == peer => conn_id,
        other => panic!("expected Connected(old), got {other:?}"),
    };
    // Everything up to the replacement's `Connected` is the old
    // connection's.
    let mut before = Vec::new();
    let new_id = loop {
        match next(&mut events).await {
            Some(PeerEvent::Message {
                peer: p,
                conn_id,
                bytes,
            }) if p == peer && conn_id == old_id => before.push((conn_id, bytes[0], bytes[1])),
            Some(PeerEvent::Connected {
                peer: p,
                conn_id,
                node_id,
                ..
            }) if p == peer => {
                assert_eq!(node_id, NodeId(2));
                break conn_id;
            }
            other => panic!("expected old's messages or Connected(new), got {other:?}"),
        }
    };
    assert!(new_id > old_id);
    // The owner took what came before, so the held batch goes out; the old
    // connection then says why it closes. Everything it read is queued by
    // then.
    assert_eq!(
        old.read_message().await,
        Message::Goodbye(Reason::Duplicate)
    );
    let mut after = Vec::new();
    let mut from_new = 0;
    while from_new < 2 {
        let got = take_apps(&mut events, peer, 1).await;
        from_new += got.iter().filter(|m| m.0 == new_id).count();
        after.extend(got);
    }
    if let Ok(event) = events.try_recv() {
        panic!("nothing more was sent, got {event:?}");
    }
    let on = |conn| -> Vec<_> { after.iter().copied().filter(|m| m.0 == conn).collect() };
    // The old connection delivered A and what it had read of B (a
    // prefix: how much of B it read before the close depends on its read
    // sizes), in order, and at least the batch it held came after the
    // replacement's `Connected`.
    let late = on(old_id);
    assert!(
        !late.is_empty(),
        "the held batch arrived after Connected(new)"
    );
    let old_all: Vec<_> = before.iter().chain(&late).copied().collect();
    let b_read = u8::try_from(old_all.len() - 2).unwrap();
    assert!(b_read >= 1);
    let mut expected = apps(old_id, b'A', 2);
    expected.extend(apps(old_id, b'B', b_read));
    assert_eq!(old_all, expected);
    assert_eq!(on(new_id), apps(new_id, b'C', 2));
    node.shutdown().await;
}
