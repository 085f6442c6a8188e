//! Seed sweeps: many seeds of one scenario across worker threads, each seed
//! in its own thread with its own turmoil `Sim`. Results come back in seed
//! order whatever the thread timing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use indicatif::ProgressBar;

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
