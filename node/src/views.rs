//! What the admin endpoint shows as JSON, rendered from a `Snapshot`: the
//! `/peers` document ([`PeersView`]) and the `/health` answer
//! ([`HealthView`]); both also deserialize, so tests and tools read them
//! back typed. `/metrics` is rendered in `metrics`.
//!
//! Pure functions of their inputs: no clock, no I/O; rows come out in the
//! snapshot's stable peer order.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use peerlink::manager::Snapshot;
use peerlink::NodeId;
use serde::{Deserialize, Serialize};

/// The `/peers` document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeersView {
    /// This node's id, 32 hex digits (random at each start).
    pub node_id: String,
    /// The address the node accepts peers on.
    pub listen: Option<String>,
    /// Peers with an active connection.
    pub connected: usize,
    /// One row per peer IP, in order.
    pub peers: Vec<PeerView>,
    /// Manager-wide counters.
    pub stats: StatsView,
    /// Peer IPs banned now for misbehaving, in order.
    pub banned: Vec<String>,
    /// Application messages received since start.
    pub app_messages: u64,
}

/// One peer's row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerView {
    /// The peer's IP (its identity).
    pub peer: String,
    /// `idle`, `dialing`, `handshaking`, `connected` or `backoff`.
    pub state: String,
    /// Whether the node keeps it connected (a configured peer).
    pub persistent: bool,
    /// The connection sends go to (`c7`), if connected.
    pub active: Option<String>,
    /// Handshakes in flight.
    pub pending: usize,
    /// Last ping round trip on the active connection, in microseconds.
    pub last_rtt_us: Option<u64>,
    /// Established connections, closing ones included, oldest first.
    pub connections: Vec<ConnectionView>,
    /// Per-peer counters.
    pub counters: CountersView,
}

/// One established connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionView {
    /// Connection id (`c7`).
    pub id: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Our socket address.
    pub local_addr: SocketAddr,
    /// The peer's socket address.
    pub remote_addr: SocketAddr,
    /// The node id the peer announced, 32 hex digits.
    pub remote_node: String,
    /// Asked to close; the socket is still open.
    pub closing: bool,
}

/// Per-peer counters (see `peerlink::manager::PeerCounters`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountersView {
    /// Dials started.
    pub dials: u64,
    /// Dials that failed before a connection was established.
    pub dial_failures: u64,
    /// Handshakes completed.
    pub connections: u64,
    /// Connections closed as duplicates.
    pub duplicates_closed: u64,
    /// Established connections that have ended (duplicates included).
    pub closed: u64,
    /// Times the peer went from connected to not connected.
    pub disconnects: u64,
}

/// Manager-wide counters (see `peerlink::manager::ManagerStats`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsView {
    /// Handshakes completed.
    pub handshakes_ok: u64,
    /// Handshakes that started and failed.
    pub handshakes_failed: u64,
    /// Dials that did not end in a connection (refused or timed-out
    /// connects included).
    pub dial_failures: u64,
    /// Inbound connections refused before their handshake.
    pub inbound_refused: u64,
    /// Duplicate connections closed by the tie-break.
    pub duplicates_resolved: u64,
    /// Misbehaviour strikes recorded.
    pub strikes: u64,
    /// Bans issued.
    pub bans: u64,
    /// Closes, failed handshakes and refusals by reason name.
    pub reasons: BTreeMap<String, u64>,
}

impl PeersView {
    /// The `/peers` document for `snapshot`.
    pub fn new(snapshot: &Snapshot, listen: Option<SocketAddr>, app_messages: u64) -> Self {
        let s = &snapshot.stats;
        PeersView {
            node_id: hex(snapshot.node_id),
            listen: listen.map(|a| a.to_string()),
            connected: snapshot.connected().len(),
            peers: snapshot.peers.iter().map(peer_view).collect(),
            stats: StatsView {
                handshakes_ok: s.handshakes_ok,
                handshakes_failed: s.handshakes_failed,
                dial_failures: s.dial_failures,
                inbound_refused: s.inbound_refused,
                duplicates_resolved: s.duplicates_resolved,
                strikes: s.strikes,
                bans: s.bans,
                reasons: s
                    .reasons
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), *v))
                    .collect(),
            },
            banned: snapshot.banned.iter().map(|ip| ip.to_string()).collect(),
            app_messages,
        }
    }

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

/// The `/health` answer: the node runs, and how many peers are connected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthView {
    /// Always `running`: a node that answers is running.
    pub status: String,
    /// This node's id, 32 hex digits.
    pub node_id: String,
    /// Peers with an active connection.
    pub connected_peers: usize,
}

