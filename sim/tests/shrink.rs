//! Shrinking end to end: the catalog's zombie-slot design on random-faults
//! seed 0 breaks `table-matches-sockets`; `peerlink-sim shrink` reduces that
//! run to one crash of one node in a 2-node scenario, writes it as a file
//! (the committed `sim/scenarios/repro-zombie-slots.toml`, byte for byte),
//! and the written file breaks the same invariant when run.

use std::process::Command;
use std::time::Duration;

use peerlink_sim::faults::{Fault, FaultPlan, TimedFault};
use peerlink_sim::file::load;
use peerlink_sim::runner::{run, RunOptions};
use peerlink_sim::scenarios::scenario_by_name;
use peerlink_sim::shrink::materialise;

fn zombie() -> RunOptions {
    RunOptions {
        model: Some("legacy-zombie-slots".into()),
        ..RunOptions::default()
    }
}

/// The starting point fails as the issue says, and writing its seeded
/// faults out as explicit ones (6 episodes, 12 faults) changes nothing.
#[test]
fn random_faults_seed_0_fails_table_matches_sockets() {
    let scenario = scenario_by_name("random-faults").unwrap();
    let original = run(&scenario, 0, &zombie()).unwrap();
    let violation = original.violation.clone().unwrap();
    assert_eq!(violation.invariant, "table-matches-sockets");
    assert_eq!(violation.at, Duration::from_millis(50_050));
    let explicit = materialise(&scenario, 0);
    let FaultPlan::Fixed(faults) = &explicit.faults else {
        panic!("{:?}", explicit.faults)
    };
    assert_eq!(faults.len(), 12);
    let again = run(&explicit, 0, &zombie()).unwrap();
    assert_eq!(again.trace_hash, original.trace_hash);
}

/// `shrink` reaches exactly one crash and restart of n1 among 2 nodes, and
/// says so; the file it writes is the committed reproduction and fails.
#[test]
fn shrink_reduces_random_faults_to_one_crash() {
    let dir = std::env::temp_dir().join(format!("peerlink-shrink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out_path = dir.join("min.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_peerlink-sim"))
        .args(["shrink", "random-faults", "--seed", "0"])
        .args(["--policy", "legacy-zombie-slots", "--out"])
        .arg(&out_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let expected = format!(
        "still fails: invariant table-matches-sockets broken at 15.050s on n0: row 192.168.0.2 connected without a connection\n\
         reduced: 6 fault episodes → 1, 5 nodes → 2, 60 s → 1 s (simulated until the violation: 50.050 s → 15.050 s), 53 runs\n\
         wrote {p}\n\
         replay: peerlink-sim replay --file {p} --trace\n",
        p = out_path.display()
    );
    assert_eq!(stdout, expected);

    let written = std::fs::read_to_string(&out_path).unwrap();
    let committed = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/repro-zombie-slots.toml"
    );
    assert_eq!(written, std::fs::read_to_string(committed).unwrap());

    let (scenario, seed) = load(&out_path).unwrap();
    assert_eq!(seed, Some(0));
    assert_eq!(
        (scenario.nodes, scenario.model.as_str()),
        (2, "legacy-zombie-slots")
    );
    let ms = Duration::from_millis;
    let faults = vec![
        TimedFault {
            at: ms(7),
            fault: Fault::Crash(1),
        },
        TimedFault {
            at: ms(75),
            fault: Fault::Restart(1),
        },
    ];
    assert_eq!(scenario.faults, FaultPlan::Fixed(faults));
    let report = run(&scenario, 0, &RunOptions::default()).unwrap();
    let violation = report.violation.unwrap();
    assert_eq!(violation.invariant, "table-matches-sockets");
    assert_eq!(violation.at, ms(15_050));
}

/// A run that passes has nothing to shrink: a one-line message, exit 2, and
/// no file written.
#[test]
fn shrinking_a_passing_run_exits_2() {
    let out_path = std::env::temp_dir().join(format!("peerlink-pass-{}.toml", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_peerlink-sim"))
        .args(["shrink", "simultaneous-dial", "--seed", "0", "--out"])
        .arg(&out_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "peerlink-sim: simultaneous-dial seed 0 passes every invariant under node-id: nothing to shrink\n"
    );
    assert!(!out_path.exists());
}
