//! The model checker (`peerlink_sim::check`): the default policy passes on
//! 2 and 3 nodes, every comparison policy yields a shortest counterexample
//! to exactly the property it is known to break (so the checker cannot
//! pass vacuously), stateright's own checker explores the same states, and
//! the CLI prints and exits as documented. Depths are bounded here to keep
//! the debug build fast; CI runs the unbounded release checks.

use std::process::Command;

use peerlink_core::policy::TieBreakPolicy;
use peerlink_sim::check::props::{CONVERGES, ONE_CONNECTION};
use peerlink_sim::check::step::{IdOrder, Step};
use peerlink_sim::check::{check, Checked, Options};
use stateright::{Checker, Model};

fn options(nodes: usize, policy: TieBreakPolicy, faults: u8, depth: Option<usize>) -> Options {
    Options {
        nodes,
        policy,
        faults,
        depth,
        recovery: None,
    }
}

/// The default policy holds every property on 2 nodes without faults
/// (the whole space) and with one fault (to depth 30).
#[test]
fn default_policy_passes_on_two_nodes() {
    let full = check(&options(2, TieBreakPolicy::NodeId, 0, None));
    assert_eq!(full.violated(), Vec::<&str>::new());
    assert!(
        !full.cut,
        "the fault-free space is finite and explored whole"
    );
    let faulty = check(&options(2, TieBreakPolicy::NodeId, 1, Some(30)));
    assert_eq!(faulty.violated(), Vec::<&str>::new());
    assert!(faulty.states > full.states);
}

/// The default policy holds every property on 3 nodes (to depth 12 here;
/// CI's release step explores the whole fault-free space).
#[test]
fn default_policy_passes_on_three_nodes() {
    let outcome = check(&options(3, TieBreakPolicy::NodeId, 0, Some(12)));
    assert_eq!(outcome.violated(), Vec::<&str>::new());
    assert!(outcome.cut);
}

/// Each comparison policy's first broken property (the search stops at
/// the first) is the one it is known to break, with a shortest
/// counterexample of exactly this many steps.
#[test]
fn comparison_policies_each_yield_a_counterexample() {
    let cases = [
        (TieBreakPolicy::KeepBoth, 2, ONE_CONNECTION, 9),
        (TieBreakPolicy::KeepOldest, 2, CONVERGES, 19),
        (TieBreakPolicy::KeepNewest, 2, CONVERGES, 19),
        (TieBreakPolicy::RejectInbound, 2, CONVERGES, 9),
        (TieBreakPolicy::HigherIpDials, 3, CONVERGES, 26),
    ];
    for (policy, nodes, property, steps) in cases {
        let outcome = check(&options(nodes, policy, 0, None));
        assert_eq!(outcome.violated(), vec![property], "{}", policy.name());
        let path = outcome.results.iter().find_map(|(_, p)| p.clone());
        assert_eq!(path.map(|p| p.len()), Some(steps), "{}", policy.name());
    }
}

/// The fault steps are reached: with a recovery window too short for a
/// crash, the default policy misses the deadline after a crash and a
/// restart (the shortest such path: a stale incarnation's handshake
/// replaces the restarted peer's connection, see docs/testing.md).
#[test]
fn a_too_short_recovery_window_is_caught_after_a_crash() {
    let mut short = options(2, TieBreakPolicy::NodeId, 1, None);
    short.recovery = Some(std::time::Duration::from_secs(3));
    let outcome = check(&short);
    assert_eq!(outcome.violated(), vec![CONVERGES]);
    let path = outcome.results.iter().find_map(|(_, p)| p.clone()).unwrap();
    assert_eq!(path.len(), 18);
    assert!(path.contains(&Step::Crash(1)), "{path:?}");
    assert!(
        path.contains(&Step::Restart(1, IdOrder::Higher)),
        "{path:?}"
    );
}

/// stateright's own breadth-first checker, run on the same `Model`,
/// reaches exactly the states our explorer reaches, and finds the
/// keep-both violation too.
#[test]
fn stateright_checker_agrees() {
    let ours = check(&options(2, TieBreakPolicy::NodeId, 0, None));
    let model = Checked::new(&options(2, TieBreakPolicy::NodeId, 0, None));
    let theirs = model.checker().threads(1).spawn_bfs().join();
    assert_eq!(theirs.unique_state_count(), ours.states);
    assert!(theirs.discovery(ONE_CONNECTION).is_none());
    let model = Checked::new(&options(2, TieBreakPolicy::KeepBoth, 0, None));
    let theirs = model.checker().threads(1).spawn_bfs().join();
    assert!(theirs.discovery(ONE_CONNECTION).is_some());
}

/// `peerlink-sim model-check` prints the state count and each verdict and
/// exits 0 when every property holds; on a counterexample it prints it
/// step by step and exits 1; bad arguments exit 2.
#[test]
fn cli_reports_and_exits() {
    let sim = env!("CARGO_BIN_EXE_peerlink-sim");
    let run = |args: &[&str]| {
        let out = Command::new(sim)
            .arg("model-check")
            .args(args)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    let (code, text) = run(&["--nodes", "2", "--faults", "0"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(" states, depth "), "{text}");
    assert!(text.contains("converges-once-faults-stop: holds"), "{text}");
    let (code, text) = run(&["--nodes", "2", "--faults", "0", "--policy", "keep-both"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("counterexample to one-active-connection-per-peer, 9 steps:"),
        "{text}"
    );
    assert!(
        text.contains("    9. t=  0.000s  n0's manager takes c2 (established)"),
        "{text}"
    );
    assert_eq!(run(&["--nodes", "4"]).0, Some(2));
    assert_eq!(run(&["--policy", "nope"]).0, Some(2));
}
