//! Unit tests of the `PeerTable`'s decisions, with no runtime and no
//! socket: each asserts on the exact actions a decision returns.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Action, PeerTable};
use crate::close::{CloseCause, DisconnectReason};
use crate::config::Config;
use crate::connection::ConnectionInfo;
use crate::error::{DecodeError, FrameError};
use crate::event::PeerEvent;
use crate::id::{ConnectionDirection, ConnectionId, NodeId, PeerId};
use crate::policy::TieBreakPolicy;
use crate::snapshot::PeerState;
use crate::test_epoch;
use crate::wire::{Hello, Reason, PROTOCOL_VERSION};

pub(super) const LOCAL: NodeId = NodeId(9);
pub(super) const PEER_NODE: NodeId = NodeId(3);

pub(super) fn addr(last: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)), port)
}

pub(super) fn table(config: Config) -> PeerTable {
    PeerTable::new(Arc::new(config), LOCAL, None, 1)
}

/// The facts of connection `id` to 10.0.0.2 in `direction`.
pub(super) fn conn(
    id: u64,
    direction: ConnectionDirection,
    node: NodeId,
    now: Instant,
) -> ConnectionInfo {
    let (local_port, remote_port) = match direction {
        ConnectionDirection::Outbound => (40000 + id as u16, 9000),
        ConnectionDirection::Inbound => (9000, 50000 + id as u16),
    };
    ConnectionInfo {
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
    }
}

pub(super) fn dial_ids(actions: &[Action]) -> Vec<ConnectionId> {
    let dials = actions.iter().filter_map(|a| match a {
        Action::Dial { id, .. } => Some(*id),
        _ => None,
    });
    dials.collect()
}

fn events(actions: Vec<Action>) -> Vec<PeerEvent> {
    let emitted = actions.into_iter().filter_map(|a| match a {
        Action::Emit(e) => Some(e),
        _ => None,
    });
    emitted.collect()
}

pub(super) fn peer() -> PeerId {
    PeerId::new(addr(2, 0).ip())
}

fn connected(id: u64, direction: ConnectionDirection) -> Action {
    Action::Emit(PeerEvent::Connected {
        peer: peer(),
        conn_id: ConnectionId(id),
        direction,
        node_id: PEER_NODE,
    })
}

fn route(id: u64) -> Action {
    Action::Route {
        peer: peer(),
        id: ConnectionId(id),
    }
}

fn close(id: u64, reason: Reason) -> Action {
    Action::Close {
        id: ConnectionId(id),
        reason,
    }
}

fn hash_of(t: &PeerTable) -> u64 {
    let mut h = DefaultHasher::new();
    t.hash(&mut h);
    h.finish()
}

/// Admission refuses with the precise reason: deny list, one pending inbound
/// handshake per IP, the pending cap, the inbound cap.
#[test]
fn admission_limits() {
    let config = Config {
        deny: [addr(7, 0).ip()].into(),
        max_pending_handshakes: 2,
        max_inbound: 3,
        ..Config::default()
    };
    let mut t = table(config);
    let t0 = test_epoch();
    assert_eq!(t.on_accept(addr(7, 5000), t0), Err(Reason::Denied));
    let first = t.on_accept(addr(2, 5000), t0).unwrap();
    assert_eq!(t.on_accept(addr(2, 5001), t0), Err(Reason::TooManyPending));
    t.on_accept(addr(3, 5000), t0).unwrap();
    assert_eq!(t.on_accept(addr(4, 5000), t0), Err(Reason::TooManyPending));
    let timeout = Some(CloseCause::HandshakeTimeout);
    t.on_handshake_failed(first, timeout, t0, &mut Vec::new());
    t.on_accept(addr(4, 5000), t0).unwrap();
    let mut actions = Vec::new();
    let c = conn(99, ConnectionDirection::Inbound, NodeId(5), t0);
    t.on_established(c, t0, &mut actions);
    // 1 live + 2 pending inbound = the cap of 3.
    assert_eq!(t.on_accept(addr(5, 5000), t0), Err(Reason::TooManyPending));
    assert_eq!(t.snapshot().stats.inbound_refused, 4);
}

