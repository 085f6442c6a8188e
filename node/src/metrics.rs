//! `/metrics`: the manager's `Snapshot` as `prometheus-client` metrics in
//! the OpenMetrics text format. Each scrape turns the snapshot into an
//! ordered list of families and hands it to the registry as a
//! [`Collector`], so every figure is the library's own, read at the scrape,
//! and samples come out in the snapshot's order (`Family` would keep them in
//! a `HashMap`, in a different order at each scrape). This module counts
//! nothing itself.
//!
//! Names follow Prometheus conventions: a `peerlink_` prefix, counters end in
//! `_total` (the encoder appends it), base units (`_seconds`). Pure function
//! of its inputs: no clock, no I/O.

use peerlink::manager::{PeerCounters, PeerState, Snapshot};
use peerlink::ConnectionDirection;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::views::hex;

/// `Content-Type` of the `/metrics` answer.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A sample's labels, in order.
type Labels = Vec<(&'static str, String)>;
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

/// One sample's value.
#[derive(Clone, Debug)]
enum Sample {
    Counter(u64),
    Gauge(i64),
    Seconds(f64),
}

impl Sample {
    fn encode(&self, encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        match *self {
            Sample::Counter(n) => ConstCounter::new(n).encode(encoder),
            Sample::Gauge(n) => ConstGauge::new(n).encode(encoder),
            Sample::Seconds(x) => ConstGauge::new(x).encode(encoder),
        }
    }
}

/// One metric family: its descriptor and its samples, in order. A sample
/// without labels is the family's only sample.
#[derive(Clone, Debug)]
struct MetricFamily {
    name: &'static str,
    help: &'static str,
    unit: Option<Unit>,
    kind: MetricType,
    samples: Vec<(Labels, Sample)>,
}

/// The families of one scrape, plus the node's id (an info metric).
#[derive(Clone, Debug)]
struct SnapshotMetrics {
    node_id: String,
    families: Vec<MetricFamily>,
}

impl Collector for SnapshotMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let info = Info::new(label("node_id", &self.node_id));
        let help = "This node's random id, as a label.";
        info.encode(encoder.encode_descriptor("node", help, None, MetricType::Info)?)?;
        for f in &self.families {
            let mut metric = encoder.encode_descriptor(f.name, f.help, f.unit.as_ref(), f.kind)?;
            for (labels, sample) in &f.samples {
                if labels.is_empty() {
                    sample.encode(metric)?;
                    break;
                }
                sample.encode(metric.encode_family(labels)?)?;
            }
        }
        Ok(())
    }
}

fn label(name: &'static str, value: impl ToString) -> Labels {
    vec![(name, value.to_string())]
}

fn count(n: usize) -> Sample {
    Sample::Gauge(i64::try_from(n).unwrap_or(i64::MAX))
}

fn family(
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    samples: Vec<(Labels, Sample)>,
) -> MetricFamily {
    MetricFamily {
        name,
        help,
        unit: None,
        kind,
        samples,
    }
}

/// The `/metrics` text for `snapshot`; `app_messages` is the node's count
/// of application messages received.
pub fn render_metrics(snapshot: &Snapshot, app_messages: u64) -> Result<String, std::fmt::Error> {
    let mut families = table_metrics(snapshot);
    families.extend(counter_metrics(snapshot));
    families.extend(per_peer_metrics(snapshot));
    families.push(family(
        "app_messages_received",
        "Application messages received from peers.",
        MetricType::Counter,
        vec![(vec![], Sample::Counter(app_messages))],
    ));
    let mut registry = Registry::with_prefix("peerlink");
    registry.register_collector(Box::new(SnapshotMetrics {
        node_id: hex(snapshot.node_id),
        families,
    }));
    let mut out = String::new();
    encode(&mut out, &registry)?;
    Ok(out)
}

/// Gauges of the table now: peers by state, connected peers and open
/// connections by direction, handshakes in flight, banned IPs.
fn table_metrics(snapshot: &Snapshot) -> Vec<MetricFamily> {
    let peers = STATES.iter().map(|state| {
        let n = snapshot.peers.iter().filter(|r| r.state == *state).count();
        (label("state", state), count(n))
    });
    let connected = DIRECTIONS.iter().map(|direction| {
        let active = snapshot.peers.iter().filter(|r| {
            let conn = r.connections.iter().find(|c| Some(c.id) == r.active);
            conn.is_some_and(|c| c.direction == *direction)
        });
        (label("direction", direction), count(active.count()))
    });
    let open = DIRECTIONS.iter().map(|direction| {
        let conns = snapshot.peers.iter().flat_map(|r| &r.connections);
        let n = conns.filter(|c| !c.closing && c.direction == *direction);
        (label("direction", direction), count(n.count()))
    });
    let pending: usize = snapshot.peers.iter().map(|r| r.pending).sum();
    let gauge = MetricType::Gauge;
    vec![
        family("peers", "Peer rows by state.", gauge, peers.collect()),
        family(
            "connected_peers",
            "Connected peers, by who dialled their active connection.",
            gauge,
            connected.collect(),
        ),
        family(
            "connections",
            "Established connections not closing, by who dialled them.",
            gauge,
            open.collect(),
        ),
        family(
            "pending_handshakes",
            "Handshakes in flight, both directions.",
            gauge,
            vec![(vec![], count(pending))],
        ),
        family(
            "banned_peers",
            "Peer IPs banned now.",
            gauge,
            vec![(vec![], count(snapshot.banned.len()))],
        ),
    ]
}

