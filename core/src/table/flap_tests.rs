//! Unit tests of the flap rule (short-lived strikes) and of the pending
//! budget split by direction: exact strike counts, the exact ban instant,
//! and an honest redialler driven by a second table's real backoff.

use std::time::{Duration, Instant};

use super::tests::{addr, conn, dial_ids, peer, table, PEER_NODE};
use super::PeerTable;
use crate::bans::SHORT_LIVED;
use crate::close::CloseCause;
use crate::config::Config;
use crate::id::{ConnectionDirection, ConnectionId};
use crate::snapshot::PeerState;
use crate::test_epoch;
use crate::wire::Reason;

/// An inbound connection from the peer, accepted and established at `at`,
/// ended with `cause` after `lived`. Returns its id, or the refusal.
fn inbound(
    t: &mut PeerTable,
    at: Instant,
    lived: Duration,
    cause: &CloseCause,
) -> Result<ConnectionId, Reason> {
    let id = t.on_accept(addr(2, 6000), at)?;
    let info = conn(id.0, ConnectionDirection::Inbound, PEER_NODE, at);
    t.on_established(info, at, &mut Vec::new());
    t.on_closed(id, cause, at + lived, &mut Vec::new());
    Ok(id)
}

/// Short-lived strikes and strikes held by the peer now.
fn strikes(t: &PeerTable) -> (u64, usize) {
    let snap = t.snapshot();
    let by = snap.stats.strikes_by.get(SHORT_LIVED).copied().unwrap_or(0);
    // The row is dropped once its last connection ends; the ban list is not.
    (by, t.bans.strikes(peer().ip()))
}

/// A peer that handshakes and leaves at once, every 100 ms, earns one
/// `short_lived` strike per connection; the 27th (default
/// `flap_threshold`) bans it at that close, for `ban_duration` plus at most
/// 25%, and the ban spends the strikes.
#[test]
fn flapper_is_banned_at_the_threshold() {
    let config = Config::default();
    let mut t = table(config.clone());
    let t0 = test_epoch();
    let lived = Duration::from_millis(1);
    let at = |i: u32| t0 + Duration::from_millis(100) * i;
    for i in 0..26 {
        inbound(&mut t, at(i), lived, &CloseCause::Lost).unwrap();
        assert_eq!(strikes(&t), (u64::from(i) + 1, i as usize + 1));
    }
    assert!(t.snapshot().banned.is_empty(), "26 flaps: not yet");
    inbound(&mut t, at(26), lived, &CloseCause::Remote(Reason::Shutdown)).unwrap();
    let banned_at = at(26) + lived;
    let snap = t.snapshot();
    assert_eq!((snap.stats.strikes, snap.stats.bans), (27, 1));
    assert_eq!(snap.banned, vec![peer().ip()]);
    assert_eq!(strikes(&t), (27, 0), "the ban spent the strikes");
    let until = t.bans.banned_until(peer().ip()).expect("banned");
    let window = config.ban_duration;
    assert!(until >= banned_at + window && until <= banned_at + window + window / 4);
    assert_eq!(t.on_accept(addr(2, 6001), banned_at), Err(Reason::Banned));
}

/// What is not a flap: a connection that held for the flap window, our own
/// dial, our own close, a connection we were already closing, a goodbye
/// `duplicate` while another connection to the peer is in its handshake,
/// and a ping timeout. A goodbye `duplicate` with nothing left is one.
#[test]
fn only_the_peers_early_close_of_its_own_dial_is_a_flap() {
    let config = Config::default();
    let t0 = test_epoch();
    let window = config.flap_window();
    let mut t = table(config.clone());
    inbound(&mut t, t0, window, &CloseCause::Lost).unwrap();
    inbound(
        &mut t,
        t0,
        Duration::ZERO,
        &CloseCause::Local(Reason::Shutdown),
    )
    .unwrap();
    let timeout = CloseCause::PingTimeout { missed: 3 };
    inbound(&mut t, t0, Duration::ZERO, &timeout).unwrap();
    // Our dial, ended by the peer at once.
    let ours = conn(100, ConnectionDirection::Outbound, PEER_NODE, t0);
    t.on_established(ours, t0, &mut Vec::new());
    t.on_closed(ConnectionId(100), &CloseCause::Lost, t0, &mut Vec::new());
    // Asked to close (a tie-break loser), then ended by the peer.
    let kept = conn(101, ConnectionDirection::Outbound, PEER_NODE, t0);
    t.on_established(kept, t0, &mut Vec::new());
    let loser = conn(102, ConnectionDirection::Inbound, PEER_NODE, t0);
    t.on_established(loser, t0, &mut Vec::new());
    let remote_dup = CloseCause::Remote(Reason::Duplicate);
    let closing = t.peers[&peer()].live[&ConnectionId(102)].closing;
    let closing_id = if closing { 102 } else { 101 };
    t.on_closed(
        ConnectionId(closing_id),
        &CloseCause::Lost,
        t0,
        &mut Vec::new(),
    );
    assert_eq!(strikes(&t), (0, 0), "none of these is a flap");
    // Goodbye `duplicate` on an inbound connection while one of our dials
    // to the peer is in its handshake: the tie-break kept that one.
    let survivor = if closing { 101 } else { 102 };
    t.on_closed(
        ConnectionId(survivor),
        &CloseCause::Lost,
        t0 + window,
        &mut Vec::new(),
    );
    t.add_peer(addr(2, 9000), t0);
    let mut actions = Vec::new();
    t.poll(t0 + window, &mut actions);
    assert_eq!(dial_ids(&actions).len(), 1);
    let at = t0 + window;
    let dup = inbound(&mut t, at, Duration::ZERO, &remote_dup);
    assert!(dup.is_ok());
    assert_eq!(strikes(&t), (0, 0), "duplicate with a dial in flight");
    // The same goodbye with nothing left to have kept is a flap.
    let mut lone = table(config);
    inbound(&mut lone, t0, Duration::ZERO, &remote_dup).unwrap();
    assert_eq!(strikes(&lone), (1, 1));
}

