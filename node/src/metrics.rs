//! `/metrics`: the manager's `Snapshot` as `prometheus-client` metrics in
//! the OpenMetrics text format. Each scrape turns the snapshot into an
//! ordered list of families and hands it to the registry as a
//! [`Collector`], so every figure is the library's own, read at the scrape,
//! and samples come out in the snapshot's order (`Family` would keep them in
//! a `HashMap`, in a different order at each scrape). This module counts
//! nothing itself.
//!
//! Names follow Prometheus conventions: a `peerlink_` prefix, counters end in
//! `_total` (the encoder appends it), base units (`_seconds`, `_bytes`),
//! histograms from the library's fixed buckets. `docs/operating.md` lists
//! every family and compares the names with reth's and libp2p's. Pure
//! function of its inputs: no clock, no I/O.

use peerlink::manager::{Histogram, PeerCounters, PeerState, Snapshot, HISTOGRAM_BOUNDS};
use peerlink::manager::{CONNECT_FAILED, STRIKE_REASONS};
use peerlink::ConnectionDirection;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use std::collections::BTreeMap;

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
    Histogram(Histogram),
}

impl Sample {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        match self {
            Sample::Counter(n) => ConstCounter::new(*n).encode(encoder),
            Sample::Gauge(n) => ConstGauge::new(*n).encode(encoder),
            Sample::Seconds(x) => ConstGauge::new(*x).encode(encoder),
            Sample::Histogram(h) => {
                // Per-bucket counts; the encoder makes them cumulative.
                let bounds = HISTOGRAM_BOUNDS.iter().map(|b| b.as_secs_f64());
                let bounds = bounds.chain([f64::INFINITY]);
                let buckets: Vec<(f64, u64)> = bounds.zip(h.counts.iter().copied()).collect();
                let sum = h.sum.as_secs_f64();
                encoder.encode_histogram::<NoLabelSet>(sum, h.count(), &buckets, None)
            }
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

/// The manager-wide counters and histograms.
fn counter_metrics(snapshot: &Snapshot) -> Vec<MetricFamily> {
    let s = &snapshot.stats;
    let counter = MetricType::Counter;
    // Label values known in advance start at 0, so their series exist
    // before the first event (dashboards and alerts see a 0, not nothing).
    let by = |name: &'static str, map: &BTreeMap<&'static str, u64>, known: &[&'static str]| {
        let mut map = map.clone();
        for k in known {
            map.entry(k).or_insert(0);
        }
        let rows = map
            .into_iter()
            .map(|(k, n)| (label(name, k), Sample::Counter(n)));
        rows.collect::<Vec<_>>()
    };
    let handshakes = vec![
        (label("result", "ok"), Sample::Counter(s.handshakes_ok)),
        (
            label("result", "failed"),
            Sample::Counter(s.handshakes_failed),
        ),
    ];
    let opened = DIRECTIONS.iter().map(|d| {
        let n = s.opened.get(d).copied().unwrap_or(0);
        (label("direction", d), Sample::Counter(n))
    });
    let closed = s.closed.iter().map(|((direction, reason), n)| {
        let labels = vec![
            ("direction", direction.to_string()),
            ("side", reason.side().to_string()),
            ("reason", reason.as_str().to_string()),
        ];
        (labels, Sample::Counter(*n))
    });
    let mut families = vec![
        family(
            "connections_opened",
            "Connections established (handshake completed), by who dialled them.",
            counter,
            opened.collect(),
        ),
        family(
            "connections_closed",
            "Established connections that ended, by who dialled them, who closed them (local, remote, lost) and the reason.",
            counter,
            closed.collect(),
        ),
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
            by("reason", &s.reasons, &[]),
        ),
        family(
            "dial_attempts",
            "Dials started.",
            counter,
            vec![(vec![], Sample::Counter(s.dials))],
        ),
        family(
            "dial_failures",
            "Dials that did not end in a connection, by error: connect_failed (the TCP connect), or the failed handshake's reason.",
            counter,
            by("error", &s.dial_failures_by, &[CONNECT_FAILED]),
        ),
        family(
            "strikes",
            "Strikes recorded against peers, by reason: the reason of a close for bad input, or short_lived for a connection the peer ended at once.",
            counter,
            by("reason", &s.strikes_by, &STRIKE_REASONS),
        ),
    ];
    let plain: [(&'static str, &'static str, u64); 4] = [
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
        ("bans", "Bans issued for misbehaviour.", s.bans),
        (
            "send_queue_full",
            "Application sends refused because the connection's send queue was full.",
            s.traffic.send_queue_full,
        ),
    ];
    for (name, help, value) in plain {
        let samples = vec![(vec![], Sample::Counter(value))];
        families.push(family(name, help, counter, samples));
    }
    let t = &s.traffic;
    let traffic: [(&'static str, &'static str, Option<Unit>, u64); 4] = [
        (
            "received",
            "Bytes read from peers' sockets (every frame after the handshake).",
            Some(Unit::Bytes),
            t.bytes_in,
        ),
        (
            "sent",
            "Bytes written to peers' sockets (every frame after the handshake).",
            Some(Unit::Bytes),
            t.bytes_out,
        ),
        (
            "received_messages",
            "Application messages received from peers.",
            None,
            t.messages_in,
        ),
        (
            "sent_messages",
            "Application messages written to peers.",
            None,
            t.messages_out,
        ),
    ];
    for (name, help, unit, value) in traffic {
        let samples = vec![(vec![], Sample::Counter(value))];
        families.push(MetricFamily {
            unit,
            ..family(name, help, counter, samples)
        });
    }
    let histograms = [
        (
            "handshake_duration",
            "From a connection's admission (accept, or dial start) to the end of its handshake.",
            &s.handshake_duration,
        ),
        (
            "ping_rtt",
            "Ping round-trip times measured, on every connection.",
            &s.ping_rtt,
        ),
    ];
    for (name, help, h) in histograms {
        families.push(MetricFamily {
            unit: Some(Unit::Seconds),
            ..family(
                name,
                help,
                MetricType::Histogram,
                vec![(vec![], Sample::Histogram(h.clone()))],
            )
        });
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
    let min_rtt = rows.iter().filter_map(|row| {
        let min = row.min_rtt.filter(|_| row.active.is_some())?;
        Some((label("peer", row.peer), Sample::Seconds(min.as_secs_f64())))
    });
    let mut families = vec![
        MetricFamily {
            unit: Some(Unit::Seconds),
            ..family(
                "peer_rtt",
                "Last ping round-trip time on each connected peer's active connection.",
                MetricType::Gauge,
                rtt.collect(),
            )
        },
        MetricFamily {
            unit: Some(Unit::Seconds),
            ..family(
                "peer_min_rtt",
                "Smallest ping round-trip time since each connected peer connected.",
                MetricType::Gauge,
                min_rtt.collect(),
            )
        },
    ];
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
    use prometheus_parse::{LineInfo, Scrape, Value};

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
        assert_eq!((helps, types, scrape.docs.len()), (30, 30, 30));
        let samples: Vec<&str> = lines.into_iter().filter(|l| !l.starts_with('#')).collect();
        let expected: Vec<&str> = EXPECTED.lines().collect();
        assert_eq!(samples, expected);
        // The parser folds a histogram's buckets into one sample, and keeps
        // its sum and count as samples of their own: 39 plain samples and
        // 3 per histogram.
        assert_eq!(scrape.samples.len(), 39 + 2 * 3);
        let rtt = scrape
            .samples
            .iter()
            .find(|s| s.metric == "peerlink_ping_rtt_seconds");
        let Some(Value::Histogram(buckets)) = rtt.map(|s| &s.value) else {
            panic!("no RTT histogram in {text}");
        };
        let cumulative: Vec<(f64, f64)> = buckets.iter().map(|b| (b.less_than, b.count)).collect();
        assert_eq!(cumulative.len(), 17);
        assert_eq!(cumulative[0], (0.0001, 0.0));
        assert_eq!(cumulative[1], (0.00025, 1.0));
        assert_eq!(cumulative[16], (f64::INFINITY, 1.0));
    }

