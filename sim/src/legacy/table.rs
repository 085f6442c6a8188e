//! The legacy node's peer table: one slot per key with the origin's
//! "connected" state, its connection (`active`), the writer registered for
//! sends (`writer`), its "connecting" mark and its counters; the per-IP
//! reply registry of flaw #3; and every decision on them, synchronous and
//! without I/O. The view the simulator reads is this table as it is, keyed
//! the design's way.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use peerlink::id::ConnectionIds;
use peerlink::manager::TieBreakPolicy;
use peerlink::wire::Reason;
use peerlink::{ConnectionDirection, ConnectionId, NodeId};
use peerlink_core::policy::{resolve, ConnectionView, Resolution};
use tokio::sync::mpsc;

use super::conn::{End, Out};
use super::design::{Design, Key};
use super::plants::Plant;
use crate::view::{ConnView, NodeView, PeerView, StreamCounter};

/// An established connection the table holds.
pub(crate) struct Held {
    /// Its addresses, direction and closing flag.
    pub(crate) view: ConnView,
    /// The node id the peer announced on it.
    pub(crate) remote_node: NodeId,
    /// Asks its loop to close.
    pub(crate) close: mpsc::Sender<Reason>,
    /// Its send queue.
    pub(crate) out: mpsc::Sender<Out>,
    /// What its loop and writer counted.
    pub(crate) traffic: Arc<StreamCounter>,
}

impl Held {
    /// The connection as the simulator sees it now.
    fn observed(&self) -> ConnView {
        ConnView {
            traffic: Some(self.traffic.read()),
            ..self.view.clone()
        }
    }
}

/// One peer slot.
#[derive(Default)]
struct Slot {
    /// Where to dial it, if configured.
    configured: Option<SocketAddr>,
    /// The "connecting" mark: a reconnect task owns the peer.
    dialing: bool,
    /// The slot's state.
    connected: bool,
    /// The connection the slot holds as the peer's.
    active: Option<ConnectionId>,
    /// The writer registered for sends: the connection the send path
    /// looks up (the active one, unless a flaw lost it).
    writer: Option<ConnectionId>,
    /// Application messages received from the peer.
    received: u64,
    conns: BTreeMap<ConnectionId, Held>,
    /// Handshakes in flight on open sockets.
    pending: usize,
    /// Dials in flight (connect and handshake), over every task.
    dialing_now: usize,
    dials: u64,
    established: u64,
    closed: u64,
    disconnects: u64,
}

impl Slot {
    fn is_empty(&self) -> bool {
        self.configured.is_none()
            && !self.connected
            && self.conns.is_empty()
            && self.pending == 0
            && self.dialing_now == 0
    }
}

/// The whole table of one legacy node.
pub(crate) struct Table {
    design: Design,
    local: NodeId,
    ids: ConnectionIds,
    slots: BTreeMap<Key, Slot>,
    /// #3's reply registry: per IP, the last connection to finish its
    /// handshake, and its send queue.
    replies: BTreeMap<IpAddr, (ConnectionId, mpsc::Sender<Out>)>,
    /// Whether the view publishes `received` (the scenario sends traffic).
    counts_received: bool,
}

impl Table {
    /// A table with a slot for every configured peer; its view publishes
    /// the messages received when `counts_received`.
    pub(crate) fn new(
        design: Design,
        local: NodeId,
        peers: &[SocketAddr],
        counts_received: bool,
    ) -> Table {
        let mut slots: BTreeMap<Key, Slot> = BTreeMap::new();
        for addr in peers {
            slots.entry(design.key_for(*addr)).or_default().configured = Some(*addr);
        }
        Table {
            design,
            local,
            ids: ConnectionIds::new(),
            slots,
            replies: BTreeMap::new(),
            counts_received,
        }
    }

    /// Configured peers with no connection and no connecting mark: marks
    /// them and returns them, for new reconnect tasks.
    pub(crate) fn take_due(&mut self) -> Vec<(Key, SocketAddr)> {
        let slots = self.slots.iter_mut();
        slots
            .filter(|(_, s)| !s.connected && !s.dialing)
            .filter_map(|(key, slot)| {
                let addr = slot.configured?;
                slot.dialing = true;
                Some((*key, addr))
            })
            .collect()
    }

