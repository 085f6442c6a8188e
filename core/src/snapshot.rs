//! `Snapshot`: the peer table in a stable order, for tests, insta snapshots,
//! metrics and admin endpoints. Plain data rendered by
//! [`PeerTable::snapshot`](crate::table::PeerTable::snapshot); nothing in
//! it depends on wall time. The shell re-exports it as
//! `peerlink::manager::Snapshot` (and the row and counter types beside it).
//!
//! The table fills what it decides (rows, counters, RTTs, strikes, the
//! histograms); the shell fills what its connection tasks count
//! ([`ConnectionStats`] and [`Traffic`]), read at snapshot time. Times are
//! ages and durations, never wall-clock instants. With the `serde` feature
//! every type here is `Serialize` (durations as seconds, ids as strings);
//! see `serde_impls`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::close::DisconnectReason;
use crate::histogram::Histogram;
use crate::id::{ConnectionDirection, ConnectionId, NodeId, PeerId};

/// Where a peer's row stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum PeerState {
    /// Nothing in flight and nothing scheduled (or due now).
    Idle,
    /// We are connecting to it or running the dialer's handshake.
    Dialing,
    /// It connected to us and the handshake is running.
    Handshaking,
    /// A connection is established.
    Connected,
    /// Waiting out a redial delay.
    Backoff,
}

impl fmt::Display for PeerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PeerState::Idle => "idle",
            PeerState::Dialing => "dialing",
            PeerState::Handshaking => "handshaking",
            PeerState::Connected => "connected",
            PeerState::Backoff => "backoff",
        })
    }
}

/// Per-peer counters, kept while the row exists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PeerCounters {
    /// Dials started.
    pub dials: u64,
    /// Dials that failed before a connection was established.
    pub dial_failures: u64,
    /// Handshakes completed (either direction).
    pub connections: u64,
    /// Connections closed as duplicates by the tie-break.
    pub duplicates_closed: u64,
    /// Established connections that have ended (losers of a tie-break
    /// included): `connections - closed` is the number open right now.
    pub closed: u64,
    /// Times the peer went from connected to not connected.
    pub disconnects: u64,
}

/// The kind `ManagerStats::dial_failures_by` gives a dial whose TCP
/// connect itself failed.
pub const CONNECT_FAILED: &str = "connect_failed";

/// Counters over the whole manager.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ManagerStats {
    /// Handshakes completed.
    pub handshakes_ok: u64,
    /// Handshakes that started (a stream was open) and failed, either
    /// direction.
    pub handshakes_failed: u64,
    /// Dials that did not end in a connection: refused or timed-out
    /// connects, and failed dialer handshakes.
    pub dial_failures: u64,
    /// Inbound connections refused before their handshake.
    pub inbound_refused: u64,
    /// Duplicate connections closed by the tie-break.
    pub duplicates_resolved: u64,
    /// Strikes recorded, misbehaviour and short-lived together.
    pub strikes: u64,
    /// Bans issued.
    pub bans: u64,
    /// Closes and refusals by reason name.
    pub reasons: BTreeMap<&'static str, u64>,
    /// Dials started.
    pub dials: u64,
    /// Failed dials by kind: `connect_failed` when the TCP connect itself
    /// failed (refused, unreachable, timed out), else the failed
    /// handshake's reason name (`handshake_timeout`, `connection_lost`, a
    /// peer's refusal such as `duplicate`...).
    pub dial_failures_by: BTreeMap<&'static str, u64>,
    /// Connections established (handshake completed), by direction.
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "crate::serde_impls::direction_map")
    )]
    pub opened: BTreeMap<ConnectionDirection, u64>,
    /// Established connections that ended, by direction and by who
    /// closed them with which reason (local, remote, or lost).
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "crate::serde_impls::close_counts")
    )]
    pub closed: BTreeMap<(ConnectionDirection, DisconnectReason), u64>,
    /// Strikes by reason: the reason of the close for bad input that
    /// earned them, or `short_lived` for a flap (see `bans::STRIKE_REASONS`).
    pub strikes_by: BTreeMap<&'static str, u64>,
    /// From a connection's admission (accept, or dial start) to its
    /// handshake's end, for every handshake that completed.
    pub handshake_duration: Histogram,
    /// Every ping round trip measured, on any connection.
    pub ping_rtt: Histogram,
    /// Bytes and messages over every connection, ended ones included
    /// (filled by the shell; zero in the table's own snapshot).
    pub traffic: Traffic,
}

impl ManagerStats {
    pub(crate) fn count_reason(&mut self, reason: DisconnectReason) {
        *self.reasons.entry(reason.as_str()).or_default() += 1;
    }
}

/// Bytes and messages one way and the other, as counted by the shell's
/// connection tasks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Traffic {
    /// Bytes read from the socket (frames, control frames included).
    pub bytes_in: u64,
    /// Bytes handed to the socket (frames, control frames included).
    pub bytes_out: u64,
    /// Application messages received.
    pub messages_in: u64,
    /// Application messages handed to the socket.
    pub messages_out: u64,
    /// Application sends refused because the send queue was full.
    pub send_queue_full: u64,
}

