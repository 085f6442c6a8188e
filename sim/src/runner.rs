//! `run`: one seed of one scenario, start to end, deterministically. Builds
//! the turmoil sim from the scenario and seed, starts a host per node,
//! applies the fault schedule, checks invariants at every checkpoint, and
//! returns the first violation (if any) with the trace's fingerprint.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use peerlink::transport::{SimTransport, StreamTally};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tracing_subscriber::layer::SubscriberExt;

use crate::faults::{Fault, TimedFault};
use crate::invariants::{Checker, Observed, Violation};
use crate::model::{HostCtx, NodeModel, Slot};
use crate::scenario::Scenario;
use crate::timetable::Timetable;
use crate::trace::{set_runner_time, Trace, TraceLayer, TraceRecord};
use crate::transport::HostTransport;
use crate::view::NodeView;

/// The port every simulated node listens on.
pub const PORT: u16 = 7000;

/// Which simulated network runs the scenario. Each is deterministic on its
/// own; traces differ between them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// turmoil, stepped tick by tick: the reference.
    #[default]
    Turmoil,
    /// One paused tokio runtime over an in-memory network (`event`).
    Event,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Turmoil => "turmoil",
            Backend::Event => "event",
        })
    }
}

/// How to run.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// The simulated network (turmoil unless asked).
    pub backend: Backend,
    /// Keep the trace's records (for `replay --trace`), not only its hash.
    pub keep_trace: bool,
    /// Run every node as this model instead of the scenario's (nodes in
    /// `Scenario::per_node_models` keep their own).
    pub model: Option<String>,
    /// Named instants at which every node's table is captured into
    /// [`RunReport::checkpoints`] (for snapshot tests).
    pub checkpoints: Vec<(String, Duration)>,
    /// The scenario file the scenario was read from (`run --file`), if
    /// any: replay commands name the file, not the scenario.
    pub file: Option<PathBuf>,
}

/// Every node's table at one named instant.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// The checkpoint's name.
    pub name: String,
    /// Simulated time it was taken at (the first step at or after its time).
    pub at: Duration,
    /// `(host, table)`; `None` while the host is down.
    pub nodes: Vec<(String, Option<NodeView>)>,
}

/// What one run did.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: String,
    /// Model every node ran.
    pub model: String,
    /// The seed.
    pub seed: u64,
    /// The backend it ran on.
    pub backend: Backend,
    /// The first broken invariant, if any.
    pub violation: Option<Violation>,
    /// SHA-256 of the trace.
    pub trace_hash: String,
    /// Trace records, when kept (each `Display`s as its canonical line).
    pub trace: Vec<TraceRecord>,
    /// Events in the trace.
    pub events: usize,
    /// Simulated time covered.
    pub sim_time: Duration,
    /// Tables captured at the requested checkpoints, in time order.
    pub checkpoints: Vec<Checkpoint>,
    /// The faults applied, in order (those scheduled after the run stopped
    /// are not in it).
    pub faults: Vec<TimedFault>,
    /// The scenario file it was read from, if any.
    pub file: Option<PathBuf>,
}

impl RunReport {
    /// The command that replays this run.
    pub fn replay_command(&self) -> String {
        replay_command(
            &self.scenario,
            self.file.as_deref(),
            self.seed,
            &self.model,
            &self.backend.to_string(),
        )
    }
}

/// How a replay command names a scenario: `--file F` for one read from a
/// file (its name is not a built-in), else its name.
pub fn replay_target(name: &str, file: Option<&Path>) -> String {
    match file {
        Some(p) => format!("--file {}", p.display()),
        None => name.to_string(),
    }
}

/// The command that replays `seed` of `scenario` (read from `file`, if
/// any) under `policy` on `backend` (a [`Backend`]'s name).
pub fn replay_command(
    scenario: &str,
    file: Option<&Path>,
    seed: u64,
    policy: &str,
    backend: &str,
) -> String {
    let target = replay_target(scenario, file);
    let on = if backend == Backend::Turmoil.to_string() {
        String::new()
    } else {
        format!(" --backend {backend}")
    };
    format!("peerlink-sim replay {target} --seed {seed} --policy {policy}{on} --trace")
}

