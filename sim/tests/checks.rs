//! The simulator's socket-level checks fire: each runs a `check-*` model,
//! the sound legacy node with one fault planted (`sim/src/legacy/plants.rs`),
//! and asserts the exact invariant and the check that caught it. The same
//! run under `legacy-sound` passes, so the planted fault alone is caught.

use peerlink_sim::invariants::Violation;
use peerlink_sim::runner::{run, RunOptions};
use peerlink_sim::scenarios::scenario_by_name;

/// Runs `scenario` on seed 0 under `model`; returns its violation.
fn violation(scenario: &str, model: &str) -> Option<Violation> {
    let scenario = scenario_by_name(scenario).unwrap();
    let options = RunOptions {
        model: Some(model.to_string()),
        ..RunOptions::default()
    };
    run(&scenario, 0, &options).unwrap().violation
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
