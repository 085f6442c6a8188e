//! Snapshot tests of connection states: for a curated set of scenarios at
//! fixed seeds, every node's peer table at named instants of simulated time
//! plus the condensed trace, stored as insta yaml in the top-level
//! `snapshots/` folder (`cargo insta review` to accept a change). Also the
//! properties that make them worth having: identical across runs and
//! processes, and a naive tie-break policy shows up as a diff.
//!
//! The cross-process checks re-run this test binary (the `child` test).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use peerlink_sim::scenario::Scenario;
use peerlink_sim::scenarios::scenario_by_name;
use peerlink_sim::snapshot::{snapshot, RunSnapshot, SnapshotOptions, TraceDetail};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The naive tie-break policies, compared with the library's default.
const NAIVE: [&str; 5] = [
    "keep-both",
    "reject-inbound",
    "keep-oldest",
    "keep-newest",
    "higher-ip-dials",
];

/// The policy `peerlink::Config::default()` uses (node-id today). The
/// `*_default` snapshots run it, so changing the library's default shows up
/// as a diff there.
fn default_policy() -> &'static str {
    peerlink::Config::default().tie_break.name()
}

/// The default policy, then every naive one.
fn policies() -> Vec<&'static str> {
    let mut all = vec![default_policy()];
    all.extend(NAIVE);
    all
}

/// `<prefix>_default` for the default policy, `<prefix>_<policy>` otherwise.
fn policy_case(prefix: &str, policy: &str) -> String {
    if policy == default_policy() {
        format!("{prefix}_default")
    } else {
        format!("{prefix}_{}", policy.replace('-', "_"))
    }
}

/// One snapshot: stored as `snapshots/snapshots__<name>.snap`.
struct Case {
    name: String,
    scenario: &'static str,
    seed: u64,
    options: SnapshotOptions,
}

impl Case {
    fn new(name: &str, scenario: &'static str, seed: u64, options: SnapshotOptions) -> Case {
        Case {
            name: name.into(),
            scenario,
            seed,
            options,
        }
    }

    fn scenario(&self) -> Scenario {
        scenario_by_name(self.scenario).expect("built-in scenario")
    }

    fn run(&self) -> RunSnapshot {
        snapshot(&self.scenario(), self.seed, &self.options).expect("scenario starts")
    }

    /// This process's first run of the case, shared by the tests.
    fn first_run(&self) -> RunSnapshot {
        static RUNS: OnceLock<Mutex<BTreeMap<String, RunSnapshot>>> = OnceLock::new();
        let runs = RUNS.get_or_init(Mutex::default);
        if let Some(snap) = runs.lock().unwrap().get(&self.name) {
            return snap.clone();
        }
        let snap = self.run();
        runs.lock().unwrap().insert(self.name.clone(), snap.clone());
        snap
    }

    fn json(&self) -> String {
        serde_json::to_string(&self.first_run()).expect("serializable")
    }

    fn policy(&self) -> String {
        let model = self.options.model.clone();
        model.unwrap_or_else(|| self.scenario().model)
    }
}

/// Simultaneous dial: both handshakes done (0.040 s), settled, end of run.
fn dial_options(policy: &str) -> SnapshotOptions {
    SnapshotOptions::new()
        .model(policy)
        .at("handshakes-done", ms(40))
        .at("settled", secs(5))
        .at("end", secs(30))
}

/// Mesh of 3: handshakes done (0.040 s), formed, end of run.
fn mesh3_options(policy: &str) -> SnapshotOptions {
    SnapshotOptions::new()
        .model(policy)
        .at("handshakes-done", ms(40))
        .at("formed", secs(2))
        .at("end", secs(30))
}