/// One honest connection pattern, driven by a dialling table's real
/// backoff: returns the most strikes the acceptor held against the dialler
/// at any close, the number of connections, and the acceptor's table after
/// a last connection that stays up.
fn honest_redialler(
    survives: impl Fn(usize) -> bool,
    run_for: Duration,
) -> (usize, usize, PeerTable) {
    let config = Config::default();
    let (mut dialler, mut acceptor) = (table(config.clone()), table(config.clone()));
    let t0 = test_epoch();
    dialler.add_peer(addr(2, 9000), t0);
    let (mut at, mut most, mut n) = (t0, 0, 0);
    loop {
        let mut actions = Vec::new();
        dialler.poll(at, &mut actions);
        let [id] = dial_ids(&actions)[..] else {
            panic!("one dial due at {at:?}: {actions:?}");
        };
        let out = conn(id.0, ConnectionDirection::Outbound, PEER_NODE, at);
        dialler.on_established(out, at, &mut Vec::new());
        let accepted = acceptor.on_accept(addr(2, 6000), at).expect("never banned");
        let info = conn(accepted.0, ConnectionDirection::Inbound, PEER_NODE, at);
        acceptor.on_established(info, at, &mut Vec::new());
        if at >= t0 + run_for {
            return (most, n, acceptor);
        }
        let lived = if survives(n) {
            config.ping_interval
        } else {
            Duration::ZERO
        };
        dialler.on_closed(id, &CloseCause::Lost, at + lived, &mut Vec::new());
        acceptor.on_closed(accepted, &CloseCause::Lost, at + lived, &mut Vec::new());
        most = most.max(strikes(&acceptor).1);
        n += 1;
        at = dialler
            .next_deadline()
            .expect("a persistent peer is redialled");
    }
}

/// An honest peer on a link that resets every connection at once, for an
/// hour: its backoff keeps it to at most 7 flaps in any 10 min, far under
/// the threshold of 27. It is never banned, and connects when the link
/// holds again.
#[test]
fn honest_redialler_on_a_resetting_link_is_not_banned() {
    let (most, n, acceptor) = honest_redialler(|_| false, Duration::from_secs(3600));
    assert_eq!((most, n), (7, 16));
    let snap = acceptor.snapshot();
    assert_eq!((snap.stats.strikes, snap.stats.bans), (16, 0));
    assert_eq!(snap.peer(peer()).unwrap().state, PeerState::Connected);
}

/// The fastest honest pattern: one connection that survives a ping
/// interval (15 s, which starts its backoff afresh), then two reset at
/// once, for an hour. The acceptor holds at most 24 strikes, under the
/// bound of 26 (jitter only slows the peer) and the threshold of 27.
#[test]
fn honest_redialler_at_its_fastest_is_not_banned() {
    let (most, n, acceptor) = honest_redialler(|i| i % 3 == 0, Duration::from_secs(3600));
    assert!(most < Config::default().honest_flap_bound() as usize);
    assert_eq!((most, n), (24, 199));
    let snap = acceptor.snapshot();
    assert_eq!((snap.stats.strikes, snap.stats.bans), (132, 0));
    assert_eq!(snap.peer(peer()).unwrap().state, PeerState::Connected);
}

/// The pending budget is split by direction: with the inbound half full,
/// a third inbound handshake is refused with `too_many_pending` and a due
/// dial still goes out; with the outbound half full, dials wait and
/// inbound handshakes are still admitted.
#[test]
fn inbound_pending_never_holds_up_a_dial() {
    let config = Config {
        max_pending_handshakes: 2,
        ..Config::default()
    };
    let mut t = table(config);
    let t0 = test_epoch();
    let held = t.on_accept(addr(4, 5000), t0).unwrap();
    t.on_accept(addr(5, 5000), t0).unwrap();
    assert_eq!(t.on_accept(addr(6, 5000), t0), Err(Reason::TooManyPending));
    for last in [2, 3, 7] {
        t.add_peer(addr(last, 9000), t0);
    }
    assert_eq!(
        t.next_deadline(),
        Some(t0),
        "inbound pending blocks no dial"
    );
    let mut actions = Vec::new();
    t.poll(t0, &mut actions);
    assert_eq!(
        dial_ids(&actions).len(),
        2,
        "two dials: the outbound budget"
    );
    assert_eq!(t.next_deadline(), None, "the third waits for a dial to end");
    t.on_handshake_failed(
        held,
        Some(CloseCause::HandshakeTimeout),
        t0,
        &mut Vec::new(),
    );
    assert!(
        t.on_accept(addr(6, 5000), t0).is_ok(),
        "outbound pending blocks no accept"
    );
    let first = dial_ids(&actions)[0];
    t.on_handshake_failed(first, None, t0, &mut Vec::new());
    let mut actions = Vec::new();
    t.poll(t0, &mut actions);
    assert_eq!(dial_ids(&actions).len(), 1, "the waiting dial goes out");
}
