//! Unit tests of the `PeerTable`'s decisions, with no runtime and no socket.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Action, PeerTable};
use crate::config::Config;
use crate::error::ConnectionError;
use crate::id::{ConnectionDirection, ConnectionId, NodeId, PeerId};
use crate::manager::{PeerEvent, PeerState};
use crate::peer::{ConnectionHandle, ConnectionInfo, SendQueue};
use crate::registry::PeerConnectionRegistry;
use crate::wire::{Hello, Reason, PROTOCOL_VERSION};

const LOCAL: NodeId = NodeId(9);
const PEER_NODE: NodeId = NodeId(3);

fn addr(last: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)), port)
}

fn table(config: Config) -> (PeerTable, PeerConnectionRegistry) {
    let registry = PeerConnectionRegistry::default();
    let rng = ChaCha8Rng::seed_from_u64(1);
    let t = PeerTable::new(Arc::new(config), LOCAL, None, rng, registry.clone());
    (t, registry)
}

/// A detached handle for connection `id` to 10.0.0.2 in `direction`.
struct FakeConn {
    handle: ConnectionHandle,
    _queue: SendQueue,
    close: mpsc::Receiver<Reason>,
}

fn conn(id: u64, direction: ConnectionDirection, node: NodeId, now: Instant) -> FakeConn {
    let (local_port, remote_port) = match direction {
        ConnectionDirection::Outbound => (40000 + id as u16, 9000),
        ConnectionDirection::Inbound => (9000, 50000 + id as u16),
    };
    let info = ConnectionInfo {
        id: ConnectionId(id),
        peer: PeerId::new(addr(2, 0).ip()),
        direction,
        local_addr: addr(1, local_port),
        remote_addr: addr(2, remote_port),
        remote: Hello {
            version: PROTOCOL_VERSION,
            network_id: 0,
            node_id: node,
            listen_port: 9000,
        },
        established_at: now,
    };
    let (handle, queue, close) = ConnectionHandle::detached(info, 8);
    FakeConn {
        handle,
        _queue: queue,
        close,
    }
}

fn dial_ids(actions: &[Action]) -> Vec<ConnectionId> {
    let dials = actions.iter().filter_map(|a| match a {
        Action::Dial { id, .. } => Some(*id),
        Action::Emit(_) => None,
    });
    dials.collect()
}

fn events(actions: Vec<Action>) -> Vec<PeerEvent> {
    let emitted = actions.into_iter().filter_map(|a| match a {
        Action::Emit(e) => Some(e),
        Action::Dial { .. } => None,
    });
    emitted.collect()
}

fn peer() -> PeerId {
    PeerId::new(addr(2, 0).ip())
}

/// Admission refuses with the precise reason: deny list, one pending inbound
/// handshake per IP, the pending cap, the inbound cap.
#[test]
fn admission_limits() {
    let config = {
        let mut c = Config::default();
        c.deny = [addr(7, 0).ip()].into();
        c.max_pending_handshakes = 2;
        c.max_inbound = 3;
        c
    };
    let (mut t, _) = table(config);
    assert_eq!(
        t.on_accept(addr(7, 5000), Instant::now()),
        Err(Reason::Denied)
    );
    let first = t.on_accept(addr(2, 5000), Instant::now()).unwrap();
    assert_eq!(
        t.on_accept(addr(2, 5001), Instant::now()),
        Err(Reason::TooManyPending)
    );
    t.on_accept(addr(3, 5000), Instant::now()).unwrap();
    assert_eq!(
        t.on_accept(addr(4, 5000), Instant::now()),
        Err(Reason::TooManyPending)
    );
    t.on_handshake_failed(
        first,
        Some(Reason::HandshakeTimeout),
        Instant::now(),
        &mut Vec::new(),
    );
    t.on_accept(addr(4, 5000), Instant::now()).unwrap();
    let mut actions = Vec::new();
    let c = conn(99, ConnectionDirection::Inbound, NodeId(5), Instant::now());
    t.on_established(c.handle.clone(), &mut actions);
    // 1 live + 2 pending inbound = the cap of 3.
    assert_eq!(
        t.on_accept(addr(5, 5000), Instant::now()),
        Err(Reason::TooManyPending)
    );
    assert_eq!(t.snapshot().stats.inbound_refused, 4);
}

