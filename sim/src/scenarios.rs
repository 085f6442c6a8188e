//! The built-in scenarios, by name. The bug catalog's `bug-<n>` scenarios
//! are appended from `catalog`.

use std::time::Duration;

use crate::faults::{Fault, FaultKind, FaultPlan, TimedFault};
use crate::scenario::{Knows, Scenario, Start};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn at(s: u64, fault: Fault) -> TimedFault {
    TimedFault { at: secs(s), fault }
}

/// The general scenarios (not tied to one origin bug).
pub fn core_scenarios() -> Vec<Scenario> {
    vec![
        Scenario::new(
            "simultaneous-dial",
            "2 nodes dial each other at the same instant: exactly one connection, at once, on both ends",
            2,
        )
        .duration(secs(30))
        .checks(|c| c.converge_within = secs(2)),
        Scenario::new("mesh-3", "3 nodes start together and form a full mesh", 3)
            .duration(secs(30))
            .checks(|c| c.converge_within = secs(2)),
        Scenario::new("mesh-8", "8 nodes start together: 28 connections, one per pair, for 60 s", 8)
            .duration(secs(60))
            .checks(|c| c.converge_within = secs(3)),
        Scenario::new("staggered-start", "5 nodes start at random times within 10 s", 5)
            .start(Start::Staggered(secs(10)))
            .duration(secs(40))
            .checks(|c| c.converge_within = secs(3)),
        Scenario::new(
            "one-side-knows",
            "only the lower-indexed node of each pair is configured with the other: still a full mesh",
            4,
        )
        .knows(Knows::Only((0..4).flat_map(|a| (a + 1..4).map(move |b| (a, b))).collect()))
        .duration(secs(30))
        .checks(|c| c.converge_within = secs(3)),
        Scenario::new("partition-heal", "4 nodes; n0–n1 partitioned for 30 s, then healed", 4).faults(
            FaultPlan::Fixed(vec![at(10, Fault::Partition(0, 1)), at(40, Fault::Repair(0, 1))]),
        ),
        Scenario::new("half-open", "2 nodes; n0→n1 cut one way for 30 s: a half-open connection", 2).faults(
            FaultPlan::Fixed(vec![
                at(10, Fault::PartitionOneWay(0, 1)),
                at(40, Fault::RepairOneWay(0, 1)),
            ]),
        ),
        Scenario::new("crash-restart", "4 nodes; n1 crashes at 10 s and restarts with a new node id at 25 s", 4)
            .faults(FaultPlan::Fixed(vec![at(10, Fault::Crash(1)), at(25, Fault::Restart(1))])),
        Scenario::new("hold-release", "3 nodes; n0–n2 messages held for 8 s, then released in one burst", 3)
            .faults(FaultPlan::Fixed(vec![at(5, Fault::Hold(0, 2)), at(13, Fault::Release(0, 2))])),
        hostile_peer(),
        Scenario::new(
            "random-faults",
            "5 nodes; 6 fault episodes of every kind drawn from the seed in [5 s, 60 s), all healed by 60 s",
            5,
        )
        .faults(FaultPlan::Random {
            episodes: 6,
            kinds: vec![
                FaultKind::Partition,
                FaultKind::HalfOpen,
                FaultKind::Hold,
                FaultKind::Latency,
                FaultKind::CrashRestart,
            ],
            from: secs(5),
            until: secs(60),
            max_len: secs(20),
        }),
        flaky_links(),
        hostile(
            "hostile-slowloris",
            "4 nodes; n3 opens 8 connections per node with half a Hello each, over and over: handshake timeouts, n0–n2 untouched",
            "slowloris",
            secs(10),
        ),
        slowloris_many(),
        hostile(
            "hostile-ping-flood",
            "4 nodes; n3 handshakes then sends 64 pings at once, every 2 s: rate_limited, banned by all, n0–n2 untouched",
            "ping-flood",
            secs(10),
        ),
        hostile(
            "hostile-oversized-frame",
            "4 nodes; n3 handshakes then sends a length prefix over the frame cap, every 2 s: frame_too_large, banned by all",
            "oversized-prefix",
            secs(10),
        ),
        hostile(
            "hostile-own-node-id",
            "4 nodes; n3 learns each node's id, then sends it Hellos carrying that id every 2 s: self_connection, n0–n2 untouched",
            "own-node-id",
            secs(10),
        ),
        hostile(
            "hostile-impersonation",
            "4 nodes; n3 learns n0's id, then announces it to n1 and n2 every 2 s: filed under n3's IP, n0-n2 untouched",
            "impersonator",
            secs(10),
        ),
        hostile(
            "hostile-connect-churn",
            "4 nodes; n3 connects and disconnects every 25 ms per node, never finishing a handshake: n0–n2 untouched",
            "connect-churn",
            secs(10),
        ),
        hostile(
            "hostile-flap",
            "4 nodes; n3 handshakes and leaves at once, redialling at once: short_lived strikes, banned by all, n0–n2 untouched",
            "flapper",
            secs(10),
        ),
        hostile(
            "hostile-never-reads",
            "4 nodes; n3 handshakes with all, then never reads: dropped by ping timeout, n0–n2 untouched",
            "never-reads",
            secs(35),
        ),
    ]
}

