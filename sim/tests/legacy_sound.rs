//! `legacy-sound`, the catalog's control (the legacy node with every flaw
//! switched off), passes every `bug-<n>` scenario on seeds 0..100: each
//! catalog failure comes from its flaw, not from the rest of the legacy
//! design or from the harness.
//!
//! 1,300 runs are minutes of CPU in the test profile, so this test runs in
//! the release build: `.ci/test` (the README's test command, which CI runs)
//! calls `cargo test --release -p peerlink-sim --features check-bookkeeping
//! --test legacy_sound`. A build with debug assertions (plain `cargo test`)
//! lists it as ignored, with that command as the reason.

use indicatif::ProgressBar;
use peerlink_sim::catalog::bug_scenarios;
use peerlink_sim::runner::RunOptions;
use peerlink_sim::sweep::sweep;

/// Seeds per scenario.
const SEEDS: u64 = 100;

/// Every bug scenario, listed, passes every one of its 100 seeds under
/// `legacy-sound`.
#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "minutes of CPU in the test profile: .ci/test runs it in release \
              (cargo test --release -p peerlink-sim --features check-bookkeeping --test legacy_sound)"
)]
fn legacy_sound_passes_every_bug_scenario_on_100_seeds() {
    let scenarios = bug_scenarios();
    let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "bug-1", "bug-2", "bug-3", "bug-4", "bug-5", "bug-6", "bug-7", "bug-8", "bug-9",
            "bug-10", "bug-11", "bug-12", "bug-13"
        ]
    );
    let options = RunOptions {
        model: Some("legacy-sound".into()),
        ..RunOptions::default()
    };
    let seeds: Vec<u64> = (0..SEEDS).collect();
    let jobs = std::thread::available_parallelism().map_or(1, usize::from);
    for scenario in &scenarios {
        let reports = sweep(scenario, &seeds, jobs, &options, &ProgressBar::hidden()).unwrap();
        let ran: Vec<u64> = reports.iter().map(|r| r.seed).collect();
        assert_eq!(ran, seeds, "{}", scenario.name);
        let failed: Vec<String> = reports
            .iter()
            .filter_map(|r| {
                r.violation
                    .as_ref()
                    .map(|v| format!("seed {}: {v}", r.seed))
            })
            .collect();
        assert_eq!(failed, Vec::<String>::new(), "{}", scenario.name);
    }
}