/// The tie-break closes the loser with `Duplicate`, the registry points at
/// the winner, and the loser's later `Closed` changes nothing visible
/// (generation guard, origin bug #10).
#[test]
fn duplicate_resolution_and_generation_guard() {
    let (mut t, registry) = table(Config::default());
    let now = Instant::now();
    let mut actions = Vec::new();
    let mut inbound = conn(1, ConnectionDirection::Inbound, PEER_NODE, now);
    t.on_established(inbound.handle.clone(), &mut actions);
    let mut outbound = conn(2, ConnectionDirection::Outbound, PEER_NODE, now);
    t.on_established(outbound.handle.clone(), &mut actions);
    // Local id 9 > peer id 3: the connection we dialled survives.
    assert_eq!(inbound.close.try_recv(), Ok(Reason::Duplicate));
    assert!(outbound.close.try_recv().is_err());
    let snap = t.snapshot();
    let row = snap.peer(peer()).unwrap();
    assert_eq!(row.active, Some(ConnectionId(2)));
    assert_eq!(row.counters.duplicates_closed, 1);
    assert_eq!(registry.connected_peers(), vec![peer()]);
    let connected: Vec<_> = events(actions)
        .into_iter()
        .map(|e| match e {
            PeerEvent::Connected { conn_id, .. } => conn_id,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(connected, vec![ConnectionId(1), ConnectionId(2)]);
    // The loser ends: nothing visible, no redial, still connected.
    let mut actions = Vec::new();
    let loser = ConnectionError::LocalClosed(Reason::Duplicate);
    t.on_closed(ConnectionId(1), &loser, now, &mut actions);
    assert!(actions.is_empty());
    let snap = t.snapshot();
    assert_eq!(snap.peer(peer()).unwrap().active, Some(ConnectionId(2)));
    assert_eq!(snap.open_connections(), 1);
    assert!(registry.is_connected(peer()));
    // A second Closed for the same stale id is ignored too.
    t.on_closed(ConnectionId(1), &loser, now, &mut actions);
    assert!(actions.is_empty() && registry.is_connected(peer()));
    drop(outbound);
}

/// One dial in flight per peer (origin bug #5); a failed dial backs off; a
/// peer that disconnects can always be redialled (origin bug #7).
#[test]
fn one_dial_in_flight_then_backoff_then_redial() {
    let (mut t, _) = table(Config::default());
    let t0 = Instant::now();
    assert!(t.add_peer(addr(2, 9000), t0));
    let mut actions = Vec::new();
    t.poll(t0, &mut actions);
    let first = dial_ids(&actions);
    assert_eq!(first.len(), 1);
    for later in [
        t0,
        t0 + Duration::from_secs(60),
        t0 + Duration::from_secs(600),
    ] {
        let mut again = Vec::new();
        t.poll(later, &mut again);
        assert!(
            dial_ids(&again).is_empty(),
            "second dial while one is in flight"
        );
    }
    assert_eq!(t.snapshot().peer(peer()).unwrap().state, PeerState::Dialing);
    t.on_handshake_failed(first[0], None, t0, &mut Vec::new());
    let due = t.next_deadline().unwrap();
    assert!(due >= t0 + Duration::from_secs(5) && due <= t0 + Duration::from_millis(6250));
    assert_eq!(t.snapshot().peer(peer()).unwrap().state, PeerState::Backoff);
    let mut actions = Vec::new();
    t.poll(due - Duration::from_millis(1), &mut actions);
    assert!(actions.is_empty());
    t.poll(due, &mut actions);
    let second = dial_ids(&actions);
    assert_eq!(second.len(), 1);
    // It connects, lives an hour, dies: it is redialled.
    let c = conn(second[0].0, ConnectionDirection::Outbound, PEER_NODE, due);
    let mut actions = Vec::new();
    t.on_established(c.handle.clone(), &mut actions);
    let died = due + Duration::from_secs(3600);
    let mut actions = Vec::new();
    t.on_closed(second[0], &ConnectionError::Eof, died, &mut actions);
    assert!(matches!(
        events(actions)[..],
        [PeerEvent::Disconnected {
            reason: Reason::ConnectionLost,
            ..
        }]
    ));
    let redial_at = t.next_deadline().expect("redial scheduled");
    assert!(redial_at <= died + Duration::from_millis(6250));
    let mut actions = Vec::new();
    t.poll(redial_at, &mut actions);
    assert_eq!(dial_ids(&actions).len(), 1);
    let row = t.snapshot().peer(peer()).unwrap().clone();
    assert_eq!(
        (
            row.counters.dials,
            row.counters.dial_failures,
            row.counters.connections
        ),
        (3, 1, 1)
    );
}

/// A dial that reaches ourselves is never retried.
#[test]
fn self_connection_stops_dialling() {
    let (mut t, _) = table(Config::default());
    let t0 = Instant::now();
    t.add_peer(addr(2, 9000), t0);
    let mut actions = Vec::new();
    t.poll(t0, &mut actions);
    let id = dial_ids(&actions)[0];
    t.on_handshake_failed(id, Some(Reason::SelfConnection), t0, &mut Vec::new());
    assert_eq!(t.next_deadline(), None);
    let mut actions = Vec::new();
    t.poll(t0 + Duration::from_secs(86400), &mut actions);
    assert!(actions.is_empty());
}

/// A goodbye "duplicate" from the peer with no other connection left waits
/// one handshake timeout without counting a failure; the second in a row
/// backs off normally.
#[test]
fn remote_duplicate_grace_then_backoff() {
    let config = Config::default();
    let (mut t, _) = table(config.clone());
    let t0 = Instant::now();
    t.add_peer(addr(2, 9000), t0);
    let mut actions = Vec::new();
    t.poll(t0, &mut actions);
    let id = dial_ids(&actions)[0];
    let c = conn(id.0, ConnectionDirection::Outbound, PEER_NODE, t0);
    t.on_established(c.handle.clone(), &mut actions);
    let remote_dup = ConnectionError::RemoteClosed(Reason::Duplicate);
    let mut actions = Vec::new();
    t.on_closed(id, &remote_dup, t0, &mut actions);
    assert_eq!(t.next_deadline(), Some(t0 + config.handshake_timeout));
    let mut actions = Vec::new();
    t.poll(t0 + config.handshake_timeout, &mut actions);
    let id2 = dial_ids(&actions)[0];
    let t1 = t0 + config.handshake_timeout;
    let c2 = conn(id2.0, ConnectionDirection::Outbound, PEER_NODE, t1);
    t.on_established(c2.handle.clone(), &mut actions);
    t.on_closed(id2, &remote_dup, t1, &mut Vec::new());
    let due = t.next_deadline().unwrap();
    assert!(
        due >= t1 + config.redial_backoff_min,
        "second duplicate must back off"
    );
}

/// Under keep-both, the newest connection takes sends; when it ends the
/// older one takes over without a disconnect event.
#[test]
fn keep_both_fails_over_between_connections() {
    let config = {
        let mut c = Config::default();
        c.tie_break = crate::manager::TieBreakPolicy::KeepBoth;
        c
    };
    let (mut t, registry) = table(config);
    let now = Instant::now();
    let mut actions = Vec::new();
    let a = conn(1, ConnectionDirection::Inbound, PEER_NODE, now);
    let b = conn(2, ConnectionDirection::Outbound, PEER_NODE, now);
    t.on_established(a.handle.clone(), &mut actions);
    t.on_established(b.handle.clone(), &mut actions);
    assert_eq!(t.snapshot().open_connections(), 2);
    let mut actions = Vec::new();
    t.on_closed(ConnectionId(2), &ConnectionError::Eof, now, &mut actions);
    assert!(matches!(
        events(actions)[..],
        [PeerEvent::Connected {
            conn_id: ConnectionId(1),
            ..
        }]
    ));
    assert!(registry.is_connected(peer()));
}

/// Three connections closed for malformed input within the window ban the
/// IP: it is refused with `banned` until the ban ends, then admitted again.
/// Network failures earn no strike.
#[test]
fn misbehaviour_bans_then_expires() {
    let config = Config::default();
    let (mut t, _) = table(config.clone());
    let t0 = Instant::now();
    let bad = ConnectionError::Decode(crate::error::DecodeError::UnknownType(0x7f));
    for (i, err) in [
        ConnectionError::Eof,
        ConnectionError::PingTimeout { missed: 3 },
    ]
    .into_iter()
    .enumerate()
    {
        let c = conn(50 + i as u64, ConnectionDirection::Inbound, PEER_NODE, t0);
        t.on_established(c.handle.clone(), &mut Vec::new());
        t.on_closed(c.handle.info().id, &err, t0, &mut Vec::new());
    }
    assert_eq!(
        t.snapshot().stats.strikes,
        0,
        "network trouble is no misbehaviour"
    );
    for i in 0..3u64 {
        let now = t0 + Duration::from_secs(i);
        assert!(
            t.on_accept(addr(2, 6000), now).is_ok(),
            "strike {i} not yet banned"
        );
        let c = conn(100 + i, ConnectionDirection::Inbound, PEER_NODE, now);
        let id = c.handle.info().id;
        // Release the pending slot the accept reserved, as the driver would.
        let pending = *t.peers[&peer()].pending.keys().next().unwrap();
        t.on_handshake_failed(pending, None, now, &mut Vec::new());
        t.on_established(c.handle.clone(), &mut Vec::new());
        t.on_closed(id, &bad, now, &mut Vec::new());
    }
    let t2 = t0 + Duration::from_secs(2);
    let snap = t.snapshot();
    assert_eq!((snap.stats.strikes, snap.stats.bans), (3, 1));
    assert_eq!(snap.banned, vec![peer().ip()]);
    assert_eq!(t.on_accept(addr(2, 6001), t2), Err(Reason::Banned));
    let until = t2 + config.ban_duration + config.ban_duration / 4;
    let shortest = t2 + config.ban_duration - Duration::from_millis(1);
    assert_eq!(t.on_accept(addr(2, 6002), shortest), Err(Reason::Banned));
    assert!(t.on_accept(addr(2, 6003), until).is_ok(), "ban expired");
}

/// With the outbound limit reached, a due dial waits without a deadline in
/// the past (which would spin the driver), and goes out once a slot frees.
#[test]
fn outbound_limit_blocks_without_spinning() {
    let config = {
        let mut c = Config::default();
        c.max_outbound = 1;
        c
    };
    let (mut t, _) = table(config);
    let t0 = Instant::now();
    t.add_peer(addr(2, 9000), t0);
    t.add_peer(addr(3, 9000), t0);
    let mut actions = Vec::new();
    t.poll(t0, &mut actions);
    let first = dial_ids(&actions);
    assert_eq!(first.len(), 1, "only one dial within the limit");
    assert_eq!(t.next_deadline(), None, "blocked by the limit: no deadline");
    t.on_handshake_failed(first[0], None, t0, &mut Vec::new());
    let mut actions = Vec::new();
    t.poll(t0, &mut actions);
    assert_eq!(
        dial_ids(&actions).len(),
        1,
        "the waiting peer is dialled once a slot frees"
    );
}

/// The peer says goodbye "duplicate" on our only connection while its
/// winning connection is still in its handshake here: no `Disconnected`
/// flap. If the winner arrives the peer just gets a new active connection;
/// if its handshake fails, `Disconnected` is emitted then.
#[test]
fn duplicate_goodbye_waits_for_the_winner() {
    for winner_arrives in [true, false] {
        let (mut t, _) = table(Config::default());
        let t0 = Instant::now();
        // Id 100: far from the ids the table allocates itself.
        let ours = conn(100, ConnectionDirection::Outbound, PEER_NODE, t0);
        t.on_established(ours.handle.clone(), &mut Vec::new());
        let pending = t.on_accept(addr(2, 7777), t0).unwrap();
        let mut actions = Vec::new();
        let goodbye = ConnectionError::RemoteClosed(Reason::Duplicate);
        t.on_closed(ConnectionId(100), &goodbye, t0, &mut actions);
        assert!(
            events(actions).is_empty(),
            "no disconnect while the winner is in flight"
        );
        let mut actions = Vec::new();
        if winner_arrives {
            let winner = conn(pending.0, ConnectionDirection::Inbound, PEER_NODE, t0);
            t.on_established(winner.handle.clone(), &mut actions);
            assert!(
                matches!(events(actions)[..], [PeerEvent::Connected { conn_id, .. }] if conn_id == pending)
            );
            assert_eq!(t.snapshot().peer(peer()).unwrap().counters.disconnects, 0);
        } else {
            t.on_handshake_failed(pending, Some(Reason::HandshakeTimeout), t0, &mut actions);
            let evs = events(actions);
            assert!(
                matches!(
                    evs[..],
                    [PeerEvent::Disconnected {
                        conn_id: ConnectionId(100),
                        reason: Reason::Duplicate,
                        ..
                    }]
                ),
                "{evs:?}"
            );
        }
    }
}