/// Every snapshot, by name. Seeds are fixed: a new seed is a new snapshot.
fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for policy in policies() {
        let options = dial_options(policy);
        let name = policy_case("dial", policy);
        cases.push(Case::new(&name, "simultaneous-dial", 0, options));
    }
    for policy in policies() {
        let name = policy_case("mesh3", policy);
        cases.push(Case::new(&name, "mesh-3", 1, mesh3_options(policy)));
    }
    let since = |s| TraceDetail::Since(secs(s));
    let formed_end = |model: &str| {
        SnapshotOptions::new()
            .model(model)
            .at("formed", secs(3))
            .at("end", secs(30))
    };
    cases.extend([
        Case::new(
            "mesh8",
            "mesh-8",
            1,
            SnapshotOptions::new()
                .at("formed", secs(3))
                .trace(TraceDetail::Summary),
        ),
        Case::new(
            "one_side_knows_default",
            "one-side-knows",
            0,
            formed_end(default_policy()),
        ),
        Case::new(
            "one_side_knows_higher_ip_dials",
            "one-side-knows",
            0,
            formed_end("higher-ip-dials"),
        ),
        Case::new(
            "partition_heal",
            "partition-heal",
            1,
            SnapshotOptions::new()
                .at("formed", secs(5))
                .at("partitioned", secs(35))
                .at("healed", secs(60))
                .trace(since(10)),
        ),
        Case::new(
            "crash_restart",
            "crash-restart",
            1,
            SnapshotOptions::new()
                .at("formed", secs(5))
                .at("crashed", secs(20))
                .at("restarted", secs(40))
                .trace(since(10)),
        ),
        Case::new(
            "half_open",
            "half-open",
            1,
            SnapshotOptions::new()
                .at("formed", secs(5))
                .at("cut-one-way", secs(12))
                .at("detected", secs(38))
                .at("healed", secs(60))
                .trace(since(10)),
        ),
        Case::new(
            "hold_release",
            "hold-release",
            1,
            SnapshotOptions::new()
                .at("formed", secs(2))
                .at("held", secs(10))
                .at("released", secs(20))
                .trace(since(5)),
        ),
        Case::new(
            "hostile_peer",
            "hostile-peer",
            1,
            SnapshotOptions::new()
                .at("first-garbage", secs(1))
                .at("banned", secs(8))
                .at("end", secs(30)),
        ),
    ]);
    cases
}

fn case(name: &str) -> Case {
    let found = cases().into_iter().find(|c| c.name == name);
    found.unwrap_or_else(|| panic!("no case {name}"))
}

/// `<workspace>/snapshots`, absolute: every snapshot lives there, not next
/// to the test files.
fn snapshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../snapshots");
    dir.canonicalize().unwrap_or(dir)
}

/// Compares `name`'s fresh run with its stored snapshot.
fn assert_case(name: &str) {
    let case = case(name);
    let snap = case.first_run();
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(snapshot_dir());
    settings.set_omit_expression(true);
    settings.set_description(format!(
        "{} seed {}: {}",
        case.scenario,
        case.seed,
        case.scenario().summary
    ));
    settings.bind(|| insta::assert_yaml_snapshot!(name, snap));
}

/// Runs this test binary's `child` test alone with `PEERLINK_SNAPSHOT_CHILD`
/// set to `job`; it inherits insta's environment.
fn spawn_child(job: &str) -> Output {
    let exe = std::env::current_exe().expect("test binary path");
    Command::new(exe)
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env("PEERLINK_SNAPSHOT_CHILD", job)
        .output()
        .expect("test binary runs")
}

/// What a child printed between its markers.
fn child_lines(job: &str) -> Vec<String> {
    let out = spawn_child(job);
    assert!(out.status.success(), "child {job} failed: {out:?}");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    // libtest prints `test child ... ` without a newline before the output.
    let lines = stdout.lines().skip_while(|l| !l.ends_with("BEGIN-CHILD"));
    let lines: Vec<String> = lines
        .skip(1)
        .take_while(|l| *l != "END-CHILD")
        .map(str::to_string)
        .collect();
    assert!(!lines.is_empty(), "child {job} printed nothing: {stdout}");
    lines
}

/// The child half of the cross-process check; a no-op in a normal run.
/// Jobs: `json:<case>` prints a snapshot, `json-all` prints every snapshot.
#[test]
fn child() {
    let Ok(job) = std::env::var("PEERLINK_SNAPSHOT_CHILD") else {
        return;
    };
    let (what, name) = job.split_once(':').unwrap_or((job.as_str(), ""));
    println!("BEGIN-CHILD");
    match what {
        "json" => println!("{}", case(name).json()),
        "json-all" => {
            for c in cases().iter() {
                println!("{} {}", c.name, c.json());
            }
        }
        other => panic!("unknown child job {other}"),
    }
    println!("END-CHILD");
}

/// One `#[test]` per snapshot, so a failure names its scenario.
macro_rules! snapshot_tests {
    ($($name:ident),* $(,)?) => {
        $(
            /// The stored snapshot of this case matches a fresh run.
            #[test]
            fn $name() {
                assert_case(stringify!($name));
            }
        )*

        /// Every case has its test (and so its stored snapshot).
        #[test]
        fn every_case_is_tested() {
            let tested = [$(stringify!($name)),*];
            let names: Vec<String> = cases().into_iter().map(|c| c.name).collect();
            assert_eq!(names, tested);
        }
    };
}