/// The tie-break closes the loser with `Duplicate`, routes the peer to the
/// winner, and the loser's later `Closed` changes nothing visible
/// (generation guard, origin bug #10).
#[test]
fn duplicate_resolution_and_generation_guard() {
    let mut t = table(Config::default());
    let now = test_epoch();
    let mut actions = Vec::new();
    let inbound = conn(1, ConnectionDirection::Inbound, PEER_NODE, now);
    t.on_established(inbound, now, &mut actions);
    let outbound = conn(2, ConnectionDirection::Outbound, PEER_NODE, now);
    t.on_established(outbound, now, &mut actions);
    // Local id 9 > peer id 3: the connection we dialled survives. Each
    // winner is routed to before it is announced.
    assert_eq!(
        actions,
        vec![
            route(1),
            connected(1, ConnectionDirection::Inbound),
            close(1, Reason::Duplicate),
            route(2),
            connected(2, ConnectionDirection::Outbound),
        ]
    );
    let snap = t.snapshot();
    let row = snap.peer(peer()).unwrap();
    assert_eq!(row.active, Some(ConnectionId(2)));
    assert_eq!(row.counters.duplicates_closed, 1);
    // The loser ends: nothing visible (no unroute), no redial, still
    // connected.
    let mut actions = Vec::new();
    let loser = CloseCause::Local(Reason::Duplicate);
    t.on_closed(ConnectionId(1), &loser, now, &mut actions);
    assert_eq!(actions, vec![]);
    let snap = t.snapshot();
    assert_eq!(snap.peer(peer()).unwrap().active, Some(ConnectionId(2)));
    assert_eq!(snap.open_connections(), 1);
    // A second Closed for the same stale id is ignored too.
    t.on_closed(ConnectionId(1), &loser, now, &mut actions);
    assert_eq!(actions, vec![]);
}

/// One dial in flight per peer (origin bug #5); a failed dial backs off; a
/// peer that disconnects can always be redialled (origin bug #7).
#[test]
fn one_dial_in_flight_then_backoff_then_redial() {
    let mut t = table(Config::default());
    let t0 = test_epoch();
    assert!(t.add_peer(addr(2, 9000), t0));
    let mut actions = Vec::new();
    t.poll(t0, &mut actions);
    assert_eq!(
        actions,
        vec![Action::Dial {
            id: ConnectionId(1),
            peer: peer(),
            addr: addr(2, 9000)
        }]
    );
    let first = dial_ids(&actions);
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
    t.on_established(c, due, &mut actions);
    let died = due + Duration::from_secs(3600);
    let mut actions = Vec::new();
    t.on_closed(second[0], &CloseCause::Lost, died, &mut actions);
    assert_eq!(
        actions,
        vec![
            Action::Unroute { peer: peer() },
            Action::Emit(PeerEvent::Disconnected {
                peer: peer(),
                conn_id: second[0],
                reason: DisconnectReason::Lost,
            }),
        ]
    );
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
    let mut t = table(Config::default());
    let t0 = test_epoch();
    t.add_peer(addr(2, 9000), t0);
    let mut actions = Vec::new();
    t.poll(t0, &mut actions);
    let id = dial_ids(&actions)[0];
    let refused = Some(CloseCause::Refused(Reason::SelfConnection));
    t.on_handshake_failed(id, refused, t0, &mut Vec::new());
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
    let mut t = table(config.clone());
    let t0 = test_epoch();
    t.add_peer(addr(2, 9000), t0);
    let mut actions = Vec::new();
    t.poll(t0, &mut actions);
    let id = dial_ids(&actions)[0];
    let c = conn(id.0, ConnectionDirection::Outbound, PEER_NODE, t0);
    t.on_established(c, t0, &mut actions);
    let remote_dup = CloseCause::Remote(Reason::Duplicate);
    let mut actions = Vec::new();
    t.on_closed(id, &remote_dup, t0, &mut actions);
    assert_eq!(t.next_deadline(), Some(t0 + config.handshake_timeout));
    let mut actions = Vec::new();
    t.poll(t0 + config.handshake_timeout, &mut actions);
    let id2 = dial_ids(&actions)[0];
    let t1 = t0 + config.handshake_timeout;
    let c2 = conn(id2.0, ConnectionDirection::Outbound, PEER_NODE, t1);
    t.on_established(c2, t1, &mut actions);
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
    let config = Config {
        tie_break: TieBreakPolicy::KeepBoth,
        ..Config::default()
    };
    let mut t = table(config);
    let now = test_epoch();
    let mut actions = Vec::new();
    let a = conn(1, ConnectionDirection::Inbound, PEER_NODE, now);
    let b = conn(2, ConnectionDirection::Outbound, PEER_NODE, now);
    t.on_established(a, now, &mut actions);
    t.on_established(b, now, &mut actions);
    assert_eq!(t.snapshot().open_connections(), 2);
    let mut actions = Vec::new();
    t.on_closed(ConnectionId(2), &CloseCause::Lost, now, &mut actions);
    assert_eq!(
        actions,
        vec![route(1), connected(1, ConnectionDirection::Inbound)]
    );
}

