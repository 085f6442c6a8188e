//! `PeerTable`: the manager's synchronous core. One row per peer IP; every
//! admission, tie-break, redial and cleanup decision is made here, from
//! `now` passed in, with no I/O of its own beyond queueing a close on a
//! connection handle. The async driver feeds it and carries out its actions.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use peerlink_core::backoff::backoff_delay;
use peerlink_core::bans::BanList;
use peerlink_core::policy::{admits_inbound, may_dial, resolve, ConnectionView, Resolution};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use super::events::PeerEvent;
use super::snapshot::{ConnectionRow, ManagerStats, PeerCounters, PeerRow, PeerState, Snapshot};
use crate::config::Config;
use crate::error::ConnectionError;
use crate::id::{ConnectionDirection, ConnectionId, NodeId, PeerId};
use crate::peer::{ConnectionHandle, ConnectionInfo};
use crate::registry::PeerConnectionRegistry;
use crate::wire::Reason;

/// Something the driver must do after a decision.
#[derive(Debug)]
pub(crate) enum Action {
    /// Dial `addr` as connection `id`.
    Dial {
        id: ConnectionId,
        peer: PeerId,
        addr: SocketAddr,
    },
    /// Deliver an event to the owner.
    Emit(PeerEvent),
}

/// An established connection in a row.
#[derive(Debug)]
struct Live {
    handle: ConnectionHandle,
    /// Asked to close (lost a tie-break, or shutdown); its `Closed` is due.
    closing: bool,
}

/// One peer's row.
#[derive(Debug, Default)]
struct Slot {
    /// Where to dial it (configured, or learned from an inbound hello).
    dial_addr: Option<SocketAddr>,
    /// Keep it connected: redial after failures.
    persistent: bool,
    /// Its address led back to ourselves: never dial it again.
    is_self: bool,
    /// Established connections; more than one only transiently, or under
    /// the keep-both comparison policy.
    live: BTreeMap<ConnectionId, Live>,
    /// The connection sends go to.
    active: Option<ConnectionId>,
    /// Handshakes in flight, by direction. The slot is reserved here before
    /// any handshake byte is read.
    pending: BTreeMap<ConnectionId, ConnectionDirection>,
    /// When the next dial may start.
    next_dial_at: Option<Instant>,
    /// Consecutive failed attempts, for backoff.
    failures: u32,
    /// Consecutive "duplicate" goodbyes received with no connection left.
    duplicate_strikes: u32,
    /// The peer said goodbye "duplicate" on our only connection while a
    /// handshake with it was in flight: its winner is probably that
    /// handshake, so `Disconnected` for this connection waits for the
    /// outcome instead of flapping (`Disconnected` then `Connected`).
    deferred_disconnect: Option<(ConnectionId, Reason)>,
    last_rtt: Option<Duration>,
    counters: PeerCounters,
}

impl Slot {
    fn is_empty(&self) -> bool {
        !self.persistent && !self.is_self && self.live.is_empty() && self.pending.is_empty()
    }

    fn state(&self) -> PeerState {
        if self.active.is_some() {
            PeerState::Connected
        } else if self
            .pending
            .values()
            .any(|d| *d == ConnectionDirection::Outbound)
        {
            PeerState::Dialing
        } else if !self.pending.is_empty() {
            PeerState::Handshaking
        } else if self.next_dial_at.is_some() && (self.failures > 0 || self.duplicate_strikes > 0) {
            PeerState::Backoff
        } else {
            PeerState::Idle
        }
    }
}

/// The manager's decisions over all peers.
#[derive(Debug)]
pub(crate) struct PeerTable {
    config: Arc<Config>,
    local: NodeId,
    own_ip: Option<IpAddr>,
    rng: ChaCha8Rng,
    next_id: u64,
    peers: BTreeMap<PeerId, Slot>,
    /// Every pending or live connection id, to its peer.
    index: BTreeMap<ConnectionId, PeerId>,
    registry: PeerConnectionRegistry,
    stats: ManagerStats,
    bans: BanList,
    /// The latest `now` any decision was made at (for the snapshot, which
    /// has no clock of its own).
    last_now: Option<Instant>,
    shutting_down: bool,
    /// Connections by direction, kept as they change: admission and dialling
    /// never scan the table.
    counts: Counts,
    /// Every row's `next_dial_at`, ordered by time: `poll` and
    /// `next_deadline` look only at what is due.
    schedule: BTreeSet<(Instant, PeerId)>,
}

