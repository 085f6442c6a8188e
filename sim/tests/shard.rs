//! Sweeps split across machines: `--shard I/N` partitions a seed range, and
//! `merge` of the shards' `run --json` output equals the unsplit sweep.

use std::process::Command;

use peerlink_sim::merge::{merge, MergeError, Shard};
use serde_json::Value;

fn sim(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_peerlink-sim"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Three shards cover every seed of the range exactly once, in order.
#[test]
fn shards_partition_the_range() {
    let seeds: Vec<u64> = (10..20).collect();
    let parts: Vec<Vec<u64>> = (0..3)
        .map(|i| Shard { index: i, count: 3 }.select(&seeds))
        .collect();
    assert_eq!(parts[0], vec![10, 13, 16, 19]);
    assert_eq!(parts[1], vec![11, 14, 17]);
    assert_eq!(parts[2], vec![12, 15, 18]);
    assert!("3/3".parse::<Shard>().is_err());
    assert!("1/0".parse::<Shard>().is_err());
    assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
}

/// Two shards of a sweep, merged, give the unsplit sweep's counts and the
/// same number of distinct trace hashes; a failing policy's seeds come
/// back with their replay commands.
#[test]
fn merged_shards_equal_the_whole_sweep() {
    let run = |shard: &str| {
        let (code, out) = sim(&[
            "run",
            "bug-9",
            "--seeds",
            "8",
            "--policy",
            "reject-inbound",
            "--backend",
            "event",
            "--json",
            "--shard",
            shard,
        ]);
        (code, out)
    };
    let (_, a) = run("0/2");
    let (_, b) = run("1/2");
    let (_, whole) = sim(&[
        "run",
        "bug-9",
        "--seeds",
        "8",
        "--policy",
        "reject-inbound",
        "--backend",
        "event",
        "--json",
    ]);
    let whole: Value = serde_json::from_str(whole.trim()).unwrap();
    let merged = merge(&[("a".into(), a), ("b".into(), b)]).unwrap();
    assert_eq!(merged.len(), 1);
    let m = &merged[0];
    assert_eq!(m["seeds"], 8);
    assert_eq!(m["failed"], whole["failed"]);
    assert_eq!(m["distinct_trace_hashes"], whole["distinct_trace_hashes"]);
    assert_eq!(m["nondeterministic_seeds"], serde_json::json!([]));
    let first = whole["failed"][0].as_u64().unwrap();
    assert_eq!(
        m["replay"][0],
        format!("peerlink-sim replay bug-9 --seed {first} --policy reject-inbound --backend event --trace")
    );
}

/// The same seed with two different hashes is reported as nondeterministic,
/// and a line that is not `run --json` output is a typed error.
#[test]
fn merge_reports_conflicts_and_bad_lines() {
    let line = |hash: &str| {
        format!(
            r#"{{"scenario":"s","policy":"p","backend":"event","failed":[],"trace_hashes":{{"3":"{hash}"}}}}"#
        )
    };
    let merged = merge(&[("a".into(), line("aa")), ("b".into(), line("bb"))]).unwrap();
    assert_eq!(merged[0]["nondeterministic_seeds"], serde_json::json!([3]));
    let err = merge(&[("f.json".into(), "{}\n".into())]).unwrap_err();
    assert!(matches!(err, MergeError::BadLine { line: 1, .. }), "{err}");
}

/// A failing seed of a scenario read from a file (`run --file F --json`)
/// is merged with the replay command `replay --file F`, since the
/// scenario's own name (`random-faults-shrunk`) is not a built-in.
#[test]
fn merge_replays_a_file_scenario_by_its_file() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/repro-zombie-slots.toml"
    );
    let (code, out) = sim(&["run", "--file", file, "--seeds", "1", "--json"]);
    assert_eq!(code, 1, "{out}");
    let line: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line["file"], file);
    let merged = merge(&[("a".into(), out)]).unwrap();
    assert_eq!(
        merged[0]["replay"],
        serde_json::json!([format!(
            "peerlink-sim replay --file {file} --seed 0 --policy legacy-zombie-slots --trace"
        )])
    );
}
