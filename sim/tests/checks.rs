//! The simulator's socket-level checks, and `link-liveness`, fire: each
//! runs a `check-*` model,
//! the sound legacy node with one fault planted (`sim/src/legacy/plants.rs`),
//! and asserts the exact invariant and the check that caught it. The same
//! run under `legacy-sound` passes, so the planted fault alone is caught.

use std::time::Duration;

use peerlink_sim::invariants::Violation;
use peerlink_sim::runner::{run, Backend, RunOptions};
use peerlink_sim::scenarios::scenario_by_name;

/// Runs `scenario` on seed 0 under `model` on `backend`; returns its
/// violation.
fn violation_on(scenario: &str, model: &str, backend: Backend) -> Option<Violation> {
    let scenario = scenario_by_name(scenario).unwrap();
    let options = RunOptions {
        model: Some(model.to_string()),
        backend,
        ..RunOptions::default()
    };
    run(&scenario, 0, &options).unwrap().violation
}

/// [`violation_on`] turmoil.
fn violation(scenario: &str, model: &str) -> Option<Violation> {
    violation_on(scenario, model, Backend::Turmoil)
}

/// Asserts that `scenario` under `model` breaks `invariant` on n0 with
/// exactly `detail`.
fn assert_caught(scenario: &str, model: &str, invariant: &str, detail: &str) {
    let v = violation(scenario, model).expect("caught");
    assert_eq!(
        (v.invariant, v.nodes.as_slice(), v.detail.as_str()),
        (invariant, ["n0".to_string()].as_slice(), detail),
        "{scenario} under {model}"
    );
}

/// `bug-10` supersedes one connection of every pair at about 15 ms: each
/// planted fault there has a closed connection to show up on.
const CLOSING: &str = "bug-10";

/// The control, `legacy-sound`, passes the runs the plants fail.
#[test]
fn the_control_passes_the_runs_the_plants_fail() {
    assert_eq!(violation(CLOSING, "legacy-sound"), None);
    assert_eq!(violation("mesh-3", "legacy-sound"), None);
}

/// A table that keeps a closed connection: the checkpoint check sees it
/// holding more connections than the transport has sockets open.
#[test]
fn a_table_keeping_a_closed_connection_is_caught() {
    assert_caught(
        CLOSING,
        "check-keeps-closed",
        "table-matches-sockets",
        "table holds 4 connections but only 2 sockets are open",
    );
}

/// A stream leaked past the table: the table let the connection go, its
/// socket stays open; the end-of-run exact check counts one socket more
/// than the table holds.
#[test]
fn a_stream_leaked_past_the_table_is_caught() {
    assert_caught(
        CLOSING,
        "check-leaks-stream",
        "table-matches-sockets",
        "table holds 2 connections and 0 handshakes, transport has 4 sockets open",
    );
}

/// A stream leaked inside the transport: turmoil holds a stream the
/// transport's tally never counted; the end-of-run check against turmoil's
/// own count sees one too many.
#[test]
fn a_stream_leaked_inside_the_transport_is_caught() {
    assert_caught(
        "mesh-3",
        "check-raw-stream",
        "table-matches-sockets",
        "turmoil counts Some(3) streams, expected 2 open + 0 failed connects + up to 0 abandoned by crashes",
    );
}

/// Counters out of step with the table: a close that is not counted.
#[test]
fn counters_out_of_step_with_the_table_are_caught() {
    assert_caught(
        CLOSING,
        "check-miscounts",
        "counters-match-table",
        "row 192.168.0.2: 2 established - 0 closed, but 1 connections held",
    );
}

/// A stream that a partition stalled for good (a lost segment stalls that
/// direction even after the heal), which neither end closes because missed
/// pongs never count: `link-liveness` fires on both backends once the
/// stall, first seen at the 10.050 s checkpoint, has lasted longer than
/// the scenario's dead-peer bound (20 s), while both ends still hold the
/// connection. Our default and `legacy-sound` close it on missed pongs and
/// pass the same runs.
#[test]
fn a_stalled_stream_nobody_closes_is_caught() {
    let cases = [
        (
            Backend::Turmoil,
            ["n0", "n1"],
            "stream 192.168.0.1:49152->192.168.0.2:7000 stalled for 20.050s (bound 20.000s) and both ends still hold it: n0 wrote 189 bytes, n1 read 84",
        ),
        (
            Backend::Event,
            ["n1", "n0"],
            "stream 192.168.0.2:7000->192.168.0.1:32770 stalled for 20.050s (bound 20.000s) and both ends still hold it: n1 wrote 189 bytes, n0 read 84",
        ),
    ];
    for (backend, nodes, detail) in cases {
        let v = violation_on("partition-heal", "check-ignores-silence", backend).expect("caught");
        assert_eq!(
            (v.invariant, v.at, v.nodes.as_slice(), v.detail.as_str()),
            (
                "link-liveness",
                Duration::from_millis(30_100),
                nodes.map(String::from).as_slice(),
                detail
            ),
            "on {backend}"
        );
        for control in ["legacy-sound", "node-id"] {
            assert_eq!(
                violation_on("partition-heal", control, backend),
                None,
                "{control} on {backend}"
            );
        }
    }
}
