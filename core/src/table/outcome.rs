//! What the table decides when a handshake or a connection ends: the
//! tie-break between two connections to one peer, misbehaviour strikes
//! (decided only by [`CloseCause::is_misbehaviour`]), short-lived strikes
//! for flaps (decided only by `is_flap`) and bans, failover, the
//! deferred `Disconnected`, and the redial backoff. Every effect is an
//! [`Action`] appended in the order it must happen.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::slot::{set_dial, Live};
use super::{Action, PeerTable};
use crate::backoff::backoff_delay;
use crate::bans::{Strike, SHORT_LIVED};
use crate::close::{CloseCause, DisconnectReason};
use crate::connection::ConnectionInfo;
use crate::event::PeerEvent;
use crate::id::{ConnectionDirection, ConnectionId, PeerId};
use crate::policy::{resolve, ConnectionView, Resolution};
use crate::snapshot::CONNECT_FAILED;
use crate::wire::Reason;

impl PeerTable {
    /// The handshake of connection `id` (either direction) failed.
    /// `cause` is `None` when the TCP connect itself failed (refused, timed
    /// out) and no handshake started. A persistent peer's failed dial backs
    /// off; a handshake that failed on the peer's misbehaviour earns it a
    /// strike.
    pub fn on_handshake_failed(
        &mut self,
        id: ConnectionId,
        cause: Option<CloseCause>,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        self.last_now = Some(now);
        let Some(peer) = self.index.remove(&id) else {
            return;
        };
        self.handshake_started.remove(&id);
        let reason = cause.as_ref().map(CloseCause::reason);
        if let Some(cause) = &cause {
            self.stats.handshakes_failed += 1;
            self.stats.count_reason(cause.reason());
            if cause.is_misbehaviour() {
                self.strike(
                    peer,
                    Strike::Misbehaviour,
                    cause.reason().as_str(),
                    now,
                    actions,
                );
            }
        }
        let Some(slot) = self.peers.get_mut(&peer) else {
            return;
        };
        let direction = slot.pending.remove(&id);
        if let Some(d) = direction {
            *self.counts.pending_mut(d) -= 1;
        }
        if direction == Some(ConnectionDirection::Outbound) {
            slot.counters.dial_failures += 1;
            self.stats.dial_failures += 1;
            let kind = reason.map_or(CONNECT_FAILED, DisconnectReason::as_str);
            *self.stats.dial_failures_by.entry(kind).or_default() += 1;
            if reason.and_then(DisconnectReason::code) == Some(Reason::SelfConnection) {
                slot.is_self = true;
                set_dial(&mut self.schedule, peer, slot, None);
            } else if slot.active.is_none() && slot.persistent {
                slot.failures += 1;
                let c = &self.config;
                let delay = backoff_delay(
                    c.redial_backoff_min,
                    c.redial_backoff_max,
                    slot.failures,
                    &mut self.rng.0,
                );
                let until = self.bans.banned_until(peer.ip());
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
        if self.peers.get(&peer).is_some_and(|s| s.is_empty()) {
            if let Some(mut slot) = self.peers.remove(&peer) {
                set_dial(&mut self.schedule, peer, &mut slot, None);
            }
        }
    }

    /// A handshake succeeded and its connection is ready to run: apply the
    /// tie-break against the peer's active connection. The loser is closed
    /// with `duplicate`; a winner is routed to, then announced with
    /// `Connected`.
    pub fn on_established(
        &mut self,
        info: ConnectionInfo,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        self.last_now = Some(now);
        let peer = info.peer;
        self.index.insert(info.id, peer);
        let slot = self.peers.entry(peer).or_default();
        if let Some(d) = slot.pending.remove(&info.id) {
            *self.counts.pending_mut(d) -= 1;
        }
        // Every branch below inserts the connection into `live` once.
        *self.counts.live_mut(info.direction) += 1;
        set_dial(&mut self.schedule, peer, slot, None);
        // The winner a deferred disconnect was waiting for: no flap.
        slot.deferred_disconnect = None;
        slot.counters.connections += 1;
        self.stats.handshakes_ok += 1;
        *self.stats.opened.entry(info.direction).or_default() += 1;
        if let Some(started) = self.handshake_started.remove(&info.id) {
            let took = info.established_at.saturating_duration_since(started);
            self.stats.handshake_duration.record(took);
        }
        if slot.dial_addr.is_none() && info.remote.listen_port != 0 {
            slot.dial_addr = Some(SocketAddr::new(peer.ip(), info.remote.listen_port));
        }
        if self.shutting_down {
            actions.push(Action::Close {
                id: info.id,
                reason: Reason::Shutdown,
            });
            slot.live.insert(
                info.id,
                Live {
                    info,
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
            .map(|l| view(&l.info));
        let resolution = match existing {
            None => Resolution::KeepNew,
            Some(existing) => resolve(self.config.tie_break, self.local, &existing, &new),
        };
        tracing::debug!(%peer, conn_id = %info.id, ?resolution, "resolve");
        match resolution {
            Resolution::KeepExisting => {
                actions.push(Action::Close {
                    id: info.id,
                    reason: Reason::Duplicate,
                });
                slot.counters.duplicates_closed += 1;
                self.stats.duplicates_resolved += 1;
                slot.live.insert(
                    info.id,
                    Live {
                        info,
                        closing: true,
                    },
                );
            }
            Resolution::KeepNew | Resolution::KeepBoth => {
                if let (Resolution::KeepNew, Some(old)) = (resolution, existing) {
                    if let Some(old) = slot.live.get_mut(&old.id) {
                        old.closing = true;
                        actions.push(Action::Close {
                            id: old.info.id,
                            reason: Reason::Duplicate,
                        });
                    }
                    slot.counters.duplicates_closed += 1;
                    self.stats.duplicates_resolved += 1;
                }
                actions.push(Action::Route { peer, id: info.id });
                slot.active = Some(info.id);
                actions.push(Action::Emit(PeerEvent::Connected {
                    peer,
                    conn_id: info.id,
                    direction: info.direction,
                    node_id: info.remote.node_id,
                }));
                slot.live.insert(
                    info.id,
                    Live {
                        info,
                        closing: false,
                    },
                );
            }
        }
        self.check_bookkeeping();
    }

    /// Connection `id` ended with `cause`. Only that generation is removed:
    /// a stale connection's cleanup never touches a newer one (origin bug
    /// #10). If it was the active one, another live connection takes over
    /// (keep-both) or the peer is unrouted, reported `Disconnected` and,
    /// if persistent, scheduled for a redial.
    pub fn on_closed(
        &mut self,
        id: ConnectionId,
        cause: &CloseCause,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        self.last_now = Some(now);
        let Some(peer) = self.index.remove(&id) else {
            return;
        };
        let reason = cause.reason();
        self.stats.count_reason(reason);
        // Removed before a strike, so a ban closes only the connections
        // still running.
        let closed = self.peers.get_mut(&peer).and_then(|s| s.live.remove(&id));
        if let Some(closed) = &closed {
            *self.counts.live_mut(closed.info.direction) -= 1;
            let key = (closed.info.direction, reason);
            *self.stats.closed.entry(key).or_default() += 1;
        }
        if cause.is_misbehaviour() {
            self.strike(peer, Strike::Misbehaviour, reason.as_str(), now, actions);
        } else if closed
            .as_ref()
            .is_some_and(|c| self.is_flap(peer, c, cause, now))
        {
            self.strike(peer, Strike::ShortLived, SHORT_LIVED, now, actions);
        }
        let (Some(closed), Some(slot)) = (closed, self.peers.get_mut(&peer)) else {
            self.check_bookkeeping();
            return;
        };
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
        if let Some((_, l)) = next {
            actions.push(Action::Route {
                peer,
                id: l.info.id,
            });
            actions.push(Action::Emit(PeerEvent::Connected {
                peer,
                conn_id: l.info.id,
                direction: l.info.direction,
                node_id: l.info.remote.node_id,
            }));
            self.check_bookkeeping();
            return;
        }
        actions.push(Action::Unroute { peer });
        slot.last_rtt = None;
        slot.min_rtt = None;
        let remote_duplicate = *cause == CloseCause::Remote(Reason::Duplicate);
        let winner_in_flight = !slot.pending.is_empty();
        if winner_in_flight && remote_duplicate {
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
            let lived = now.saturating_duration_since(closed.info.established_at);
            let delay = self.redial_delay(peer, remote_duplicate, lived);
            let at = self.after_ban(peer, now + delay);
            if let Some(slot) = self.peers.get_mut(&peer) {
                set_dial(&mut self.schedule, peer, slot, Some(at));
            }
        }
        self.remove_if_empty(peer);
        self.check_bookkeeping();
    }

    /// How long to wait before redialling a persistent peer whose only
    /// connection just ended (`remote_duplicate`: with the peer's goodbye
    /// `duplicate`) after living `lived`.
    fn redial_delay(&mut self, peer: PeerId, remote_duplicate: bool, lived: Duration) -> Duration {
        let c = self.config.clone();
        let Some(slot) = self.peers.get_mut(&peer) else {
            return c.redial_backoff_min;
        };
        if remote_duplicate {
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
            &mut self.rng.0,
        )
    }

    /// `at`, or the end of the peer's ban if that is later.
    fn after_ban(&self, peer: PeerId, at: Instant) -> Instant {
        self.bans
            .banned_until(peer.ip())
            .map_or(at, |until| at.max(until))
    }

    /// Whether `closed`, which just ended with `cause`, was a flap: an
    /// inbound connection the peer ended (its goodbye, or a FIN or reset)
    /// within [`Config::flap_window`](crate::Config::flap_window) of its
    /// handshake, while we were not closing it ourselves. A goodbye
    /// `duplicate` is the tie-break at work, not a flap, while we hold
    /// another connection or handshake with the peer for it to have kept;
    /// with nothing left it is one. Our dials are paced by our own
    /// backoff, so outbound connections never count.
    fn is_flap(&self, peer: PeerId, closed: &Live, cause: &CloseCause, now: Instant) -> bool {
        let by_peer = match cause {
            CloseCause::Lost => true,
            CloseCause::Remote(Reason::Duplicate) => self
                .peers
                .get(&peer)
                .map_or(true, |s| s.live.is_empty() && s.pending.is_empty()),
            CloseCause::Remote(_) => true,
            _ => false,
        };
        let lived = now.saturating_duration_since(closed.info.established_at);
        by_peer
            && !self.shutting_down
            && !closed.closing
            && closed.info.direction == ConnectionDirection::Inbound
            && lived < self.config.flap_window()
    }

    /// Records a strike of `kind`, earned by a close labelled `label` (the
    /// close's reason, or `short_lived`); a ban closes the peer's
    /// connections with `banned` and holds off any redial until it ends.
    fn strike(
        &mut self,
        peer: PeerId,
        kind: Strike,
        label: &'static str,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        self.stats.strikes += 1;
        *self.stats.strikes_by.entry(label).or_default() += 1;
        let Some(until) = self.bans.strike(peer.ip(), kind, now, &mut self.rng.0) else {
            return;
        };
        self.stats.bans += 1;
        let ban_secs = until.saturating_duration_since(now).as_secs();
        tracing::info!(%peer, ban_secs, "banned");
        if let Some(slot) = self.peers.get_mut(&peer) {
            slot.close_all(Reason::Banned, actions);
            if let Some(at) = slot.next_dial_at {
                set_dial(&mut self.schedule, peer, slot, Some(at.max(until)));
            }
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