/// Why a run could not start.
#[derive(Debug, PartialEq, Eq)]
pub enum RunError {
    /// No model of that name.
    UnknownModel(String),
    /// A scenario with no nodes.
    NoNodes,
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::UnknownModel(m) => {
                write!(f, "unknown policy or model `{m}` (see `peerlink-sim list`)")
            }
            RunError::NoNodes => f.write_str("a scenario needs at least one node"),
        }
    }
}

/// Runs `scenario` on `seed`.
pub fn run(scenario: &Scenario, seed: u64, options: &RunOptions) -> Result<RunReport, RunError> {
    let scenario = &*scenario.for_seed(seed);
    let model_name = options
        .model
        .clone()
        .unwrap_or_else(|| scenario.model.clone());
    if scenario.resolve_model(&model_name).is_none() {
        return Err(RunError::UnknownModel(model_name));
    }
    if scenario.nodes == 0 {
        return Err(RunError::NoNodes);
    }
    let models = (0..scenario.nodes)
        .map(|i| {
            let name = scenario.per_node_models.get(&i).unwrap_or(&model_name);
            scenario
                .resolve_model(name)
                .ok_or_else(|| RunError::UnknownModel(name.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let trace = Arc::new(Mutex::new(Trace::new(options.keep_trace)));
    let subscriber = tracing_subscriber::registry().with(TraceLayer::new(trace.clone()));
    let mut wanted = options.checkpoints.clone();
    wanted.sort_by_key(|(_, at)| *at);
    let (violation, sim_time, checkpoints, faults) =
        tracing::subscriber::with_default(subscriber, || match options.backend {
            Backend::Turmoil => Run::new(scenario, seed, models, wanted).execute(),
            Backend::Event => crate::event::run(scenario, seed, models, wanted),
        });
    let trace = trace.lock().unwrap_or_else(PoisonError::into_inner);
    Ok(RunReport {
        scenario: scenario.name.clone(),
        model: model_name,
        seed,
        backend: options.backend,
        violation,
        trace_hash: trace.hash(),
        trace: trace.records().to_vec(),
        events: trace.len(),
        sim_time,
        checkpoints,
        faults,
        file: options.file.clone(),
    })
}

/// One host's bookkeeping.
struct Host {
    name: String,
    slot: Slot,
    tally: Arc<StreamTally>,
    up: bool,
}

struct Run<'a> {
    scenario: &'a Scenario,
    sim: turmoil::Sim<'static>,
    hosts: Vec<Host>,
    timetable: Timetable,
    starts: Vec<Duration>,
    probes: u64,
}

impl<'a> Run<'a> {
    fn new(
        scenario: &'a Scenario,
        seed: u64,
        models: Vec<Arc<dyn NodeModel>>,
        wanted: Vec<(String, Duration)>,
    ) -> Run<'a> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let starts = scenario.start_times(&mut rng);
        let faults = scenario.fault_schedule(&mut rng);
        let mut sim = build_sim(scenario, seed);
        let names: Vec<String> = (0..scenario.nodes).map(|i| format!("n{i}")).collect();
        let mut hosts = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let transport = SimTransport::new();
            let slot: Slot = Arc::default();
            hosts.push(Host {
                name: name.clone(),
                slot: slot.clone(),
                tally: transport.tally(),
                up: true,
            });
            let known: Vec<String> = (0..scenario.nodes)
                .filter(|&j| scenario.knows.knows(i, j))
                .map(|j| names[j].clone())
                .collect();
            let incarnation = Arc::new(AtomicU64::new(0));
            let (model, config, start) = (models[i].clone(), scenario.config.clone(), starts[i]);
            let traffic = scenario.traffic;
            let name = name.clone();
            sim.host(name.clone(), move || {
                let run = incarnation.fetch_add(1, Ordering::Relaxed);
                let ctx = HostCtx {
                    name: name.clone(),
                    ip: turmoil::lookup(name.as_str()),
                    port: PORT,
                    peers: known
                        .iter()
                        .map(|n| SocketAddr::new(turmoil::lookup(n.as_str()), PORT))
                        .collect(),
                    config: config.clone(),
                    // A restart is a new process: new node id, new nonces.
                    seed: seed ^ ((i as u64 + 1) << 32) ^ (run << 48),
                    transport: HostTransport::Turmoil(transport.clone()),
                    slot: slot.clone(),
                    traffic,
                };
                let delay = if run == 0 { start } else { Duration::ZERO };
                let node = model.start(ctx);
                async move {
                    tokio::time::sleep(delay).await;
                    node.await
                }
            });
        }
        Run {
            scenario,
            sim,
            hosts,
            timetable: Timetable::new(faults, wanted),
            starts,
            probes: 0,
        }
    }

    /// Steps to the end; returns the first violation, the time reached,
    /// the checkpoints taken and the faults applied.
    fn execute(
        mut self,
    ) -> (
        Option<Violation>,
        Duration,
        Vec<Checkpoint>,
        Vec<TimedFault>,
    ) {
        let (violation, at) = self.step_to_end();
        (violation, at, self.timetable.taken, self.timetable.applied)
    }

    fn step_to_end(&mut self) -> (Option<Violation>, Duration) {
        let (mut checker, end) = plan(self.scenario, &self.timetable, &self.starts);
        let every = self.scenario.checks.check_every;
        let mut next_check = every;
        while self.sim.elapsed() < end {
            let now = self.sim.elapsed();
            for fault in self.timetable.due_faults(now) {
                self.apply(&fault, now);
            }
            if let Err(e) = self.sim.step() {
                return (Some(host_failure(now, &e.to_string())), now);
            }
            let now = self.sim.elapsed();
            let hosts = &self.hosts;
            let sim = &self.sim;
            self.timetable.take_checkpoints(now, || observe(hosts, sim));
            if now >= next_check {
                next_check = now + every;
                if let Err(v) = checker.check(now, &self.observe()) {
                    return (Some(v), now);
                }
            }
        }
        let now = self.sim.elapsed();
        if let Err(v) = checker.check(now, &self.observe()) {
            return (Some(v), now);
        }
        (self.check_sockets(now).err(), now)
    }

    fn apply(&mut self, fault: &Fault, now: Duration) {
        set_runner_time(now);
        tracing::debug!(target: "sim", "fault {fault}");
        let n = |i: &usize| format!("n{i}");
        match fault {
            Fault::Partition(a, b) => self.sim.partition(n(a), n(b)),
            Fault::PartitionOneWay(a, b) => self.sim.partition_oneway(n(a), n(b)),
            Fault::Repair(a, b) => self.sim.repair(n(a), n(b)),
            Fault::RepairOneWay(a, b) => self.sim.repair_oneway(n(a), n(b)),
            Fault::Hold(a, b) => self.sim.hold(n(a), n(b)),
            Fault::Release(a, b) => self.sim.release(n(a), n(b)),
            Fault::Latency(a, b, d) => self.sim.set_link_latency(n(a), n(b), *d),
            // turmoil has no deterministic process crash: a kill is a crash.
            Fault::Crash(a) | Fault::Kill(a) if self.hosts[*a].up => {
                self.hosts[*a].up = false;
                *self.hosts[*a]
                    .slot
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
                // Sockets of a crashing host are abandoned, not closed: a
                // deterministic power loss (see `SimTransport`).
                self.hosts[*a].tally.set_crashing(true);
                self.sim.crash(n(a));
                self.hosts[*a].tally.set_crashing(false);
            }
            Fault::Restart(a) if !self.hosts[*a].up => {
                self.hosts[*a].up = true;
                self.sim.bounce(n(a));
            }
            Fault::Crash(_) | Fault::Kill(_) | Fault::Restart(_) => {}
        }
    }

    fn observe(&self) -> Vec<Observed> {
        observe(&self.hosts, &self.sim)
    }

    /// End of run, network quiet: each node's table holds exactly the
    /// sockets its transport has open, and turmoil's count equals those plus
    /// the sockets turmoil leaks for failed connects, plus at most the
    /// sockets abandoned by crashes (a peer's reset removes one).
    fn check_sockets(&mut self, now: Duration) -> Result<(), Violation> {
        let counts = self.turmoil_stream_counts();
        for (host, observed) in self.hosts.iter().zip(self.observe()) {
            let Some(view) = observed.view else { continue };
            let tally = &host.tally;
            let known = tally.open_streams() + tally.failed_connects();
            let counted = counts.get(&observed.ip).copied();
            let in_bounds =
                counted.is_some_and(|c| c >= known && c <= known + tally.abandoned_streams());
            let detail = if view.held_connections() + view.pending() != tally.open_streams() {
                format!(
                    "table holds {} connections and {} handshakes, transport has {} sockets open",
                    view.held_connections(),
                    view.pending(),
                    tally.open_streams()
                )
            } else if !in_bounds {
                format!(
                    "turmoil counts {:?} streams, expected {} open + {} failed connects + up to {} abandoned by crashes",
                    counted,
                    tally.open_streams(),
                    tally.failed_connects(),
                    tally.abandoned_streams()
                )
            } else {
                continue;
            };
            return Err(Violation {
                invariant: "table-matches-sockets",
                at: now,
                nodes: vec![host.name.clone()],
                detail,
            });
        }
        Ok(())
    }

    /// turmoil's established-stream count per host, read by a probe host.
    fn turmoil_stream_counts(&mut self) -> std::collections::BTreeMap<IpAddr, usize> {
        let ips: BTreeSet<IpAddr> = self
            .hosts
            .iter()
            .map(|h| self.sim.lookup(h.name.as_str()))
            .collect();
        let out: Arc<Mutex<Option<std::collections::BTreeMap<IpAddr, usize>>>> = Arc::default();
        let sink = out.clone();
        self.probes += 1;
        self.sim
            .client(format!("probe{}", self.probes), async move {
                let counts = ips
                    .into_iter()
                    .map(|ip| (ip, turmoil::established_tcp_stream_count_on(ip)));
                *sink.lock().unwrap_or_else(PoisonError::into_inner) = Some(counts.collect());
                Ok(())
            });
        for _ in 0..1000 {
            if let Some(counts) = out.lock().unwrap_or_else(PoisonError::into_inner).take() {
                return counts;
            }
            if self.sim.step().is_err() {
                break;
            }
        }
        Default::default()
    }
}

/// The run's checker, and the time it ends: the scenario's duration, or
/// later if convergence (plus three pings) or a checkpoint needs it.
pub(crate) fn plan(
    scenario: &Scenario,
    timetable: &Timetable,
    starts: &[Duration],
) -> (Checker, Duration) {
    let quiet_from = timetable
        .faults()
        .iter()
        .map(|f| f.at)
        .chain(starts.iter().copied())
        .max();
    let checker = Checker::new(scenario, quiet_from.unwrap_or_default());
    let ping = scenario.config.ping_interval;
    let last_wanted = timetable
        .wanted()
        .last()
        .map(|(_, at)| *at)
        .unwrap_or_default();
    let end = scenario
        .duration
        .max(checker.converge_by() + ping * 3)
        .max(last_wanted);
    (checker, end)
}

/// Every turmoil host's table and open streams.
fn observe(hosts: &[Host], sim: &turmoil::Sim<'static>) -> Vec<Observed> {
    hosts
        .iter()
        .map(|h| Observed {
            name: h.name.clone(),
            ip: sim.lookup(h.name.as_str()),
            view: table_of(&h.slot),
            open_streams: h.tally.open_streams(),
        })
        .collect()
}

/// The table of the node in `slot` (`None` while its host is down).
pub(crate) fn table_of(slot: &Slot) -> Option<NodeView> {
    let node = slot.lock().unwrap_or_else(PoisonError::into_inner).clone();
    node.map(|n| n.view())
}

/// The turmoil simulation for `scenario` on `seed`: the seed drives
/// turmoil's RNG (latencies, random host order); the runner steps it itself,
/// so its own duration limit is never reached.
pub fn build_sim(scenario: &Scenario, seed: u64) -> turmoil::Sim<'static> {
    turmoil::Builder::new()
        .rng_seed(seed)
        .enable_random_order()
        .tick_duration(scenario.tick)
        .min_message_latency(scenario.latency.0)
        .max_message_latency(scenario.latency.1)
        .simulation_duration(Duration::from_secs(365 * 86400))
        .build()
}

pub(crate) fn host_failure(at: Duration, error: &str) -> Violation {
    Violation {
        invariant: "host-ran",
        at,
        nodes: vec![],
        detail: format!("a host failed: {error}"),
    }
}
