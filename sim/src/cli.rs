//! Argument parsing and the subcommands.

use std::path::PathBuf;
use std::process::Command;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use peerlink_core::policy::TieBreakPolicy;
use peerlink_sim::merge::{merge, Shard};
use peerlink_sim::model::all_models;
use peerlink_sim::runner::{run, Backend, RunOptions, RunReport};
use peerlink_sim::scenario::Scenario;
use peerlink_sim::scenarios::{all_scenarios, large_scenarios, scenario_by_name};
use peerlink_sim::sweep::sweep;
use peerlink_sim::timeline::{self, Timeline};
use peerlink_sim::trace::TraceRecord;
use peerlink_sim::wallclock::Stopwatch;
use peerlink_sim::{catalog, check, trace};

use crate::cli_files;

/// Deterministic simulation testbed for peerlink.
#[derive(Parser)]
#[command(name = "peerlink-sim", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// List scenarios and policies, one line each.
    List,
    /// Run scenarios over a range of seeds and check every invariant.
    Run {
        /// A scenario name, or `all`.
        #[arg(default_value = "all")]
        scenario: String,
        /// `N` (seeds 0..N) or `A..B` (seeds A to B-1).
        #[arg(long, default_value = "20")]
        seeds: String,
        /// Worker threads (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// One JSON object per scenario instead of a table.
        #[arg(long)]
        json: bool,
        /// Run every node under this tie-break policy or legacy model.
        #[arg(long)]
        policy: Option<String>,
        /// Simulated network: turmoil (the reference) or event (one paused
        /// runtime, in-memory streams; much faster).
        #[arg(long, value_enum, default_value_t = Backend::Turmoil)]
        backend: Backend,
        /// `I/N`: run only every N-th seed of the range, from the I-th
        /// (0-based), for sweeps split across machines (`merge` joins them).
        #[arg(long)]
        shard: Option<Shard>,
        /// A scenario file instead of a name (see `export`).
        #[arg(long, conflicts_with = "scenario")]
        file: Option<std::path::PathBuf>,
    },
    /// Combine `run --json` outputs (one file per shard) into one report per
    /// scenario: failures with their replay commands, trace-hash counts.
    Merge {
        /// Files holding `run --json` lines.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Run one seed and print its trace hash (and trace, with --trace).
    Replay {
        /// Scenario name (or use --file).
        scenario: Option<String>,
        /// A scenario file instead of a name.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
        /// The seed (default: the file's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Print every trace line.
        #[arg(long)]
        trace: bool,
        /// Print the trace in this format (implies --trace): `text` lines,
        /// or `json`, one record per line, then a JSON summary.
        #[arg(long, value_enum)]
        trace_format: Option<TraceFormat>,
        /// Write the run's timeline to this file: one self-contained HTML
        /// page (SVG lanes per node pair, connection bars, faults, the
        /// first violation; hover and zoom).
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Run every node under this tie-break policy or legacy model.
        #[arg(long)]
        policy: Option<String>,
        /// Simulated network: turmoil (the reference) or event (one paused
        /// runtime, in-memory streams; much faster).
        #[arg(long, value_enum, default_value_t = Backend::Turmoil)]
        backend: Backend,
    },
    /// Write a built-in scenario as a scenario file (TOML) that runs identically.
    Export(crate::cli_files::ExportArgs),
    /// Print one run's connection states as the YAML a snapshot test stores.
    Snapshot(crate::cli_files::SnapshotArgs),
    /// Reduce a failing run to a smaller one that breaks the same invariant,
    /// and write it as a scenario file.
    Shrink(crate::cli_files::ShrinkArgs),
    /// Run the bug catalog live: each naive design on its seed, ours on a sweep.
    Catalog {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Seeds for our default's sweep.
        #[arg(long, default_value = "20")]
        seeds: String,
        /// Worker threads.
        #[arg(long)]
        jobs: Option<usize>,
        /// Simulated network: turmoil (the reference) or event (one paused
        /// runtime, in-memory streams; much faster).
        #[arg(long, value_enum, default_value_t = Backend::Turmoil)]
        backend: Backend,
    },
    /// Seeds per second of the harness against a bare turmoil loop of the
    /// same shape and tick, single-threaded.
    Bench {
        /// Scenarios to measure.
        #[arg(default_values_t = vec!["simultaneous-dial".to_string(), "mesh-8".to_string()])]
        scenarios: Vec<String>,
        /// `N` or `A..B`.
        #[arg(long, default_value = "20")]
        seeds: String,
    },
    /// Run seeds twice in-process and once in a second process; any trace
    /// difference is reported with its first differing event.
    CheckDeterminism {
        /// A scenario name, or `all`.
        #[arg(default_value = "random-faults")]
        scenario: String,
        /// `N` or `A..B`.
        #[arg(long, default_value = "20")]
        seeds: String,
        /// Simulated network: turmoil (the reference) or event (one paused
        /// runtime, in-memory streams; much faster).
        #[arg(long, value_enum, default_value_t = Backend::Turmoil)]
        backend: Backend,
        /// Print only the trace hash (used by the second process).
        #[arg(long, hide = true)]
        hash_only_seed: Option<u64>,
    },
    /// Explore every interleaving of 2 or 3 nodes over the real core and
    /// check the safety and liveness properties (exit 1 on a counterexample).
    ModelCheck {
        /// Nodes: 2 or 3.
        #[arg(long, default_value_t = 2)]
        nodes: usize,
        /// Tie-break policy of every node (`peerlink-sim list`).
        #[arg(long, default_value = "node-id")]
        policy: String,
        /// Longest path explored (default: bounded only by the time horizon).
        #[arg(long)]
        depth: Option<usize>,
        /// Faults (crash, break, delay) per path [default: 1 for 2 nodes,
        /// 0 for 3 nodes, whose one-fault space does not fit in memory].
        #[arg(long)]
        faults: Option<u8>,
        /// Seconds every pair has to converge after a restart or fault
        /// (default: 45, see docs/testing.md).
        #[arg(long)]
        recovery: Option<u64>,
    },
}

