//! The invariants, checked at every checkpoint of a run (not only at the
//! end): one row per IP and one live connection per pair on each node; both
//! ends agree which TCP connection is live (within a bound that allows for
//! ping detection of a half-open link); the table never claims a connection
//! without an open socket; counters equal the table; after the network is
//! quiet the mesh converges within a bound and then never churns; a stream
//! that stalls with both ends holding it is closed by one of them within
//! the dead-peer bound (`link-liveness`, in `invariants/liveness.rs`);
//! under application traffic, what a node sends a connected peer arrives
//! (`delivery`).

mod delivery;
mod liveness;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use crate::scenario::Scenario;
use crate::view::{ConnView, NodeView};

/// What one node looks like at a checkpoint; `None` while it is down.
pub struct Observed {
    /// Host name.
    pub name: String,
    /// Its IP.
    pub ip: std::net::IpAddr,
    /// Its table, if it is up.
    pub view: Option<NodeView>,
    /// Streams its transport holds open.
    pub open_streams: usize,
}

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Invariant name (stable; see `docs/testing.md`).
    pub invariant: &'static str,
    /// Simulated time of the checkpoint that saw it.
    pub at: Duration,
    /// Nodes involved.
    pub nodes: Vec<String>,
    /// What was seen.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invariant {} broken at {:.3}s on {}: {}",
            self.invariant,
            self.at.as_secs_f64(),
            self.nodes.join(","),
            self.detail
        )
    }
}

/// Whether two ends hold the same TCP connection.
pub(crate) fn same_connection(a: &ConnView, b: &ConnView) -> bool {
    a.local_addr == b.remote_addr && a.remote_addr == b.local_addr
}

/// Invariant state carried across checkpoints of one run.
pub struct Checker {
    expected: Vec<(usize, usize)>,
    agree_within: Duration,
    /// When the network is quiet for good (last fault, last start).
    quiet_from: Duration,
    converge_by: Duration,
    disagree_since: BTreeMap<(usize, usize), Duration>,
    /// Node index by IP (hosts keep their IPs for the whole run).
    index_of: BTreeMap<std::net::IpAddr, usize>,
    /// (dials, disconnects) per node when the mesh converged.
    baseline: Option<Vec<(u64, u64)>>,
    /// `sends-arrive`, under a scenario with application traffic.
    sends: Option<delivery::Delivery>,
    /// Streams whose written bytes have not all arrived ([`liveness`]).
    stalls: liveness::Stalls,
}

impl Checker {
    /// State for a run of `scenario` whose last fault or start is at `quiet_from`.
    pub fn new(scenario: &Scenario, quiet_from: Duration) -> Checker {
        Checker {
            expected: scenario.expected_pairs(),
            agree_within: scenario.checks.agree_within,
            quiet_from,
            converge_by: quiet_from + scenario.checks.converge_within,
            disagree_since: BTreeMap::new(),
            index_of: BTreeMap::new(),
            baseline: None,
            sends: scenario
                .traffic
                .map(|_| delivery::Delivery::new(scenario.checks.agree_within)),
            stalls: liveness::Stalls::new(scenario.config.dead_peer_bound()),
        }
    }

    /// Time by which the mesh must have converged.
    pub fn converge_by(&self) -> Duration {
        self.converge_by
    }

    /// Whether the convergence check has passed.
    pub fn has_converged(&self) -> bool {
        self.baseline.is_some()
    }

