//! What the admin endpoint shows, rendered from a `Snapshot`: the `/peers`
//! JSON document ([`PeersView`], which also deserializes, so tests and tools
//! read it back typed) and the `/metrics` Prometheus text exposition.
//!
//! Pure functions of their inputs: no clock, no I/O; rows come out in the
//! snapshot's stable peer order.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;

use peerlink::manager::{PeerState, Snapshot};
use peerlink::{ConnectionDirection, NodeId};
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

fn hex(id: NodeId) -> String {
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

/// Appends one metric family: its help, its type, and its samples.
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, String)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// A label set with one label; the value escaped per the exposition format.
fn label(name: &str, value: &str) -> String {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("{{{name}=\"{escaped}\"}}")
}

/// One sample per label set.
type Samples = Vec<(String, String)>;

/// A sample without labels.
fn unlabelled(value: u64) -> Samples {
    vec![(String::new(), value.to_string())]
}

/// The `/metrics` text (Prometheus exposition format 0.0.4).
pub fn render_metrics(snapshot: &Snapshot, app_messages: u64) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "peerlink_node_info",
        "gauge",
        "This node's random id, as a label.",
        &[(label("node_id", &hex(snapshot.node_id)), "1".into())],
    );
    table_metrics(&mut out, snapshot);
    counter_metrics(&mut out, snapshot);
    per_peer_metrics(&mut out, snapshot);
    family(
        &mut out,
        "peerlink_app_messages_received_total",
        "counter",
        "Application messages received from peers.",
        &unlabelled(app_messages),
    );
    out
}

/// Gauges of the table now: peers by state, connections by direction,
/// handshakes in flight.
fn table_metrics(out: &mut String, snapshot: &Snapshot) {
    let states = [
        PeerState::Idle,
        PeerState::Dialing,
        PeerState::Handshaking,
        PeerState::Connected,
        PeerState::Backoff,
    ];
    let by_state: Samples = states
        .iter()
        .map(|st| {
            let n = snapshot.peers.iter().filter(|r| r.state == *st).count();
            (label("state", &st.to_string()), n.to_string())
        })
        .collect();
    family(
        out,
        "peerlink_peers",
        "gauge",
        "Peer rows by state.",
        &by_state,
    );
    let open = snapshot.peers.iter().flat_map(|r| &r.connections);
    let open: Vec<_> = open.filter(|c| !c.closing).collect();
    let by_direction: Samples = [ConnectionDirection::Inbound, ConnectionDirection::Outbound]
        .iter()
        .map(|d| {
            let n = open.iter().filter(|c| c.direction == *d).count();
            (label("direction", &d.to_string()), n.to_string())
        })
        .collect();
    family(
        out,
        "peerlink_connections",
        "gauge",
        "Established connections not closing, by who dialled them.",
        &by_direction,
    );
    let pending: usize = snapshot.peers.iter().map(|r| r.pending).sum();
    family(
        out,
        "peerlink_pending_handshakes",
        "gauge",
        "Handshakes in flight, both directions.",
        &unlabelled(pending as u64),
    );
}