/// How `replay` prints the trace.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TraceFormat {
    /// The canonical lines the trace hash is taken over.
    Text,
    /// One JSON object per record.
    Json,
}

/// Bad arguments: message and exit 2.
fn usage(msg: impl std::fmt::Display) -> i32 {
    eprintln!("peerlink-sim: {msg}");
    2
}

/// Parses `N` or `A..B`.
pub fn parse_seeds(s: &str) -> Result<Vec<u64>, String> {
    let bad = || format!("bad seed range `{s}`: expected N (N > 0) or A..B (A < B)");
    let (a, b) = match s.split_once("..") {
        Some((a, b)) => (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        ),
        None => (0, s.trim().parse::<u64>().map_err(|_| bad())?),
    };
    if a >= b {
        return Err(bad());
    }
    Ok((a..b).collect())
}

fn jobs(j: Option<usize>) -> usize {
    j.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

fn scenarios_named(name: &str) -> Result<Vec<Scenario>, String> {
    if name == "all" {
        return Ok(all_scenarios());
    }
    scenario_by_name(name)
        .map(|s| vec![s])
        .ok_or_else(|| format!("unknown scenario `{name}` (see `peerlink-sim list`)"))
}

fn check_policy(policy: &Option<String>) -> Result<(), String> {
    match policy {
        Some(p) if !all_models().iter().any(|m| m.name() == *p) => Err(format!(
            "unknown policy or model `{p}` (see `peerlink-sim list`)"
        )),
        _ => Ok(()),
    }
}

fn progress(len: usize) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:20} [{bar:30}] {pos}/{len} seeds {elapsed}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match cli.command {
        Cmd::List => list(),
        Cmd::Run {
            scenario,
            seeds,
            jobs: j,
            json,
            policy,
            backend,
            shard,
            file,
        } => {
            let named = match &file {
                Some(path) => cli_files::pick(None, Some(path)).map(|(s, _)| vec![s]),
                None => scenarios_named(&scenario),
            };
            let (scenarios, seeds) = match (named, parse_seeds(&seeds)) {
                (Ok(s), Ok(seeds)) => (s, seeds),
                (Err(e), _) | (_, Err(e)) => return usage(e),
            };
            if let Err(e) = check_policy(&policy) {
                return usage(e);
            }
            let seeds = shard.map_or(seeds.clone(), |s| s.select(&seeds));
            if seeds.is_empty() {
                return usage("this shard has no seeds in the range");
            }
            let sweep = Sweep {
                jobs: jobs(j),
                json,
                policy,
                backend,
                file: file.as_deref(),
            };
            run_sweeps(&scenarios, &seeds, &sweep)
        }
        Cmd::Replay {
            scenario,
            file,
            seed,
            trace,
            trace_format,
            html,
            policy,
            backend,
        } => {
            let picked = cli_files::pick(scenario.as_deref(), file.as_deref())
                .and_then(|(s, file_seed)| Ok((s, cli_files::seed_of(seed, file_seed)?)));
            let (s, seed) = match picked {
                Ok(picked) => picked,
                Err(e) => return usage(e),
            };
            if let Err(e) = check_policy(&policy) {
                return usage(e);
            }
            let format = trace_format.or(trace.then_some(TraceFormat::Text));
            replay(&s, seed, format, html, policy, backend)
        }
        Cmd::Export(args) => cli_files::export(&args).unwrap_or_else(usage),
        Cmd::Snapshot(args) => cli_files::print_snapshot(&args).unwrap_or_else(usage),
        Cmd::Shrink(args) => cli_files::shrink(&args).unwrap_or_else(usage),
        Cmd::Catalog {
            json,
            seeds,
            jobs: j,
            backend,
        } => match parse_seeds(&seeds) {
            Ok(seeds) => run_catalog(&seeds, jobs(j), json, backend),
            Err(e) => usage(e),
        },
        Cmd::Bench { scenarios, seeds } => {
            let seeds = match parse_seeds(&seeds) {
                Ok(s) => s,
                Err(e) => return usage(e),
            };
            let mut list = Vec::new();
            for name in &scenarios {
                match scenario_by_name(name) {
                    Some(s) => list.push(s),
                    None => return usage(format!("unknown scenario `{name}`")),
                }
            }
            bench(&list, &seeds)
        }
        Cmd::CheckDeterminism {
            scenario,
            seeds,
            hash_only_seed,
            backend,
        } => {
            let (scenarios, seeds) = match (scenarios_named(&scenario), parse_seeds(&seeds)) {
                (Ok(s), Ok(seeds)) => (s, seeds),
                (Err(e), _) | (_, Err(e)) => return usage(e),
            };
            if let Some(seed) = hash_only_seed {
                return print_hash_only(&scenarios, seed, backend);
            }
            check_determinism(&scenarios, &seeds, backend)
        }
        Cmd::Merge { files } => merge_files(&files),
        Cmd::ModelCheck {
            nodes,
            policy,
            depth,
            faults,
            recovery,
        } => model_check(nodes, &policy, depth, faults, recovery),
    }
}

