//! One peer's row of the table (`Slot`) and the bookkeeping kept beside
//! the rows: connection counts by direction and the dial schedule. Plain
//! data and small helpers; every decision over them is in the parent
//! module.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::close::DisconnectReason;
use crate::connection::ConnectionInfo;
use crate::id::{ConnectionDirection, ConnectionId, PeerId};
use crate::snapshot::{PeerCounters, PeerState};
use crate::wire::Reason;

use super::action::Action;

/// An established connection in a row.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Live {
    pub(super) info: ConnectionInfo,
    /// Asked to close (lost a tie-break, or shutdown); its `Closed` is due.
    pub(super) closing: bool,
}

/// One peer's row.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct Slot {
    /// Where to dial it (configured, or learned from an inbound hello).
    pub(super) dial_addr: Option<SocketAddr>,
    /// Keep it connected: redial after failures.
    pub(super) persistent: bool,
    /// Its address led back to ourselves: never dial it again.
    pub(super) is_self: bool,
    /// Established connections; more than one only transiently, or under
    /// the keep-both comparison policy.
    pub(super) live: BTreeMap<ConnectionId, Live>,
    /// The connection sends go to.
    pub(super) active: Option<ConnectionId>,
    /// Handshakes in flight, by direction. The slot is reserved here before
    /// any handshake byte is read.
    pub(super) pending: BTreeMap<ConnectionId, ConnectionDirection>,
    /// When the next dial may start.
    pub(super) next_dial_at: Option<Instant>,
    /// Consecutive failed attempts, for backoff.
    pub(super) failures: u32,
    /// Consecutive "duplicate" goodbyes received with no connection left.
    pub(super) duplicate_strikes: u32,
    /// The peer said goodbye "duplicate" on our only connection while a
    /// handshake with it was in flight: its winner is probably that
    /// handshake, so `Disconnected` for this connection waits for the
    /// outcome instead of flapping (`Disconnected` then `Connected`).
    pub(super) deferred_disconnect: Option<(ConnectionId, DisconnectReason)>,
    pub(super) last_rtt: Option<Duration>,
    /// Smallest RTT since the peer last connected.
    pub(super) min_rtt: Option<Duration>,
    pub(super) counters: PeerCounters,
}

impl Slot {
    /// Marks every established connection of the row as closing and asks
    /// each to close with `reason`.
    pub(super) fn close_all(&mut self, reason: Reason, actions: &mut Vec<Action>) {
        for (id, live) in self.live.iter_mut() {
            live.closing = true;
            actions.push(Action::Close { id: *id, reason });
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        !self.persistent && !self.is_self && self.live.is_empty() && self.pending.is_empty()
    }

    pub(super) fn state(&self) -> PeerState {
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

/// Whether a scheduled row can be dialled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialability {
    /// Now, at this address.
    Now(SocketAddr),
    /// After a handshake in flight with the peer ends.
    Later,
    /// Not at all (not persistent, ourselves, connected, denied, policy).
    Never,
}

/// Live and pending connections by direction.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct Counts {
    pub(super) live: [usize; 2],
    pub(super) pending: [usize; 2],
}

impl Counts {
    pub(super) fn live_mut(&mut self, direction: ConnectionDirection) -> &mut usize {
        match direction {
            ConnectionDirection::Inbound => &mut self.live[0],
            ConnectionDirection::Outbound => &mut self.live[1],
        }
    }

    pub(super) fn pending_mut(&mut self, direction: ConnectionDirection) -> &mut usize {
        match direction {
            ConnectionDirection::Inbound => &mut self.pending[0],
            ConnectionDirection::Outbound => &mut self.pending[1],
        }
    }

    /// Live and pending connections in `direction`.
    pub(super) fn total(&self, direction: ConnectionDirection) -> usize {
        let [live_in, live_out] = self.live;
        let [pending_in, pending_out] = self.pending;
        match direction {
            ConnectionDirection::Inbound => live_in + pending_in,
            ConnectionDirection::Outbound => live_out + pending_out,
        }
    }

    /// Handshakes in flight in `direction`.
    pub(super) fn pending(&self, direction: ConnectionDirection) -> usize {
        let [pending_in, pending_out] = self.pending;
        match direction {
            ConnectionDirection::Inbound => pending_in,
            ConnectionDirection::Outbound => pending_out,
        }
    }
}

/// Sets a row's next dial time and keeps the schedule index in step; every
/// write to `next_dial_at` goes through here.
pub(super) fn set_dial(
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
