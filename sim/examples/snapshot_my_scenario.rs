//! How a node project that embeds peerlink snapshots its own scenario: build
//! a `Scenario` (topology, config, faults), pick a seed and named instants,
//! and hand the `RunSnapshot` to insta in a test:
//!
//! ```text
//! insta::assert_yaml_snapshot!("my_star", snapshot(&my_star(), 7, &options())?);
//! ```
//!
//! This example prints the same structure as JSON; `cargo run -p
//! peerlink-sim --example snapshot_my_scenario`. `cargo test` builds it.

use std::time::Duration;

use peerlink_sim::faults::{Fault, FaultPlan, TimedFault};
use peerlink_sim::scenario::{Knows, Scenario};
use peerlink_sim::snapshot::{snapshot, SnapshotOptions, TraceDetail};

/// The node project's topology: three leaves configured with one seed node
/// (n0), fast timers, and leaf n3 cut off from the seed between 5 s and 15 s.
fn my_star() -> Scenario {
    let at = |s: u64, fault| TimedFault {
        at: Duration::from_secs(s),
        fault,
    };
    Scenario::new(
        "my-star",
        "3 leaves know one seed node; n3 loses it for 10 s",
        4,
    )
    .knows(Knows::Only(vec![(1, 0), (2, 0), (3, 0)]))
    .config(|c| {
        c.ping_interval = Duration::from_secs(1);
        c.pong_timeout = Duration::from_secs(1);
        c.redial_backoff_min = Duration::from_millis(500);
        c.redial_backoff_max = Duration::from_secs(4);
    })
    .faults(FaultPlan::Fixed(vec![
        at(5, Fault::Partition(0, 3)),
        at(15, Fault::Repair(0, 3)),
    ]))
    .duration(Duration::from_secs(30))
}

/// Named instants of simulated time, and only the trace from the fault on.
fn options() -> SnapshotOptions {
    SnapshotOptions::new()
        .at("formed", Duration::from_secs(2))
        .at("cut", Duration::from_secs(12))
        .at("healed", Duration::from_secs(30))
        .trace(TraceDetail::Since(Duration::from_secs(5)))
}

fn main() {
    let scenario = my_star();
    let snap = snapshot(&scenario, 7, &options()).expect("scenario starts");
    println!(
        "{}",
        serde_json::to_string_pretty(&snap).expect("serializable")
    );
    if let Some(violation) = &snap.violation {
        eprintln!("violation: {violation}");
        std::process::exit(1);
    }
}
