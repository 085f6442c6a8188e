//! Scenario files: a [`Scenario`] written as TOML (nodes, who knows whom,
//! start times, latency, config overrides, faults or a fault generator,
//! duration, checks, and optionally the seed of one run). [`load`] and
//! [`parse`] read one with every error located by line and column;
//! [`ScenarioFile::from_scenario`] and [`to_toml`] write one, so a built-in
//! scenario exported and read back runs identically. This module only
//! converts; running stays in `runner`.
//!
//! ```toml
//! name = "my-partition"
//! nodes = 3
//! duration = "40s"
//!
//! [[fault]]
//! at = "10s"
//! kind = "partition"
//! nodes = [0, 1]
//!
//! [[fault]]
//! at = "20s"
//! kind = "repair"
//! nodes = [0, 1]
//! ```

mod config;
mod convert;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::scenario::Scenario;

pub use config::ConfigOverrides;

/// A scenario file, as read from or written to TOML.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Scenario name (shown in reports and replay commands).
    pub name: String,
    /// One line on what it exercises.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    /// Seed of the run this file reproduces (written by `shrink`); `replay
    /// --file` uses it when no `--seed` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Number of nodes, `n0` to `n<nodes-1>`.
    pub nodes: Spanned<usize>,
    /// Node model of every node: a tie-break policy or a legacy model.
    #[serde(default = "default_model")]
    pub model: String,
    /// Total simulated time.
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// turmoil tick (default 1 ms).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub tick: Option<Duration>,
    /// `"all"` (default), or the `[a, b]` pairs where node a knows node b.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knows: Option<Spanned<KnowsEntry>>,
    /// `"together"` (default), `{ staggered = "10s" }` or `{ at = ["0s", "20s"] }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Spanned<StartEntry>>,
    /// Link latency range (default 1 ms to 20 ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Spanned<LatencyEntry>>,
    /// Per-node model overrides: `n3 = "slowloris"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_models: Option<Spanned<BTreeMap<String, String>>>,
    /// Overrides of the simulator's connection settings.
    #[serde(default, skip_serializing_if = "ConfigOverrides::is_empty")]
    pub config: ConfigOverrides,
    /// Application traffic: every node sends one message to each connected
    /// peer at this interval (default: none).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub traffic: Option<Duration>,
    /// Invariant bounds (default: derived from the config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<ChecksEntry>,
    /// Faults drawn from the seed; excludes `[[fault]]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<Spanned<GeneratorEntry>>,
    /// Explicit faults, one table each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fault: Vec<Spanned<FaultEntry>>,
}

fn default_model() -> String {
    "node-id".into()
}

/// Who knows whom.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KnowsEntry {
    /// `"all"`.
    All(AllTag),
    /// `[[a, b], ...]`: node a is configured with node b.
    Pairs(Vec<(usize, usize)>),
    /// `{ random = K }`: each node is configured with K others, drawn from
    /// the run's seed.
    Random {
        /// Peers per node.
        random: usize,
    },
}

/// The one word `all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AllTag {
    /// Everyone knows everyone.
    All,
}

/// When nodes start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum StartEntry {
    /// All at time zero.
    Together,
    /// Each at a time in `[0, max]` drawn from the seed.
    Staggered(#[serde(with = "humantime_serde")] Duration),
    /// At these times, node by node.
    At(Vec<humantime_serde::Serde<Duration>>),
}

/// Link latency range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyEntry {
    /// Shortest.
    #[serde(with = "humantime_serde")]
    pub min: Duration,
    /// Longest.
    #[serde(with = "humantime_serde")]
    pub max: Duration,
}

/// Invariant bounds; a missing key is derived from the config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksEntry {
    /// Time every known pair has to connect after the last disturbance.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub converge_within: Option<Duration>,
    /// Longest time the two ends of a pair may disagree.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub agree_within: Option<Duration>,
    /// How often invariants are checked.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub check_every: Option<Duration>,
}

/// A seeded fault generator (`FaultPlan::Random`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorEntry {
    /// Number of fault episodes.
    pub episodes: usize,
    /// Kinds to draw from: partition, half-open, hold, latency, crash-restart.
    pub kinds: Vec<GeneratedKind>,
    /// Earliest start.
    #[serde(with = "humantime_serde")]
    pub from: Duration,
    /// Every fault is healed by then.
    #[serde(with = "humantime_serde")]
    pub until: Duration,
    /// Longest episode.
    #[serde(with = "humantime_serde")]
    pub max_len: Duration,
}

/// A kind the generator may draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum GeneratedKind {
    Partition,
    HalfOpen,
    Hold,
    Latency,
    CrashRestart,
    KillRestart,
}

/// One explicit fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultEntry {
    /// When.
    #[serde(with = "humantime_serde")]
    pub at: Duration,
    /// What.
    pub kind: FaultName,
    /// The nodes: two for a link fault (`[from, to]` one-way), one for a
    /// crash or restart.
    pub nodes: Vec<usize>,
    /// The new latency, for `kind = "latency"` only.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub latency: Option<Duration>,
}

/// Fault kinds, as named in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum FaultName {
    Partition,
    PartitionOneway,
    Repair,
    RepairOneway,
    Hold,
    Release,
    Latency,
    Crash,
    Kill,
    Restart,
}

/// Why a scenario file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Bad TOML, a wrong type, an unknown key, or a value that makes no
    /// sense (a fault on a node the scenario does not have).
    #[error("{origin}:{line}:{column}: {message}\n{snippet}")]
    Invalid {
        /// File name, or `<input>`.
        origin: String,
        /// 1-based line of the offending value.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
        /// The offending line with a caret under the column.
        snippet: String,
    },
    /// The scenario could not be written as TOML.
    #[error("cannot write scenario file: {0}")]
    Write(#[from] toml::ser::Error),
}

impl FileError {
    /// An `Invalid` error at byte `span` of `text`.
    fn at(origin: &str, text: &str, span: Range<usize>, message: String) -> FileError {
        let start = span.start.min(text.len());
        let before = &text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = text[line_start..start].chars().count() + 1;
        let source_line = text[line_start..].lines().next().unwrap_or("");
        let snippet = format!(
            "  {line} | {source_line}\n  {} | {}^",
            " ".repeat(line.to_string().len()),
            " ".repeat(column - 1)
        );
        FileError::Invalid {
            origin: origin.into(),
            line,
            column,
            message,
            snippet,
        }
    }
}

/// Reads the scenario file at `path` (its seed, if any, alongside).
pub fn load(path: &Path) -> Result<(Scenario, Option<u64>), FileError> {
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, &path.display().to_string())
}

/// Parses scenario file `text`; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<(Scenario, Option<u64>), FileError> {
    let file: ScenarioFile = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        FileError::at(origin, text, span, e.message().to_string())
    })?;
    let seed = file.seed;
    let scenario = file
        .into_scenario()
        .map_err(|(span, message)| FileError::at(origin, text, span, message))?;
    Ok((scenario, seed))
}

/// `scenario` (and `seed`, if given) as scenario-file TOML.
pub fn to_toml(scenario: &Scenario, seed: Option<u64>) -> Result<String, FileError> {
    Ok(toml::to_string(&ScenarioFile::from_scenario(
        scenario, seed,
    ))?)
}
