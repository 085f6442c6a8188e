//! Seed sweeps: many seeds of one scenario across worker threads, each seed
//! in its own thread with its own turmoil `Sim`. Results come back in seed
//! order whatever the thread timing, and so do their trace hashes: a
//! sweep's [`summary_json`] is the same for any number of worker threads,
//! except its speed fields.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use indicatif::ProgressBar;
use serde_json::{json, Map, Value};

use crate::runner::{run, RunError, RunOptions, RunReport};
use crate::scenario::Scenario;

/// Runs every seed of `seeds` on `jobs` threads; `progress` ticks once per
/// finished seed.
pub fn sweep(
    scenario: &Scenario,
    seeds: &[u64],
    jobs: usize,
    options: &RunOptions,
    progress: &ProgressBar,
) -> Result<Vec<RunReport>, RunError> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<RunReport, RunError>>>> =
        Mutex::new((0..seeds.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, seeds.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else { break };
                let report = run(scenario, seed, options);
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(report);
                progress.inc(1);
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(RunError::NoNodes)))
        .collect()
}

/// The JSON object `peerlink-sim run --json` prints for one scenario's sweep:
/// counts, the failing seeds, the number of distinct trace hashes, each
/// seed's trace hash (`"trace_hashes": {"<seed>": "<sha256>"}`), and speed
/// (simulated and seeds per wall-clock second over `wall_secs`).
pub fn summary_json(scenario: &str, model: &str, reports: &[RunReport], wall_secs: f64) -> Value {
    let failed: Vec<u64> = reports
        .iter()
        .filter(|r| r.violation.is_some())
        .map(|r| r.seed)
        .collect();
    let hashes: Map<String, Value> = reports
        .iter()
        .map(|r| (r.seed.to_string(), Value::from(r.trace_hash.as_str())))
        .collect();
    let distinct: BTreeSet<&str> = reports.iter().map(|r| r.trace_hash.as_str()).collect();
    let sim_secs: f64 = reports.iter().map(|r| r.sim_time.as_secs_f64()).sum();
    let wall = wall_secs.max(1e-9);
    json!({
        "scenario": scenario,
        "policy": model,
        "seeds": reports.len(),
        "passed": reports.len() - failed.len(),
        "failed": failed,
        "distinct_trace_hashes": distinct.len(),
        "trace_hashes": hashes,
        "sim_secs_per_wall_sec": (sim_secs / wall * 10.0).round() / 10.0,
        "seeds_per_wall_sec": (reports.len() as f64 / wall * 100.0).round() / 100.0,
    })
}
