//! `PeerTable`: every decision of the connection manager, over all peers.
//! One row per peer IP; admission, tie-break, redial, bans and cleanup are
//! decided here from the events and the `now` the shell passes in. The table
//! holds no connection handle and performs no effect: each decision appends
//! [`Action`]s (dial, close, route, unroute, emit) that the shell carries
//! out in order. It reads no clock and draws randomness only from an RNG
//! seeded at construction, so the same inputs give the same actions.
//!
//! `mod.rs` owns the table, admission and dialling; `outcome.rs` what
//! happens when a handshake or connection ends (tie-break, strikes,
//! backoff); `slot.rs` one peer's row and the bookkeeping beside the rows.

mod action;
mod outcome;
mod slot;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bans::BanList;
use crate::close::DisconnectReason;
use crate::config::Config;
use crate::id::{ConnectionDirection, ConnectionId, ConnectionIds, NodeId, PeerId};
use crate::policy::{admits_inbound, may_dial};
use crate::rng::SeededRng;
use crate::snapshot::{ConnectionRow, ManagerStats, PeerRow, Snapshot};
use crate::wire::Reason;
pub use action::Action;
use slot::{set_dial, Counts, Dialability, Slot};

/// The manager's decisions over all peers. A value: `Clone + Eq + Hash`,
/// so a model checker can store and compare states.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PeerTable {
    config: Arc<Config>,
    local: NodeId,
    own_ip: Option<IpAddr>,
    rng: SeededRng,
    ids: ConnectionIds,
    peers: BTreeMap<PeerId, Slot>,
    /// Every pending or live connection id, to its peer.
    index: BTreeMap<ConnectionId, PeerId>,
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
    /// When each pending handshake was admitted (accepted, or its dial
    /// started), for the handshake-duration histogram; an entry lives
    /// exactly as long as its id is pending.
    handshake_started: BTreeMap<ConnectionId, Instant>,
}

impl PeerTable {
    /// An empty table for node `local`. `own_ip` is this node's IP where
    /// known (only the `higher-ip-dials` comparison policy reads it); every
    /// random choice (backoff and ban jitter) is drawn from an RNG seeded
    /// with `seed`.
    pub fn new(config: Arc<Config>, local: NodeId, own_ip: Option<IpAddr>, seed: u64) -> Self {
        PeerTable {
            local,
            own_ip,
            rng: SeededRng::from_seed(seed),
            ids: ConnectionIds::new(),
            peers: BTreeMap::new(),
            index: BTreeMap::new(),
            stats: ManagerStats::default(),
            bans: BanList::new(
                config.ban_threshold,
                config.flap_threshold,
                config.ban_duration,
            ),
            last_now: None,
            shutting_down: false,
            counts: Counts::default(),
            schedule: BTreeSet::new(),
            handshake_started: BTreeMap::new(),
            config,
        }
    }

    fn allocate_id(&mut self) -> ConnectionId {
        self.ids.allocate()
    }

    fn is_allowed(&self, ip: IpAddr) -> bool {
        !self.config.deny.contains(&ip)
            && (self.config.allow.is_empty() || self.config.allow.contains(&ip))
    }

    /// Debug builds, and any build with the feature `check-bookkeeping`,
    /// recompute the counts and the schedule from the rows after every
    /// change and check the kept ones.
    fn check_bookkeeping(&self) {
        if !cfg!(any(debug_assertions, feature = "check-bookkeeping")) {
            return;
        }
        let mut counts = Counts::default();
        let mut schedule = BTreeSet::new();
        for (peer, slot) in &self.peers {
            for live in slot.live.values() {
                *counts.live_mut(live.info.direction) += 1;
            }
            for direction in slot.pending.values() {
                *counts.pending_mut(*direction) += 1;
            }
            if let Some(at) = slot.next_dial_at {
                schedule.insert((at, *peer));
            }
        }
        // A broken internal invariant, not peer input: fail loudly in tests.
        assert_eq!(counts, self.counts, "connection counts drifted");
        assert_eq!(schedule, self.schedule, "dial schedule drifted");
        let pending: BTreeSet<ConnectionId> = self
            .peers
            .values()
            .flat_map(|s| s.pending.keys().copied())
            .collect();
        let started: BTreeSet<ConnectionId> = self.handshake_started.keys().copied().collect();
        assert_eq!(pending, started, "handshake start times drifted");
    }

