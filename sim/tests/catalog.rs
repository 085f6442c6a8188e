//! The bug catalog holds: every naive design breaks exactly its invariant on
//! its named seed, every run; the legacy node with its flaws switched off
//! passes those same runs; and our default passes every catalog scenario on
//! a seed sweep (a short one here; `peerlink-sim catalog` sweeps 20 seeds in
//! release mode in CI).

use std::collections::BTreeSet;
use std::time::Duration;

use peerlink_sim::catalog::{bug_scenarios, entries};
use peerlink_sim::runner::{run, RunOptions};
use peerlink_sim::scenarios::scenario_by_name;

/// Seeds of our default's sweep per scenario in this test.
const OUR_SEEDS: u64 = 10;

fn options(model: Option<&str>) -> RunOptions {
    RunOptions {
        model: model.map(str::to_string),
        ..RunOptions::default()
    }
}

/// The catalog covers every connection bug of the origin list, one
/// `bug-<n>` scenario each, run by default under our node-id policy, and
/// names only invariants the checker has.
#[test]
fn catalog_covers_the_connection_bugs() {
    let bugs: Vec<u32> = entries().iter().map(|e| e.bug).collect();
    assert_eq!(bugs, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    let known = [
        "one-connection-per-pair",
        "one-row-per-ip",
        "one-dial-per-peer",
        "counters-match-table",
        "table-matches-sockets",
        "ends-agree",
        "converges",
        "no-churn",
        "sends-arrive",
    ];
    let scenarios: BTreeSet<String> = bug_scenarios().into_iter().map(|s| s.name).collect();
    for entry in entries() {
        assert_eq!(entry.scenario, format!("bug-{}", entry.bug));
        assert!(scenarios.contains(&entry.scenario), "{}", entry.scenario);
        let scenario = scenario_by_name(&entry.scenario).expect("registered with the others");
        assert_eq!(scenario.model, "node-id", "{}", entry.scenario);
        assert!(known.contains(&entry.invariant), "{}", entry.invariant);
    }
    assert_eq!(scenarios.len(), entries().len());
}

/// Each naive design breaks exactly the named invariant on its named seed,
/// and the same run twice gives the same trace, so the failure replays.
#[test]
fn naive_designs_break_their_invariant() {
    for entry in entries() {
        let scenario = scenario_by_name(&entry.scenario).unwrap();
        let first = run(&scenario, entry.naive_seed, &options(Some(entry.naive))).unwrap();
        let broke = first.violation.as_ref().map(|v| v.invariant);
        assert_eq!(
            broke,
            Some(entry.invariant),
            "bug #{} under {} on seed {}: {:?}",
            entry.bug,
            entry.naive,
            entry.naive_seed,
            first.violation
        );
        let again = run(&scenario, entry.naive_seed, &options(Some(entry.naive))).unwrap();
        assert_eq!(first.trace_hash, again.trace_hash, "bug #{}", entry.bug);
        assert_eq!(first.violation, again.violation, "bug #{}", entry.bug);
    }
}

/// The legacy node with every flaw switched off passes each legacy entry's
/// failing run: the flaw alone breaks the invariant, not the harness.
#[test]
fn legacy_control_passes_the_same_runs() {
    let legacy = entries()
        .into_iter()
        .filter(|e| e.naive.starts_with("legacy-"));
    for entry in legacy {
        let scenario = scenario_by_name(&entry.scenario).unwrap();
        let report = run(&scenario, entry.naive_seed, &options(Some("legacy-sound"))).unwrap();
        assert_eq!(report.violation, None, "bug #{}", entry.bug);
    }
}

/// Our default passes every catalog scenario on seeds `0..OUR_SEEDS`.
#[test]
fn our_default_passes_every_bug_scenario() {
    for scenario in bug_scenarios() {
        for seed in 0..OUR_SEEDS {
            let report = run(&scenario, seed, &options(None)).unwrap();
            assert_eq!(
                report.violation, None,
                "{} seed {seed} under node-id",
                scenario.name
            );
        }
    }
}

/// #2's naive run churns by real disconnects, not only by dials: at the
/// first blind round each refused duplicate drops the live session on both
/// ends (n0: 2 more dials, 2 disconnects).
#[test]
fn periodic_redial_drops_live_sessions() {
    let scenario = scenario_by_name("bug-2").unwrap();
    let naive = run(&scenario, 0, &options(Some("legacy-periodic-redial"))).unwrap();
    let v = naive
        .violation
        .expect("bug-2 breaks under its naive design");
    assert_eq!(v.invariant, "no-churn");
    assert_eq!(v.nodes, ["n0"]);
    assert_eq!(
        v.detail,
        "healthy mesh churned after convergence: (dials, disconnects) went from (2, 0) to (4, 2)"
    );
}

/// The send-path entries (#6, #7, #10) break `sends-arrive` at the exact
/// checkpoint where n1 has waited out the agreement bound for anything n0
/// sent over a connection both hold open.
#[test]
fn send_path_flaws_are_caught_by_real_sends() {
    for (scenario, naive) in [
        ("bug-6", "legacy-second-outbound"),
        ("bug-7", "legacy-send-stub"),
        ("bug-10", "legacy-cleanup-by-ip"),
    ] {
        let s = scenario_by_name(scenario).unwrap();
        let v = run(&s, 0, &options(Some(naive)))
            .unwrap()
            .violation
            .expect("the naive design breaks");
        assert_eq!(
            (v.invariant, v.at, v.nodes.as_slice(), v.detail.as_str()),
            (
                "sends-arrive",
                Duration::from_millis(27_100),
                ["n0".to_string(), "n1".to_string()].as_slice(),
                "n0 shows n1 connected, but n1 has received nothing from it for 27.050s (bound 27.000s; 0 received in all)"
            ),
            "{scenario} under {naive}"
        );
    }
}

/// #10's harm as the origin saw it: at 20 s n0 still holds n1 as
/// connected, on a connection whose socket is open and which n1 holds too,
/// and has dialled it once; n1 has received none of n0's twenty rounds.
/// Our default and the control, on the same run, have delivered all twenty.
#[test]
fn stale_cleanup_leaves_a_connected_peer_that_receives_nothing() {
    let scenario = scenario_by_name("bug-10").unwrap();
    let at_20s = |model: &str| {
        let options = RunOptions {
            checkpoints: vec![("20s".into(), Duration::from_millis(20_500))],
            ..options(Some(model))
        };
        let report = run(&scenario, 0, &options).unwrap();
        let nodes = &report.checkpoints[0].nodes;
        let row = |host: usize, peer: &str| {
            let view = nodes[host].1.as_ref().unwrap();
            let row = view.peers.iter().find(|r| r.key == peer).unwrap();
            (row.connected, row.active.clone(), row.dials, row.received)
        };
        let (n0_connected, n0_conn, n0_dials, _) = row(0, "192.168.0.2");
        let (_, n1_conn, _, n1_received) = row(1, "192.168.0.1");
        let same = n0_conn
            .zip(n1_conn)
            .is_some_and(|(a, b)| a.local_addr == b.remote_addr && a.remote_addr == b.local_addr);
        (n0_connected, same, n0_dials, n1_received)
    };
    assert_eq!(at_20s("legacy-cleanup-by-ip"), (true, true, 1, Some(0)));
    assert_eq!(at_20s("legacy-sound"), (true, true, 1, Some(20)));
    assert_eq!(at_20s("node-id"), (true, true, 1, Some(20)));
}