snapshot_tests!(
    dial_default,
    dial_keep_both,
    dial_reject_inbound,
    dial_keep_oldest,
    dial_keep_newest,
    dial_higher_ip_dials,
    mesh3_default,
    mesh3_keep_both,
    mesh3_reject_inbound,
    mesh3_keep_oldest,
    mesh3_keep_newest,
    mesh3_higher_ip_dials,
    mesh8,
    one_side_knows_default,
    one_side_knows_higher_ip_dials,
    partition_heal,
    crash_restart,
    half_open,
    hold_release,
    hostile_peer,
);

/// Each snapshot is identical when the helper runs twice in one process
/// (crash scenarios included: see `SimTransport` on crashes).
#[test]
fn identical_across_runs() {
    for case in cases() {
        assert_eq!(case.first_run(), case.run(), "{}", case.name);
    }
}

/// Each snapshot is identical in a second process: this test binary runs
/// itself and prints every snapshot.
#[test]
fn identical_across_processes() {
    let child = child_lines("json-all");
    let ours: Vec<String> = cases()
        .iter()
        .map(|c| format!("{} {}", c.name, c.json()))
        .collect();
    assert_eq!(child.len(), ours.len(), "child printed {child:?}");
    for (a, b) in ours.iter().zip(&child) {
        assert_eq!(a, b);
    }
}

/// The run behind each snapshot is the one `peerlink-sim replay` runs in
/// another process: same trace SHA-256.
#[test]
fn trace_matches_replay_command() {
    for case in cases() {
        let out = Command::new(env!("CARGO_BIN_EXE_peerlink-sim"))
            .args(["replay", case.scenario, "--seed", &case.seed.to_string()])
            .args(["--policy", &case.policy()])
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let hash = case.first_run().trace_sha256;
        let expected = format!("trace_sha256={hash}");
        assert!(stdout.contains(&expected), "{}: {stdout}", case.name);
    }
}

/// Changing the default tie-break policy to a naive one changes the
/// simultaneous-dial snapshot: run with each naive policy in place of the
/// library's default, the `dial_default` case differs in its tables, trace
/// or violation (the `model:` line aside), and under keep-both both ends
/// hold two live connections and one-connection-per-pair breaks.
#[test]
fn naive_default_changes_simultaneous_dial_snapshot() {
    assert_eq!(default_policy(), "node-id");
    let ours = case("dial_default").first_run();
    assert_eq!(ours.violation, None);
    let without_model = |mut s: RunSnapshot| {
        s.model.clear();
        s
    };
    let scenario = scenario_by_name("simultaneous-dial").unwrap();
    let mut keep_both = None;
    for naive in NAIVE {
        let theirs = snapshot(&scenario, 0, &dial_options(naive)).unwrap();
        let differs = without_model(theirs.clone()) != without_model(ours.clone());
        assert!(differs, "{naive} gives the same snapshot as the default");
        if naive == "keep-both" {
            keep_both = Some(theirs);
        }
    }
    let theirs = keep_both.unwrap();
    let done = theirs.checkpoint("handshakes-done").unwrap();
    for host in ["n0", "n1"] {
        let row = done.node(host).unwrap().rows()[0].to_string();
        assert!(row.contains(" conns=2 "), "{row}");
    }
    let violation = theirs.violation.unwrap();
    assert!(violation.contains("one-connection-per-pair"), "{violation}");
}

/// The snapshot folder holds exactly the stored snapshots of the cases
/// above and of the wire tests: no file a test does not reference (a
/// renamed or removed case leaves one behind), no pending `.snap.new`.
/// `tests/wire_snapshots.rs` checks its own `wire_snapshots__` files, and
/// `sim/tests/regressions.rs` its `regressions__` files.
#[test]
fn no_unreferenced_snapshots() {
    let referenced: Vec<String> = cases()
        .into_iter()
        .map(|c| format!("snapshots__{}.snap", c.name))
        .collect();
    let mut stray = Vec::new();
    for entry in std::fs::read_dir(snapshot_dir()).expect("snapshots folder") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .to_string();
        let ours = name.starts_with("snapshots__") && referenced.contains(&name);
        let wire = name.starts_with("wire_snapshots__") && name.ends_with(".snap");
        let regression = name.starts_with("regressions__") && name.ends_with(".snap");
        if !(ours || wire || regression) {
            stray.push(name);
        }
    }
    stray.sort();
    assert!(
        stray.is_empty(),
        "unreferenced files in snapshots/: {stray:?}"
    );
}