/// The manager-wide counters, and the ban list's size.
fn counter_metrics(out: &mut String, snapshot: &Snapshot) {
    let s = &snapshot.stats;
    let handshakes = vec![
        (label("result", "ok"), s.handshakes_ok.to_string()),
        (label("result", "failed"), s.handshakes_failed.to_string()),
    ];
    let reasons: Samples = s
        .reasons
        .iter()
        .map(|(r, n)| (label("reason", r), n.to_string()))
        .collect();
    let families: [(&str, &str, &str, Samples); 8] = [
        (
            "peerlink_handshakes_total",
            "counter",
            "Handshakes finished, by result (a dial whose TCP connect failed is no handshake).",
            handshakes,
        ),
        (
            "peerlink_dial_failures_total",
            "counter",
            "Dials that did not end in a connection, refused or timed-out connects included.",
            unlabelled(s.dial_failures),
        ),
        (
            "peerlink_inbound_refused_total",
            "counter",
            "Inbound connections refused before their handshake.",
            unlabelled(s.inbound_refused),
        ),
        (
            "peerlink_duplicates_resolved_total",
            "counter",
            "Duplicate connections closed by the tie-break.",
            unlabelled(s.duplicates_resolved),
        ),
        (
            "peerlink_strikes_total",
            "counter",
            "Misbehaviour strikes recorded against peers.",
            unlabelled(s.strikes),
        ),
        (
            "peerlink_bans_total",
            "counter",
            "Bans issued for misbehaviour.",
            unlabelled(s.bans),
        ),
        (
            "peerlink_banned_peers",
            "gauge",
            "Peer IPs banned now.",
            unlabelled(snapshot.banned.len() as u64),
        ),
        (
            "peerlink_closes_total",
            "counter",
            "Connections closed, handshakes failed and inbound connections refused, by reason.",
            reasons,
        ),
    ];
    for (name, kind, help, samples) in &families {
        family(out, name, kind, help, samples);
    }
}

fn per_peer_metrics(out: &mut String, snapshot: &Snapshot) {
    let rows = &snapshot.peers;
    let rtt: Samples = rows
        .iter()
        .filter_map(|r| {
            let rtt = r.last_rtt.filter(|_| r.active.is_some())?;
            Some((
                label("peer", &r.peer.to_string()),
                rtt.as_secs_f64().to_string(),
            ))
        })
        .collect();
    family(
        out,
        "peerlink_peer_rtt_seconds",
        "gauge",
        "Last ping round-trip time on each connected peer's active connection.",
        &rtt,
    );
    let counter = |f: fn(&peerlink::manager::PeerCounters) -> u64| -> Samples {
        rows.iter()
            .map(|r| {
                (
                    label("peer", &r.peer.to_string()),
                    f(&r.counters).to_string(),
                )
            })
            .collect()
    };
    family(
        out,
        "peerlink_peer_dials_total",
        "counter",
        "Dials started, per peer row.",
        &counter(|k| k.dials),
    );
    family(
        out,
        "peerlink_peer_connections_total",
        "counter",
        "Handshakes completed, per peer row.",
        &counter(|k| k.connections),
    );
    family(
        out,
        "peerlink_peer_disconnects_total",
        "counter",
        "Times each peer went from connected to not connected.",
        &counter(|k| k.disconnects),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use peerlink::id::ConnectionIds;
    use peerlink::manager::{ConnectionRow, ManagerStats, PeerCounters, PeerRow};
    use peerlink::PeerId;
    use std::time::Duration;

    fn snapshot() -> Snapshot {
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

    /// Metrics list connections by direction, handshakes, duplicates,
    /// reasons and RTT, each family with its HELP and TYPE.
    #[test]
    fn metrics_exposition() {
        let text = render_metrics(&snapshot(), 4);
        for line in [
            "# TYPE peerlink_connections gauge",
            "peerlink_connections{direction=\"inbound\"} 0",
            "peerlink_connections{direction=\"outbound\"} 1",
            "peerlink_handshakes_total{result=\"ok\"} 2",
            "peerlink_handshakes_total{result=\"failed\"} 0",
            "peerlink_duplicates_resolved_total 1",
            "peerlink_dial_failures_total 0",
            "peerlink_closes_total{reason=\"duplicate\"} 1",
            "peerlink_peer_rtt_seconds{peer=\"127.0.0.2\"} 0.00025",
            "peerlink_peers{state=\"connected\"} 1",
            "peerlink_peer_connections_total{peer=\"127.0.0.2\"} 2",
            "peerlink_app_messages_received_total 4",
            "peerlink_banned_peers 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        let helps = text.lines().filter(|l| l.starts_with("# HELP")).count();
        let types = text.lines().filter(|l| l.starts_with("# TYPE")).count();
        assert_eq!((helps, types), (17, 17));
    }
}
