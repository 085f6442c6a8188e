//! The event backend's run loop: one seed of one scenario on a paused,
//! seeded, current-thread runtime. Starts a root task per node (its host
//! named through `tasks`), sleeps from one fault, check or checkpoint to
//! the next while the runtime runs every node, and ends with the socket
//! check. The seed scheme (start times, faults, node seeds per
//! incarnation) is the turmoil runner's.
//!
//! A crash marks the incarnation down in `tasks` (its events are muted),
//! takes the host down in `net` (every operation of its transport fails,
//! so the library's tasks wind down at once), empties its slot and aborts
//! its root and every task it registered (`tasks`). A restart spawns a new
//! root with a new transport.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::runtime::{Builder, LocalOptions, RngSeed};
use tokio::time::Instant;

use super::net::{CrashKind, Net};
use super::stream::{EventTransport, SharedNet};
use super::tasks::{CrashCensus, Owner, Tasks};
use crate::faults::{Fault, TimedFault};
use crate::invariants::{Observed, Violation};
use crate::model::{HostCtx, NodeModel, Slot};
use crate::runner::{host_failure, plan, table_of, Checkpoint, PORT};
use crate::scenario::{Knows, Scenario};
use crate::timetable::Timetable;
use crate::trace::{set_runner_time, set_task_host, TaskHost};
use crate::transport::HostTransport;

/// What a run returns: the first violation, the time reached, the
/// checkpoints taken and the faults applied.
type Outcome = (
    Option<Violation>,
    Duration,
    Vec<Checkpoint>,
    Vec<TimedFault>,
);

/// Runs `scenario` on `seed` with `models` per node; returns the first
/// violation, the time reached, the checkpoints taken and the faults
/// applied.
pub fn run(
    scenario: &Scenario,
    seed: u64,
    models: Vec<Arc<dyn NodeModel>>,
    wanted: Vec<(String, Duration)>,
) -> Outcome {
    run_counted(scenario, seed, models, wanted).0
}

/// [`run`], and what each crash did to its incarnation's tasks (taken
/// before the runtime drops what is left).
pub(crate) fn run_counted(
    scenario: &Scenario,
    seed: u64,
    models: Vec<Arc<dyn NodeModel>>,
    wanted: Vec<(String, Duration)>,
) -> (Outcome, Vec<CrashCensus>) {
    let names: Vec<String> = (0..scenario.nodes).map(|i| format!("n{i}")).collect();
    let tasks = Tasks::new(&names);
    let mut builder = Builder::new_current_thread();
    builder
        .enable_time()
        .start_paused(true)
        .rng_seed(RngSeed::from_bytes(&seed.to_le_bytes()));
    tasks.install(&mut builder);
    let runtime = match builder.build_local(LocalOptions::default()) {
        Ok(rt) => rt,
        Err(e) => {
            let failed = Some(host_failure(Duration::ZERO, &e.to_string()));
            return ((failed, Duration::ZERO, Vec::new(), Vec::new()), Vec::new());
        }
    };
    let out = tasks.running(|| {
        runtime.block_on(async {
            let run = EventRun::new(scenario, seed, models, wanted, names, tasks.clone());
            run.execute().await
        })
    });
    let crashes = tasks.crashes();
    // Whatever the runtime's drop still runs belongs to no live host.
    tasks.mute_all();
    drop(runtime);
    set_task_host(TaskHost::Runner);
    (out, crashes)
}

/// One host's bookkeeping.
struct Host {
    name: String,
    slot: Slot,
    up: bool,
    incarnation: u64,
}

struct EventRun<'a> {
    scenario: &'a Scenario,
    seed: u64,
    net: SharedNet,
    tasks: Tasks,
    hosts: Vec<Host>,
    models: Vec<Arc<dyn NodeModel>>,
    known: Vec<Vec<usize>>,
    timetable: Timetable,
    starts: Vec<Duration>,
    epoch: Instant,
    /// A node future that returned an error (a host failure).
    failed: Arc<Mutex<Option<String>>>,
    /// The last observation of each host and the polls of its tasks it
    /// saw (`None`: observe again). A table changes only in its host's
    /// tasks, or by a crash or restart, so a host whose tasks have not been
    /// polled since is not observed again.
    observed: Vec<Observed>,
    seen_polls: Vec<Option<u64>>,
}

/// Every host's table and open streams.
fn observe(hosts: &[Host], net: &SharedNet) -> Vec<Observed> {
    let net = net.lock().unwrap_or_else(PoisonError::into_inner);
    hosts
        .iter()
        .enumerate()
        .map(|(i, h)| Observed {
            name: h.name.clone(),
            ip: net.ip(i),
            view: table_of(&h.slot),
            open_streams: net.open_streams(i),
        })
        .collect()
}

