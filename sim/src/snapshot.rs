//! `snapshot`: one run of a scenario as a structure made for snapshot tests
//! (insta, yaml): every node's peer table at named instants of simulated
//! time, the condensed event trace and the violation, if any.
//!
//! Everything in a [`RunSnapshot`] is fixed by the scenario, the seed and the
//! code under test: times are simulated (millisecond steps), addresses are
//! turmoil's (host `nK` is 192.168.0.(K+1); ephemeral ports are handed out in
//! order per host), node ids and nonces come from the seed, and rows are
//! sorted. No wall time, thread id or pointer reaches it. This module only
//! reads a [`RunReport`]; it must not change how a run goes.
//!
//! A peer row serializes as one line, so a changed state is a one-line diff:
//!
//! ```text
//! 192.168.0.2 (n1) connected outbound 192.168.0.1:49152->192.168.0.2:7000 conns=1 pending=0 dials=1 established=2 closed=1 disconnects=0
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use peerlink::ConnectionDirection;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::runner::{run, Checkpoint, RunError, RunOptions, RunReport};
use crate::scenario::Scenario;
use crate::view::{NodeView, PeerView};

/// How much of the event trace goes into a snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TraceDetail {
    /// Every trace line. The trace records connection-lifecycle events only
    /// (dial, handshake outcome, tie-break, closing/closed with a reason,
    /// refusals, faults; per-message events such as pongs sit below its
    /// level), so this is already the condensed trace.
    #[default]
    Lines,
    /// Event counts by kind and reason, plus the fault lines: for scenarios
    /// whose full trace is too long to review (`mesh-8`).
    Summary,
    /// The lines at or after this simulated time, counts for those before:
    /// a fault scenario without the mesh formation it starts from.
    Since(Duration),
    /// Only the number of events.
    Off,
}

/// What to capture.
#[derive(Clone, Debug, Default)]
pub struct SnapshotOptions {
    /// Run every node (except per-node overrides) as this model.
    pub model: Option<String>,
    /// Named instants of simulated time at which tables are captured.
    pub checkpoints: Vec<(String, Duration)>,
    /// How much trace to keep.
    pub trace: TraceDetail,
}

impl SnapshotOptions {
    /// No checkpoints, the scenario's model, every trace line.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs every node as `model` (a policy name such as `keep-both`).
    pub fn model(mut self, model: &str) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Captures every table at `at` (the first simulation step at or after it).
    pub fn at(mut self, name: &str, at: Duration) -> Self {
        self.checkpoints.push((name.into(), at));
        self
    }

    /// Sets how much trace to keep.
    pub fn trace(mut self, detail: TraceDetail) -> Self {
        self.trace = detail;
        self
    }
}

/// Runs `scenario` on `seed` and returns the snapshot-ready result.
///
/// ```
/// use std::time::Duration;
/// use peerlink_sim::scenarios::scenario_by_name;
/// use peerlink_sim::snapshot::{snapshot, SnapshotOptions};
///
/// let scenario = scenario_by_name("simultaneous-dial").unwrap();
/// let options = SnapshotOptions::new().at("formed", Duration::from_secs(2));
/// let snap = snapshot(&scenario, 1, &options).unwrap();
/// assert_eq!(snap.checkpoints[0].name, "formed");
/// assert!(snap.violation.is_none());
/// // insta::assert_yaml_snapshot!("simultaneous-dial", snap);
/// ```
pub fn snapshot(
    scenario: &Scenario,
    seed: u64,
    options: &SnapshotOptions,
) -> Result<RunSnapshot, RunError> {
    let run_options = RunOptions {
        keep_trace: options.trace != TraceDetail::Off,
        model: options.model.clone(),
        checkpoints: options.checkpoints.clone(),
        ..RunOptions::default()
    };
    let report = run(scenario, seed, &run_options)?;
    Ok(RunSnapshot::from_report(scenario, &report, options))
}

/// IP turmoil gives the host registered `index`-th (from 192.168.0.1 on).
pub fn host_ip(index: usize) -> IpAddr {
    let n = index + 1;
    IpAddr::V4(Ipv4Addr::new(192, 168, (n >> 8) as u8, (n & 0xff) as u8))
}

/// A simulated instant, serialized as seconds with milliseconds (`2.000s`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SimTime(pub Duration);

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0.as_secs(), self.0.subsec_millis())
    }
}

