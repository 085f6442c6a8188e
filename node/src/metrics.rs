//! `/metrics`: the manager's `Snapshot` as `prometheus-client` metrics in
//! the OpenMetrics text format. A fresh registry is filled from each
//! snapshot, so every figure is the library's own, read at the scrape; this
//! module counts nothing itself.
//!
//! Names follow Prometheus conventions: a `peerlink_` prefix, counters end in
//! `_total` (the encoder appends it), base units (`_seconds`). Pure function
//! of its inputs: no clock, no I/O.

use std::sync::atomic::AtomicU64;

use peerlink::manager::{PeerCounters, PeerState, Snapshot};
use peerlink::ConnectionDirection;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::views::hex;

/// `Content-Type` of the `/metrics` answer.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One label.
type Labels = Vec<(&'static str, String)>;
type Gauges = Family<Labels, Gauge>;
type Counters = Family<Labels, Counter>;
/// Reads one of a row's counters.
type ReadCounter = fn(&PeerCounters) -> u64;

const STATES: [PeerState; 5] = [
    PeerState::Idle,
    PeerState::Dialing,
    PeerState::Handshaking,
    PeerState::Connected,
    PeerState::Backoff,
];
const DIRECTIONS: [ConnectionDirection; 2] =
    [ConnectionDirection::Inbound, ConnectionDirection::Outbound];

fn label(name: &'static str, value: impl ToString) -> Labels {
    vec![(name, value.to_string())]
}

fn gauge(value: usize) -> Gauge {
    let g = Gauge::default();
    g.set(i64::try_from(value).unwrap_or(i64::MAX));
    g
}

fn counter(value: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(value);
    c
}

/// The `/metrics` text for `snapshot`; `app_messages` is the node's count
/// of application messages received.
pub fn render_metrics(snapshot: &Snapshot, app_messages: u64) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("peerlink");
    registry.register(
        "node",
        "This node's random id, as a label.",
        Info::new(label("node_id", hex(snapshot.node_id))),
    );
    table_metrics(&mut registry, snapshot);
    counter_metrics(&mut registry, snapshot);
    per_peer_metrics(&mut registry, snapshot);
    registry.register(
        "app_messages_received",
        "Application messages received from peers.",
        counter(app_messages),
    );
    let mut out = String::new();
    encode(&mut out, &registry)?;
    Ok(out)
}

/// Gauges of the table now: peers by state, connected peers and open
/// connections by direction, handshakes in flight, banned IPs.
fn table_metrics(registry: &mut Registry, snapshot: &Snapshot) {
    let peers = Gauges::default();
    for state in STATES {
        let n = snapshot.peers.iter().filter(|r| r.state == state).count();
        peers.get_or_create(&label("state", state)).set(n as i64);
    }
    registry.register("peers", "Peer rows by state.", peers);
    let connected = Gauges::default();
    let open = Gauges::default();
    for direction in DIRECTIONS {
        let active = snapshot.peers.iter().filter(|r| {
            let conn = r.connections.iter().find(|c| Some(c.id) == r.active);
            conn.is_some_and(|c| c.direction == direction)
        });
        let labels = label("direction", direction);
        connected.get_or_create(&labels).set(active.count() as i64);
        let conns = snapshot.peers.iter().flat_map(|r| &r.connections);
        let n = conns.filter(|c| !c.closing && c.direction == direction);
        open.get_or_create(&labels).set(n.count() as i64);
    }
    registry.register(
        "connected_peers",
        "Connected peers, by who dialled their active connection.",
        connected,
    );
    registry.register(
        "connections",
        "Established connections not closing, by who dialled them.",
        open,
    );
    let pending: usize = snapshot.peers.iter().map(|r| r.pending).sum();
    registry.register(
        "pending_handshakes",
        "Handshakes in flight, both directions.",
        gauge(pending),
    );
    registry.register(
        "banned_peers",
        "Peer IPs banned now.",
        gauge(snapshot.banned.len()),
    );
}

/// The manager-wide counters.
fn counter_metrics(registry: &mut Registry, snapshot: &Snapshot) {
    let s = &snapshot.stats;
    let handshakes = Counters::default();
    handshakes
        .get_or_create(&label("result", "ok"))
        .inc_by(s.handshakes_ok);
    handshakes
        .get_or_create(&label("result", "failed"))
        .inc_by(s.handshakes_failed);
    registry.register(
        "handshakes",
        "Handshakes finished, by result (a dial whose TCP connect failed is no handshake).",
        handshakes,
    );
    let closes = Counters::default();
    for (reason, n) in &s.reasons {
        closes.get_or_create(&label("reason", reason)).inc_by(*n);
    }
    registry.register(
        "closes",
        "Connections closed, handshakes failed and inbound connections refused, by reason.",
        closes,
    );
    let plain: [(&str, &str, u64); 5] = [
        (
            "dial_failures",
            "Dials that did not end in a connection, refused or timed-out connects included.",
            s.dial_failures,
        ),
        (
            "inbound_refused",
            "Inbound connections refused before their handshake.",
            s.inbound_refused,
        ),
        (
            "duplicates_resolved",
            "Duplicate connections closed by the tie-break.",
            s.duplicates_resolved,
        ),
        (
            "strikes",
            "Misbehaviour strikes recorded against peers.",
            s.strikes,
        ),
        ("bans", "Bans issued for misbehaviour.", s.bans),
    ];
    for (name, help, value) in plain {
        registry.register(name, help, counter(value));
    }
}