fn merge_files(files: &[std::path::PathBuf]) -> i32 {
    let mut inputs = Vec::new();
    for f in files {
        match std::fs::read_to_string(f) {
            Ok(text) => inputs.push((f.display().to_string(), text)),
            Err(e) => return usage(format!("{}: {e}", f.display())),
        }
    }
    let reports = match merge(&inputs) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    let mut bad = false;
    for r in &reports {
        bad |= r["failed"].as_array().is_some_and(|a| !a.is_empty());
        bad |= r["nondeterministic_seeds"]
            .as_array()
            .is_some_and(|a| !a.is_empty());
        println!("{r}");
    }
    i32::from(bad)
}

fn model_check(
    nodes: usize,
    policy: &str,
    depth: Option<usize>,
    faults: Option<u8>,
    recovery: Option<u64>,
) -> i32 {
    if !(2..=3).contains(&nodes) {
        return usage(format!(
            "--nodes {nodes}: the model checker covers 2 or 3 nodes"
        ));
    }
    let Some(policy) = TieBreakPolicy::from_name(policy) else {
        return usage(format!("unknown tie-break policy `{policy}`"));
    };
    let options = check::Options {
        nodes,
        policy,
        faults: faults.unwrap_or(if nodes == 2 { 1 } else { 0 }),
        depth,
        recovery: recovery.map(std::time::Duration::from_secs),
    };
    let outcome = check::check(&options);
    print!("{}", check::report::render(&options, &outcome));
    i32::from(!outcome.violated().is_empty())
}