impl Serialize for SimTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Entries serialized as a map in the order given (host `n10` after `n9`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ordered<T>(pub Vec<(String, T)>);

impl<T> Ordered<T> {
    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&T> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl<T: Serialize> Serialize for Ordered<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// One run, ready for `insta::assert_yaml_snapshot!`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunSnapshot {
    /// Scenario name.
    pub scenario: String,
    /// Model of every node without an override.
    pub model: String,
    /// Per-node model overrides, by host.
    #[serde(skip_serializing_if = "Ordered::is_empty")]
    pub per_node_models: Ordered<String>,
    /// The seed.
    pub seed: u64,
    /// Host name to IP, in host order.
    pub hosts: Ordered<IpAddr>,
    /// Tables at the checkpoints reached, in time order.
    pub checkpoints: Vec<CheckpointSnapshot>,
    /// Checkpoints the run stopped before (at a violation).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_reached: Vec<String>,
    /// Simulated time the run ended at.
    pub ended_at: SimTime,
    /// The first broken invariant, if any.
    pub violation: Option<String>,
    /// The condensed event trace.
    pub trace: TraceSnapshot,
    /// SHA-256 of the whole trace (as `peerlink-sim replay` prints it); not
    /// serialized, since the lines already show what changed.
    #[serde(skip)]
    pub trace_sha256: String,
}

impl RunSnapshot {
    /// The YAML an insta snapshot test stores for this run (below the
    /// `.snap` file's header): written by insta's own serializer, so
    /// `peerlink-sim snapshot` prints exactly what a test would compare.
    pub fn to_yaml(&self) -> String {
        use insta::_macro_support::{serialize_value, SerializationFormat};
        serialize_value(self, SerializationFormat::Yaml)
    }

    /// Builds the snapshot of a finished run (`report` must come from
    /// running `scenario` with `options`' checkpoints and trace kept).
    pub fn from_report(scenario: &Scenario, report: &RunReport, options: &SnapshotOptions) -> Self {
        let names: BTreeMap<IpAddr, String> = (0..scenario.nodes)
            .map(|i| (host_ip(i), format!("n{i}")))
            .collect();
        let taken: Vec<&str> = report.checkpoints.iter().map(|c| c.name.as_str()).collect();
        RunSnapshot {
            scenario: report.scenario.clone(),
            model: report.model.clone(),
            per_node_models: Ordered(
                scenario
                    .per_node_models
                    .iter()
                    .map(|(i, m)| (format!("n{i}"), m.clone()))
                    .collect(),
            ),
            seed: report.seed,
            hosts: Ordered(
                (0..scenario.nodes)
                    .map(|i| (format!("n{i}"), host_ip(i)))
                    .collect(),
            ),
            checkpoints: report
                .checkpoints
                .iter()
                .map(|c| CheckpointSnapshot::new(c, &names))
                .collect(),
            not_reached: options
                .checkpoints
                .iter()
                .filter(|(name, _)| !taken.contains(&name.as_str()))
                .map(|(name, _)| name.clone())
                .collect(),
            ended_at: SimTime(report.sim_time),
            violation: report.violation.as_ref().map(ToString::to_string),
            trace: TraceSnapshot::new(report, options.trace),
            trace_sha256: report.trace_hash.clone(),
        }
    }

    /// The checkpoint called `name`.
    pub fn checkpoint(&self, name: &str) -> Option<&CheckpointSnapshot> {
        self.checkpoints.iter().find(|c| c.name == name)
    }
}

/// Every node's table at one checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckpointSnapshot {
    /// Checkpoint name.
    pub name: String,
    /// The simulated time it was taken at.
    pub at: SimTime,
    /// Host to table, in host order.
    pub nodes: Ordered<NodeTable>,
}

impl CheckpointSnapshot {
    fn new(c: &Checkpoint, names: &BTreeMap<IpAddr, String>) -> Self {
        let nodes = c.nodes.iter().map(|(host, view)| {
            let table = view
                .as_ref()
                .map_or(NodeTable::Down, |v| NodeTable::from_view(v, names));
            (host.clone(), table)
        });
        CheckpointSnapshot {
            name: c.name.clone(),
            at: SimTime(c.at),
            nodes: Ordered(nodes.collect()),
        }
    }

    /// The table of `host`.
    pub fn node(&self, host: &str) -> Option<&NodeTable> {
        self.nodes.get(host)
    }
}

/// One node's table: its rows, or `down` while the host is crashed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeTable {
    /// The host is crashed.
    Down,
    /// Rows sorted by peer IP, then key.
    Up(Vec<PeerLine>),
}

impl NodeTable {
    fn from_view(view: &NodeView, names: &BTreeMap<IpAddr, String>) -> Self {
        let mut rows: Vec<PeerLine> = view.peers.iter().map(|p| PeerLine::new(p, names)).collect();
        rows.sort_by(|a, b| (a.ip, &a.key).cmp(&(b.ip, &b.key)));
        NodeTable::Up(rows)
    }

    /// The rows (none while down).
    pub fn rows(&self) -> &[PeerLine] {
        match self {
            NodeTable::Down => &[],
            NodeTable::Up(rows) => rows,
        }
    }
}