    /// Every sample of the test snapshot's exposition, in order.
    const EXPECTED: &str = r#"peerlink_node_info{node_id="ab000000000000000000000000000000"} 1
peerlink_peers{state="idle"} 0
peerlink_peers{state="dialing"} 0
peerlink_peers{state="handshaking"} 0
peerlink_peers{state="connected"} 1
peerlink_peers{state="backoff"} 0
peerlink_connected_peers{direction="inbound"} 0
peerlink_connected_peers{direction="outbound"} 1
peerlink_connections{direction="inbound"} 0
peerlink_connections{direction="outbound"} 1
peerlink_pending_handshakes 0
peerlink_banned_peers 1
peerlink_connections_opened_total{direction="inbound"} 0
peerlink_connections_opened_total{direction="outbound"} 2
peerlink_connections_closed_total{direction="outbound",side="local",reason="duplicate"} 1
peerlink_handshakes_total{result="ok"} 2
peerlink_handshakes_total{result="failed"} 0
peerlink_closes_total{reason="duplicate"} 1
peerlink_dial_attempts_total 1
peerlink_dial_failures_total{error="connect_failed"} 0
peerlink_strikes_total{reason="frame_too_large"} 0
peerlink_strikes_total{reason="protocol_violation"} 0
peerlink_strikes_total{reason="rate_limited"} 0
peerlink_strikes_total{reason="short_lived"} 0
peerlink_inbound_refused_total 0
peerlink_duplicates_resolved_total 1
peerlink_bans_total 0
peerlink_send_queue_full_total 5
peerlink_received_bytes_total 1000
peerlink_sent_bytes_total 2000
peerlink_received_messages_total 3
peerlink_sent_messages_total 4
peerlink_handshake_duration_seconds_sum 0.003
peerlink_handshake_duration_seconds_count 1
peerlink_handshake_duration_seconds_bucket{le="0.0001"} 0
peerlink_handshake_duration_seconds_bucket{le="0.00025"} 0
peerlink_handshake_duration_seconds_bucket{le="0.0005"} 0
peerlink_handshake_duration_seconds_bucket{le="0.001"} 0
peerlink_handshake_duration_seconds_bucket{le="0.0025"} 0
peerlink_handshake_duration_seconds_bucket{le="0.005"} 1
peerlink_handshake_duration_seconds_bucket{le="0.01"} 1
peerlink_handshake_duration_seconds_bucket{le="0.025"} 1
peerlink_handshake_duration_seconds_bucket{le="0.05"} 1
peerlink_handshake_duration_seconds_bucket{le="0.1"} 1
peerlink_handshake_duration_seconds_bucket{le="0.25"} 1
peerlink_handshake_duration_seconds_bucket{le="0.5"} 1
peerlink_handshake_duration_seconds_bucket{le="1.0"} 1
peerlink_handshake_duration_seconds_bucket{le="2.5"} 1
peerlink_handshake_duration_seconds_bucket{le="5.0"} 1
peerlink_handshake_duration_seconds_bucket{le="10.0"} 1
peerlink_handshake_duration_seconds_bucket{le="+Inf"} 1
peerlink_ping_rtt_seconds_sum 0.00025
peerlink_ping_rtt_seconds_count 1
peerlink_ping_rtt_seconds_bucket{le="0.0001"} 0
peerlink_ping_rtt_seconds_bucket{le="0.00025"} 1
peerlink_ping_rtt_seconds_bucket{le="0.0005"} 1
peerlink_ping_rtt_seconds_bucket{le="0.001"} 1
peerlink_ping_rtt_seconds_bucket{le="0.0025"} 1
peerlink_ping_rtt_seconds_bucket{le="0.005"} 1
peerlink_ping_rtt_seconds_bucket{le="0.01"} 1
peerlink_ping_rtt_seconds_bucket{le="0.025"} 1
peerlink_ping_rtt_seconds_bucket{le="0.05"} 1
peerlink_ping_rtt_seconds_bucket{le="0.1"} 1
peerlink_ping_rtt_seconds_bucket{le="0.25"} 1
peerlink_ping_rtt_seconds_bucket{le="0.5"} 1
peerlink_ping_rtt_seconds_bucket{le="1.0"} 1
peerlink_ping_rtt_seconds_bucket{le="2.5"} 1
peerlink_ping_rtt_seconds_bucket{le="5.0"} 1
peerlink_ping_rtt_seconds_bucket{le="10.0"} 1
peerlink_ping_rtt_seconds_bucket{le="+Inf"} 1
peerlink_peer_rtt_seconds{peer="127.0.0.2"} 0.00025
peerlink_peer_min_rtt_seconds{peer="127.0.0.2"} 0.0002
peerlink_peer_dials_total{peer="127.0.0.2"} 1
peerlink_peer_dial_failures_total{peer="127.0.0.2"} 0
peerlink_peer_connections_total{peer="127.0.0.2"} 2
peerlink_peer_disconnects_total{peer="127.0.0.2"} 0
peerlink_app_messages_received_total 4"#;
}