/// n0–n2 know each other and run our default; n3 runs the hostile `model`
/// and nobody is configured with it, so only n0–n2 must connect (the
/// hostile model publishes no table and is skipped by the invariants).
/// Convergence, and from then on no churn, is checked at `converge`: for
/// the models that get banned or never finish a handshake that is early;
/// `never-reads` gets one connection per node, dropped by the ping timeout
/// (within `dead_peer_bound` = 20 s), so its check waits for that.
fn hostile(name: &str, summary: &str, model: &str, converge: Duration) -> Scenario {
    let honest = (0..3).flat_map(|a| (0..3).filter(move |&b| b != a).map(move |b| (a, b)));
    Scenario::new(name, summary, 4)
        .knows(Knows::Only(honest.collect()))
        .node_model(3, model)
        .duration(secs(60))
        .checks(|c| c.converge_within = converge)
}

/// Slowloris from three hosts (n3, n4, n5) against honest n0–n2 whose
/// global cap on handshakes in flight is cut to the number of hostile
/// hosts: each hostile IP holds at most one pending inbound handshake, and
/// together they can fill the cap.
fn slowloris_many() -> Scenario {
    let honest = (0..3).flat_map(|a| (0..3).filter(move |&b| b != a).map(move |b| (a, b)));
    Scenario::new(
        "hostile-slowloris-many",
        "6 nodes; n3, n4, n5 run slowloris against n0-n2, whose pending-handshake cap is 3: n0-n2 untouched",
        6,
    )
    .knows(Knows::Only(honest.collect()))
    .node_model(3, "slowloris")
    .node_model(4, "slowloris")
    .node_model(5, "slowloris")
    .config(|c| c.max_pending_handshakes = 3)
    .duration(secs(60))
    .checks(|c| c.converge_within = secs(10))
}

/// n0 and n1 know each other; n2 runs the hostile `garbage-after-hello`
/// model (valid handshake, then a frame of unknown type, every 2 s until
/// refused). Nobody is configured with n2, so only n0–n1 must connect; n2
/// must be struck and banned by both (3 strikes) without disturbing n0–n1.
/// Convergence is checked at 10 s, after the bans, when n2 has given up.
fn hostile_peer() -> Scenario {
    Scenario::new(
        "hostile-peer",
        "3 nodes; n2 completes handshakes then sends garbage every 2 s: banned by both, n0–n1 untouched",
        3,
    )
    .knows(Knows::Only(vec![(0, 1), (1, 0)]))
    .node_model(2, "garbage-after-hello")
    .duration(secs(30))
    .checks(|c| c.converge_within = secs(10))
}

/// Fast timers for short fault scenarios: detection in 4 s, backoff to 4 s.
fn fast(c: &mut peerlink::Config) {
    c.ping_interval = Duration::from_secs(1);
    c.pong_timeout = Duration::from_secs(1);
    c.handshake_timeout = Duration::from_secs(2);
    c.connect_timeout = Duration::from_secs(2);
    c.redial_backoff_min = Duration::from_millis(500);
    c.redial_backoff_max = Duration::from_secs(4);
    // Faster backoff lets an honest peer flap more often: keep the flap
    // threshold above what these timers allow, by the same rule.
    c.flap_threshold = c.honest_flap_bound() + 1;
}

/// A short random-fault scenario, cheap enough for 1000-seed sweeps.
fn flaky_links() -> Scenario {
    Scenario::new(
        "flaky-links",
        "3 nodes, fast timers; 4 fault episodes of every kind drawn from the seed in [1 s, 8 s)",
        3,
    )
    .config(fast)
    .duration(secs(20))
    .faults(FaultPlan::Random {
        episodes: 4,
        kinds: vec![
            FaultKind::Partition,
            FaultKind::HalfOpen,
            FaultKind::Hold,
            FaultKind::Latency,
            FaultKind::CrashRestart,
        ],
        from: secs(1),
        until: secs(8),
        max_len: secs(3),
    })
}

/// `net-<nodes>`: each node configured with 8 peers drawn from the seed,
/// production timers (`Config::default()`), staggered over 30 s; churn
/// (power losses and process crashes, each restarted with a new node id)
/// and partitions drawn from the seed until 10 minutes before the end;
/// invariants every simulated second.
fn net(nodes: usize, episodes: usize, duration: Duration) -> Scenario {
    let quiet = secs(600);
    Scenario::new(
        &format!("net-{nodes}"),
        &format!(
            "{nodes} nodes, 8 peers each drawn from the seed, default timers; {episodes} crash, kill and partition episodes, then {}s quiet",
            quiet.as_secs()
        ),
        nodes,
    )
    .config(|c| *c = peerlink::Config::default())
    .knows(Knows::Random { peers: 8 })
    .start(Start::Staggered(secs(30)))
    .duration(duration)
    .faults(FaultPlan::Random {
        episodes,
        kinds: vec![FaultKind::CrashRestart, FaultKind::KillRestart, FaultKind::Partition],
        from: secs(60),
        until: duration - quiet,
        max_len: secs(120),
    })
    .checks(|c| c.check_every = secs(1))
}

/// The large networks, run on the event backend (on turmoil a single seed
/// of `net-100` takes many minutes): not in [`all_scenarios`], found by name.
pub fn large_scenarios() -> Vec<Scenario> {
    vec![net(100, 20, secs(900)), net(1000, 200, secs(3600))]
}

/// Every scenario: the core ones, then the bug catalog's.
pub fn all_scenarios() -> Vec<Scenario> {
    let mut all = core_scenarios();
    all.extend(crate::catalog::bug_scenarios());
    all
}

/// The scenario called `name`.
pub fn scenario_by_name(name: &str) -> Option<Scenario> {
    all_scenarios()
        .into_iter()
        .chain(large_scenarios())
        .find(|s| s.name == name)
}