/// Whether a scheduled row can be dialled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialability {
    /// Now, at this address.
    Now(SocketAddr),
    /// After a handshake in flight with the peer ends.
    Later,
    /// Not at all (not persistent, ourselves, connected, denied, policy).
    Never,
}

/// Live and pending connections by direction.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    live: [usize; 2],
    pending: [usize; 2],
}

fn dir_index(direction: ConnectionDirection) -> usize {
    match direction {
        ConnectionDirection::Inbound => 0,
        ConnectionDirection::Outbound => 1,
    }
}

/// Sets a row's next dial time and keeps the schedule index in step; every
/// write to `next_dial_at` goes through here.
fn set_dial(
    schedule: &mut BTreeSet<(Instant, PeerId)>,
    peer: PeerId,
    slot: &mut Slot,
    at: Option<Instant>,
) {
    if let Some(old) = slot.next_dial_at {
        schedule.remove(&(old, peer));
    }
    slot.next_dial_at = at;
    if let Some(at) = at {
        schedule.insert((at, peer));
    }
}

impl PeerTable {
    pub(crate) fn new(
        config: Arc<Config>,
        local: NodeId,
        own_ip: Option<IpAddr>,
        rng: ChaCha8Rng,
        registry: PeerConnectionRegistry,
    ) -> Self {
        PeerTable {
            local,
            own_ip,
            rng,
            next_id: 1,
            peers: BTreeMap::new(),
            index: BTreeMap::new(),
            registry,
            stats: ManagerStats::default(),
            bans: BanList::new(config.ban_threshold, config.ban_duration),
            last_now: None,
            shutting_down: false,
            counts: Counts::default(),
            schedule: BTreeSet::new(),
            config,
        }
    }

    fn allocate_id(&mut self) -> ConnectionId {
        let id = ConnectionId(self.next_id);
        self.next_id += 1;
        id
    }

    fn is_allowed(&self, ip: IpAddr) -> bool {
        !self.config.deny.contains(&ip)
            && (self.config.allow.is_empty() || self.config.allow.contains(&ip))
    }

    fn count(&self, direction: ConnectionDirection) -> usize {
        let i = dir_index(direction);
        self.counts.live[i] + self.counts.pending[i]
    }

    fn pending_total(&self) -> usize {
        self.counts.pending[0] + self.counts.pending[1]
    }

    /// Debug builds recompute the counts and the schedule from the rows
    /// after every change and check the kept ones.
    fn check_bookkeeping(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        let mut counts = Counts::default();
        let mut schedule = BTreeSet::new();
        for (peer, slot) in &self.peers {
            for live in slot.live.values() {
                counts.live[dir_index(live.handle.info().direction)] += 1;
            }
            for direction in slot.pending.values() {
                counts.pending[dir_index(*direction)] += 1;
            }
            if let Some(at) = slot.next_dial_at {
                schedule.insert((at, *peer));
            }
        }
        assert_eq!(counts, self.counts, "connection counts drifted");
        assert_eq!(schedule, self.schedule, "dial schedule drifted");
    }

    /// Marks `addr` as a persistent peer: dialled now, redialled after
    /// failures. Returns whether it was new.
    pub(crate) fn add_peer(&mut self, addr: SocketAddr, now: Instant) -> bool {
        // `now`: a new persistent peer is due at once.
        let peer = PeerId::from_socket_addr(addr);
        let slot = self.peers.entry(peer).or_default();
        let was_persistent = slot.persistent;
        slot.persistent = true;
        slot.dial_addr = Some(addr);
        if slot.next_dial_at.is_none() {
            set_dial(&mut self.schedule, peer, slot, Some(now));
        }
        self.check_bookkeeping();
        !was_persistent
    }

    /// Stops keeping `peer` connected and closes its connections.
    pub(crate) fn disconnect(&mut self, peer: PeerId) -> bool {
        let Some(slot) = self.peers.get_mut(&peer) else {
            return false;
        };
        slot.persistent = false;
        set_dial(&mut self.schedule, peer, slot, None);
        for live in slot.live.values_mut() {
            live.closing = true;
            live.handle.close(Reason::Shutdown);
        }
        self.check_bookkeeping();
        true
    }

