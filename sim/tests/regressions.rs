//! Committed regressions: each `sim/scenarios/repro-*.toml` (a run written
//! by `peerlink-sim shrink`, seed included) has an insta snapshot of its
//! connection states in `snapshots/regressions__<name>.snap`. A fix that
//! makes the run pass, or any change to how it fails, shows up as a diff;
//! `peerlink-sim snapshot --file F` prints the same YAML (docs/testing.md).

use std::path::PathBuf;
use std::time::Duration;

use peerlink_sim::file::load;
use peerlink_sim::snapshot::{snapshot, SnapshotOptions};

fn sim_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The zombie-slot design after one crash and restart of n1: n0 still shows
/// a connected row with no connection behind it, and the run fails
/// `table-matches-sockets` at 15.05 s, as it did when it was shrunk.
#[test]
fn zombie_slots_crash() {
    let (scenario, seed) = load(&sim_dir().join("scenarios/repro-zombie-slots.toml")).unwrap();
    let options = SnapshotOptions::new()
        .at("formed", Duration::from_millis(5))
        .at("restarted", Duration::from_secs(1))
        .at("end", Duration::from_secs(15));
    let snap = snapshot(
        &scenario,
        seed.expect("a shrunk file has its seed"),
        &options,
    )
    .unwrap();
    let violation = snap.violation.clone().unwrap();
    assert!(
        violation.starts_with("invariant table-matches-sockets broken at 15.050s"),
        "{violation}"
    );
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(sim_dir().join("../snapshots"));
    settings.set_omit_expression(true);
    settings.set_description("sim/scenarios/repro-zombie-slots.toml at its seed");
    settings.bind(|| insta::assert_yaml_snapshot!("zombie_slots_crash", snap));
}

/// Every `regressions__` snapshot belongs to a test above.
#[test]
fn no_unreferenced_regression_snapshots() {
    let mut found: Vec<String> = std::fs::read_dir(sim_dir().join("../snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("regressions__"))
        .collect();
    found.sort();
    assert_eq!(found, ["regressions__zombie_slots_crash.snap"]);
}