impl Serialize for NodeTable {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            NodeTable::Down => s.serialize_str("down"),
            NodeTable::Up(rows) => rows.serialize(s),
        }
    }
}

/// The connection a row sends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveConn {
    /// Who dialled it.
    pub direction: ConnectionDirection,
    /// This node's end.
    pub local_addr: SocketAddr,
    /// The peer's end.
    pub remote_addr: SocketAddr,
}

/// One peer row; serializes as the one line of its `Display`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerLine {
    /// The table's key for the peer ("192.168.0.2", or IP:PORT for a legacy
    /// table keyed by address).
    pub key: String,
    /// The peer's IP.
    pub ip: IpAddr,
    /// The host behind the IP, if it is one of the scenario's.
    pub host: Option<String>,
    /// Whether the node considers the peer connected.
    pub connected: bool,
    /// The connection sends go to.
    pub active: Option<ActiveConn>,
    /// Connections held, closing ones included.
    pub connections: usize,
    /// Of those, asked to close.
    pub closing: usize,
    /// Handshakes in flight.
    pub pending: usize,
    /// Dials started.
    pub dials: u64,
    /// Connections established.
    pub established: u64,
    /// Connections ended.
    pub closed: u64,
    /// Times the peer went from connected to not connected.
    pub disconnects: u64,
}

impl PeerLine {
    fn new(p: &PeerView, names: &BTreeMap<IpAddr, String>) -> Self {
        PeerLine {
            key: p.key.clone(),
            ip: p.ip,
            host: names.get(&p.ip).cloned(),
            connected: p.connected,
            active: p.active.as_ref().map(|c| ActiveConn {
                direction: c.direction,
                local_addr: c.local_addr,
                remote_addr: c.remote_addr,
            }),
            connections: p.connections.len(),
            closing: p.connections.iter().filter(|c| c.closing).count(),
            pending: p.pending,
            dials: p.dials,
            established: p.established,
            closed: p.closed,
            disconnects: p.disconnects,
        }
    }
}

impl fmt::Display for PeerLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)?;
        if let Some(host) = &self.host {
            write!(f, " ({host})")?;
        }
        f.write_str(if self.connected {
            " connected"
        } else {
            " not-connected"
        })?;
        match &self.active {
            Some(c) => write!(f, " {} {}->{}", c.direction, c.local_addr, c.remote_addr)?,
            None => f.write_str(" -")?,
        }
        write!(f, " conns={}", self.connections)?;
        if self.closing > 0 {
            write!(f, " closing={}", self.closing)?;
        }
        write!(
            f,
            " pending={} dials={} established={} closed={} disconnects={}",
            self.pending, self.dials, self.established, self.closed, self.disconnects
        )
    }
}

impl Serialize for PeerLine {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The condensed trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceSnapshot {
    /// Events recorded in the whole run.
    pub events: usize,
    /// Event counts by kind (and reason), for [`TraceDetail::Summary`].
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, usize>,
    /// Trace lines: all of them, or only the faults for a summary.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
}

impl TraceSnapshot {
    fn new(report: &RunReport, detail: TraceDetail) -> Self {
        let mut snap = TraceSnapshot {
            events: report.events,
            counts: BTreeMap::new(),
            lines: Vec::new(),
        };
        match detail {
            TraceDetail::Lines => snap.lines = report.trace.iter().map(|r| r.to_string()).collect(),
            TraceDetail::Summary => {
                for record in &report.trace {
                    let kind = record.kind_and_reason();
                    if kind.starts_with("fault") {
                        snap.lines.push(record.to_string());
                    }
                    *snap.counts.entry(kind).or_default() += 1;
                }
            }
            TraceDetail::Since(from) => {
                for record in &report.trace {
                    if truncated_to_millis(record.at) >= from {
                        snap.lines.push(record.to_string());
                    } else {
                        let kind =
                            format!("before {}: {}", SimTime(from), record.kind_and_reason());
                        *snap.counts.entry(kind).or_default() += 1;
                    }
                }
            }
            TraceDetail::Off => {}
        }
        snap
    }
}

/// `t` at the millisecond precision trace lines and snapshots show.
fn truncated_to_millis(t: Duration) -> Duration {
    Duration::from_millis(u64::try_from(t.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Since` compares at the lines' millisecond precision.
    #[test]
    fn since_compares_whole_millis() {
        let t = Duration::from_micros(9_999_999);
        assert_eq!(truncated_to_millis(t), Duration::from_millis(9_999));
    }

    /// Times print with millisecond precision, hosts map to turmoil's IPs.
    #[test]
    fn formats() {
        assert_eq!(SimTime(Duration::from_millis(2050)).to_string(), "2.050s");
        assert_eq!(host_ip(0).to_string(), "192.168.0.1");
        assert_eq!(host_ip(255).to_string(), "192.168.1.0");
    }
}