    /// A TCP connection was accepted from `remote`: admit it to the
    /// handshake or refuse it with a reason, before reading a byte.
    pub(crate) fn on_accept(
        &mut self,
        remote: SocketAddr,
        now: Instant,
    ) -> Result<ConnectionId, Reason> {
        self.last_now = Some(now);
        let peer = PeerId::from_socket_addr(remote);
        let refusal = if self.shutting_down {
            Some(Reason::Shutdown)
        } else if self.bans.is_banned(peer.ip(), now.into_std()) {
            Some(Reason::Banned)
        } else if !self.is_allowed(peer.ip()) {
            Some(Reason::Denied)
        } else if self.pending_total() >= self.config.max_pending_handshakes {
            Some(Reason::TooManyPending)
        } else if self.count(ConnectionDirection::Inbound) >= self.config.max_inbound {
            Some(Reason::TooManyInbound)
        } else {
            let slot = self.peers.get(&peer);
            let inbound_pending = slot.is_some_and(|s| {
                s.pending
                    .values()
                    .any(|d| *d == ConnectionDirection::Inbound)
            });
            let busy = slot.is_some_and(|s| !s.live.is_empty() || !s.pending.is_empty());
            if inbound_pending {
                Some(Reason::TooManyPending)
            } else if !admits_inbound(self.config.tie_break, busy) {
                Some(Reason::Duplicate)
            } else {
                None
            }
        };
        if let Some(reason) = refusal {
            self.stats.inbound_refused += 1;
            self.stats.count_reason(reason);
            return Err(reason);
        }
        let id = self.allocate_id();
        self.peers
            .entry(peer)
            .or_default()
            .pending
            .insert(id, ConnectionDirection::Inbound);
        self.counts.pending[dir_index(ConnectionDirection::Inbound)] += 1;
        self.index.insert(id, peer);
        self.check_bookkeeping();
        Ok(id)
    }

    /// The acceptor's last check, with the peer's hello in hand.
    pub(crate) fn admit(&self, id: ConnectionId) -> Result<(), Reason> {
        if self.shutting_down || !self.index.contains_key(&id) {
            return Err(Reason::Shutdown);
        }
        Ok(())
    }

    /// A handshake (either direction) failed with `reason`.
    /// `reason` is `None` when the transport failed (refused, timed out).
    pub(crate) fn on_handshake_failed(
        &mut self,
        id: ConnectionId,
        reason: Option<Reason>,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        self.last_now = Some(now);
        let Some(peer) = self.index.remove(&id) else {
            return;
        };
        if let Some(reason) = reason {
            self.stats.handshakes_failed += 1;
            self.stats.count_reason(reason);
            if matches!(
                reason,
                Reason::ProtocolViolation | Reason::FrameTooLarge | Reason::RateLimited
            ) {
                self.strike(peer, now);
            }
        }
        let Some(slot) = self.peers.get_mut(&peer) else {
            return;
        };
        let direction = slot.pending.remove(&id);
        if let Some(d) = direction {
            self.counts.pending[dir_index(d)] -= 1;
        }
        if direction == Some(ConnectionDirection::Outbound) {
            slot.counters.dial_failures += 1;
            self.stats.dial_failures += 1;
            if reason == Some(Reason::SelfConnection) {
                slot.is_self = true;
                set_dial(&mut self.schedule, peer, slot, None);
            } else if slot.active.is_none() && slot.persistent {
                slot.failures += 1;
                let c = &self.config;
                let delay = backoff_delay(
                    c.redial_backoff_min,
                    c.redial_backoff_max,
                    slot.failures,
                    &mut self.rng,
                );
                let until = self.bans.banned_until(peer.ip()).map(Instant::from_std);
                let at = until.map_or(now + delay, |u| u.max(now + delay));
                set_dial(&mut self.schedule, peer, slot, Some(at));
            }
        }
        if slot.pending.is_empty() && slot.active.is_none() {
            if let Some((conn_id, reason)) = slot.deferred_disconnect.take() {
                slot.counters.disconnects += 1;
                actions.push(Action::Emit(PeerEvent::Disconnected {
                    peer,
                    conn_id,
                    reason,
                }));
            }
        }
        self.remove_if_empty(peer);
        self.check_bookkeeping();
    }