/// The manager-wide counters.
fn counter_metrics(snapshot: &Snapshot) -> Vec<MetricFamily> {
    let s = &snapshot.stats;
    let counter = MetricType::Counter;
    let handshakes = vec![
        (label("result", "ok"), Sample::Counter(s.handshakes_ok)),
        (
            label("result", "failed"),
            Sample::Counter(s.handshakes_failed),
        ),
    ];
    let closes = s.reasons.iter();
    let closes = closes.map(|(reason, n)| (label("reason", reason), Sample::Counter(*n)));
    let mut families = vec![
        family(
            "handshakes",
            "Handshakes finished, by result (a dial whose TCP connect failed is no handshake).",
            counter,
            handshakes,
        ),
        family(
            "closes",
            "Connections closed, handshakes failed and inbound connections refused, by reason.",
            counter,
            closes.collect(),
        ),
    ];
    let plain: [(&'static str, &'static str, u64); 5] = [
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
        let samples = vec![(vec![], Sample::Counter(value))];
        families.push(family(name, help, counter, samples));
    }
    families
}

/// Per peer row: the last RTT and the row's counters (kept while the row
/// exists).
fn per_peer_metrics(snapshot: &Snapshot) -> Vec<MetricFamily> {
    let rows = &snapshot.peers;
    let rtt = rows.iter().filter_map(|row| {
        let last = row.last_rtt.filter(|_| row.active.is_some())?;
        Some((label("peer", row.peer), Sample::Seconds(last.as_secs_f64())))
    });
    let mut families = vec![MetricFamily {
        unit: Some(Unit::Seconds),
        ..family(
            "peer_rtt",
            "Last ping round-trip time on each connected peer's active connection.",
            MetricType::Gauge,
            rtt.collect(),
        )
    }];
    let counters: [(&'static str, &'static str, ReadCounter); 4] = [
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
    for (name, help, read) in counters {
        let samples = rows.iter().map(|row| {
            let value = Sample::Counter(read(&row.counters));
            (label("peer", row.peer), value)
        });
        families.push(family(name, help, MetricType::Counter, samples.collect()));
    }
    families
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::tests::snapshot;
    use prometheus_parse::{LineInfo, Scrape};

    /// Every line of the exposition parses (a comment or a sample), each
    /// family has HELP and TYPE, the text ends with `# EOF`, and each
    /// sample carries the snapshot's figure under its conventional name,
    /// in a fixed order. (`node/tests/node_cli.rs` checks a running node's
    /// scrape against its own `/peers` table.)
    #[test]
    fn metrics_parse_and_match_the_snapshot() {
        let text = render_metrics(&snapshot(), 4).unwrap();
        assert_eq!(text, render_metrics(&snapshot(), 4).unwrap());
        assert!(text.ends_with("# EOF\n"), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        for line in &lines {
            let is_sample = matches!(LineInfo::parse(line), LineInfo::Sample { .. });
            assert_eq!(is_sample, !line.starts_with('#'), "{line}");
        }
        let scrape = Scrape::parse(lines.iter().map(|l| Ok(l.to_string()))).unwrap();
        let helps = lines.iter().filter(|l| l.starts_with("# HELP")).count();
        let types = lines.iter().filter(|l| l.starts_with("# TYPE")).count();
        assert_eq!((helps, types, scrape.docs.len()), (19, 19, 19));
        let samples: Vec<&str> = lines.into_iter().filter(|l| !l.starts_with('#')).collect();
        let node = format!("ab{}", "0".repeat(30));
        let expected = [
            format!("peerlink_node_info{{node_id=\"{node}\"}} 1"),
            "peerlink_peers{state=\"idle\"} 0".into(),
            "peerlink_peers{state=\"dialing\"} 0".into(),
            "peerlink_peers{state=\"handshaking\"} 0".into(),
            "peerlink_peers{state=\"connected\"} 1".into(),
            "peerlink_peers{state=\"backoff\"} 0".into(),
            "peerlink_connected_peers{direction=\"inbound\"} 0".into(),
            "peerlink_connected_peers{direction=\"outbound\"} 1".into(),
            "peerlink_connections{direction=\"inbound\"} 0".into(),
            "peerlink_connections{direction=\"outbound\"} 1".into(),
            "peerlink_pending_handshakes 0".into(),
            "peerlink_banned_peers 1".into(),
            "peerlink_handshakes_total{result=\"ok\"} 2".into(),
            "peerlink_handshakes_total{result=\"failed\"} 0".into(),
            "peerlink_closes_total{reason=\"duplicate\"} 1".into(),
            "peerlink_dial_failures_total 0".into(),
            "peerlink_inbound_refused_total 0".into(),
            "peerlink_duplicates_resolved_total 1".into(),
            "peerlink_strikes_total 0".into(),
            "peerlink_bans_total 0".into(),
            "peerlink_peer_rtt_seconds{peer=\"127.0.0.2\"} 0.00025".into(),
            "peerlink_peer_dials_total{peer=\"127.0.0.2\"} 1".into(),
            "peerlink_peer_dial_failures_total{peer=\"127.0.0.2\"} 0".into(),
            "peerlink_peer_connections_total{peer=\"127.0.0.2\"} 2".into(),
            "peerlink_peer_disconnects_total{peer=\"127.0.0.2\"} 0".into(),
            "peerlink_app_messages_received_total 4".into(),
        ];
        assert_eq!(
            samples,
            expected.iter().map(String::as_str).collect::<Vec<_>>()
        );
        assert_eq!(scrape.samples.len(), expected.len());
    }
}
