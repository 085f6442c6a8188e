//! `timeline`: a run as lanes, connection bars, fault windows and the first
//! violation, built from the run's trace records and its applied faults.
//! [`html::render`] draws it as one self-contained HTML page
//! (`peerlink-sim replay SCENARIO --seed N --html run.html`), and the page's
//! JSON summary is this structure, so the picture and the summary cannot
//! disagree.

pub mod html;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;

use crate::faults::Fault;
use crate::runner::RunReport;
use crate::snapshot::host_ip;

/// Most lanes drawn; a larger run keeps the pairs with a fault or the
/// violation first, then those with the most connections, and says how many
/// it left out.
pub const MAX_LANES: usize = 64;

/// Simulated microseconds.
pub type Micros = u64;

/// The drawable run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Timeline {
    /// Scenario name.
    pub scenario: String,
    /// Policy or model of the nodes.
    pub policy: String,
    /// The seed.
    pub seed: u64,
    /// Where the run stopped.
    pub end_us: Micros,
    /// The canonical trace's SHA-256.
    pub trace_sha256: String,
    /// One lane per node pair drawn, in pair order.
    pub lanes: Vec<Lane>,
    /// Pairs with something to draw that were left out (over [`MAX_LANES`]).
    pub lanes_left_out: usize,
    /// One bar per connection end that completed its handshake.
    pub bars: Vec<Bar>,
    /// Fault windows (and latency changes, as instants).
    pub faults: Vec<FaultWindow>,
    /// The first broken invariant.
    pub violation: Option<ViolationMark>,
}

/// A node pair `a < b`: its upper track is `a`'s view, its lower `b`'s.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lane {
    /// Index in [`Timeline::lanes`].
    pub id: usize,
    /// Lower node index.
    pub a: usize,
    /// Higher node index.
    pub b: usize,
}

/// One end of a connection, from its handshake to its close.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Bar {
    /// Lane id.
    pub lane: usize,
    /// The node whose end this is (its track in the lane).
    pub node: usize,
    /// The node's connection id.
    pub conn: String,
    /// The node that dialled the connection.
    pub dialler: usize,
    /// Handshake completed (`established`).
    pub start_us: Micros,
    /// Closed, the node crashed, or the run's end.
    pub end_us: Micros,
    /// How it ended: the close reason, `crash`, or `open` at the run's end.
    pub ended: String,
}

/// A fault over the lanes it affects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FaultWindow {
    /// `partition`, `one-way`, `hold`, `crash` or `latency`.
    pub kind: &'static str,
    /// The fault as the trace names it (`partition n0 n4`).
    pub label: String,
    /// Lanes shaded.
    pub lanes: Vec<usize>,
    /// Applied at.
    pub start_us: Micros,
    /// Healed at (the run's end if never healed; equal to the start for a
    /// latency change, drawn as an instant).
    pub end_us: Micros,
}

/// The first broken invariant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ViolationMark {
    /// When.
    pub at_us: Micros,
    /// Which invariant.
    pub invariant: String,
    /// The violation as `replay` prints it.
    pub text: String,
    /// Lanes of the nodes it names.
    pub lanes: Vec<usize>,
}