    /// Every configured peer, whatever its state.
    pub(crate) fn configured(&self) -> Vec<(Key, SocketAddr)> {
        let slots = self.slots.iter();
        slots
            .filter_map(|(k, s)| Some((*k, s.configured?)))
            .collect()
    }

    /// Whether the slot says connected.
    pub(crate) fn is_connected(&self, key: Key) -> bool {
        self.slots.get(&key).is_some_and(|s| s.connected)
    }

    /// Sets or clears the connecting mark.
    pub(crate) fn set_dialing(&mut self, key: Key, dialing: bool) {
        if let Some(slot) = self.slots.get_mut(&key) {
            slot.dialing = dialing;
        }
    }

    /// A dial starts.
    pub(crate) fn dial_started(&mut self, key: Key) {
        let slot = self.slots.entry(key).or_default();
        slot.dials += 1;
        slot.dialing_now += 1;
    }

    /// A dial ended, established or not.
    pub(crate) fn dial_ended(&mut self, key: Key) {
        if let Some(slot) = self.slots.get_mut(&key) {
            slot.dialing_now = slot.dialing_now.saturating_sub(1);
            if slot.is_empty() {
                self.slots.remove(&key);
            }
        }
    }

    /// A socket is open and its handshake starts.
    pub(crate) fn handshake_started(&mut self, key: Key) {
        self.slots.entry(key).or_default().pending += 1;
    }

    /// A handshake failed; its socket is being dropped.
    pub(crate) fn handshake_failed(&mut self, key: Key) {
        if let Some(slot) = self.slots.get_mut(&key) {
            slot.pending = slot.pending.saturating_sub(1);
            if slot.is_empty() {
                self.slots.remove(&key);
            }
        }
    }

    /// The server's rule: an inbound from a connected peer is a duplicate.
    /// Otherwise its handshake starts.
    pub(crate) fn admit_inbound(&mut self, key: Key) -> bool {
        if self.is_connected(key) {
            return false;
        }
        self.handshake_started(key);
        true
    }

    /// A handshake finished: hold the connection, register its writer, and
    /// resolve it against the one registered. Returns its id.
    pub(crate) fn establish(&mut self, key: Key, held: Held) -> ConnectionId {
        let id = self.ids.allocate();
        if self.design.replies_via_ip_writer {
            // Origin bug #3: the last handshake wins the peer's writer.
            self.replies.insert(key.ip(), (id, held.out.clone()));
        }
        let held_direction = held.view.direction;
        let slot = self.slots.entry(key).or_default();
        slot.pending = slot.pending.saturating_sub(1);
        slot.established += 1;
        slot.conns.insert(id, held);
        let existing = slot.active.filter(|a| slot.conns.contains_key(a));
        // Origin bug #6: the unfinished outbound path registers no writer.
        let unregistered =
            self.design.unfinished_outbound_path && held_direction == ConnectionDirection::Outbound;
        let writer = (!unregistered).then_some(id);
        let Some(old) = existing else {
            slot.active = Some(id);
            slot.writer = writer;
            slot.connected = true;
            return id;
        };
        let views = (slot.conns.get(&old), slot.conns.get(&id));
        let (Some(o), Some(n)) = views else { return id };
        let resolution = resolve(
            TieBreakPolicy::NodeId,
            self.local,
            &tie_view(old, o),
            &tie_view(id, n),
        );
        tracing::debug!(peer = %key, conn = id.get(), ?resolution, "resolve");
        let loser = match resolution {
            Resolution::KeepExisting => id,
            Resolution::KeepNew | Resolution::KeepBoth => {
                slot.active = Some(id);
                slot.writer = writer;
                old
            }
        };
        if let Some(held) = slot.conns.get_mut(&loser) {
            held.view.closing = true;
            let _ = held.close.try_send(Reason::Duplicate);
        }
        id
    }

