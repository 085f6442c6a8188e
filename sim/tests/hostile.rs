//! The hostile-peer scenarios: each passes every invariant on our default
//! policy over a few seeds, and the defence it targets shows in the trace.

use peerlink_sim::runner::{run, RunOptions, RunReport};
use peerlink_sim::scenarios::scenario_by_name;

const SEEDS: [u64; 3] = [1, 2, 3];

/// Runs `name` on `seed` with the trace kept; panics on a violation.
fn run_kept(name: &str, seed: u64) -> RunReport {
    let scenario = scenario_by_name(name).unwrap_or_else(|| panic!("no scenario {name}"));
    let options = RunOptions {
        keep_trace: true,
        ..RunOptions::default()
    };
    let report = run(&scenario, seed, &options).unwrap();
    assert_eq!(report.violation, None, "{name} seed {seed}");
    report
}

/// Trace lines containing every one of `needles`.
fn count(report: &RunReport, needles: &[&str]) -> usize {
    let hit = |l: &String| needles.iter().all(|n| l.contains(n));
    report
        .trace
        .iter()
        .map(ToString::to_string)
        .filter(hit)
        .count()
}

/// The hostile node in every scenario here.
const HOSTILE_IP: &str = "192.168.0.4";

/// Number of honest nodes the hostile one attacks.
const HONEST: usize = 3;

/// Slowloris: each honest node times out the half-hello handshakes and
/// refuses the extra concurrent ones from the same IP.
#[test]
fn slowloris_is_timed_out_and_refused() {
    for seed in SEEDS {
        let r = run_kept("hostile-slowloris", seed);
        for n in ["n0", "n1", "n2"] {
            let node = format!(" {n} ");
            let timeouts = count(&r, &[&node, HOSTILE_IP, "handshake did not finish in time"]);
            let refused = count(&r, &[&node, HOSTILE_IP, "reason=too_many_pending"]);
            assert!(
                timeouts >= 5,
                "seed {seed} {n}: {timeouts} handshake timeouts"
            );
            assert!(refused >= 5, "seed {seed} {n}: {refused} refusals");
        }
    }
}

/// Ping flood: cut off with `rate_limited`, then banned by every honest node.
#[test]
fn ping_flood_is_rate_limited_then_banned() {
    for seed in SEEDS {
        let r = run_kept("hostile-ping-flood", seed);
        assert!(count(&r, &["closed", HOSTILE_IP, "reason=rate_limited"]) >= 3 * HONEST);
        assert_eq!(count(&r, &[" banned ", HOSTILE_IP]), HONEST, "seed {seed}");
    }
}

/// Oversized length prefix: closed with `frame_too_large`, then banned by
/// every honest node.
#[test]
fn oversized_prefix_is_refused_then_banned() {
    for seed in SEEDS {
        let r = run_kept("hostile-oversized-frame", seed);
        assert!(count(&r, &["closed", HOSTILE_IP, "reason=frame_too_large"]) >= 3 * HONEST);
        assert_eq!(count(&r, &[" banned ", HOSTILE_IP]), HONEST, "seed {seed}");
    }
}

/// A Hello carrying the node's own id is refused with `self_connection`,
/// every time, by every honest node, and never accepted.
#[test]
fn own_node_id_is_refused() {
    for seed in SEEDS {
        let r = run_kept("hostile-own-node-id", seed);
        for n in ["n0", "n1", "n2"] {
            let node = format!(" {n} ");
            let refused = count(&r, &[&node, HOSTILE_IP, "self_connection"]);
            assert!(refused >= 20, "seed {seed} {n}: {refused} refusals");
        }
        assert_eq!(count(&r, &["hostile own node id accepted"]), 0);
    }
}

/// Connect/disconnect loop: thousands of aborted handshakes, and the honest
/// nodes stay untouched (no violation).
#[test]
fn connect_churn_is_absorbed() {
    for seed in SEEDS {
        let r = run_kept("hostile-connect-churn", seed);
        let failed = count(&r, &["inbound handshake failed", HOSTILE_IP]);
        assert!(failed >= 1000, "seed {seed}: {failed} aborted handshakes");
    }
}

/// A peer that never reads is dropped by the ping timeout (or as a slow
/// reader) on every honest node.
#[test]
fn never_reads_is_dropped() {
    for seed in SEEDS {
        let r = run_kept("hostile-never-reads", seed);
        let dropped = count(&r, &["closed", HOSTILE_IP, "reason=ping_timeout"])
            + count(&r, &["closed", HOSTILE_IP, "reason=slow_reader"]);
        assert_eq!(dropped, HONEST, "seed {seed}");
    }
}
