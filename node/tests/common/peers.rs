//! A client's typed reading of the node's `/peers` JSON, for the process
//! tests. The node serialises the library's `Snapshot` itself (with the
//! `serde` feature); these types read back the fields the tests check, as
//! the plain JSON values they are (ids as strings, durations as seconds),
//! and ignore the rest.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Deserialize;

/// The `/peers` document.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PeersView {
    /// This node's id, 32 hex digits.
    pub node_id: String,
    /// The address the node accepts peers on.
    pub listen: Option<String>,
    /// Peers with an active connection.
    pub connected: usize,
    /// One row per peer IP, in order.
    pub peers: Vec<PeerView>,
    /// Manager-wide counters.
    pub stats: StatsView,
    /// Peer IPs banned now, in order.
    pub banned: Vec<String>,
    /// Application messages received since start.
    pub app_messages: u64,
}

/// One peer's row.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PeerView {
    /// The peer's IP.
    pub peer: String,
    /// `idle`, `dialing`, `handshaking`, `connected` or `backoff`.
    pub state: String,
    /// A configured peer.
    pub persistent: bool,
    /// The active connection (`c7`).
    pub active: Option<String>,
    /// Handshakes in flight.
    pub pending: usize,
    /// Last ping round trip, seconds.
    pub last_rtt_seconds: Option<f64>,
    /// Smallest ping round trip since connected, seconds.
    pub min_rtt_seconds: Option<f64>,
    /// Strikes held by the peer's IP.
    pub strikes: usize,
    /// Time left on its ban, seconds.
    pub banned_for_seconds: Option<f64>,
    /// Established connections, oldest first.
    pub connections: Vec<ConnectionView>,
    /// Per-peer counters.
    pub counters: CountersView,
}

/// One established connection.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ConnectionView {
    /// `c7`.
    pub id: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Our socket address.
    pub local_addr: SocketAddr,
    /// The peer's socket address.
    pub remote_addr: SocketAddr,
    /// The peer's node id, 32 hex digits.
    pub remote_node: String,
    /// Asked to close.
    pub closing: bool,
    /// What the connection's tasks counted.
    pub stats: Option<ConnectionStatsView>,
}

/// A connection's traffic and ages.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ConnectionStatsView {
    /// Since established, seconds.
    pub age_seconds: f64,
    /// Since the last read, seconds.
    pub last_receive_seconds_ago: Option<f64>,
    /// Since the last write, seconds.
    pub last_send_seconds_ago: Option<f64>,
    /// Age of the oldest unanswered ping, seconds.
    pub ping_pending_seconds: Option<f64>,
    /// Bytes and messages each way.
    pub traffic: TrafficView,
}

/// Bytes and messages each way.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct TrafficView {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub send_queue_full: u64,
}

/// Per-peer counters.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CountersView {
    pub dials: u64,
    pub dial_failures: u64,
    pub connections: u64,
    pub duplicates_closed: u64,
    pub closed: u64,
    pub disconnects: u64,
}

/// One entry of the closes by direction and reason.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CloseCountView {
    pub direction: String,
    pub side: String,
    pub reason: String,
    pub count: u64,
}

/// A histogram: counts per bucket (not cumulative), the last one `+Inf`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct HistogramView {
    pub counts: Vec<u64>,
    pub sum_seconds: f64,
}

/// Manager-wide counters.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct StatsView {
    pub handshakes_ok: u64,
    pub handshakes_failed: u64,
    pub dial_failures: u64,
    pub inbound_refused: u64,
    pub duplicates_resolved: u64,
    pub strikes: u64,
    pub bans: u64,
    pub reasons: BTreeMap<String, u64>,
    pub dials: u64,
    pub dial_failures_by: BTreeMap<String, u64>,
    pub opened: BTreeMap<String, u64>,
    pub closed: Vec<CloseCountView>,
    pub strikes_by: BTreeMap<String, u64>,
    pub handshake_duration: HistogramView,
    pub ping_rtt: HistogramView,
    pub traffic: TrafficView,
}

impl PeersView {
    /// The row of the peer at `ip`, if any.
    pub fn peer(&self, ip: &str) -> Option<&PeerView> {
        self.peers.iter().find(|p| p.peer == ip)
    }

    /// The IPs of the connected peers, in order.
    pub fn connected_peers(&self) -> Vec<&str> {
        let rows = self.peers.iter().filter(|p| p.active.is_some());
        rows.map(|p| p.peer.as_str()).collect()
    }
}

/// The `/health` answer.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct HealthView {
    pub status: String,
    pub node_id: String,
    pub connected_peers: usize,
}