    /// Runs every continuous invariant at time `now`.
    pub fn check(&mut self, now: Duration, nodes: &[Observed]) -> Result<(), Violation> {
        for node in nodes {
            if let Some(view) = &node.view {
                check_node(now, node, view)?;
            }
        }
        self.check_agreement(now, nodes)?;
        if let Some(sends) = &mut self.sends {
            sends.check(now, nodes)?;
        }
        self.stalls.check(now, nodes, &self.index_of)?;
        if self.baseline.is_none() && now >= self.converge_by {
            self.check_converged(now, nodes)?;
            let counts = nodes.iter().map(|n| counters(n.view.as_ref())).collect();
            self.baseline = Some(counts);
        } else if let Some(baseline) = &self.baseline {
            for (node, base) in nodes.iter().zip(baseline) {
                let now_counts = counters(node.view.as_ref());
                if now_counts != *base {
                    return Err(Violation {
                        invariant: "no-churn",
                        at: now,
                        nodes: vec![node.name.clone()],
                        detail: format!(
                            "healthy mesh churned after convergence: (dials, disconnects) went from {base:?} to {now_counts:?}"
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Pairs where either end holds an active connection to the other, or
    /// that disagreed at the last check, in `(a, b)` order, `a < b`: every
    /// other pair agrees (neither has one), so the check costs
    /// O(connections), not O(nodes²).
    fn agreement_candidates(&mut self, nodes: &[Observed]) -> BTreeSet<(usize, usize)> {
        if self.index_of.len() != nodes.len() {
            self.index_of = nodes.iter().enumerate().map(|(i, n)| (n.ip, i)).collect();
        }
        let mut pairs: BTreeSet<(usize, usize)> = self.disagree_since.keys().copied().collect();
        for (a, node) in nodes.iter().enumerate() {
            let Some(view) = &node.view else { continue };
            for row in view.peers.iter().filter(|r| r.active.is_some()) {
                if let Some(&b) = self.index_of.get(&row.ip).filter(|&&b| b != a) {
                    pairs.insert((a.min(b), a.max(b)));
                }
            }
        }
        pairs
    }

    fn check_agreement(&mut self, now: Duration, nodes: &[Observed]) -> Result<(), Violation> {
        for (a, b) in self.agreement_candidates(nodes) {
            let (na, nb) = (&nodes[a], &nodes[b]);
            let (Some(va), Some(vb)) = (&na.view, &nb.view) else {
                self.disagree_since.remove(&(a, b));
                continue;
            };
            let ca = va.rows_for(nb.ip).find_map(|r| r.active.clone());
            let cb = vb.rows_for(na.ip).find_map(|r| r.active.clone());
            let agree = match (&ca, &cb) {
                (None, None) => true,
                (Some(x), Some(y)) => same_connection(x, y),
                _ => false,
            };
            if agree {
                self.disagree_since.remove(&(a, b));
                continue;
            }
            let since = *self.disagree_since.entry((a, b)).or_insert(now);
            if now - since > self.agree_within {
                return Err(Violation {
                    invariant: "ends-agree",
                    at: now,
                    nodes: vec![na.name.clone(), nb.name.clone()],
                    detail: format!(
                        "ends disagree on their connection for {:.3}s (bound {:.3}s): {} has {}, {} has {}",
                        (now - since).as_secs_f64(),
                        self.agree_within.as_secs_f64(),
                        na.name,
                        describe(ca.as_ref()),
                        nb.name,
                        describe(cb.as_ref()),
                    ),
                });
            }
        }
        Ok(())
    }

    fn check_converged(&self, now: Duration, nodes: &[Observed]) -> Result<(), Violation> {
        for &(a, b) in &self.expected {
            let (na, nb) = (&nodes[a], &nodes[b]);
            let (Some(va), Some(vb)) = (&na.view, &nb.view) else {
                return Err(Violation {
                    invariant: "converges",
                    at: now,
                    nodes: vec![na.name.clone(), nb.name.clone()],
                    detail: "a node is not running after the network went quiet".into(),
                });
            };
            let ca = va.rows_for(nb.ip).find_map(|r| r.active.clone());
            let cb = vb.rows_for(na.ip).find_map(|r| r.active.clone());
            let ok = matches!((&ca, &cb), (Some(x), Some(y)) if same_connection(x, y));
            if !ok {
                return Err(Violation {
                    invariant: "converges",
                    at: now,
                    nodes: vec![na.name.clone(), nb.name.clone()],
                    detail: format!(
                        "not connected {:.3}s after the network went quiet at {:.3}s: {} has {}, {} has {}",
                        (now - self.quiet_from).as_secs_f64(),
                        self.quiet_from.as_secs_f64(),
                        na.name,
                        describe(ca.as_ref()),
                        nb.name,
                        describe(cb.as_ref()),
                    ),
                });
            }
        }
        Ok(())
    }
}

fn counters(view: Option<&NodeView>) -> (u64, u64) {
    view.map_or((0, 0), |v| (v.dials(), v.disconnects()))
}

fn describe(c: Option<&ConnView>) -> String {
    match c {
        None => "no connection".into(),
        Some(c) => format!("{} {}->{}", c.direction, c.local_addr, c.remote_addr),
    }
}

/// Per-node invariants.
fn check_node(now: Duration, node: &Observed, view: &NodeView) -> Result<(), Violation> {
    let fail = |invariant, detail| {
        Err(Violation {
            invariant,
            at: now,
            nodes: vec![node.name.clone()],
            detail,
        })
    };
    for row in &view.peers {
        let live = row.connections.iter().filter(|c| !c.closing).count();
        if live > 1 {
            return fail(
                "one-connection-per-pair",
                format!("{live} live connections to {}", row.key),
            );
        }
        if row.dials_in_flight > 1 {
            return fail(
                "one-dial-per-peer",
                format!("{} dials in flight to {}", row.dials_in_flight, row.key),
            );
        }
        let open = row.established.checked_sub(row.closed);
        if open != Some(row.connections.len() as u64) {
            return fail(
                "counters-match-table",
                format!(
                    "row {}: {} established - {} closed, but {} connections held",
                    row.key,
                    row.established,
                    row.closed,
                    row.connections.len()
                ),
            );
        }
        if row.connected && row.active.is_none() {
            return fail(
                "table-matches-sockets",
                format!("row {} connected without a connection", row.key),
            );
        }
    }
    let mut ips: Vec<std::net::IpAddr> = view.peers.iter().map(|r| r.ip).collect();
    ips.sort_unstable();
    if let Some(w) = ips.windows(2).find(|w| w[0] == w[1]) {
        let rows = ips.iter().filter(|&&ip| ip == w[0]).count();
        return fail("one-row-per-ip", format!("{rows} rows for peer {}", w[0]));
    }
    if view.held_connections() > node.open_streams {
        return fail(
            "table-matches-sockets",
            format!(
                "table holds {} connections but only {} sockets are open",
                view.held_connections(),
                node.open_streams
            ),
        );
    }
    Ok(())
}