impl Traffic {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Traffic) {
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.messages_in += other.messages_in;
        self.messages_out += other.messages_out;
        self.send_queue_full += other.send_queue_full;
    }
}

/// What a connection's task counted, read at snapshot time: its traffic
/// and how long ago things happened (ages on the shell's clock, so virtual
/// time under simulation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ConnectionStats {
    /// How long the connection has been established.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "age_seconds", with = "crate::serde_impls::secs")
    )]
    pub age: Duration,
    /// Since the last bytes arrived, if any did.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "last_receive_seconds_ago",
            with = "crate::serde_impls::opt_secs"
        )
    )]
    pub last_receive: Option<Duration>,
    /// Since the last write to the socket finished, if one did.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "last_send_seconds_ago",
            with = "crate::serde_impls::opt_secs"
        )
    )]
    pub last_send: Option<Duration>,
    /// Age of the oldest ping still waiting for its pong.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "ping_pending_seconds", with = "crate::serde_impls::opt_secs")
    )]
    pub ping_pending: Option<Duration>,
    /// Bytes and messages each way.
    pub traffic: Traffic,
}

/// One established connection in a row.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ConnectionRow {
    /// Connection id (its generation).
    pub id: ConnectionId,
    /// Who dialled it.
    pub direction: ConnectionDirection,
    /// Our socket address.
    pub local_addr: SocketAddr,
    /// The peer's socket address.
    pub remote_addr: SocketAddr,
    /// The node id the peer announced.
    pub remote_node: NodeId,
    /// Asked to close; its socket is still open until its task ends.
    pub closing: bool,
    /// What its task counted (filled by the shell's manager; `None` in the
    /// table's own snapshot).
    pub stats: Option<ConnectionStats>,
}

/// One peer's row.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PeerRow {
    /// The peer.
    pub peer: PeerId,
    /// Its state.
    pub state: PeerState,
    /// Whether it is kept connected (configured peer).
    pub persistent: bool,
    /// The connection sends go to.
    pub active: Option<ConnectionId>,
    /// Established connections, closing ones included, oldest first.
    pub connections: Vec<ConnectionRow>,
    /// Handshakes in flight.
    pub pending: usize,
    /// Of `pending`, the dials in flight (connect and handshake): at most
    /// one, since a row with a handshake in flight is never dialled.
    pub pending_outbound: usize,
    /// Last RTT measured on the active connection (cleared when the peer
    /// disconnects).
    #[cfg_attr(
        feature = "serde",
        serde(rename = "last_rtt_seconds", with = "crate::serde_impls::opt_secs")
    )]
    pub last_rtt: Option<Duration>,
    /// Smallest RTT measured since the peer last connected (cleared when
    /// it disconnects).
    #[cfg_attr(
        feature = "serde",
        serde(rename = "min_rtt_seconds", with = "crate::serde_impls::opt_secs")
    )]
    pub min_rtt: Option<Duration>,
    /// Strikes its IP holds now, misbehaviour and short-lived together
    /// (they decay, and a ban spends them; see `BanList`).
    pub strikes: usize,
    /// Time left on its IP's ban, if banned as of the table's last
    /// decision.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "banned_for_seconds", with = "crate::serde_impls::opt_secs")
    )]
    pub banned_for: Option<Duration>,
    /// Counters.
    pub counters: PeerCounters,
}

/// A node's peer table at one instant, rows in peer order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Snapshot {
    /// This node's id.
    pub node_id: NodeId,
    /// One row per peer IP, sorted.
    pub peers: Vec<PeerRow>,
    /// Manager-wide counters.
    pub stats: ManagerStats,
    /// Peer IPs banned as of the manager's last decision, in order.
    pub banned: Vec<std::net::IpAddr>,
}

impl Snapshot {
    /// The row for `peer`.
    pub fn peer(&self, peer: PeerId) -> Option<&PeerRow> {
        self.peers.iter().find(|r| r.peer == peer)
    }

    /// Peers with an active connection, in order.
    pub fn connected(&self) -> Vec<PeerId> {
        let rows = self.peers.iter().filter(|r| r.active.is_some());
        rows.map(|r| r.peer).collect()
    }

    /// Established connections not asked to close, over all peers.
    pub fn open_connections(&self) -> usize {
        let rows = self.peers.iter().flat_map(|r| &r.connections);
        rows.filter(|c| !c.closing).count()
    }
}

impl fmt::Display for Snapshot {
    /// One line per peer: `peer state active=cN dir rtt=… counters`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "node {}", self.node_id)?;
        for row in &self.peers {
            write!(f, "  {} {}", row.peer, row.state)?;
            for c in &row.connections {
                let mark = if Some(c.id) == row.active { "*" } else { "" };
                write!(f, " {}{}:{}", mark, c.id, c.direction)?;
            }
            if let Some(rtt) = row.last_rtt {
                write!(f, " rtt={rtt:?}")?;
            }
            let k = &row.counters;
            writeln!(
                f,
                " dials={} fails={} conns={} dups={} disc={}",
                k.dials, k.dial_failures, k.connections, k.duplicates_closed, k.disconnects
            )?;
        }
        Ok(())
    }
}