/// Who each node is configured with, in index order, without scanning
/// every pair (`Knows::knows` is linear in the pairs).
fn known_peers(scenario: &Scenario) -> Vec<Vec<usize>> {
    let n = scenario.nodes;
    match &scenario.knows {
        Knows::All => (0..n)
            .map(|i| (0..n).filter(|&j| j != i).collect())
            .collect(),
        // `runner::run` resolves it before any backend runs.
        Knows::Random { .. } => vec![Vec::new(); n],
        Knows::Only(pairs) => {
            let mut known = vec![std::collections::BTreeSet::new(); n];
            for &(a, b) in pairs {
                if a != b && a < n && b < n {
                    known[a].insert(b);
                }
            }
            known.into_iter().map(|s| s.into_iter().collect()).collect()
        }
    }
}

impl<'a> EventRun<'a> {
    fn new(
        scenario: &'a Scenario,
        seed: u64,
        models: Vec<Arc<dyn NodeModel>>,
        wanted: Vec<(String, Duration)>,
        names: Vec<String>,
        tasks: Tasks,
    ) -> EventRun<'a> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let starts = scenario.start_times(&mut rng);
        let faults = scenario.fault_schedule(&mut rng);
        let net = Arc::new(Mutex::new(Net::new(seed, scenario.latency, &names)));
        let epoch = Instant::now();
        tasks.set_epoch(epoch);
        let hosts = names
            .into_iter()
            .map(|name| Host {
                name,
                slot: Slot::default(),
                up: true,
                incarnation: 0,
            })
            .collect();
        EventRun {
            scenario,
            seed,
            net,
            tasks,
            hosts,
            models,
            known: known_peers(scenario),
            timetable: Timetable::new(faults, wanted),
            starts,
            epoch,
            failed: Arc::default(),
            observed: Vec::new(),
            seen_polls: Vec::new(),
        }
    }

    fn net(&self) -> std::sync::MutexGuard<'_, Net> {
        self.net.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Spawns host `i`'s current incarnation, after `delay`.
    fn start(&mut self, i: usize, delay: Duration) {
        let incarnation = self.hosts[i].incarnation;
        let (ip, peers) = {
            let net = self.net();
            let peers = self.known[i]
                .iter()
                .map(|&j| SocketAddr::new(net.ip(j), PORT))
                .collect();
            (net.ip(i), peers)
        };
        let ctx = HostCtx {
            name: self.hosts[i].name.clone(),
            ip,
            port: PORT,
            peers,
            config: self.scenario.config.clone(),
            // A restart is a new process: new node id, new nonces.
            seed: self.seed ^ ((i as u64 + 1) << 32) ^ (incarnation << 48),
            transport: HostTransport::Event(EventTransport::new(self.net.clone(), i, incarnation)),
            slot: self.hosts[i].slot.clone(),
            traffic: self.scenario.traffic,
        };
        let model = self.models[i].clone();
        let (net, failed) = (self.net.clone(), self.failed.clone());
        let owner = Owner {
            host: i,
            incarnation,
        };
        let root = self.tasks.spawn_as(owner, move || {
            tokio::task::spawn_local(async move {
                tokio::time::sleep(delay).await;
                let result = model.start(ctx).await;
                let live = net
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .is_live(i, incarnation);
                if let (Err(e), true) = (result, live) {
                    *failed.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
                }
            })
        });
        self.tasks.adopt_root(root.abort_handle());
    }

    async fn execute(mut self) -> Outcome {
        let (violation, at) = self.run_to_end().await;
        (violation, at, self.timetable.taken, self.timetable.applied)
    }

    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.epoch)
    }

    async fn run_to_end(&mut self) -> (Option<Violation>, Duration) {
        let (mut checker, end) = plan(self.scenario, &self.timetable, &self.starts);
        for i in 0..self.hosts.len() {
            self.start(i, self.starts[i]);
        }
        let every = self.scenario.checks.check_every;
        let mut next_check = every;
        let mut now = Duration::ZERO;
        while now < end {
            let next = [self.timetable.next_at(), Some(next_check), Some(end)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(end)
                .max(now);
            tokio::time::sleep_until(self.epoch + next).await;
            now = self.now();
            if let Some(e) = self
                .failed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
            {
                return (Some(host_failure(now, &e)), now);
            }
            for fault in self.timetable.due_faults(now) {
                self.apply(&fault, now);
            }
            let (hosts, net) = (&self.hosts, &self.net);
            self.timetable.take_checkpoints(now, || observe(hosts, net));
            if now >= next_check {
                next_check = now + every;
                if let Err(v) = checker.check(now, self.observe_cached()) {
                    return (Some(v), now);
                }
            }
        }
        if let Err(v) = checker.check(now, &self.observe()) {
            return (Some(v), now);
        }
        (self.check_sockets(now).err(), now)
    }

    fn apply(&mut self, fault: &Fault, now: Duration) {
        set_runner_time(now);
        tracing::debug!(target: "sim", "fault {fault}");
        let at = Instant::now();
        match *fault {
            Fault::Partition(a, b) => self.net().partition(a, b, true),
            Fault::PartitionOneWay(a, b) => self.net().partition(a, b, false),
            Fault::Repair(a, b) => self.net().repair(a, b, true),
            Fault::RepairOneWay(a, b) => self.net().repair(a, b, false),
            Fault::Hold(a, b) => self.net().hold(a, b),
            Fault::Release(a, b) => self.net().release(a, b, at),
            Fault::Latency(a, b, d) => self.net().set_latency(a, b, d),
            Fault::Crash(a) => self.crash(a, CrashKind::PowerLoss, at),
            Fault::Kill(a) => self.crash(a, CrashKind::Process, at),
            Fault::Restart(a) if !self.hosts[a].up => {
                let incarnation = self.net().restart(a);
                self.hosts[a].up = true;
                self.hosts[a].incarnation = incarnation;
                self.forget_observation(a);
                self.start(a, Duration::ZERO);
            }
            Fault::Restart(_) => {}
        }
    }

    fn crash(&mut self, a: usize, kind: CrashKind, at: Instant) {
        if !self.hosts[a].up {
            return;
        }
        self.hosts[a].up = false;
        self.tasks.down(a);
        self.forget_observation(a);
        *self.hosts[a]
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        self.net().crash(a, kind, at);
        self.tasks.abort(Owner {
            host: a,
            incarnation: self.hosts[a].incarnation,
        });
    }

    /// [`EventRun::observe`], reused while nothing ran in between.
    fn observe_cached(&mut self) -> &[Observed] {
        if self.observed.len() != self.hosts.len() {
            self.observed = self.observe();
            self.seen_polls = vec![None; self.hosts.len()];
        }
        let polls = self.tasks.polls();
        let net = self.net.lock().unwrap_or_else(PoisonError::into_inner);
        for (i, o) in self.observed.iter_mut().enumerate() {
            o.open_streams = net.open_streams(i);
            if self.seen_polls[i] != Some(polls[i]) {
                self.seen_polls[i] = Some(polls[i]);
                o.view = table_of(&self.hosts[i].slot);
            }
        }
        &self.observed
    }

    /// Host `a`'s slot changed outside its tasks: observe it afresh.
    fn forget_observation(&mut self, a: usize) {
        if let Some(seen) = self.seen_polls.get_mut(a) {
            *seen = None;
        }
    }

    fn observe(&self) -> Vec<Observed> {
        observe(&self.hosts, &self.net)
    }

    /// End of run, network quiet: each node's table holds exactly the
    /// streams its transport has open, and the network holds exactly those
    /// on the host (nothing left in an accept queue or leaked).
    fn check_sockets(&self, now: Duration) -> Result<(), Violation> {
        let observed = self.observe();
        let net = self.net();
        for (i, o) in observed.into_iter().enumerate() {
            let Some(view) = o.view else { continue };
            let open = net.open_streams(i);
            let detail = if view.held_connections() + view.pending() != open {
                format!(
                    "table holds {} connections and {} handshakes, transport has {} streams open",
                    view.held_connections(),
                    view.pending(),
                    open
                )
            } else if net.established(i) != open {
                format!(
                    "the network holds {} streams on the host, its transport {} ({} abandoned by crashes)",
                    net.established(i),
                    open,
                    net.abandoned(i)
                )
            } else {
                continue;
            };
            return Err(Violation {
                invariant: "table-matches-sockets",
                at: now,
                nodes: vec![o.name],
                detail,
            });
        }
        Ok(())
    }
}

/// Runs `scenario` on `seed` with every node as `model` (`None`: the
/// scenario's) on the event backend, and reports what each crash did to
/// its incarnation's tasks. `None`: an unknown model or no nodes.
pub fn crash_census(
    scenario: &Scenario,
    seed: u64,
    model: Option<&str>,
) -> Option<Vec<CrashCensus>> {
    let scenario = &*scenario.for_seed(seed);
    let name = model.unwrap_or(&scenario.model);
    let models = (0..scenario.nodes)
        .map(|i| {
            scenario.resolve_model(
                scenario
                    .per_node_models
                    .get(&i)
                    .map_or(name, String::as_str),
            )
        })
        .collect::<Option<Vec<_>>>()?;
    if models.is_empty() {
        return None;
    }
    Some(run_counted(scenario, seed, models, Vec::new()).1)
}