fn list() -> i32 {
    println!("scenarios:");
    for s in all_scenarios() {
        println!("  {:<20} {} nodes  {}", s.name, s.nodes, s.summary);
    }
    println!("large scenarios (by name only, not in `all`; use --backend event):");
    for s in large_scenarios() {
        println!("  {:<20} {} nodes  {}", s.name, s.nodes, s.summary);
    }
    println!("policies and models (--policy):");
    for m in all_models() {
        println!("  {:<20} {}", m.name(), m.describe());
    }
    0
}

/// How `run` sweeps its scenarios.
struct Sweep<'a> {
    jobs: usize,
    json: bool,
    policy: Option<String>,
    backend: Backend,
    /// The scenario file the scenario came from, for the replay hint.
    file: Option<&'a std::path::Path>,
}

fn run_sweeps(scenarios: &[Scenario], seeds: &[u64], how: &Sweep<'_>) -> i32 {
    let Sweep {
        jobs,
        json,
        ref policy,
        backend,
        file,
    } = *how;
    let options = RunOptions {
        backend,
        keep_trace: false,
        model: policy.clone(),
        file: file.map(std::path::Path::to_path_buf),
        ..RunOptions::default()
    };
    let mut failed_any = false;
    if !json {
        println!(
            "{:<20} {:<16} {:>6} {:>6} {:>6} {:>10} {:>12}",
            "scenario", "policy", "seeds", "passed", "failed", "first-fail", "sim-s/wall-s"
        );
    }
    for scenario in scenarios {
        // No bar under --json (indicatif draws only on a terminal anyway).
        let bar = if json {
            ProgressBar::hidden()
        } else {
            progress(seeds.len())
        };
        bar.set_message(scenario.name.clone());
        let watch = Stopwatch::start();
        let reports = match sweep(scenario, seeds, jobs, &options, &bar) {
            Ok(r) => r,
            Err(e) => return usage(e),
        };
        bar.finish_and_clear();
        let wall = watch.secs();
        let failed: Vec<&RunReport> = reports.iter().filter(|r| r.violation.is_some()).collect();
        failed_any |= !failed.is_empty();
        let sim_secs: f64 = reports.iter().map(|r| r.sim_time.as_secs_f64()).sum();
        let speed = if wall > 0.0 { sim_secs / wall } else { 0.0 };
        let model = reports
            .first()
            .map_or(scenario.model.clone(), |r| r.model.clone());
        if json {
            let mut obj = peerlink_sim::sweep::summary_json(&scenario.name, &model, &reports, wall);
            if let Some(map) = obj.as_object_mut() {
                map.insert("backend".into(), backend.to_string().into());
                if let Some(path) = file {
                    map.insert("file".into(), path.display().to_string().into());
                }
            }
            println!("{obj}");
        } else {
            let first = failed
                .first()
                .map_or("-".to_string(), |r| r.seed.to_string());
            println!(
                "{:<20} {:<16} {:>6} {:>6} {:>6} {:>10} {:>12.0}",
                scenario.name,
                model,
                seeds.len(),
                reports.len() - failed.len(),
                failed.len(),
                first,
                speed
            );
        }
        if let Some(r) = failed.first() {
            if let Some(v) = &r.violation {
                let replay = r.replay_command();
                eprintln!("  seed {}: {v}\n  replay: {replay}", r.seed);
            }
        }
    }
    i32::from(failed_any)
}