    /// Drops a row that holds nothing worth keeping.
    fn remove_if_empty(&mut self, peer: PeerId) {
        if self.peers.get(&peer).is_some_and(Slot::is_empty) {
            if let Some(mut slot) = self.peers.remove(&peer) {
                set_dial(&mut self.schedule, peer, &mut slot, None);
            }
        }
    }

    /// A handshake succeeded and its connection is running: apply the
    /// tie-break against any other connection to the same peer.
    pub(crate) fn on_established(&mut self, handle: ConnectionHandle, actions: &mut Vec<Action>) {
        let info = handle.info().clone();
        let peer = info.peer;
        self.index.insert(info.id, peer);
        let slot = self.peers.entry(peer).or_default();
        if let Some(d) = slot.pending.remove(&info.id) {
            self.counts.pending[dir_index(d)] -= 1;
        }
        // Every branch below inserts the connection into `live` once.
        self.counts.live[dir_index(info.direction)] += 1;
        set_dial(&mut self.schedule, peer, slot, None);
        // The winner a deferred disconnect was waiting for: no flap.
        slot.deferred_disconnect = None;
        slot.counters.connections += 1;
        self.stats.handshakes_ok += 1;
        if slot.dial_addr.is_none() && info.remote.listen_port != 0 {
            slot.dial_addr = Some(SocketAddr::new(peer.ip(), info.remote.listen_port));
        }
        if self.shutting_down {
            handle.close(Reason::Shutdown);
            slot.live.insert(
                info.id,
                Live {
                    handle,
                    closing: true,
                },
            );
            self.check_bookkeeping();
            return;
        }
        let new = view(&info);
        let existing = slot
            .active
            .and_then(|id| slot.live.get(&id))
            .map(|l| view(l.handle.info()));
        let resolution = match existing {
            None => Resolution::KeepNew,
            Some(existing) => resolve(self.config.tie_break, self.local, &existing, &new),
        };
        tracing::debug!(%peer, conn_id = %info.id, ?resolution, "resolve");
        match resolution {
            Resolution::KeepExisting => {
                handle.close(Reason::Duplicate);
                slot.counters.duplicates_closed += 1;
                self.stats.duplicates_resolved += 1;
                slot.live.insert(
                    info.id,
                    Live {
                        handle,
                        closing: true,
                    },
                );
            }
            Resolution::KeepNew | Resolution::KeepBoth => {
                if let (Resolution::KeepNew, Some(old)) = (resolution, existing) {
                    if let Some(old) = slot.live.get_mut(&old.id) {
                        old.closing = true;
                        old.handle.close(Reason::Duplicate);
                    }
                    slot.counters.duplicates_closed += 1;
                    self.stats.duplicates_resolved += 1;
                }
                self.registry.set(peer, handle.sender().clone());
                slot.active = Some(info.id);
                slot.live.insert(
                    info.id,
                    Live {
                        handle,
                        closing: false,
                    },
                );
                actions.push(Action::Emit(PeerEvent::Connected {
                    peer,
                    conn_id: info.id,
                    direction: info.direction,
                    node_id: info.remote.node_id,
                }));
            }
        }
        self.check_bookkeeping();
    }

    /// Records a round-trip time measured on `id`.
    pub(crate) fn on_rtt(&mut self, id: ConnectionId, rtt: Duration) -> Option<PeerId> {
        let peer = *self.index.get(&id)?;
        let slot = self.peers.get_mut(&peer)?;
        if slot.active == Some(id) {
            slot.last_rtt = Some(rtt);
        }
        Some(peer)
    }

