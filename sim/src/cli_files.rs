//! The subcommands around scenario files: picking a scenario by name or
//! `--file`, `export`, and `snapshot` (the snapshot tests' YAML for one
//! run). Argument handling only: files live in `peerlink_sim::file`,
//! snapshots in `peerlink_sim::snapshot`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use peerlink_sim::file;
use peerlink_sim::scenario::Scenario;
use peerlink_sim::scenarios::scenario_by_name;
use peerlink_sim::snapshot::{snapshot, SnapshotOptions, TraceDetail};

/// A scenario from its name or from a file, with the file's seed if any.
pub fn pick(name: Option<&str>, path: Option<&Path>) -> Result<(Scenario, Option<u64>), String> {
    match (name, path) {
        (Some(_), Some(_)) => Err("give a scenario name or --file, not both".into()),
        (None, Some(path)) => file::load(path).map_err(|e| e.to_string()),
        (Some(name), None) => scenario_by_name(name)
            .map(|s| (s, None))
            .ok_or_else(|| format!("unknown scenario `{name}` (see `peerlink-sim list`)")),
        (None, None) => Err("give a scenario name or --file F.toml".into()),
    }
}

/// The seed from `--seed`, else from the file.
pub fn seed_of(flag: Option<u64>, from_file: Option<u64>) -> Result<u64, String> {
    flag.or(from_file)
        .ok_or_else(|| "give --seed N (the file names no seed)".into())
}

/// `peerlink-sim export NAME`.
#[derive(Args)]
pub struct ExportArgs {
    /// A built-in scenario name.
    scenario: String,
    /// Write here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Writes a built-in scenario as a file; exit 0, or 2 on a bad name.
pub fn export(args: &ExportArgs) -> Result<i32, String> {
    let (scenario, _) = pick(Some(&args.scenario), None)?;
    let text = file::to_toml(&scenario, None).map_err(|e| e.to_string())?;
    match &args.out {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(0)
}

/// `peerlink-sim snapshot SCENARIO|--file F --seed N`.
#[derive(Args)]
pub struct SnapshotArgs {
    /// Scenario name (or use --file).
    scenario: Option<String>,
    /// A scenario file instead of a name.
    #[arg(long)]
    file: Option<PathBuf>,
    /// The seed (default: the file's).
    #[arg(long)]
    seed: Option<u64>,
    /// Run every node under this tie-break policy or legacy model.
    #[arg(long)]
    policy: Option<String>,
    /// A named checkpoint, `NAME=TIME` (`formed=3s`); repeat for more.
    #[arg(long = "at", value_parser = parse_checkpoint)]
    checkpoints: Vec<(String, Duration)>,
    /// Trace detail: `lines`, `summary`, `off`, or `since=TIME`.
    #[arg(long, default_value = "lines", value_parser = parse_detail)]
    trace: TraceDetail,
}

fn parse_checkpoint(s: &str) -> Result<(String, Duration), String> {
    let (name, at) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected NAME=TIME, e.g. formed=3s"))?;
    let at = humantime::parse_duration(at).map_err(|e| format!("`{at}`: {e}"))?;
    Ok((name.to_string(), at))
}

fn parse_detail(s: &str) -> Result<TraceDetail, String> {
    match s {
        "lines" => Ok(TraceDetail::Lines),
        "summary" => Ok(TraceDetail::Summary),
        "off" => Ok(TraceDetail::Off),
        _ => match s.strip_prefix("since=") {
            Some(t) => humantime::parse_duration(t)
                .map(TraceDetail::Since)
                .map_err(|e| format!("`{t}`: {e}")),
            None => Err(format!("`{s}`: expected lines, summary, off or since=TIME")),
        },
    }
}

/// Prints one run as the YAML an insta snapshot test stores; exit 0.
pub fn print_snapshot(args: &SnapshotArgs) -> Result<i32, String> {
    let (scenario, file_seed) = pick(args.scenario.as_deref(), args.file.as_deref())?;
    let seed = seed_of(args.seed, file_seed)?;
    let mut options = SnapshotOptions::new().trace(args.trace);
    options.model = args.policy.clone();
    for (name, at) in &args.checkpoints {
        options = options.at(name, *at);
    }
    let snap = snapshot(&scenario, seed, &options).map_err(|e| e.to_string())?;
    print!("{}", snap.to_yaml());
    Ok(0)
}

/// `peerlink-sim shrink SCENARIO|--file F --seed N --out min.toml`.
#[derive(Args)]
pub struct ShrinkArgs {
    /// Scenario name (or use --file).
    scenario: Option<String>,
    /// A scenario file instead of a name.
    #[arg(long)]
    file: Option<PathBuf>,
    /// The failing seed (default: the file's).
    #[arg(long)]
    seed: Option<u64>,
    /// Run every node under this tie-break policy or legacy model.
    #[arg(long)]
    policy: Option<String>,
    /// Where to write the minimal run as a scenario file.
    #[arg(long)]
    out: PathBuf,
    /// Most simulation runs to spend.
    #[arg(long, default_value_t = 200)]
    max_runs: usize,
}

/// Shrinks a failing run, writes it, prints the reduction and the replay
/// command; exit 0, or 2 when the run does not fail or cannot start.
pub fn shrink(args: &ShrinkArgs) -> Result<i32, String> {
    let (scenario, file_seed) = pick(args.scenario.as_deref(), args.file.as_deref())?;
    let seed = seed_of(args.seed, file_seed)?;
    let options = peerlink_sim::shrink::ShrinkOptions {
        model: args.policy.clone(),
        max_runs: args.max_runs,
    };
    let mut shrunk =
        peerlink_sim::shrink::shrink(&scenario, seed, &options).map_err(|e| e.to_string())?;
    shrunk.scenario.name = format!("{}-shrunk", scenario.name);
    shrunk.scenario.summary = format!(
        "{} seed {seed} under {}, shrunk: breaks {}",
        scenario.name, shrunk.scenario.model, shrunk.invariant
    );
    let text = file::to_toml(&shrunk.scenario, Some(seed)).map_err(|e| e.to_string())?;
    std::fs::write(&args.out, text)
        .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    println!("still fails: {}", shrunk.violation);
    println!("reduced: {shrunk}");
    println!("wrote {}", args.out.display());
    println!(
        "replay: peerlink-sim replay --file {} --trace",
        args.out.display()
    );
    Ok(0)
}
