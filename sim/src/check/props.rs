//! The properties, each read from the real tables (`PeerTable::snapshot`)
//! and the connections the shell holds: four safety properties checked in
//! every state, and two liveness properties (convergence once faults stop,
//! and no close in a fault-free steady state). Owns only the predicates;
//! the history bits they read are set by the steps.

use std::collections::BTreeMap;

use peerlink_core::snapshot::Snapshot;
use peerlink_core::{ConnectionId, PeerId};
use stateright::Property;

use super::state::{Phase, Status, World};
use super::step::ip;
use super::Checked;

/// A node never has two connections to one peer that it keeps open
/// (established and not being closed).
pub const ONE_CONNECTION: &str = "one-active-connection-per-peer";
/// Cleaning up a connection removes exactly that one from the table and
/// never takes the active slot from another.
pub const CLEANUP: &str = "cleanup-never-removes-a-newer-connection";
/// Per row, connections established minus closed equals the connections
/// held, never below zero; the core never panics (its debug assertions
/// on the table's direction counts included).
pub const COUNTERS: &str = "counters-never-underflow";
/// The table's connections are exactly the ones its shell holds open, and
/// its handshakes the ones in flight.
pub const TABLE_MATCHES: &str = "table-connections-are-the-open-ones";
/// Once faults stop, both ends of every pair hold exactly one connection,
/// the same one: by the convergence deadline (at the start, before any
/// timer moves time on: the tie-break settles a simultaneous dial without
/// a redial; after a fault or restart, within the recovery window), and in
/// every state at rest.
pub const CONVERGES: &str = "converges-once-faults-stop";
/// Once converged and at rest, no connection closes until the next fault.
pub const NO_CHURN: &str = "no-close-in-steady-state";

/// Every property, in the order they are reported.
pub const ALL: [&str; 6] = [
    ONE_CONNECTION,
    CLEANUP,
    COUNTERS,
    TABLE_MATCHES,
    CONVERGES,
    NO_CHURN,
];

/// The stateright properties.
pub fn properties() -> Vec<Property<Checked>> {
    vec![
        Property::always(ONE_CONNECTION, |_, w: &World| one_connection(w).is_none()),
        Property::always(CLEANUP, |_, w: &World| w.bad_cleanup.is_none()),
        Property::always(COUNTERS, |_, w: &World| counters(w).is_none()),
        Property::always(TABLE_MATCHES, |_, w: &World| table_matches(w).is_none()),
        Property::always(CONVERGES, |m, w: &World| converges(m, w).is_none()),
        Property::always(NO_CHURN, |_, w: &World| w.closed_in_steady.is_none()),
    ]
}

/// Why `property` fails in `w`, if it does.
pub fn explain(m: &Checked, property: &str, w: &World) -> Option<String> {
    match property {
        ONE_CONNECTION => one_connection(w),
        CLEANUP => w.bad_cleanup.clone(),
        COUNTERS => counters(w),
        TABLE_MATCHES => table_matches(w),
        CONVERGES => converges(m, w),
        NO_CHURN => w.closed_in_steady.clone(),
        _ => None,
    }
}

fn snapshots(w: &World) -> impl Iterator<Item = (usize, Snapshot)> + '_ {
    w.nodes
        .iter()
        .enumerate()
        .filter_map(|(n, node)| node.table.as_ref().map(|t| (n, t.snapshot())))
}

fn one_connection(w: &World) -> Option<String> {
    for (n, snap) in snapshots(w) {
        for row in &snap.peers {
            let open: Vec<_> = row.connections.iter().filter(|c| !c.closing).collect();
            if open.len() > 1 {
                let ids: Vec<String> = open.iter().map(|c| c.id.to_string()).collect();
                return Some(format!(
                    "n{n} keeps {} connections to {}: {}",
                    open.len(),
                    row.peer,
                    ids.join(", ")
                ));
            }
        }
    }
    None
}