    /// Connection `id` ended. Only that generation is removed: a stale
    /// connection's cleanup never touches a newer one (origin bug #10).
    pub(crate) fn on_closed(
        &mut self,
        id: ConnectionId,
        error: &ConnectionError,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        self.last_now = Some(now);
        let Some(peer) = self.index.remove(&id) else {
            return;
        };
        let reason = error.reason();
        self.stats.count_reason(reason);
        if error.is_misbehaviour() {
            self.strike(peer, now);
        }
        let Some(slot) = self.peers.get_mut(&peer) else {
            return;
        };
        let Some(closed) = slot.live.remove(&id) else {
            return;
        };
        self.counts.live[dir_index(closed.handle.info().direction)] -= 1;
        slot.counters.closed += 1;
        if slot.active != Some(id) {
            // A loser of a tie-break, or a superseded connection: invisible.
            self.remove_if_empty(peer);
            self.check_bookkeeping();
            return;
        }
        // Under keep-both another connection may take over.
        let next = slot.live.iter().rev().find(|(_, l)| !l.closing);
        slot.active = next.map(|(id, _)| *id);
        match next {
            Some((_, l)) => {
                let info = l.handle.info();
                self.registry.set(peer, l.handle.sender().clone());
                actions.push(Action::Emit(PeerEvent::Connected {
                    peer,
                    conn_id: info.id,
                    direction: info.direction,
                    node_id: info.remote.node_id,
                }));
                self.check_bookkeeping();
                return;
            }
            None => {
                self.registry.remove(peer);
                slot.last_rtt = None;
            }
        }
        let winner_in_flight = !slot.pending.is_empty();
        if winner_in_flight && matches!(error, ConnectionError::RemoteClosed(Reason::Duplicate)) {
            slot.deferred_disconnect = Some((id, reason));
        } else {
            slot.counters.disconnects += 1;
            actions.push(Action::Emit(PeerEvent::Disconnected {
                peer,
                conn_id: id,
                reason,
            }));
        }
        if slot.persistent && !self.shutting_down && !slot.is_self {
            let lived = now - closed.handle.info().established_at;
            let delay = self.redial_delay(peer, error, lived);
            let at = self.after_ban(peer, now + delay);
            if let Some(slot) = self.peers.get_mut(&peer) {
                set_dial(&mut self.schedule, peer, slot, Some(at));
            }
        }
        self.remove_if_empty(peer);
        self.check_bookkeeping();
    }

    /// How long to wait before redialling a persistent peer whose only
    /// connection just ended.
    fn redial_delay(&mut self, peer: PeerId, error: &ConnectionError, lived: Duration) -> Duration {
        let c = self.config.clone();
        let Some(slot) = self.peers.get_mut(&peer) else {
            return c.redial_backoff_min;
        };
        if matches!(error, ConnectionError::RemoteClosed(Reason::Duplicate)) {
            // The peer kept another connection to us that we do not have;
            // the first time, give its winner one handshake time to arrive
            // without counting a failure.
            slot.duplicate_strikes += 1;
            if slot.duplicate_strikes == 1 {
                return c.handshake_timeout;
            }
        } else {
            slot.duplicate_strikes = 0;
        }
        // A connection that held for a ping interval was healthy: start the
        // backoff afresh. One that died young counts as another failure.
        slot.failures = if lived >= c.ping_interval {
            1
        } else {
            slot.failures + 1
        };
        backoff_delay(
            c.redial_backoff_min,
            c.redial_backoff_max,
            slot.failures,
            &mut self.rng,
        )
    }