    /// #2's cleanup of an ended dial: the peer's disconnect path, which asks
    /// every connection to the peer to close. Returns how many it asked.
    pub(crate) fn drop_peer(&mut self, key: Key) -> usize {
        let Some(slot) = self.slots.get_mut(&key) else {
            return 0;
        };
        let open = slot.conns.values_mut().filter(|h| !h.view.closing);
        open.map(|held| {
            held.view.closing = true;
            let _ = held.close.try_send(Reason::Duplicate);
        })
        .count()
    }

    /// The send path's targets: every peer the table shows as connected,
    /// with the writer registered for it, if any.
    pub(crate) fn send_targets(&self) -> Vec<(Key, Option<mpsc::Sender<Out>>)> {
        let connected = self.slots.iter().filter(|(_, s)| s.connected);
        connected
            .map(|(key, slot)| {
                let held = slot.writer.and_then(|w| slot.conns.get(&w));
                (*key, held.map(|h| h.out.clone()))
            })
            .collect()
    }

    /// An application message arrived from the peer behind `key`.
    pub(crate) fn on_app(&mut self, key: Key) {
        if let Some(slot) = self.slots.get_mut(&key) {
            slot.received += 1;
        }
    }

    /// #3's reply path: the writer registered for `ip`.
    pub(crate) fn reply_writer(&self, ip: IpAddr) -> Option<(ConnectionId, mpsc::Sender<Out>)> {
        self.replies.get(&ip).cloned()
    }

    /// Connection `id` ended with `end`.
    pub(crate) fn on_closed(&mut self, key: Key, id: ConnectionId, end: &End) {
        if self.replies.get(&key.ip()).is_some_and(|(r, _)| *r == id) {
            self.replies.remove(&key.ip());
        }
        let design = self.design;
        if design.plant == Plant::KeepsClosed {
            tracing::debug!(peer = %key, conn = id.get(), "planted: end ignored, connection kept");
            return;
        }
        let Some(slot) = self.slots.get_mut(&key) else {
            return;
        };
        if slot.conns.remove(&id).is_none() {
            return;
        }
        if design.plant != Plant::Miscounts {
            slot.closed += 1;
        }
        let was_active = slot.active == Some(id);
        if slot.writer == Some(id) {
            slot.writer = None;
        } else if design.cleanup_by_ip && slot.writer.take().is_some() {
            // Origin bug #10: unregistered by IP, no generation guard.
            tracing::debug!(peer = %key, conn = id.get(), "stale cleanup unregistered the live writer");
        }
        if was_active {
            slot.active = None;
            if design.silent_death_keeps_slot && end.is_silent_death() {
                // Origin bug #11: this exit path forgets the slot's state.
                tracing::debug!(peer = %key, conn = id.get(), reason = %end, "connection died, slot left connected");
            } else {
                slot.connected = false;
                slot.disconnects += 1;
                tracing::debug!(peer = %key, conn = id.get(), reason = %end, "disconnected");
            }
        }
        if slot.is_empty() {
            self.slots.remove(&key);
        }
    }

    /// The table as the simulator sees it.
    pub(crate) fn view(&self) -> NodeView {
        let peers = self.slots.iter().map(|(key, slot)| PeerView {
            key: key.to_string(),
            ip: key.ip(),
            connected: slot.connected,
            active: slot
                .active
                .and_then(|id| slot.conns.get(&id))
                .map(Held::observed),
            connections: slot.conns.values().map(Held::observed).collect(),
            pending: slot.pending,
            dials_in_flight: slot.dialing_now,
            dials: slot.dials,
            established: slot.established,
            closed: slot.closed,
            disconnects: slot.disconnects,
            rtt: None,
            received: self.counts_received.then_some(slot.received),
        });
        NodeView {
            peers: peers.collect(),
        }
    }
}

fn tie_view(id: ConnectionId, held: &Held) -> ConnectionView {
    ConnectionView {
        id,
        direction: held.view.direction,
        remote_node: held.remote_node,
    }
}