/// Per peer row: the last RTT and the row's counters (kept while the row
/// exists).
fn per_peer_metrics(registry: &mut Registry, snapshot: &Snapshot) {
    let rtt = Family::<Labels, Gauge<f64, AtomicU64>>::default();
    for row in &snapshot.peers {
        if let Some(last) = row.last_rtt.filter(|_| row.active.is_some()) {
            let labels = label("peer", row.peer);
            rtt.get_or_create(&labels).set(last.as_secs_f64());
        }
    }
    registry.register_with_unit(
        "peer_rtt",
        "Last ping round-trip time on each connected peer's active connection.",
        Unit::Seconds,
        rtt,
    );
    let families: [(&str, &str, ReadCounter); 4] = [
        ("peer_dials", "Dials started, per peer row.", |k| k.dials),
        (
            "peer_dial_failures",
            "Dials that failed before a connection was established, per peer row.",
            |k| k.dial_failures,
        ),
        (
            "peer_connections",
            "Handshakes completed, per peer row.",
            |k| k.connections,
        ),
        (
            "peer_disconnects",
            "Times each peer went from connected to not connected.",
            |k| k.disconnects,
        ),
    ];
    for (name, help, read) in families {
        let family = Counters::default();
        for row in &snapshot.peers {
            let labels = label("peer", row.peer);
            family.get_or_create(&labels).inc_by(read(&row.counters));
        }
        registry.register(name, help, family);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::tests::snapshot;
    use prometheus_parse::{LineInfo, Scrape, Value};

    /// The value of the sample `name` with `labels` (all of them, in any
    /// order; none for an unlabelled sample).
    fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<f64> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && s.labels.len() == labels.len())
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                ref other => panic!("{name}: unexpected {other:?}"),
            })
            .collect();
        assert_eq!(found.len(), 1, "{name}{labels:?}: {found:?}");
        found[0]
    }

    /// Every line of the exposition parses (a comment or a sample), each
    /// family has HELP and TYPE, the text ends with `# EOF`, and each
    /// sample carries the snapshot's figure under its conventional name.
    #[test]
    fn metrics_parse_and_match_the_snapshot() {
        let text = render_metrics(&snapshot(), 4).unwrap();
        assert!(text.ends_with("# EOF\n"), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        let samples = lines.iter().filter(|l| !l.starts_with('#')).count();
        for line in &lines {
            let parsed = LineInfo::parse(line);
            let is_sample = matches!(parsed, LineInfo::Sample { .. });
            assert_eq!(is_sample, !line.starts_with('#'), "{line}");
        }
        let scrape = Scrape::parse(lines.iter().map(|l| Ok(l.to_string()))).unwrap();
        assert_eq!(scrape.samples.len(), samples);
        let helps = lines.iter().filter(|l| l.starts_with("# HELP")).count();
        let types = lines.iter().filter(|l| l.starts_with("# TYPE")).count();
        assert_eq!((helps, types, scrape.docs.len()), (19, 19, 19));
        let node = format!("ab{}", "0".repeat(30));
        let peer = [("peer", "127.0.0.2")];
        type Expected<'a> = (&'a str, Vec<(&'a str, &'a str)>, f64);
        let expected: Vec<Expected> = vec![
            ("peerlink_node_info", vec![("node_id", &node)], 1.0),
            ("peerlink_peers", vec![("state", "connected")], 1.0),
            ("peerlink_peers", vec![("state", "idle")], 0.0),
            (
                "peerlink_connected_peers",
                vec![("direction", "outbound")],
                1.0,
            ),
            (
                "peerlink_connected_peers",
                vec![("direction", "inbound")],
                0.0,
            ),
            ("peerlink_connections", vec![("direction", "outbound")], 1.0),
            ("peerlink_connections", vec![("direction", "inbound")], 0.0),
            ("peerlink_pending_handshakes", vec![], 0.0),
            ("peerlink_banned_peers", vec![], 1.0),
            ("peerlink_handshakes_total", vec![("result", "ok")], 2.0),
            ("peerlink_handshakes_total", vec![("result", "failed")], 0.0),
            ("peerlink_closes_total", vec![("reason", "duplicate")], 1.0),
            ("peerlink_dial_failures_total", vec![], 0.0),
            ("peerlink_inbound_refused_total", vec![], 0.0),
            ("peerlink_duplicates_resolved_total", vec![], 1.0),
            ("peerlink_strikes_total", vec![], 0.0),
            ("peerlink_bans_total", vec![], 0.0),
            ("peerlink_peer_rtt_seconds", peer.to_vec(), 0.00025),
            ("peerlink_peer_dials_total", peer.to_vec(), 1.0),
            ("peerlink_peer_dial_failures_total", peer.to_vec(), 0.0),
            ("peerlink_peer_connections_total", peer.to_vec(), 2.0),
            ("peerlink_peer_disconnects_total", peer.to_vec(), 0.0),
            ("peerlink_app_messages_received_total", vec![], 4.0),
        ];
        for (name, labels, want) in &expected {
            assert_eq!(value(&scrape, name, labels), *want, "{name}{labels:?}");
        }
        // Nothing else: 5 states, 2 + 2 directions, 2 results, 1 reason.
        assert_eq!(scrape.samples.len(), 26, "{text}");
    }
}
