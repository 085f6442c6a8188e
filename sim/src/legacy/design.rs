//! The legacy design's switches, one per origin flaw, and the node model
//! that runs a design. Each legacy model (the sibling files named after
//! their flaw) is one [`Design`] with exactly one flaw switched on.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::node::Node;
use super::plants::Plant;
use crate::model::{HostCtx, NodeFuture, NodeModel};

/// Which way the origin design went wrong, one switch per flaw.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Design {
    /// `--policy` name.
    pub(crate) name: &'static str,
    /// One line for `peerlink-sim list`.
    pub(crate) summary: &'static str,
    /// #4: peers are keyed by IP:PORT, so an inbound connection (ephemeral
    /// source port) and an outbound one (listen port) are two peers.
    pub(crate) ip_port_identity: bool,
    /// #2: a second periodic loop that dials every configured peer at this
    /// interval, whatever its state.
    pub(crate) blind_redial_every: Option<Duration>,
    /// #3: pings are answered through a per-IP writer registry in which the
    /// last connection to finish its handshake wins, not on the connection
    /// the ping came in on.
    pub(crate) replies_via_ip_writer: bool,
    /// #5: a reconnect task clears the peer's connecting mark while it
    /// sleeps in backoff, and sets it again when it wakes.
    pub(crate) backoff_clears_mark: bool,
    /// #10: when a connection ends, its cleanup unregisters the peer's
    /// writer by IP, whichever connection that writer belongs to.
    pub(crate) cleanup_by_ip: bool,
    /// #11: a connection that dies without a goodbye (its socket closed or
    /// reset under it, or its pongs stopped) removes its writer but leaves
    /// the slot `connected`; the periodic loop skips it.
    pub(crate) silent_death_keeps_slot: bool,
    /// #13: pending pings are pruned after the pong timeout, but only counted
    /// as missed after 2.5 times as long (the origin's 120 s and 300 s).
    pub(crate) prune_before_miss: bool,
    /// #6: the connections this node dials run a second, unfinished path
    /// (the origin's refactor): their writer is never registered for sends,
    /// and their loop handles pings, pongs and goodbyes but drops every
    /// application message.
    pub(crate) unfinished_outbound_path: bool,
    /// #7: `send` is a stub that reports success and queues nothing.
    pub(crate) send_is_stub: bool,
    /// #12: the connection loop reads one whole frame with `read_exact`
    /// (prefix, then body) inside its `select!`, so a timer firing mid-frame
    /// drops the bytes already read and desynchronises the stream.
    pub(crate) cancel_unsafe_reader: bool,
    /// A planted fault for the simulator's own checks (`plants`), not an
    /// origin flaw.
    pub(crate) plant: Plant,
}

impl Design {
    /// The origin design with every flaw switched off: the control that
    /// shows each catalog failure comes from its flaw alone.
    pub(crate) const SOUND: Design = Design {
        name: "legacy-sound",
        summary: "control: the legacy node with every flaw switched off",
        ip_port_identity: false,
        blind_redial_every: None,
        replies_via_ip_writer: false,
        backoff_clears_mark: false,
        cleanup_by_ip: false,
        silent_death_keeps_slot: false,
        prune_before_miss: false,
        cancel_unsafe_reader: false,
        unfinished_outbound_path: false,
        send_is_stub: false,
        plant: Plant::None,
    };

    /// How this design files the peer behind `addr`.
    pub(crate) fn key_for(&self, addr: SocketAddr) -> Key {
        if self.ip_port_identity {
            Key::Addr(addr)
        } else {
            Key::Ip(addr.ip().to_canonical())
        }
    }
}

/// A legacy design as a node model.
pub(crate) struct LegacyModel(pub(crate) Design);

impl NodeModel for LegacyModel {
    fn name(&self) -> String {
        self.0.name.to_string()
    }

    fn describe(&self) -> String {
        self.0.summary.to_string()
    }

    fn start(&self, ctx: HostCtx) -> NodeFuture {
        Box::pin(Node::run(self.0, ctx))
    }
}

/// How the design files a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Key {
    /// By IP (the sound identity).
    Ip(IpAddr),
    /// By IP:PORT (origin bug #4).
    Addr(SocketAddr),
}

impl Key {
    /// The IP behind the key.
    pub(crate) fn ip(self) -> IpAddr {
        match self {
            Key::Ip(ip) => ip,
            Key::Addr(addr) => addr.ip(),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Ip(ip) => ip.fmt(f),
            Key::Addr(addr) => addr.fmt(f),
        }
    }
}
