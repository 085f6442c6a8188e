//! The hostile-peer scenarios: each passes every invariant on our default
//! policy over a few seeds, and the defence it targets shows in the trace.

use peerlink_sim::runner::{run, RunOptions, RunReport};
use std::time::Duration;

use peerlink_sim::scenarios::{core_scenarios, scenario_by_name};

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

/// Under every hostile scenario, at one second before its end, each honest
/// node has an RTT measured to every other honest node, and it is
/// within what the links allow: twice the scenario's maximal one-way latency
/// plus one simulation tick each way. A hostile node (which publishes no
/// table) slows no honest link.
#[test]
fn honest_rtts_hold_under_every_hostile_scenario() {
    let hostile: Vec<_> = core_scenarios()
        .into_iter()
        .filter(|s| s.name.starts_with("hostile"))
        .collect();
    assert_eq!(hostile.len(), 10, "every hostile scenario");
    for scenario in hostile {
        // The hostile nodes are the last ones; the others are honest.
        let honest = scenario.nodes - scenario.per_node_models.len();
        let honest_ips: Vec<String> = (1..=honest).map(|i| format!("192.168.0.{i}")).collect();
        let at = scenario.duration - Duration::from_secs(1);
        let bound = 2 * (scenario.latency.1 + scenario.tick);
        for seed in SEEDS {
            let options = RunOptions {
                checkpoints: vec![("late".into(), at)],
                ..RunOptions::default()
            };
            let report = run(&scenario, seed, &options).unwrap();
            assert_eq!(report.violation, None, "{} seed {seed}", scenario.name);
            let [checkpoint] = report.checkpoints.as_slice() else {
                panic!("{}: one checkpoint", scenario.name)
            };
            for (host, view) in checkpoint.nodes.iter().take(honest) {
                let view = view.as_ref().expect("honest nodes stay up");
                let rows = view.peers.iter().filter(|p| honest_ips.contains(&p.key));
                let rtts: Vec<Duration> = rows.filter_map(|p| p.rtt).collect();
                let name = &scenario.name;
                assert_eq!(
                    rtts.len(),
                    honest - 1,
                    "{name} seed {seed} {host}: {rtts:?}"
                );
                for rtt in rtts {
                    assert!(
                        rtt <= bound,
                        "{name} seed {seed} {host}: RTT {rtt:?} over {bound:?}"
                    );
                }
            }
        }
    }
}

/// Impersonation: n3 announces n0's node id to n1 and n2. Identity is the
/// IP, so each files the connection under n3's IP (192.168.0.4) and
/// accepts it there, every round (7 in all), and n0's own row on n1 and n2 is never
/// touched: no honest row ever disconnects. n0 itself sees n3 only once,
/// when n3 learns its id.
#[test]
fn impersonation_is_filed_under_the_impostors_ip() {
    for seed in SEEDS {
        let scenario = scenario_by_name("hostile-impersonation").unwrap();
        let options = RunOptions {
            keep_trace: true,
            checkpoints: vec![("late".into(), scenario.duration - Duration::from_secs(1))],
            ..RunOptions::default()
        };
        let r = run(&scenario, seed, &options).unwrap();
        assert_eq!(r.violation, None, "seed {seed}");
        let established = |n: &str| count(&r, &[&format!(" {n} established "), HOSTILE_IP]);
        assert_eq!(established("n0"), 1, "seed {seed}: n0 only taught its id");
        // A round holds one connection to n1, then one to n2, each for the
        // handshake timeout (3 s), then waits 2 s: 8 s a round, so 7 rounds
        // start within the 50 s of attack.
        for n in ["n1", "n2"] {
            assert_eq!(established(n), 7, "seed {seed} {n}");
        }
        let honest_ips = ["192.168.0.1", "192.168.0.2", "192.168.0.3"];
        for (host, view) in r.checkpoints[0].nodes.iter().take(HONEST) {
            let view = view.as_ref().expect("honest nodes stay up");
            let honest_rows = view
                .peers
                .iter()
                .filter(|p| honest_ips.contains(&p.key.as_str()));
            let disconnects: Vec<u64> = honest_rows.map(|p| p.disconnects).collect();
            assert_eq!(disconnects, [0, 0], "seed {seed} {host}");
        }
    }
}

/// Slowloris from three hosts against a pending-handshake cap of 3: every
/// honest node refuses each hostile IP's extra handshakes with
/// `too_many_pending`; the full inbound cap turns an honest inbound
/// handshake away only when one arrives while it is full (once, on seed 2;
/// its dialler hears `too_many_pending` and redials), and the honest mesh
/// converges and never churns: the cap is on inbound handshakes only, and
/// the honest nodes' own dials are never held by it.
#[test]
fn slowloris_from_many_hosts_meets_the_global_cap() {
    for seed in SEEDS {
        let r = run_kept("hostile-slowloris-many", seed);
        for n in ["n0", "n1", "n2"] {
            let node = format!(" {n} inbound refused ");
            for hostile in ["192.168.0.4", "192.168.0.5", "192.168.0.6"] {
                let refused = count(&r, &[&node, hostile, "reason=too_many_pending"]);
                assert!(
                    refused >= 5,
                    "seed {seed} {n} {hostile}: {refused} refusals"
                );
            }
        }
        let heard = count(&r, &["peer rejected the handshake: too_many_pending"]);
        let honest_refused: usize = ["192.168.0.1", "192.168.0.2", "192.168.0.3"]
            .iter()
            .map(|ip| {
                let peer = format!("peer={ip} ");
                count(&r, &[" inbound refused ", &peer, "too_many_pending"])
            })
            .sum();
        // Seed 2 starts an honest dial while the inbound cap is full.
        let expected = if seed == 2 { 1 } else { 0 };
        assert_eq!((heard, honest_refused), (expected, expected), "seed {seed}");
    }
}