fn micros(d: std::time::Duration) -> Micros {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Pair key with `a < b`.
fn pair(x: usize, y: usize) -> (usize, usize) {
    (x.min(y), x.max(y))
}

/// A fault window before lanes are assigned: affected pairs or a node.
struct PendingFault {
    kind: &'static str,
    label: String,
    pairs: Vec<(usize, usize)>,
    node: Option<usize>,
    start_us: Micros,
    end_us: Option<Micros>,
}

impl Timeline {
    /// Builds the timeline of `report` (run with its trace kept) over
    /// `nodes` hosts.
    pub fn from_report(report: &RunReport, nodes: usize) -> Self {
        let end_us = micros(report.sim_time);
        let index_of_ip: BTreeMap<IpAddr, usize> = (0..nodes).map(|i| (host_ip(i), i)).collect();
        let index_of_host: BTreeMap<String, usize> =
            (0..nodes).map(|i| (format!("n{i}"), i)).collect();
        let faults = pending_faults(report, end_us);

        // Connection ends, keyed by (node, conn) while open.
        let mut bars: Vec<((usize, usize), Bar)> = Vec::new();
        let mut open: BTreeMap<(usize, String), usize> = BTreeMap::new();
        let crashes: Vec<(Micros, usize)> = faults
            .iter()
            .filter(|f| f.kind == "crash")
            .filter_map(|f| f.node.map(|n| (f.start_us, n)))
            .collect();
        let mut next_crash = 0;
        for record in &report.trace {
            let at = micros(record.at);
            // A crash ends every open end of the crashed node.
            while let Some(&(t, n)) = crashes.get(next_crash).filter(|(t, _)| *t <= at) {
                end_all(&mut open, &mut bars, n, t, "crash");
                next_crash += 1;
            }
            let (Some(&node), Some(conn)) = (index_of_host.get(&record.node), &record.conn) else {
                continue;
            };
            match record.kind.as_str() {
                "established" => {
                    let Some(&peer) = record.peer_ip().and_then(|ip| index_of_ip.get(&ip)) else {
                        continue;
                    };
                    let dialler = if record.field("direction") == Some("outbound") {
                        node
                    } else {
                        peer
                    };
                    open.insert((node, conn.clone()), bars.len());
                    bars.push((
                        pair(node, peer),
                        Bar {
                            lane: 0,
                            node,
                            conn: conn.clone(),
                            dialler,
                            start_us: at,
                            end_us,
                            ended: "open".into(),
                        },
                    ));
                }
                "closed" => {
                    if let Some(i) = open.remove(&(node, conn.clone())) {
                        bars[i].1.end_us = at;
                        bars[i].1.ended = record.field("reason").unwrap_or("closed").to_string();
                    }
                }
                _ => {}
            }
        }
        for &(t, n) in &crashes[next_crash..] {
            end_all(&mut open, &mut bars, n, t, "crash");
        }

        let violation_nodes: BTreeSet<usize> = report
            .violation
            .iter()
            .flat_map(|v| v.nodes.iter())
            .filter_map(|n| index_of_host.get(n).copied())
            .collect();
        let (lane_pairs, lanes_left_out) = choose_lanes(&bars, &faults, &violation_nodes);
        let lane_of: BTreeMap<(usize, usize), usize> = lane_pairs
            .iter()
            .enumerate()
            .map(|(i, p)| (*p, i))
            .collect();
        let lanes_touching = |n: usize| -> Vec<usize> {
            lane_pairs
                .iter()
                .enumerate()
                .filter(|(_, (a, b))| *a == n || *b == n)
                .map(|(i, _)| i)
                .collect()
        };
        Timeline {
            scenario: report.scenario.clone(),
            policy: report.model.clone(),
            seed: report.seed,
            end_us,
            trace_sha256: report.trace_hash.clone(),
            lanes: lane_pairs
                .iter()
                .enumerate()
                .map(|(id, &(a, b))| Lane { id, a, b })
                .collect(),
            lanes_left_out,
            bars: bars
                .into_iter()
                .filter_map(|(p, mut bar)| {
                    bar.lane = *lane_of.get(&p)?;
                    Some(bar)
                })
                .collect(),
            faults: faults
                .into_iter()
                .map(|f| {
                    let lanes = match f.node {
                        Some(n) => lanes_touching(n),
                        None => f
                            .pairs
                            .iter()
                            .filter_map(|p| lane_of.get(p).copied())
                            .collect(),
                    };
                    FaultWindow {
                        kind: f.kind,
                        label: f.label,
                        lanes,
                        start_us: f.start_us,
                        end_us: f.end_us.unwrap_or(end_us),
                    }
                })
                .collect(),
            violation: report.violation.as_ref().map(|v| ViolationMark {
                at_us: micros(v.at),
                invariant: v.invariant.to_string(),
                text: v.to_string(),
                lanes: violation_nodes
                    .iter()
                    .flat_map(|&n| lanes_touching(n))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
            }),
        }
    }
}

/// Ends every open connection end of `node` at `at`.
fn end_all(
    open: &mut BTreeMap<(usize, String), usize>,
    bars: &mut [((usize, usize), Bar)],
    node: usize,
    at: Micros,
    why: &str,
) {
    let ends: Vec<(usize, String)> = open.keys().filter(|(n, _)| *n == node).cloned().collect();
    for key in ends {
        if let Some(i) = open.remove(&key) {
            bars[i].1.end_us = at;
            bars[i].1.ended = why.to_string();
        }
    }
}

/// The applied faults as windows: each disturbance from its start to its
/// heal; latency changes as instants.
fn pending_faults(report: &RunReport, end_us: Micros) -> Vec<PendingFault> {
    let mut out: Vec<PendingFault> = Vec::new();
    // Open window per (kind, key) -> index in `out`.
    let mut open: BTreeMap<(&'static str, usize, usize), usize> = BTreeMap::new();
    for tf in &report.faults {
        let at = micros(tf.at);
        let mut start = |kind, key: (usize, usize), pairs, node| {
            open.insert((kind, key.0, key.1), out.len());
            out.push(PendingFault {
                kind,
                label: tf.fault.to_string(),
                pairs,
                node,
                start_us: at,
                end_us: None,
            });
        };
        let heal = match tf.fault {
            Fault::Partition(a, b) => {
                start("partition", pair(a, b), vec![pair(a, b)], None);
                None
            }
            Fault::PartitionOneWay(a, b) => {
                start("one-way", (a, b), vec![pair(a, b)], None);
                None
            }
            Fault::Hold(a, b) => {
                start("hold", pair(a, b), vec![pair(a, b)], None);
                None
            }
            // A process kill and a power loss both take the node down until
            // its restart; the label says which.
            Fault::Crash(a) | Fault::Kill(a) => {
                start("crash", (a, a), vec![], Some(a));
                None
            }
            Fault::Latency(a, b, _) => {
                out.push(PendingFault {
                    kind: "latency",
                    label: tf.fault.to_string(),
                    pairs: vec![pair(a, b)],
                    node: None,
                    start_us: at,
                    end_us: Some(at),
                });
                None
            }
            Fault::Repair(a, b) => Some(("partition", pair(a, b))),
            Fault::RepairOneWay(a, b) => Some(("one-way", (a, b))),
            Fault::Release(a, b) => Some(("hold", pair(a, b))),
            Fault::Restart(a) => Some(("crash", (a, a))),
        };
        if let Some((kind, (x, y))) = heal {
            if let Some(i) = open.remove(&(kind, x, y)) {
                out[i].end_us = Some(at.min(end_us));
            }
        }
    }
    out
}

/// The pairs to draw, in order, and how many were left out.
fn choose_lanes(
    bars: &[((usize, usize), Bar)],
    faults: &[PendingFault],
    violation_nodes: &BTreeSet<usize>,
) -> (Vec<(usize, usize)>, usize) {
    let mut weight: BTreeMap<(usize, usize), (bool, usize)> = BTreeMap::new();
    for (p, _) in bars {
        weight.entry(*p).or_default().1 += 1;
    }
    for f in faults {
        for p in &f.pairs {
            weight.entry(*p).or_default().0 = true;
        }
    }
    for (p, w) in weight.iter_mut() {
        w.0 |= violation_nodes.contains(&p.0) || violation_nodes.contains(&p.1);
    }
    let total = weight.len();
    let mut ranked: Vec<((usize, usize), (bool, usize))> = weight.into_iter().collect();
    // Faulted or violated pairs first, then the busiest, then pair order.
    ranked.sort_by(|(pa, wa), (pb, wb)| wb.cmp(wa).then(pa.cmp(pb)));
    let mut chosen: Vec<(usize, usize)> =
        ranked.into_iter().take(MAX_LANES).map(|(p, _)| p).collect();
    chosen.sort_unstable();
    let left_out = total - chosen.len();
    (chosen, left_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar_on(p: (usize, usize)) -> ((usize, usize), Bar) {
        let bar = Bar {
            lane: 0,
            node: p.0,
            conn: "c1".into(),
            dialler: p.0,
            start_us: 0,
            end_us: 1,
            ended: "open".into(),
        };
        (p, bar)
    }

    /// Over the cap: the faulted pair and the violated node's pairs are
    /// kept first, then the busiest pairs; the rest are counted.
    #[test]
    fn lanes_over_the_cap_keep_faults_and_violation_first() {
        // 13 nodes: 78 pairs, each with one bar; (0, 1) has three.
        let mut bars: Vec<_> = (0..13)
            .flat_map(|a| (a + 1..13).map(move |b| bar_on((a, b))))
            .collect();
        bars.push(bar_on((0, 1)));
        bars.push(bar_on((0, 1)));
        let fault = PendingFault {
            kind: "hold",
            label: "hold n11 n12".into(),
            pairs: vec![(11, 12)],
            node: None,
            start_us: 0,
            end_us: None,
        };
        let violated: BTreeSet<usize> = [10].into();
        let (lanes, left_out) = choose_lanes(&bars, &[fault], &violated);
        assert_eq!(lanes.len(), MAX_LANES);
        assert_eq!(left_out, 78 - MAX_LANES);
        assert!(lanes.contains(&(11, 12)));
        // n10's 12 pairs all kept.
        assert_eq!(
            lanes.iter().filter(|(a, b)| *a == 10 || *b == 10).count(),
            12
        );
        assert!(lanes.contains(&(0, 1)));
        assert!(lanes.windows(2).all(|w| w[0] < w[1]), "pair order");
    }
}