/// Three connections closed for malformed input within the window ban the
/// IP: it is refused with `banned` until the ban ends, then admitted again.
/// Network failures earn no strike.
#[test]
fn misbehaviour_bans_then_expires() {
    let config = Config::default();
    let mut t = table(config.clone());
    let start = test_epoch();
    // Connections that held past the flap window: no short-lived strike.
    let t0 = start + config.flap_window();
    let bad = CloseCause::Decode(DecodeError::UnknownType(0x7f));
    for (i, cause) in [CloseCause::Lost, CloseCause::PingTimeout { missed: 3 }]
        .into_iter()
        .enumerate()
    {
        let c = conn(
            50 + i as u64,
            ConnectionDirection::Inbound,
            PEER_NODE,
            start,
        );
        let id = c.id;
        t.on_established(c, start, &mut Vec::new());
        t.on_closed(id, &cause, t0, &mut Vec::new());
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
        let id = c.id;
        // Release the pending slot the accept reserved, as the driver would.
        let pending = *t.peers[&peer()].pending.keys().next().unwrap();
        t.on_handshake_failed(pending, None, now, &mut Vec::new());
        t.on_established(c, now, &mut Vec::new());
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

/// A ban closes the peer's other running connections with `banned`; the
/// connection whose end earned the strike is not asked again.
#[test]
fn ban_closes_the_other_connections() {
    let config = Config {
        tie_break: TieBreakPolicy::KeepBoth,
        ban_threshold: 1,
        ..Config::default()
    };
    let mut t = table(config);
    let t0 = test_epoch();
    for id in [1, 2] {
        let c = conn(id, ConnectionDirection::Inbound, PEER_NODE, t0);
        t.on_established(c, t0, &mut Vec::new());
    }
    let mut actions = Vec::new();
    let bad = CloseCause::Frame(FrameError::Empty);
    t.on_closed(ConnectionId(1), &bad, t0, &mut actions);
    assert_eq!(actions, vec![close(2, Reason::Banned)]);
    assert_eq!(t.snapshot().stats.bans, 1);
}

/// Strikes for a failed handshake follow `CloseCause::is_misbehaviour`
/// alone: a peer that refuses our dial with `HelloReject(protocol_violation)`
/// reports its own verdict and earns no strike (the old rule struck on the
/// reason code and banned it after three refusals); handshakes where we
/// saw a bad frame ourselves do, and three ban the peer.
#[test]
fn refused_dials_earn_no_strike_bad_frames_do() {
    let config = Config::default();
    let mut t = table(config.clone());
    let t0 = test_epoch();
    t.add_peer(addr(2, 9000), t0);
    let fail_dials = |t: &mut PeerTable, cause: CloseCause, at: &mut Instant| {
        for _ in 0..3 {
            let mut actions = Vec::new();
            t.poll(*at, &mut actions);
            let [id] = dial_ids(&actions)[..] else {
                panic!("one dial due at {at:?}: {actions:?}");
            };
            t.on_handshake_failed(id, Some(cause.clone()), *at, &mut Vec::new());
            *at = t.next_deadline().expect("redial scheduled");
        }
    };
    let mut at = t0;
    let refused = CloseCause::Remote(Reason::ProtocolViolation);
    fail_dials(&mut t, refused, &mut at);
    let snap = t.snapshot();
    assert_eq!((snap.stats.strikes, snap.stats.bans), (0, 0));
    assert!(snap.banned.is_empty());
    assert!(at <= t0 + Duration::from_secs(60), "plain backoff, no ban");
    let bad_frame = CloseCause::Frame(FrameError::TooLarge {
        len: 1 << 30,
        max: 1 << 20,
    });
    let first_bad = at;
    fail_dials(&mut t, bad_frame, &mut at);
    let snap = t.snapshot();
    assert_eq!((snap.stats.strikes, snap.stats.bans), (3, 1));
    assert_eq!(snap.banned, vec![peer().ip()]);
    assert!(
        at >= first_bad + config.ban_duration,
        "no redial before the ban ends"
    );
    assert_eq!(
        t.on_accept(addr(2, 6000), at - Duration::from_secs(1)),
        Err(Reason::Banned)
    );
}

/// With the outbound limit reached, a due dial waits without a deadline in
/// the past (which would spin the driver), and goes out once a slot frees.
#[test]
fn outbound_limit_blocks_without_spinning() {
    let config = Config {
        max_outbound: 1,
        ..Config::default()
    };
    let mut t = table(config);
    let t0 = test_epoch();
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
        let mut t = table(Config::default());
        let t0 = test_epoch();
        // Id 100: far from the ids the table allocates itself.
        let ours = conn(100, ConnectionDirection::Outbound, PEER_NODE, t0);
        t.on_established(ours, t0, &mut Vec::new());
        let pending = t.on_accept(addr(2, 7777), t0).unwrap();
        let mut actions = Vec::new();
        let goodbye = CloseCause::Remote(Reason::Duplicate);
        t.on_closed(ConnectionId(100), &goodbye, t0, &mut actions);
        assert_eq!(
            actions,
            vec![Action::Unroute { peer: peer() }],
            "no disconnect while the winner is in flight"
        );
        let mut actions = Vec::new();
        if winner_arrives {
            let winner = conn(pending.0, ConnectionDirection::Inbound, PEER_NODE, t0);
            t.on_established(winner, t0, &mut actions);
            assert_eq!(
                actions,
                vec![
                    route(pending.0),
                    connected(pending.0, ConnectionDirection::Inbound)
                ]
            );
            assert_eq!(t.snapshot().peer(peer()).unwrap().counters.disconnects, 0);
        } else {
            let timeout = Some(CloseCause::HandshakeTimeout);
            t.on_handshake_failed(pending, timeout, t0, &mut actions);
            let evs = events(actions);
            assert!(
                matches!(
                    evs[..],
                    [PeerEvent::Disconnected {
                        conn_id: ConnectionId(100),
                        reason: DisconnectReason::Remote(Reason::Duplicate),
                        ..
                    }]
                ),
                "{evs:?}"
            );
        }
    }
}

/// `disconnect` and `shutdown` close every established connection with
/// `shutdown`, in id order; an established connection after shutdown is
/// closed at once and never routed to.
#[test]
fn disconnect_and_shutdown_close_with_shutdown() {
    let config = Config {
        tie_break: TieBreakPolicy::KeepBoth,
        ..Config::default()
    };
    let mut t = table(config);
    let t0 = test_epoch();
    for id in [1, 2] {
        let c = conn(id, ConnectionDirection::Inbound, PEER_NODE, t0);
        t.on_established(c, t0, &mut Vec::new());
    }
    let mut actions = Vec::new();
    assert!(t.disconnect(peer(), &mut actions));
    let both = vec![close(1, Reason::Shutdown), close(2, Reason::Shutdown)];
    assert_eq!(actions, both);
    assert!(!t.disconnect(PeerId::new(addr(9, 0).ip()), &mut actions));
    let mut actions = Vec::new();
    t.shutdown(&mut actions);
    assert_eq!(actions, both);
    let mut actions = Vec::new();
    let late = conn(3, ConnectionDirection::Outbound, PEER_NODE, t0);
    t.on_established(late, t0, &mut actions);
    assert_eq!(actions, vec![close(3, Reason::Shutdown)]);
    assert!(t.has_live());
}

/// A table is a value: two tables built from one seed and fed the same
/// inputs are equal and hash alike; a clone evolves like its original.
#[test]
fn table_is_a_value() {
    let t0 = test_epoch();
    let feed = |t: &mut PeerTable| {
        t.add_peer(addr(2, 9000), t0);
        let mut actions = Vec::new();
        t.poll(t0, &mut actions);
        let id = dial_ids(&actions)[0];
        t.on_handshake_failed(id, None, t0, &mut actions);
        actions
    };
    let mut a = table(Config::default());
    let mut b = table(Config::default());
    let copy = a.clone();
    assert_eq!(
        (feed(&mut a), &a, hash_of(&a)),
        (feed(&mut b), &b, hash_of(&b))
    );
    assert_ne!(a, copy);
    let mut c = copy;
    feed(&mut c);
    assert_eq!((&c, hash_of(&c)), (&a, hash_of(&a)));
    let mut other = PeerTable::new(Arc::new(Config::default()), LOCAL, None, 2);
    feed(&mut other);
    assert_ne!(other, a, "another seed draws another backoff jitter");
}

/// The figures operators read: dial attempts and failures by kind, opens
/// and closes by direction and reason, the handshake-duration and RTT
/// histograms, last and minimum RTT, strikes by reason, a peer's strikes
/// and the time left on its ban.
#[test]
fn operator_figures() {
    let mut t = table(Config::default());
    let t0 = test_epoch();
    t.add_peer(addr(2, 9000), t0);
    let mut actions = Vec::new();
    t.poll(t0, &mut actions);
    t.on_handshake_failed(dial_ids(&actions)[0], None, t0, &mut Vec::new());
    let t1 = t.next_deadline().unwrap();
    let mut actions = Vec::new();
    t.poll(t1, &mut actions);
    let id = dial_ids(&actions)[0];
    let established = t1 + Duration::from_millis(3);
    let c = conn(id.0, ConnectionDirection::Outbound, PEER_NODE, established);
    t.on_established(c, established, &mut Vec::new());
    for ms in [2, 1, 5] {
        assert_eq!(t.on_rtt(id, Duration::from_millis(ms)), Some(peer()));
    }
    let row = t.snapshot().peer(peer()).unwrap().clone();
    assert_eq!(
        (row.last_rtt, row.min_rtt),
        (
            Some(Duration::from_millis(5)),
            Some(Duration::from_millis(1))
        )
    );
    let stats = t.snapshot().stats;
    assert_eq!(stats.dials, 2);
    assert_eq!(
        stats.dial_failures_by.into_iter().collect::<Vec<_>>(),
        vec![("connect_failed", 1)]
    );
    assert_eq!(stats.handshake_duration.count(), 1);
    assert_eq!(stats.handshake_duration.sum, Duration::from_millis(3));
    assert_eq!(stats.ping_rtt.count(), 3);
    assert_eq!(stats.ping_rtt.sum, Duration::from_millis(8));
    let later = established + Duration::from_secs(1);
    let cause = CloseCause::Remote(Reason::Shutdown);
    t.on_closed(id, &cause, later, &mut Vec::new());
    let row = t.snapshot().peer(peer()).unwrap().clone();
    assert_eq!((row.last_rtt, row.min_rtt), (None, None));
    // An inbound connection that sends garbage: a strike, a close by us.
    assert!(t.on_accept(addr(2, 6000), later).is_ok());
    let pending = *t.peers[&peer()].pending.keys().next().unwrap();
    let c = conn(pending.0, ConnectionDirection::Inbound, PEER_NODE, later);
    t.on_established(c, later, &mut Vec::new());
    let bad = CloseCause::Decode(DecodeError::UnknownType(0x7f));
    t.on_closed(pending, &bad, later, &mut Vec::new());
    let snap = t.snapshot();
    let closed: Vec<_> = snap.stats.closed.clone().into_iter().collect();
    assert_eq!(
        closed,
        vec![
            (
                (
                    ConnectionDirection::Inbound,
                    DisconnectReason::Local(Reason::ProtocolViolation)
                ),
                1
            ),
            (
                (
                    ConnectionDirection::Outbound,
                    DisconnectReason::Remote(Reason::Shutdown)
                ),
                1
            ),
        ]
    );
    let opened: Vec<_> = snap.stats.opened.clone().into_iter().collect();
    assert_eq!(
        opened,
        vec![
            (ConnectionDirection::Inbound, 1),
            (ConnectionDirection::Outbound, 1)
        ]
    );
    assert_eq!(
        snap.stats
            .strikes_by
            .clone()
            .into_iter()
            .collect::<Vec<_>>(),
        vec![("protocol_violation", 1)]
    );
    let row = snap.peer(peer()).unwrap();
    assert_eq!((row.strikes, row.banned_for), (1, None));
}

/// A banned peer's row shows the time left on its ban, from the table's
/// last decision.
#[test]
fn banned_row_shows_time_left() {
    let config = Config {
        ban_threshold: 1,
        ..Config::default()
    };
    let mut t = table(config.clone());
    let t0 = test_epoch();
    t.add_peer(addr(2, 9000), t0);
    let mut actions = Vec::new();
    t.poll(t0, &mut actions);
    let id = dial_ids(&actions)[0];
    let bad = CloseCause::Decode(DecodeError::UnknownType(0x7f));
    t.on_handshake_failed(id, Some(bad), t0, &mut Vec::new());
    let later = t0 + Duration::from_secs(1);
    t.poll(later, &mut Vec::new());
    let row = t.snapshot().peer(peer()).unwrap().clone();
    let left = row.banned_for.expect("banned");
    // The ban lasts `ban_duration` with up to a quarter of jitter.
    let d = config.ban_duration;
    assert!(left >= d - Duration::from_secs(1) && left <= d + d / 4 - Duration::from_secs(1));
    // The ban spent the strikes that earned it.
    assert_eq!(row.strikes, 0);
}