fn replay(
    scenario: &Scenario,
    seed: u64,
    format: Option<TraceFormat>,
    html: Option<PathBuf>,
    policy: Option<String>,
    backend: Backend,
) -> i32 {
    let options = RunOptions {
        backend,
        keep_trace: format.is_some() || html.is_some(),
        model: policy,
        ..RunOptions::default()
    };
    let report = match run(scenario, seed, &options) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    if let Some(path) = html {
        let page = timeline::html::render(&Timeline::from_report(&report, scenario.nodes));
        if let Err(e) = std::fs::write(&path, page) {
            eprintln!("peerlink-sim: cannot write {}: {e}", path.display());
            return 2;
        }
        eprintln!("timeline written to {}", path.display());
    }
    if format == Some(TraceFormat::Json) {
        for record in &report.trace {
            // Serialized directly (not through `Value`) to keep field order.
            match serde_json::to_string(record) {
                Ok(line) => println!("{line}"),
                Err(e) => return usage(e),
            }
        }
        println!(
            "{}",
            serde_json::json!({
                "scenario": report.scenario,
                "policy": report.model,
                "seed": report.seed,
                "events": report.events,
                "sim_time_us": u64::try_from(report.sim_time.as_micros()).unwrap_or(u64::MAX),
                "trace_sha256": report.trace_hash,
                "violation": report.violation.as_ref().map(ToString::to_string),
            })
        );
        return i32::from(report.violation.is_some());
    }
    if format == Some(TraceFormat::Text) {
        for line in &report.trace {
            println!("{line}");
        }
    }
    println!(
        "scenario={} policy={} seed={} events={} sim_time={:.3}s trace_sha256={}",
        report.scenario,
        report.model,
        report.seed,
        report.events,
        report.sim_time.as_secs_f64(),
        report.trace_hash
    );
    match &report.violation {
        Some(v) => {
            println!("FAIL {v}");
            1
        }
        None => {
            println!("PASS");
            0
        }
    }
}

fn run_catalog(seeds: &[u64], jobs: usize, json: bool, backend: Backend) -> i32 {
    let entries = catalog::entries();
    let mut ok = true;
    if !json {
        println!(
            "{:<6} {:<18} {:<22} {:>10} {:<26} {:>12}",
            "bug", "scenario", "naive", "naive-seed", "naive-broke", "ours"
        );
    }
    for entry in entries {
        let Some(scenario) = scenario_by_name(&entry.scenario) else {
            return usage(format!("catalog names unknown scenario {}", entry.scenario));
        };
        let naive_opts = RunOptions {
            backend,
            keep_trace: false,
            model: Some(entry.naive.to_string()),
            ..RunOptions::default()
        };
        let naive = match run(&scenario, entry.naive_seed, &naive_opts) {
            Ok(r) => r,
            Err(e) => return usage(e),
        };
        let broke = naive
            .violation
            .as_ref()
            .map(|v| v.invariant)
            .unwrap_or("nothing");
        let naive_ok = broke == entry.invariant;
        let ours_opts = RunOptions {
            backend,
            keep_trace: false,
            model: Some("node-id".into()),
            ..RunOptions::default()
        };
        let reports = match sweep(&scenario, seeds, jobs, &ours_opts, &ProgressBar::hidden()) {
            Ok(r) => r,
            Err(e) => return usage(e),
        };
        let ours_failed: Vec<u64> = reports
            .iter()
            .filter(|r| r.violation.is_some())
            .map(|r| r.seed)
            .collect();
        ok &= naive_ok && ours_failed.is_empty();
        if json {
            let obj = serde_json::json!({
                "bug": entry.bug,
                "title": entry.title,
                "scenario": entry.scenario,
                "naive": entry.naive,
                "backend": backend.to_string(),
                "naive_seed": entry.naive_seed,
                "naive_broke": broke,
                "naive_expected": entry.invariant,
                "naive_detail": naive.violation.as_ref().map(|v| v.to_string()),
                "ours_seeds": seeds.len(),
                "ours_failed": ours_failed,
            });
            println!("{obj}");
        } else {
            let ours = format!("{}/{} pass", seeds.len() - ours_failed.len(), seeds.len());
            let mark = if naive_ok {
                broke.to_string()
            } else {
                format!("{broke} (expected {})", entry.invariant)
            };
            println!(
                "#{:<5} {:<18} {:<22} {:>10} {:<26} {:>12}",
                entry.bug, entry.scenario, entry.naive, entry.naive_seed, mark, ours
            );
        }
    }
    i32::from(!ok)
}

