//! The bug catalog: one scenario per connection bug of the origin project
//! (each described in `docs/bug-catalog.md`), each run under the naive design
//! that shipped it (a comparison policy of the library, or a legacy model
//! from `legacy`) and under our default. The scenarios are ordinary
//! scenarios whose model is our default: they pass on it over any sweep.
//! An entry names the seed on which the naive design breaks its invariant;
//! the result itself is computed live by `peerlink-sim catalog`.

use std::time::Duration;

use crate::faults::{Fault, FaultPlan, TimedFault};
use crate::scenario::{Knows, Scenario, Start};

/// One catalog entry.
#[derive(Clone, Debug)]
pub struct CatalogEntry {
    /// Origin bug number.
    pub bug: u32,
    /// What went wrong, in a few words.
    pub title: &'static str,
    /// The `bug-<n>` scenario.
    pub scenario: String,
    /// The naive policy or legacy model that shipped the bug.
    pub naive: &'static str,
    /// A seed on which the naive run fails.
    pub naive_seed: u64,
    /// The invariant the naive run breaks.
    pub invariant: &'static str,
}

fn entry(
    bug: u32,
    title: &'static str,
    naive: &'static str,
    naive_seed: u64,
    invariant: &'static str,
) -> CatalogEntry {
    CatalogEntry {
        bug,
        title,
        scenario: format!("bug-{bug}"),
        naive,
        naive_seed,
        invariant,
    }
}