fn counters(w: &World) -> Option<String> {
    if let Some(p) = &w.panicked {
        return Some(format!("the core panicked: {p}"));
    }
    for (n, snap) in snapshots(w) {
        for row in &snap.peers {
            let c = &row.counters;
            let held = row.connections.len() as u64;
            if c.connections < c.closed || c.connections - c.closed != held {
                return Some(format!(
                    "n{n} row {}: established {} - closed {} but {held} held",
                    row.peer, c.connections, c.closed
                ));
            }
        }
    }
    None
}

fn table_matches(w: &World) -> Option<String> {
    for (n, snap) in snapshots(w) {
        let node = &w.nodes[n];
        let mut table_live: Vec<_> = snap
            .peers
            .iter()
            .flat_map(|r| r.connections.iter().map(|c| c.id))
            .collect();
        table_live.sort();
        let held: Vec<_> = node
            .conns
            .iter()
            .filter(|(_, ep)| {
                matches!(
                    ep.phase,
                    Phase::Running(_)
                        | Phase::Ended {
                            established: true,
                            ..
                        }
                )
            })
            .map(|(id, _)| *id)
            .collect();
        let table_pending: usize = snap.peers.iter().map(|r| r.pending).sum();
        let in_flight = node.conns.len() - held.len();
        if table_live != held || table_pending != in_flight {
            let names = |ids: &[ConnectionId]| {
                let v: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
                v.join(", ")
            };
            return Some(format!(
                "n{n}: table holds [{}] and {table_pending} handshakes; \
                 the shell holds [{}] and {in_flight} handshakes",
                names(&table_live),
                names(&held)
            ));
        }
    }
    None
}

/// Whether every pair that should be connected holds exactly one
/// connection, the same TCP connection at both ends.
pub fn converged(m: &Checked, w: &World) -> Option<String> {
    if let Some((n, _)) = w
        .nodes
        .iter()
        .enumerate()
        .find(|(_, node)| node.status != Status::Up)
    {
        return Some(format!("n{n} is not running"));
    }
    let snaps: BTreeMap<usize, Snapshot> = snapshots(w).collect();
    for a in 0..m.nodes {
        for b in a + 1..m.nodes {
            if !m.knows[a][b] && !m.knows[b][a] {
                continue;
            }
            let mut links = Vec::new();
            for (x, y) in [(a, b), (b, a)] {
                let row = snaps[&x]
                    .peers
                    .iter()
                    .find(|r| r.peer == PeerId::new(ip(y)));
                let Some(row) = row else {
                    return Some(format!("n{x} has no row for n{y}"));
                };
                let ids: Vec<_> = row.connections.iter().map(|c| c.id).collect();
                let (Some(active), [only]) = (row.active, ids.as_slice()) else {
                    let names: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
                    let active = row.active.map_or("none".to_string(), |a| a.to_string());
                    return Some(format!(
                        "n{x} holds [{}] to n{y} (active {active})",
                        names.join(", ")
                    ));
                };
                if active != *only || row.connections[0].closing {
                    return Some(format!("n{x}'s only connection to n{y} is closing"));
                }
                links.push(w.nodes[x].conns.get(only).map(|ep| ep.link));
            }
            if links[0].is_none() || links[0] != links[1] {
                let name = |l: &Option<_>| match l {
                    Some(key) => format!("{key}"),
                    None => "none".to_string(),
                };
                return Some(format!(
                    "n{a} and n{b} hold different TCP connections: {} and {}",
                    name(&links[0]),
                    name(&links[1])
                ));
            }
        }
    }
    None
}

/// At rest (no step but a fault is enabled): converged, or why not.
fn converges(m: &Checked, w: &World) -> Option<String> {
    let mut steps = Vec::new();
    m.steps_no_faults(w, &mut steps);
    if let Some(late) = &w.late {
        return Some(late.clone());
    }
    // A state where a safety property already failed has no steps: it is
    // that property's counterexample, not a state at rest.
    if !steps.is_empty() || w.bad_cleanup.is_some() || w.panicked.is_some() {
        return None;
    }
    converged(m, w).map(|why| format!("at rest and not converged: {why}"))
}

impl Checked {
    /// Converged, with nothing in flight.
    pub fn is_steady(&self, w: &World) -> bool {
        self.is_quiet(w) && converged(self, w).is_none()
    }
}