    /// Marks `addr` as a persistent peer: dialled now (by the next
    /// [`PeerTable::poll`]), redialled after failures. Returns whether it
    /// was new.
    pub fn add_peer(&mut self, addr: SocketAddr, now: Instant) -> bool {
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

    /// Stops keeping `peer` connected and closes its connections with
    /// `shutdown`. Returns whether the peer was known.
    pub fn disconnect(&mut self, peer: PeerId, actions: &mut Vec<Action>) -> bool {
        let Some(slot) = self.peers.get_mut(&peer) else {
            return false;
        };
        slot.persistent = false;
        set_dial(&mut self.schedule, peer, slot, None);
        slot.close_all(Reason::Shutdown, actions);
        self.check_bookkeeping();
        true
    }

    /// A TCP connection was accepted from `remote`: admit it to the
    /// handshake under a new connection id, or refuse it with a reason,
    /// before reading a byte.
    pub fn on_accept(&mut self, remote: SocketAddr, now: Instant) -> Result<ConnectionId, Reason> {
        self.last_now = Some(now);
        let peer = PeerId::from_socket_addr(remote);
        let refusal = if self.shutting_down {
            Some(Reason::Shutdown)
        } else if self.bans.is_banned(peer.ip(), now) {
            Some(Reason::Banned)
        } else if !self.is_allowed(peer.ip()) {
            Some(Reason::Denied)
        } else if self.counts.pending(ConnectionDirection::Inbound)
            >= self.config.max_pending_handshakes
        {
            Some(Reason::TooManyPending)
        } else if self.counts.total(ConnectionDirection::Inbound) >= self.config.max_inbound {
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
            self.stats.count_reason(DisconnectReason::Local(reason));
            return Err(reason);
        }
        let id = self.allocate_id();
        self.peers
            .entry(peer)
            .or_default()
            .pending
            .insert(id, ConnectionDirection::Inbound);
        *self.counts.pending_mut(ConnectionDirection::Inbound) += 1;
        self.index.insert(id, peer);
        self.handshake_started.insert(id, now);
        self.check_bookkeeping();
        Ok(id)
    }

    /// The acceptor's last check, with the peer's hello in hand: refused
    /// with `shutdown` if the table is shutting down or no longer knows
    /// the handshake.
    pub fn admit(&self, id: ConnectionId) -> Result<(), Reason> {
        if self.shutting_down || !self.index.contains_key(&id) {
            return Err(Reason::Shutdown);
        }
        Ok(())
    }

    /// Records a round-trip time measured on `id` (in the RTT histogram,
    /// and as the peer's last and minimum RTT if `id` is its active
    /// connection); returns its peer, or `None` if the table no longer
    /// knows the connection.
    pub fn on_rtt(&mut self, id: ConnectionId, rtt: Duration) -> Option<PeerId> {
        let peer = *self.index.get(&id)?;
        let slot = self.peers.get_mut(&peer)?;
        self.stats.ping_rtt.record(rtt);
        if slot.active == Some(id) {
            slot.last_rtt = Some(rtt);
            slot.min_rtt = Some(slot.min_rtt.map_or(rtt, |min| min.min(rtt)));
        }
        Some(peer)
    }

    /// Starts the dials that are due, within the limits. Looks only at the
    /// due part of the schedule, never at the whole table.
    pub fn poll(&mut self, now: Instant, actions: &mut Vec<Action>) {
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
            *self.counts.pending_mut(ConnectionDirection::Outbound) += 1;
            set_dial(&mut self.schedule, peer, slot, None);
            slot.counters.dials += 1;
            self.stats.dials += 1;
            self.index.insert(id, peer);
            self.handshake_started.insert(id, now);
            actions.push(Action::Dial { id, peer, addr });
        }
        self.check_bookkeeping();
    }

    /// The outbound limit, or the pending limit of our own dials, is
    /// reached: dials wait for a connection or handshake to end (which
    /// wakes the driver anyway). Inbound handshakes have a budget of their
    /// own, so peers holding them open never hold up our dials.
    fn is_limited(&self) -> bool {
        self.counts.total(ConnectionDirection::Outbound) >= self.config.max_outbound
            || self.counts.pending(ConnectionDirection::Outbound)
                >= self.config.max_pending_handshakes
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
    pub fn next_deadline(&self) -> Option<Instant> {
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

    /// Stops admitting and dialling, and asks every connection to close
    /// with `shutdown`.
    pub fn shutdown(&mut self, actions: &mut Vec<Action>) {
        self.shutting_down = true;
        for (peer, slot) in self.peers.iter_mut() {
            set_dial(&mut self.schedule, *peer, slot, None);
            slot.close_all(Reason::Shutdown, actions);
        }
        self.check_bookkeeping();
    }

    /// Whether any established connection has not yet reported its end.
    pub fn has_live(&self) -> bool {
        self.peers.values().any(|s| !s.live.is_empty())
    }

    /// Time left on `peer`'s ban as of the last decision, if banned.
    fn ban_left(&self, peer: PeerId) -> Option<Duration> {
        let now = self.last_now?;
        let until = self.bans.banned_until(peer.ip())?;
        (until > now).then(|| until - now)
    }

    /// The peer table in peer order.
    pub fn snapshot(&self) -> Snapshot {
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
                    .map(|(id, l)| ConnectionRow {
                        id: *id,
                        direction: l.info.direction,
                        local_addr: l.info.local_addr,
                        remote_addr: l.info.remote_addr,
                        remote_node: l.info.remote.node_id,
                        closing: l.closing,
                        stats: None,
                    })
                    .collect(),
                pending: slot.pending.len(),
                pending_outbound: slot
                    .pending
                    .values()
                    .filter(|d| **d == ConnectionDirection::Outbound)
                    .count(),
                last_rtt: slot.last_rtt,
                min_rtt: slot.min_rtt,
                strikes: self.bans.strikes(peer.ip()),
                banned_for: self.ban_left(*peer),
                counters: slot.counters.clone(),
            })
            .collect();
        Snapshot {
            node_id: self.local,
            peers,
            stats: self.stats.clone(),
            banned: self
                .last_now
                .map_or_else(Vec::new, |now| self.bans.banned(now)),
        }
    }
}

#[cfg(test)]
mod flap_tests;
#[cfg(test)]
mod tests;