/// The catalog entries, in origin-bug order.
pub fn entries() -> Vec<CatalogEntry> {
    vec![
        entry(
            1,
            "simultaneous dial, both rejected",
            "reject-inbound",
            14,
            "converges",
        ),
        entry(
            2,
            "a periodic redial bypasses the dial rules",
            "legacy-periodic-redial",
            0,
            "no-churn",
        ),
        entry(
            3,
            "pongs routed through a per-IP writer are lost",
            "legacy-per-ip-writer",
            0,
            "no-churn",
        ),
        entry(
            4,
            "IP:PORT identity counts one machine twice",
            "legacy-ip-port-identity",
            0,
            "one-row-per-ip",
        ),
        entry(
            5,
            "backoff drops dial ownership: duplicate dialers",
            "legacy-dial-ownership",
            0,
            "one-dial-per-peer",
        ),
        entry(
            6,
            "an unfinished outbound path: no writer, messages dropped",
            "legacy-second-outbound",
            0,
            "sends-arrive",
        ),
        entry(
            7,
            "send and broadcast stubs return Ok and send nothing",
            "legacy-send-stub",
            0,
            "sends-arrive",
        ),
        entry(
            8,
            "only the higher IP dials: the lower one waits forever",
            "higher-ip-dials",
            0,
            "converges",
        ),
        entry(
            9,
            "both ends reject each other's inbound",
            "reject-inbound",
            1,
            "converges",
        ),
        entry(
            10,
            "stale cleanup unregisters the live connection's writer",
            "legacy-cleanup-by-ip",
            0,
            "sends-arrive",
        ),
        entry(
            11,
            "zombie connected slots after a socket dies",
            "legacy-zombie-slots",
            0,
            "table-matches-sockets",
        ),
        entry(
            12,
            "a cancel-unsafe reader tears frames",
            "legacy-torn-frames",
            0,
            "no-churn",
        ),
        entry(
            13,
            "ping pruning outruns the pong timeout",
            "legacy-ping-pruning",
            0,
            "ends-agree",
        ),
    ]
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn at(s: u64, fault: Fault) -> TimedFault {
    TimedFault { at: secs(s), fault }
}

/// A fixed 5 ms link both ways. Both ends of a simultaneous dial then see
/// their handshakes in the same order, every seed. The crash scenarios use
/// it too: no message's delay then depends on the order in which a crashed
/// host's tasks are torn down (that order follows process-wide tokio task
/// ids), whatever the transport does with a crashed host's sockets.
fn fixed_link(s: Scenario) -> Scenario {
    let five = Duration::from_millis(5);
    s.latency(five, five)
}

/// 30 s in which every node sends each connected peer an application
/// message every second: the send-path entries (#6, #7, #10).
fn sending(s: Scenario) -> Scenario {
    s.traffic(secs(1)).duration(secs(30))
}

/// Pairs `(a, b)` with `a < b` among `n` nodes: only the lower index knows
/// the higher one (for 192.168.0.x hosts, the lower IP).
fn lower_knows_higher(n: usize) -> Knows {
    Knows::Only(
        (0..n)
            .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
            .collect(),
    )
}

/// The catalog's scenarios, `bug-<n>`, in origin-bug order.
pub fn bug_scenarios() -> Vec<Scenario> {
    vec![
        fixed_link(Scenario::new(
            "bug-1",
            "origin #1: 2 nodes dial each other at the same instant over a fixed link; one connection survives at once",
            2,
        ))
        .duration(secs(30))
        .checks(|c| c.converge_within = secs(2)),
        Scenario::new(
            "bug-2",
            "origin #2: 3 nodes, healthy mesh for 60 s: no redial of a connected peer",
            3,
        )
        .duration(secs(60))
        .checks(|c| c.converge_within = secs(3)),
        fixed_link(Scenario::new(
            "bug-3",
            "origin #3: 2 nodes dial each other at once, then 40 s of steady state: no healthy peer timed out",
            2,
        ))
        .duration(secs(40))
        .checks(|c| c.converge_within = secs(2)),
        Scenario::new(
            "bug-4",
            "origin #4: 6 nodes all configured with each other: one table row per machine",
            6,
        )
        .duration(secs(30))
        .checks(|c| c.converge_within = secs(3)),
        Scenario::new(
            "bug-5",
            "origin #5: only n0 knows n1, which is powered off until 20 s (connects hang): one dial in flight per peer",
            2,
        )
        .knows(Knows::Only(vec![(0, 1)]))
        .faults(FaultPlan::Fixed(vec![at(0, Fault::Crash(1)), at(20, Fault::Restart(1))])),
        sending(Scenario::new(
            "bug-6",
            "origin #6: 3 nodes, healthy mesh for 30 s, each sending to every peer every second: every message arrives, whoever dialled",
            3,
        ))
        .checks(|c| c.converge_within = secs(3)),
        sending(Scenario::new(
            "bug-7",
            "origin #7: 2 nodes, healthy for 30 s, each sending to the other every second: every message arrives",
            2,
        ))
        .checks(|c| c.converge_within = secs(3)),
        Scenario::new(
            "bug-8",
            "origin #8: 3 nodes, only the lower IP of each pair knows the higher; the highest starts 5 s late",
            3,
        )
        .knows(lower_knows_higher(3))
        .start(Start::At(vec![secs(0), secs(0), secs(5)]))
        .duration(secs(40))
        .checks(|c| c.converge_within = secs(10)),
        fixed_link(Scenario::new(
            "bug-9",
            "origin #9: 4 nodes start together over fixed links: every pair dials both ways at once",
            4,
        ))
        .duration(secs(30))
        .checks(|c| c.converge_within = secs(2)),
        fixed_link(sending(Scenario::new(
            "bug-10",
            "origin #10: 3 nodes start together over fixed links and send to each other every second: the superseded connection's cleanup spares the survivor's writer",
            3,
        )))
        .checks(|c| c.converge_within = secs(2)),
        fixed_link(Scenario::new(
            "bug-11",
            "origin #11: 5 nodes; n1, n2, n3 crash at 10 s and restart at 15 s: the table matches the sockets",
            5,
        ))
        .faults(FaultPlan::Fixed(vec![
            at(10, Fault::Crash(1)),
            at(10, Fault::Crash(2)),
            at(10, Fault::Crash(3)),
            at(15, Fault::Restart(1)),
            at(15, Fault::Restart(2)),
            at(15, Fault::Restart(3)),
        ])),
        Scenario::new(
            "bug-12",
            "origin #12: 3 nodes, healthy mesh for 60 s over links of 5-60 ms, n0-n2 held for 4 s: every frame read whole",
            3,
        )
        .latency(Duration::from_millis(5), Duration::from_millis(60))
        .faults(FaultPlan::Fixed(vec![at(3, Fault::Hold(0, 2)), at(7, Fault::Release(0, 2))]))
        .duration(secs(60))
        .checks(|c| c.converge_within = secs(3)),
        fixed_link(Scenario::new(
            "bug-13",
            "origin #13: only n0 knows n1; n1 crashes behind a one-way cut and restarts: n0 detects the dead link",
            2,
        ))
        .knows(Knows::Only(vec![(0, 1)]))
        .faults(FaultPlan::Fixed(vec![
            at(10, Fault::PartitionOneWay(1, 0)),
            at(12, Fault::Crash(1)),
            at(14, Fault::Restart(1)),
            at(50, Fault::RepairOneWay(1, 0)),
        ])),
    ]
}
