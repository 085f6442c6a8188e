//! The simulator end to end: scenarios pass on our default, comparison
//! policies break the exact invariant they should, and a seed replays
//! identically in-process, in a second process and on any number of sweep
//! threads.

use std::collections::BTreeMap;
use std::process::Command;

use peerlink_sim::runner::{run, RunOptions};
use peerlink_sim::scenarios::{core_scenarios, scenario_by_name};
use serde_json::{json, Value};

fn options(model: Option<&str>) -> RunOptions {
    RunOptions {
        model: model.map(str::to_string),
        ..RunOptions::default()
    }
}

/// Every core scenario passes every invariant on our default policy (two
/// seeds each here; CI sweeps more in release mode).
#[test]
fn core_scenarios_pass_on_default() {
    for scenario in core_scenarios() {
        for seed in [1, 2] {
            let report = run(&scenario, seed, &options(None)).unwrap();
            assert_eq!(report.violation, None, "{} seed {seed}", scenario.name);
            assert!(
                report.events > 0,
                "{} seed {seed}: empty trace",
                scenario.name
            );
        }
    }
}

/// Each comparison policy breaks exactly the invariant it is known to break,
/// on a fixed seed, every time.
#[test]
fn comparison_policies_break_their_invariants() {
    let cases = [
        (
            "simultaneous-dial",
            "keep-both",
            0,
            "one-connection-per-pair",
        ),
        ("simultaneous-dial", "reject-inbound", 14, "converges"),
        ("simultaneous-dial", "keep-oldest", 9, "converges"),
        ("simultaneous-dial", "keep-newest", 0, "converges"),
        ("one-side-knows", "higher-ip-dials", 0, "converges"),
    ];
    for (name, policy, seed, invariant) in cases {
        let scenario = scenario_by_name(name).unwrap();
        let report = run(&scenario, seed, &options(Some(policy))).unwrap();
        let broke = report.violation.map(|v| v.invariant);
        assert_eq!(broke, Some(invariant), "{name} under {policy}, seed {seed}");
    }
}

/// The same seed gives the same trace, line for line, twice in one process.
#[test]
fn replay_is_identical_in_process() {
    let scenario = scenario_by_name("random-faults").unwrap();
    let keep = RunOptions {
        keep_trace: true,
        ..RunOptions::default()
    };
    let a = run(&scenario, 7, &keep).unwrap();
    let b = run(&scenario, 7, &keep).unwrap();
    assert!(
        a.trace.iter().any(|r| r.kind.starts_with("fault ")),
        "faults are traced"
    );
    assert_eq!(a.trace, b.trace);
    assert_eq!(a.trace_hash, b.trace_hash);
    let other = run(&scenario, 8, &keep).unwrap();
    assert_ne!(
        a.trace_hash, other.trace_hash,
        "different seeds, different runs"
    );
}

fn sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_peerlink-sim"))
        .args(args)
        .output()
        .expect("peerlink-sim runs")
}

/// `replay` prints byte-identical output in two separate processes, and the
/// hash it prints is the in-process run's hash.
#[test]
fn replay_is_identical_across_processes() {
    let args = ["replay", "crash-restart", "--seed", "3", "--trace"];
    let (a, b) = (sim(&args), sim(&args));
    assert_eq!(a.status.code(), Some(0));
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout);
    let scenario = scenario_by_name("crash-restart").unwrap();
    let report = run(&scenario, 3, &options(None)).unwrap();
    let text = String::from_utf8(a.stdout).unwrap();
    assert!(text.contains(&format!("trace_sha256={}", report.trace_hash)));
}

/// A reader that stops after the first line (`replay ... | head -n 1`)
/// ends the simulator by SIGPIPE, quietly: nothing on stderr, no panic.
/// Before, `println!` panicked with "failed printing to stdout".
#[cfg(unix)]
#[test]
fn a_closed_stdout_pipe_ends_replay_quietly() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_peerlink-sim"))
        // 632,818 bytes of trace: far more than the pipe's buffer and the
        // reader's one read hold, so a write after the close is certain.
        .args([
            "replay",
            "net-100",
            "--backend",
            "event",
            "--seed",
            "0",
            "--trace",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("peerlink-sim starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("one line");
    assert!(!first.is_empty());
    // The reader is dropped here: the pipe's read end is closed.
    let out = child.wait_with_output().expect("peerlink-sim ends");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// `run --json` gives each seed's trace hash under its seed, the same with
/// one sweep thread and with two, and equal to a run of that seed alone.
#[test]
fn trace_hashes_do_not_depend_on_jobs() {
    let sweep = |jobs| {
        let out = sim(&[
            "run",
            "random-faults",
            "--seeds",
            "3..5",
            "--jobs",
            jobs,
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(0), "--jobs {jobs}");
        serde_json::from_slice::<Value>(&out.stdout).expect("one JSON object")
    };
    let (one, two) = (sweep("1"), sweep("2"));
    let scenario = scenario_by_name("random-faults").unwrap();
    let alone: BTreeMap<String, String> = (3..5)
        .map(|seed| {
            let report = run(&scenario, seed, &options(None)).unwrap();
            (seed.to_string(), report.trace_hash)
        })
        .collect();
    assert_eq!(one["trace_hashes"], json!(alone));
    assert_eq!(two["trace_hashes"], json!(alone));
    assert_eq!(one["distinct_trace_hashes"], json!(2));
    assert_eq!(one["failed"], json!([]));
}

/// Bad arguments get a one-line message and exit code 2, never a panic.
#[test]
fn bad_arguments_exit_2() {
    let cases: [(&[&str], &str); 5] = [
        (&["run", "no-such-scenario"], "unknown scenario"),
        (&["run", "mesh-3", "--seeds", "9..3"], "bad seed range"),
        (&["run", "mesh-3", "--seeds", "0"], "bad seed range"),
        (&["run", "mesh-3", "--policy", "bogus"], "unknown policy"),
        (&["replay", "mesh-3"], "--seed"),
    ];
    for (args, message) in cases {
        let out = sim(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// `list` names every required scenario; `run` exits 1 on a violation and
/// reports the replay command.
#[test]
fn list_and_failing_run() {
    let out = sim(&["list"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for name in [
        "simultaneous-dial",
        "mesh-8",
        "partition-heal",
        "crash-restart",
        "half-open",
    ] {
        assert!(text.contains(name), "list lacks {name}");
    }
    let out = sim(&[
        "run",
        "simultaneous-dial",
        "--seeds",
        "1",
        "--policy",
        "keep-both",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("one-connection-per-pair"), "{err}");
    assert!(
        err.contains("peerlink-sim replay simultaneous-dial --seed 0 --policy keep-both"),
        "{err}"
    );
}
