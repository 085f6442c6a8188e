//! Scenario files: every built-in scenario exported and read back runs
//! identically (same trace SHA-256), a bad file gets its line and column
//! and exit code 2, the example files in `sim/scenarios/` pass, and
//! `peerlink-sim snapshot` prints exactly what the snapshot tests store.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use peerlink_sim::faults::FaultPlan;
use peerlink_sim::file::{load, parse, to_toml, FileError};
use peerlink_sim::runner::{run, RunOptions};
use peerlink_sim::scenarios::all_scenarios;

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_peerlink-sim"))
        .args(args)
        .output()
        .expect("peerlink-sim runs")
}

fn sim_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file in a fresh temporary folder for this test.
fn temp_file(test: &str, name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("peerlink-files-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Every built-in scenario survives export and parse field for field, and
/// its file runs with the same trace hash as the built-in: on seed 0, and
/// on seeds 1 and 2 as well where the seed draws faults or start times.
#[test]
fn exported_scenarios_run_identically() {
    let all = all_scenarios();
    assert!(all.len() >= 27, "{} built-in scenarios", all.len());
    for builtin in all {
        let text = to_toml(&builtin, None).unwrap();
        let (parsed, seed) = parse(&text, &builtin.name).unwrap();
        assert_eq!(seed, None);
        assert_eq!(format!("{parsed:?}"), format!("{builtin:?}"), "{text}");
        let seeded = matches!(builtin.faults, FaultPlan::Random { .. })
            || !matches!(builtin.start, peerlink_sim::scenario::Start::Together);
        let seeds: &[u64] = if seeded { &[0, 1, 2] } else { &[0] };
        for &seed in seeds {
            let a = run(&builtin, seed, &RunOptions::default()).unwrap();
            let b = run(&parsed, seed, &RunOptions::default()).unwrap();
            assert_eq!(a.trace_hash, b.trace_hash, "{} seed {seed}", builtin.name);
            assert_eq!(a.violation, b.violation, "{} seed {seed}", builtin.name);
        }
    }
}

/// `export NAME` prints the file `to_toml` writes, and `replay --file` on it
/// prints the built-in's trace hash.
#[test]
fn export_command_and_replay_file() {
    let out = sim(&["export", "crash-restart"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let builtin = peerlink_sim::scenarios::scenario_by_name("crash-restart").unwrap();
    assert_eq!(text, to_toml(&builtin, None).unwrap());
    let path = temp_file("export", "crash-restart.toml", &text);
    let path = path.to_str().unwrap();
    let by_file = sim(&["replay", "--file", path, "--seed", "3"]);
    let by_name = sim(&["replay", "crash-restart", "--seed", "3"]);
    assert_eq!(by_file.status.code(), Some(0));
    assert_eq!(by_file.stdout, by_name.stdout);
}

/// The error for `text`, which must not parse.
fn invalid(text: &str) -> (usize, usize, String) {
    match parse(text, "t.toml") {
        Err(FileError::Invalid {
            line,
            column,
            message,
            ..
        }) => (line, column, message),
        other => panic!("expected an invalid file, got {other:?}"),
    }
}

const HEAD: &str = "name = \"t\"\nnodes = 3\nduration = \"10s\"\n";

/// A syntax error, an unknown key and a fault on a missing node are each
/// reported at their line and column.
#[test]
fn bad_files_are_located() {
    let (line, column, message) = invalid("name = \"t\"\nnodes = 3\nduration = \"10s\n");
    assert_eq!((line, column), (3, 16), "{message}");
    assert_eq!(message, "invalid basic string");

    let (line, column, message) = invalid(&format!("{HEAD}colour = \"blue\"\n"));
    assert_eq!((line, column), (4, 1));
    assert!(
        message.starts_with("unknown field `colour`, expected one of `name`"),
        "{message}"
    );

    let fault = "\n[[fault]]\nat = \"1s\"\nkind = \"crash\"\nnodes = [9]\n";
    let (line, column, message) = invalid(&format!("{HEAD}{fault}"));
    assert_eq!((line, column), (5, 1));
    assert_eq!(
        message,
        "fault: node 9 does not exist (the scenario has 3 nodes, n0 to n2)"
    );

    let (line, _, message) = invalid(&format!(
        "{HEAD}[[fault]]\nat = \"1s\"\nkind = \"hold\"\nnodes = [1]\n"
    ));
    assert_eq!(line, 4);
    assert_eq!(message, "fault \"hold\": needs 2 node(s) in `nodes`, got 1");

    let (line, column, message) = invalid("name = \"t\"\nnodes = 3\nduration = \"ten\"\n");
    assert_eq!((line, column), (3, 12));
    assert_eq!(
        message,
        "invalid value: string \"ten\", expected a duration"
    );
}

/// Values that would stall a run are refused: a zero tick (simulated time
/// never advances) and a zero `check_every` (the runner checks at one
/// instant forever). A generator window shorter than a millisecond, where
/// no episode can start, draws no fault instead of panicking.
#[test]
fn values_that_would_stall_a_run_are_refused() {
    let (_, _, message) = invalid(&format!("{HEAD}tick = \"0s\"\n"));
    assert_eq!(message, "tick: must be above zero");
    let (_, _, message) = invalid(&format!("{HEAD}[checks]\ncheck_every = \"0s\"\n"));
    assert_eq!(message, "checks: check_every must be above zero");
    let (_, _, message) = invalid(&format!("{HEAD}traffic = \"0s\"\n"));
    assert_eq!(message, "traffic: must be above zero");
    // One message per agree_within (27s by default) at the least.
    let (_, _, message) = invalid(&format!("{HEAD}traffic = \"27s\"\n"));
    assert_eq!(
        message,
        "traffic: must be under checks.agree_within (27s), or sends-arrive fails every run"
    );

    let generator = "[generator]\nepisodes = 2\nkinds = [\"partition\"]\nfrom = \"1ms 200us\"\nuntil = \"1ms 700us\"\nmax_len = \"1s\"\n";
    let (scenario, _) = parse(&format!("{HEAD}{generator}"), "t.toml").unwrap();
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    assert_eq!(scenario.fault_schedule(&mut rng), Vec::new());
}

/// The command line prints `file:line:column: message` and the line with a
/// caret, and exits 2, for `run`, `replay` and `snapshot`.
#[test]
fn bad_file_exits_2() {
    let path = temp_file("bad", "bad.toml", &format!("{HEAD}colour = \"blue\"\n"));
    let p = path.to_str().unwrap();
    for args in [
        vec!["run", "--file", p],
        vec!["replay", "--file", p, "--seed", "0"],
        vec!["snapshot", "--file", p, "--seed", "0"],
    ] {
        let out = sim(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        let expected = format!("peerlink-sim: {p}:4:1: unknown field `colour`");
        assert!(err.starts_with(&expected), "{err}");
        assert!(err.contains("  4 | colour = \"blue\"\n    | ^\n"), "{err}");
    }
    let missing = sim(&["run", "--file", "/nonexistent/x.toml"]);
    assert_eq!(missing.status.code(), Some(2));
}

/// The example files load and pass on three seeds each.
#[test]
fn example_files_pass() {
    let dir = sim_dir().join("scenarios");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    assert!(names.len() >= 2, "{names:?}");
    for name in names {
        let (scenario, seed) = load(&dir.join(&name)).unwrap();
        let seeds = seed.map_or(vec![0, 1, 2], |s| vec![s]);
        for seed in seeds {
            let report = run(&scenario, seed, &RunOptions::default()).unwrap();
            // A file carrying its seed is a reproduction: it must fail.
            let expect_fail = name.starts_with("repro-");
            assert_eq!(
                report.violation.is_some(),
                expect_fail,
                "{name} seed {seed}"
            );
        }
    }
}

/// The body of a stored snapshot (below insta's header).
fn stored(name: &str) -> String {
    let path = sim_dir().join(format!("../snapshots/snapshots__{name}.snap"));
    let text = std::fs::read_to_string(Path::new(&path)).unwrap();
    let body = text.splitn(3, "---\n").nth(2).expect("insta header");
    body.to_string()
}

/// `peerlink-sim snapshot` prints, byte for byte, what the snapshot tests
/// store: by name for the simultaneous dial, by exported file for the
/// partition scenario.
#[test]
fn snapshot_command_prints_the_stored_yaml() {
    let out = sim(&[
        "snapshot",
        "simultaneous-dial",
        "--seed",
        "0",
        "--policy",
        "node-id",
        "--at",
        "handshakes-done=40ms",
        "--at",
        "settled=5s",
        "--at",
        "end=30s",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        stored("dial_default")
    );

    let text = String::from_utf8(sim(&["export", "partition-heal"]).stdout).unwrap();
    let path = temp_file("snapshot", "partition-heal.toml", &text);
    let out = sim(&[
        "snapshot",
        "--file",
        path.to_str().unwrap(),
        "--seed",
        "1",
        "--at",
        "formed=5s",
        "--at",
        "partitioned=35s",
        "--at",
        "healed=60s",
        "--trace",
        "since=10s",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        stored("partition_heal")
    );
}