    /// Starts the dials that are due, within the limits. Looks only at the
    /// due part of the schedule, never at the whole table.
    pub(crate) fn poll(&mut self, now: Instant, actions: &mut Vec<Action>) {
        self.last_now = Some(now);
        if self.shutting_down {
            return;
        }
        let due: Vec<PeerId> = self
            .schedule
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, peer)| *peer)
            .collect();
        for peer in due {
            if self.is_limited() {
                break;
            }
            let Some(slot) = self.peers.get(&peer) else {
                continue;
            };
            let addr = match self.dialability(peer, slot) {
                Dialability::Now(addr) => addr,
                Dialability::Later => continue,
                Dialability::Never => {
                    if let Some(slot) = self.peers.get_mut(&peer) {
                        set_dial(&mut self.schedule, peer, slot, None);
                    }
                    continue;
                }
            };
            let id = self.allocate_id();
            let Some(slot) = self.peers.get_mut(&peer) else {
                continue;
            };
            slot.pending.insert(id, ConnectionDirection::Outbound);
            self.counts.pending[dir_index(ConnectionDirection::Outbound)] += 1;
            set_dial(&mut self.schedule, peer, slot, None);
            slot.counters.dials += 1;
            self.index.insert(id, peer);
            actions.push(Action::Dial { id, peer, addr });
        }
        self.check_bookkeeping();
    }

    /// The outbound or pending-handshake limit is reached: dials wait for a
    /// connection or handshake to end (which wakes the driver anyway).
    fn is_limited(&self) -> bool {
        self.count(ConnectionDirection::Outbound) >= self.config.max_outbound
            || self.pending_total() >= self.config.max_pending_handshakes
    }

    /// Whether a scheduled row can be dialled.
    fn dialability(&self, peer: PeerId, slot: &Slot) -> Dialability {
        let never = !slot.persistent
            || slot.is_self
            || slot.active.is_some()
            || !self.is_allowed(peer.ip())
            || !may_dial(self.config.tie_break, self.own_ip, peer.ip());
        match slot.dial_addr {
            Some(_) if never => Dialability::Never,
            None => Dialability::Never,
            // A handshake with the peer is in flight: wait for its outcome.
            Some(_) if !slot.pending.is_empty() => Dialability::Later,
            Some(addr) => Dialability::Now(addr),
        }
    }

    /// The earliest instant at which [`PeerTable::poll`] may dial; `None`
    /// while a limit blocks dialling (a past instant here would spin the
    /// driver).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        if self.shutting_down || self.is_limited() {
            return None;
        }
        // Rows waiting on a handshake are skipped: its outcome wakes the
        // driver. Rows that can never be dialled are due too, so `poll`
        // clears them.
        let waiting = |peer: &PeerId| {
            let slot = self.peers.get(peer);
            matches!(
                slot.map(|s| self.dialability(*peer, s)),
                Some(Dialability::Later)
            )
        };
        let next = self.schedule.iter().find(|(_, peer)| !waiting(peer));
        next.map(|(at, _)| *at)
    }

    /// `at`, or the end of the peer's ban if that is later.
    fn after_ban(&self, peer: PeerId, at: Instant) -> Instant {
        self.bans
            .banned_until(peer.ip())
            .map_or(at, |until| at.max(Instant::from_std(until)))
    }

    /// Records a misbehaviour strike; a ban closes the peer's connections
    /// with `banned` and holds off any redial until it ends.
    fn strike(&mut self, peer: PeerId, now: Instant) {
        self.stats.strikes += 1;
        let strike = self.bans.strike(peer.ip(), now.into_std(), &mut self.rng);
        let Some(until) = strike.map(Instant::from_std) else {
            return;
        };
        self.stats.bans += 1;
        tracing::info!(%peer, ban_secs = (until - now).as_secs(), "banned");
        if let Some(slot) = self.peers.get_mut(&peer) {
            for live in slot.live.values_mut() {
                live.closing = true;
                live.handle.close(Reason::Banned);
            }
            if let Some(at) = slot.next_dial_at {
                set_dial(&mut self.schedule, peer, slot, Some(at.max(until)));
            }
        }
    }

    /// Stops admitting and dialling, and asks every connection to close.
    pub(crate) fn shutdown(&mut self) {
        self.shutting_down = true;
        for (peer, slot) in self.peers.iter_mut() {
            set_dial(&mut self.schedule, *peer, slot, None);
            for live in slot.live.values_mut() {
                live.closing = true;
                live.handle.close(Reason::Shutdown);
            }
        }
        self.check_bookkeeping();
    }

    /// Whether any connection is still running.
    pub(crate) fn has_live(&self) -> bool {
        self.peers.values().any(|s| !s.live.is_empty())
    }

    /// The peer table in peer order.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let peers = self
            .peers
            .iter()
            .map(|(peer, slot)| PeerRow {
                peer: *peer,
                state: slot.state(),
                persistent: slot.persistent,
                active: slot.active,
                connections: slot
                    .live
                    .iter()
                    .map(|(id, l)| {
                        let info = l.handle.info();
                        ConnectionRow {
                            id: *id,
                            direction: info.direction,
                            local_addr: info.local_addr,
                            remote_addr: info.remote_addr,
                            remote_node: info.remote.node_id,
                            closing: l.closing,
                        }
                    })
                    .collect(),
                pending: slot.pending.len(),
                last_rtt: slot.last_rtt,
                counters: slot.counters.clone(),
            })
            .collect();
        Snapshot {
            node_id: self.local,
            peers,
            stats: self.stats.clone(),
            banned: self
                .last_now
                .map_or_else(Vec::new, |now| self.bans.banned(now.into_std())),
        }
    }
}

fn view(info: &ConnectionInfo) -> ConnectionView {
    ConnectionView {
        id: info.id,
        direction: info.direction,
        remote_node: info.remote.node_id,
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