fn print_hash_only(scenarios: &[Scenario], seed: u64, backend: Backend) -> i32 {
    let options = RunOptions {
        backend,
        ..RunOptions::default()
    };
    for s in scenarios {
        match run(s, seed, &options) {
            Ok(r) => println!("{} {} {}", s.name, seed, r.trace_hash),
            Err(e) => return usage(e),
        }
    }
    0
}

fn check_determinism(scenarios: &[Scenario], seeds: &[u64], backend: Backend) -> i32 {
    let exe = std::env::current_exe().ok();
    let mut mismatches = 0;
    for s in scenarios {
        for &seed in seeds {
            let keep = RunOptions {
                backend,
                keep_trace: true,
                model: None,
                ..RunOptions::default()
            };
            let (Ok(a), Ok(b)) = (run(s, seed, &keep), run(s, seed, &keep)) else {
                return usage("scenario failed to start");
            };
            let other = exe.as_ref().and_then(|exe| {
                let out = Command::new(exe)
                    .args([
                        "check-determinism",
                        &s.name,
                        "--seeds",
                        "1",
                        "--hash-only-seed",
                        &seed.to_string(),
                        "--backend",
                        &backend.to_string(),
                    ])
                    .output()
                    .ok()?;
                let text = String::from_utf8_lossy(&out.stdout).to_string();
                text.split_whitespace().nth(2).map(str::to_string)
            });
            let mut same = a.trace_hash == b.trace_hash;
            if !same {
                report_first_difference(s, seed, &a.trace, &b.trace);
            }
            match other {
                Some(h) if h == a.trace_hash => {}
                Some(h) => {
                    same = false;
                    println!(
                        "{} seed {seed}: second process hash {h} != {}",
                        s.name, a.trace_hash
                    );
                }
                None => {
                    same = false;
                    println!("{} seed {seed}: second process gave no hash", s.name);
                }
            }
            if same {
                println!(
                    "{} seed {seed}: identical ({} events, {})",
                    s.name,
                    a.events,
                    &a.trace_hash[..16]
                );
            } else {
                mismatches += 1;
            }
        }
    }
    println!(
        "{} passed, {} failed",
        scenarios.len() * seeds.len() - mismatches,
        mismatches
    );
    i32::from(mismatches > 0)
}

fn report_first_difference(s: &Scenario, seed: u64, a: &[TraceRecord], b: &[TraceRecord]) {
    let i = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    println!("{} seed {seed}: traces differ at event {i}", s.name);
    let line =
        |r: Option<&TraceRecord>| r.map_or("<end of trace>".to_string(), ToString::to_string);
    println!("  first run : {}", line(a.get(i)));
    println!("  second run: {}", line(b.get(i)));
    let _ = trace::set_runner_time;
}

fn bench(scenarios: &[Scenario], seeds: &[u64]) -> i32 {
    println!(
        "{:<20} {:>6} {:>8} {:>14} {:>14} {:>8}",
        "scenario", "seeds", "sim-s", "harness seed/s", "bare seed/s", "ratio"
    );
    for s in scenarios {
        let o = peerlink_sim::bench::measure(s, seeds);
        println!(
            "{:<20} {:>6} {:>8.0} {:>14.2} {:>14.2} {:>8.2}",
            o.scenario,
            o.seeds,
            o.sim_time.as_secs_f64(),
            o.harness_seeds_per_sec,
            o.bare_seeds_per_sec,
            o.ratio()
        );
    }
    0
}
