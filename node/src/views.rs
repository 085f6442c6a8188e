//! What the admin endpoint shows as JSON: the `/peers` document
//! ([`PeersView`]), which is the library's own `Snapshot` serialised (the
//! `serde` feature of `peerlink`) plus the few facts only the node knows,
//! and the `/health` answer ([`HealthView`]). Nothing is copied field by
//! field: a new figure in the snapshot appears in `/peers` by itself.
//! `/metrics` is rendered in `metrics`.
//!
//! Pure functions of their inputs: no clock, no I/O; rows come out in the
//! snapshot's stable peer order. The JSON shape is documented in
//! `docs/operating.md`.

use std::net::SocketAddr;

use peerlink::manager::Snapshot;
use peerlink::NodeId;
use serde::Serialize;

/// The `/peers` document: the snapshot's fields (`node_id`, `peers`,
/// `stats`, `banned`) at the top level, beside the node's own.
#[derive(Clone, Debug, Serialize)]
pub struct PeersView<'a> {
    /// The address the node accepts peers on.
    pub listen: Option<SocketAddr>,
    /// Peers with an active connection.
    pub connected: usize,
    /// Application messages received since start.
    pub app_messages: u64,
    /// The manager's table.
    #[serde(flatten)]
    pub snapshot: &'a Snapshot,
}

impl<'a> PeersView<'a> {
    /// The `/peers` document for `snapshot`.
    pub fn new(snapshot: &'a Snapshot, listen: Option<SocketAddr>, app_messages: u64) -> Self {
        PeersView {
            listen,
            connected: snapshot.connected().len(),
            app_messages,
            snapshot,
        }
    }
}

/// The `/health` answer: the node runs, and how many peers are connected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthView {
    /// Always `running`: a node that answers is running.
    pub status: &'static str,
    /// This node's id.
    pub node_id: NodeId,
    /// Peers with an active connection.
    pub connected_peers: usize,
}

impl HealthView {
    /// The `/health` answer for `snapshot`.
    pub fn new(snapshot: &Snapshot) -> Self {
        HealthView {
            status: "running",
            node_id: snapshot.node_id,
            connected_peers: snapshot.connected().len(),
        }
    }
}

/// A node id as 32 hex digits.
pub fn hex(id: NodeId) -> String {
    format!("{:032x}", id.0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use peerlink::id::ConnectionIds;
    use peerlink::manager::{
        ConnectionRow, ConnectionStats, ManagerStats, PeerCounters, PeerRow, PeerState, Traffic,
    };
    use peerlink::{ConnectionDirection, DisconnectReason, PeerId, Reason};
    use std::collections::BTreeMap;
    use std::time::Duration;

    /// One connected peer (outbound `c3`, RTT 250 µs), one banned IP.
    pub(crate) fn snapshot() -> Snapshot {
        // The third connection its allocator named: `c3`.
        let mut ids = ConnectionIds::new();
        let [_, _, c3] = [ids.allocate(), ids.allocate(), ids.allocate()];
        let mut reasons = BTreeMap::new();
        reasons.insert("duplicate", 1);
        let traffic = Traffic {
            bytes_in: 1000,
            bytes_out: 2000,
            messages_in: 3,
            messages_out: 4,
            send_queue_full: 5,
        };
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
                    stats: Some(ConnectionStats {
                        age: Duration::from_secs(60),
                        last_receive: Some(Duration::from_millis(500)),
                        last_send: Some(Duration::from_millis(250)),
                        ping_pending: None,
                        traffic,
                    }),
                }],
                pending: 0,
                pending_outbound: 0,
                last_rtt: Some(Duration::from_micros(250)),
                min_rtt: Some(Duration::from_micros(200)),
                strikes: 1,
                banned_for: None,
                counters: PeerCounters {
                    dials: 1,
                    connections: 2,
                    duplicates_closed: 1,
                    ..PeerCounters::default()
                },
            }],
            stats: {
                let mut stats = ManagerStats {
                    handshakes_ok: 2,
                    duplicates_resolved: 1,
                    reasons,
                    dials: 1,
                    traffic,
                    ..ManagerStats::default()
                };
                stats.opened.insert(ConnectionDirection::Outbound, 2);
                let duplicate = DisconnectReason::Local(Reason::Duplicate);
                stats
                    .closed
                    .insert((ConnectionDirection::Outbound, duplicate), 1);
                stats.handshake_duration.record(Duration::from_millis(3));
                stats.ping_rtt.record(Duration::from_micros(250));
                stats
            },
            banned: vec!["10.0.0.9".parse().unwrap()],
        }
    }

    /// The `/peers` document is the snapshot's serialisation with the
    /// node's fields beside it: ids as strings, durations in seconds.
    #[test]
    fn peers_view_json() {
        let snap = snapshot();
        let view = PeersView::new(&snap, Some("127.0.0.1:9000".parse().unwrap()), 4);
        let json: serde_json::Value = serde_json::to_value(&view).unwrap();
        assert_eq!(json["node_id"], format!("ab{}", "0".repeat(30)));
        assert_eq!(json["listen"], "127.0.0.1:9000");
        assert_eq!(json["connected"], 1);
        assert_eq!(json["app_messages"], 4);
        assert_eq!(json["banned"], serde_json::json!(["10.0.0.9"]));
        let row = &json["peers"][0];
        assert_eq!(row["peer"], "127.0.0.2");
        assert_eq!(row["state"], "connected");
        assert_eq!(row["active"], "c3");
        assert_eq!(row["last_rtt_seconds"], 0.00025);
        assert_eq!(row["min_rtt_seconds"], 0.0002);
        assert_eq!(row["strikes"], 1);
        assert_eq!(row["banned_for_seconds"], serde_json::Value::Null);
        let conn = &row["connections"][0];
        assert_eq!(conn["direction"], "outbound");
        assert_eq!(conn["remote_node"], format!("{:032x}", 7));
        let stats = &conn["stats"];
        assert_eq!(stats["age_seconds"], 60.0);
        assert_eq!(stats["last_receive_seconds_ago"], 0.5);
        assert_eq!(stats["last_send_seconds_ago"], 0.25);
        assert_eq!(stats["ping_pending_seconds"], serde_json::Value::Null);
        assert_eq!(
            stats["traffic"],
            serde_json::json!({"bytes_in": 1000, "bytes_out": 2000, "messages_in": 3,
                "messages_out": 4, "send_queue_full": 5})
        );
        assert_eq!(json["stats"]["reasons"]["duplicate"], 1);
        assert_eq!(json["stats"]["traffic"], stats["traffic"]);
        assert_eq!(
            json["stats"]["closed"],
            serde_json::json!([{"direction": "outbound", "side": "local",
                "reason": "duplicate", "count": 1}])
        );
        assert_eq!(json["stats"]["opened"], serde_json::json!({"outbound": 2}));
        let rtt = &json["stats"]["ping_rtt"];
        assert_eq!(rtt["sum_seconds"], 0.00025);
        assert_eq!(rtt["counts"][1], 1);
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
