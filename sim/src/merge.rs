//! Sweeps beyond one machine: `--shard I/N` splits a seed range, and
//! [`merge`] combines the `run --json` lines of every shard into one report
//! per scenario, policy and backend: seeds, passes, failing seeds with
//! their replay commands, and trace-hash counts. A seed reported twice with
//! two different hashes is a determinism failure and is reported as such.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::runner::replay_command;

/// `I/N`: this machine runs the seeds whose position in the range is `I`
/// modulo `N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, `0..count`.
    pub index: u64,
    /// How many shards.
    pub count: u64,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("bad shard `{s}`: expected I/N with 0 <= I < N");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// This shard's part of `seeds`, in order.
    pub fn select(&self, seeds: &[u64]) -> Vec<u64> {
        seeds
            .iter()
            .zip(0u64..)
            .filter(|(_, i)| i % self.count == self.index)
            .map(|(s, _)| *s)
            .collect()
    }
}

/// The fields of one `run --json` line that a merge reads.
#[derive(Debug, Deserialize)]
struct SweepLine {
    scenario: String,
    policy: String,
    #[serde(default = "turmoil")]
    backend: String,
    /// The scenario file (`run --file`), if the scenario came from one.
    #[serde(default)]
    file: Option<std::path::PathBuf>,
    failed: Vec<u64>,
    trace_hashes: BTreeMap<String, String>,
}

fn turmoil() -> String {
    "turmoil".into()
}

/// Why lines could not be merged.
#[derive(Debug, PartialEq, Eq)]
pub enum MergeError {
    /// A line is not a `run --json` object.
    BadLine {
        /// Which input (file name).
        source: String,
        /// 1-based line number.
        line: usize,
        /// What the parser said.
        error: String,
    },
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeError::BadLine {
                source,
                line,
                error,
            } => write!(f, "{source}:{line}: not a `run --json` line: {error}"),
        }
    }
}

#[derive(Default)]
struct Combined {
    file: Option<std::path::PathBuf>,
    hashes: BTreeMap<u64, String>,
    failed: BTreeSet<u64>,
    conflicts: BTreeSet<u64>,
}

/// Merges `(source name, text)` inputs, each holding `run --json` lines,
/// into one JSON object per (scenario, policy, backend, scenario file), in
/// that order.
pub fn merge(inputs: &[(String, String)]) -> Result<Vec<Value>, MergeError> {
    // The file is part of the key: two files may name their scenarios alike.
    let mut groups: BTreeMap<(String, String, String, Option<std::path::PathBuf>), Combined> =
        BTreeMap::new();
    for (source, text) in inputs {
        for (n, raw) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let line: SweepLine = serde_json::from_str(raw).map_err(|e| MergeError::BadLine {
                source: source.clone(),
                line: n + 1,
                error: e.to_string(),
            })?;
            let group = groups
                .entry((line.scenario, line.policy, line.backend, line.file.clone()))
                .or_default();
            group.file = line.file;
            group.failed.extend(line.failed);
            for (seed, hash) in line.trace_hashes {
                let seed: u64 = seed.parse().map_err(|_| MergeError::BadLine {
                    source: source.clone(),
                    line: n + 1,
                    error: format!("seed `{seed}` is not a number"),
                })?;
                match group.hashes.get(&seed) {
                    Some(h) if *h != hash => {
                        group.conflicts.insert(seed);
                    }
                    _ => {
                        group.hashes.insert(seed, hash);
                    }
                }
            }
        }
    }
    Ok(groups
        .into_iter()
        .map(|((scenario, policy, backend, _), g)| report(&scenario, &policy, &backend, &g))
        .collect())
}

fn report(scenario: &str, policy: &str, backend: &str, g: &Combined) -> Value {
    let replay: Vec<String> = g
        .failed
        .iter()
        .map(|&s| replay_command(scenario, g.file.as_deref(), s, policy, backend))
        .collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for h in g.hashes.values() {
        *counts.entry(h.as_str()).or_default() += 1;
    }
    json!({
        "scenario": scenario,
        "policy": policy,
        "backend": backend,
        "seeds": g.hashes.len(),
        "passed": g.hashes.len().saturating_sub(g.failed.len()),
        "failed": g.failed,
        "replay": replay,
        "distinct_trace_hashes": counts.len(),
        "seeds_sharing_a_hash": counts.values().filter(|&&c| c > 1).sum::<usize>(),
        "nondeterministic_seeds": g.conflicts,
    })
}