impl HealthView {
    /// The `/health` answer for `snapshot`.
    pub fn new(snapshot: &Snapshot) -> Self {
        HealthView {
            status: "running".to_string(),
            node_id: hex(snapshot.node_id),
            connected_peers: snapshot.connected().len(),
        }
    }
}

/// A node id as 32 hex digits.
pub fn hex(id: NodeId) -> String {
    format!("{:032x}", id.0)
}

fn peer_view(row: &peerlink::manager::PeerRow) -> PeerView {
    let k = &row.counters;
    PeerView {
        peer: row.peer.to_string(),
        state: row.state.to_string(),
        persistent: row.persistent,
        active: row.active.map(|c| c.to_string()),
        pending: row.pending,
        last_rtt_us: row
            .last_rtt
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        connections: row
            .connections
            .iter()
            .map(|c| ConnectionView {
                id: c.id.to_string(),
                direction: c.direction.to_string(),
                local_addr: c.local_addr,
                remote_addr: c.remote_addr,
                remote_node: hex(c.remote_node),
                closing: c.closing,
            })
            .collect(),
        counters: CountersView {
            dials: k.dials,
            dial_failures: k.dial_failures,
            connections: k.connections,
            duplicates_closed: k.duplicates_closed,
            closed: k.closed,
            disconnects: k.disconnects,
        },
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use peerlink::id::ConnectionIds;
    use peerlink::manager::{ConnectionRow, ManagerStats, PeerCounters, PeerRow, PeerState};
    use peerlink::{ConnectionDirection, PeerId};
    use std::time::Duration;

    /// One connected peer (outbound `c3`, RTT 250 µs), one banned IP.
    pub(crate) fn snapshot() -> Snapshot {
        // The third connection its allocator named: `c3`.
        let mut ids = ConnectionIds::new();
        let [_, _, c3] = [ids.allocate(), ids.allocate(), ids.allocate()];
        let mut reasons = BTreeMap::new();
        reasons.insert("duplicate", 1);
        Snapshot {
            node_id: NodeId(0xab << 120),
            peers: vec![PeerRow {
                peer: PeerId::new("127.0.0.2".parse().unwrap()),
                state: PeerState::Connected,
                persistent: true,
                active: Some(c3),
                connections: vec![ConnectionRow {
                    id: c3,
                    direction: ConnectionDirection::Outbound,
                    local_addr: "127.0.0.1:40000".parse().unwrap(),
                    remote_addr: "127.0.0.2:9000".parse().unwrap(),
                    remote_node: NodeId(7),
                    closing: false,
                }],
                pending: 0,
                pending_outbound: 0,
                last_rtt: Some(Duration::from_micros(250)),
                counters: PeerCounters {
                    dials: 1,
                    connections: 2,
                    duplicates_closed: 1,
                    ..PeerCounters::default()
                },
            }],
            stats: ManagerStats {
                handshakes_ok: 2,
                duplicates_resolved: 1,
                reasons,
                ..ManagerStats::default()
            },
            banned: vec!["10.0.0.9".parse().unwrap()],
        }
    }

    /// The `/peers` document carries every row field and survives a JSON
    /// round trip unchanged.
    #[test]
    fn peers_view_round_trips() {
        let view = PeersView::new(&snapshot(), Some("127.0.0.1:9000".parse().unwrap()), 4);
        assert_eq!(view.node_id, format!("ab{}", "0".repeat(30)));
        assert_eq!(view.connected_peers(), vec!["127.0.0.2"]);
        let row = view.peer("127.0.0.2").unwrap();
        assert_eq!(row.active.as_deref(), Some("c3"));
        assert_eq!(row.last_rtt_us, Some(250));
        assert_eq!(row.connections[0].direction, "outbound");
        assert_eq!(row.connections[0].remote_node, format!("{:032x}", 7));
        assert_eq!(view.banned, vec!["10.0.0.9".to_string()]);
        let json = serde_json::to_string(&view).unwrap();
        let back: PeersView = serde_json::from_str(&json).unwrap();
        assert_eq!(back, view);
    }

    /// `/health` says the node runs, with its id and its connected peers.
    #[test]
    fn health_view() {
        let view = HealthView::new(&snapshot());
        let json = serde_json::to_string(&view).unwrap();
        assert_eq!(
            json,
            format!(
                "{{\"status\":\"running\",\"node_id\":\"ab{}\",\"connected_peers\":1}}",
                "0".repeat(30)
            )
        );
    }
}
