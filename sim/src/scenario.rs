//! `Scenario`: a simulation as data (nodes, who knows whom, start times,
//! latencies, config, node model, faults, checks) plus a small builder.
//! `seed → scenario → run` is one deterministic function: everything random
//! in a scenario is drawn from the run's seed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use peerlink::Config;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::faults::{FaultPlan, TimedFault};
use crate::model::{NodeModel, OwnModels};

/// Who is configured with whose address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Knows {
    /// Everyone knows everyone.
    All,
    /// Only these (a knows b) pairs.
    Only(Vec<(usize, usize)>),
    /// Each node knows this many others, drawn from the run's seed;
    /// [`Scenario::for_seed`] turns it into `Only` before a run.
    Random {
        /// Peers per node.
        peers: usize,
    },
}

impl Knows {
    /// Whether node `a` is configured with node `b`.
    pub fn knows(&self, a: usize, b: usize) -> bool {
        a != b
            && match self {
                Knows::All => true,
                Knows::Only(pairs) => pairs.contains(&(a, b)),
                // Unresolved: see `Scenario::for_seed`.
                Knows::Random { .. } => false,
            }
    }
}

/// When nodes start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// All at time zero.
    Together,
    /// Each at a random time in `[0, max]`, drawn from the seed.
    Staggered(Duration),
    /// At these times (missing entries: zero).
    At(Vec<Duration>),
}

/// Bounds the invariants use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checks {
    /// After the start (no faults) or the last heal, every pair where one
    /// node knows the other must be connected within this.
    pub converge_within: Duration,
    /// Longest time the two ends of a pair may disagree on their connection
    /// (half-open links legitimately last until ping detection).
    pub agree_within: Duration,
    /// How often invariants are checked, in simulated time.
    pub check_every: Duration,
}

/// One simulation.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Stable name (`peerlink-sim run <name>`).
    pub name: String,
    /// One line on what it exercises.
    pub summary: String,
    /// Number of nodes (`n0`, `n1`, …).
    pub nodes: usize,
    /// Who is configured with whose address.
    pub knows: Knows,
    /// When nodes start.
    pub start: Start,
    /// Link latency range (min, max); equal for a fixed latency.
    pub latency: (Duration, Duration),
    /// turmoil tick.
    pub tick: Duration,
    /// Connection settings of every node.
    pub config: Config,
    /// Node model name (a tie-break policy or a legacy model).
    pub model: String,
    /// Per-node overrides of `model`: node index to model name (a policy, a
    /// legacy model or a `hostile` model). They win over `model` and over
    /// `RunOptions::model`, so one hostile node stays hostile under any policy.
    pub per_node_models: BTreeMap<usize, String>,
    /// Models given as values (a node project's own `NodeModel`), found by
    /// name before the built-in ones: `model`, `per_node_models` and
    /// `RunOptions::model` may name them.
    pub own_models: OwnModels,
    /// Faults.
    pub faults: FaultPlan,
    /// Total simulated time.
    pub duration: Duration,
    /// Invariant bounds.
    pub checks: Checks,
    /// Application traffic: when set, every node sends one application
    /// message to each peer it shows as connected at this interval, and the
    /// invariant `sends-arrive` checks that they arrive. `None` (the
    /// default): no application messages.
    pub traffic: Option<Duration>,
}

/// Timers scaled for simulation: the same rules as the defaults, shorter
/// so a run covers many detection and backoff cycles in a minute or two.
pub fn sim_config() -> Config {
    let mut c = Config::default();
    c.ping_interval = Duration::from_secs(5);
    c.pong_timeout = Duration::from_secs(5);
    c.max_missed_pongs = 3;
    c.handshake_timeout = Duration::from_secs(3);
    c.connect_timeout = Duration::from_secs(3);
    c.redial_backoff_min = Duration::from_secs(1);
    c.redial_backoff_max = Duration::from_secs(16);
    // Faster backoff lets an honest peer flap more often: keep the flap
    // threshold above what it allows (see `Config::honest_flap_bound`).
    c.flap_threshold = c.honest_flap_bound() + 1;
    c
}

impl Scenario {
    /// A scenario of `nodes` nodes that all know each other and start
    /// together, with sim timers, default model, no faults, run 60 s.
    pub fn new(name: &str, summary: &str, nodes: usize) -> Scenario {
        let config = sim_config();
        let checks = default_checks(&config);
        Scenario {
            name: name.into(),
            summary: summary.into(),
            nodes,
            knows: Knows::All,
            start: Start::Together,
            latency: (Duration::from_millis(1), Duration::from_millis(20)),
            tick: Duration::from_millis(1),
            config,
            model: "node-id".into(),
            per_node_models: BTreeMap::new(),
            own_models: OwnModels::default(),
            faults: FaultPlan::None,
            duration: Duration::from_secs(60),
            checks,
            traffic: None,
        }
    }

    /// Sets who knows whom.
    pub fn knows(mut self, knows: Knows) -> Self {
        self.knows = knows;
        self
    }

    /// Sets start times.
    pub fn start(mut self, start: Start) -> Self {
        self.start = start;
        self
    }

    /// Sets the latency range.
    pub fn latency(mut self, min: Duration, max: Duration) -> Self {
        self.latency = (min, max);
        self
    }

    /// Sets the tick.
    pub fn tick(mut self, tick: Duration) -> Self {
        self.tick = tick;
        self
    }

    /// Sets the node model.
    pub fn model(mut self, model: &str) -> Self {
        self.model = model.into();
        self
    }

    /// Runs node `index` as `model`, whatever the others run.
    pub fn node_model(mut self, index: usize, model: &str) -> Self {
        self.per_node_models.insert(index, model.into());
        self
    }

    /// Runs every node as `model`, a value (a node project's own node).
    pub fn with_model(mut self, model: Arc<dyn NodeModel>) -> Self {
        self.model = model.name();
        self.own_models.add(model);
        self
    }

    /// Runs node `index` as `model`, a value, whatever the others run.
    pub fn with_node_model(mut self, index: usize, model: Arc<dyn NodeModel>) -> Self {
        self.per_node_models.insert(index, model.name());
        self.own_models.add(model);
        self
    }

    /// Carries `model` so that a name in the scenario (say, from a scenario
    /// file) or `RunOptions::model` can pick it.
    pub fn add_model(mut self, model: Arc<dyn NodeModel>) -> Self {
        self.own_models.add(model);
        self
    }

    /// The model called `name`: the scenario's own first, then ours, the
    /// legacy ones and the hostile ones.
    pub fn resolve_model(&self, name: &str) -> Option<Arc<dyn NodeModel>> {
        self.own_models
            .get(name)
            .or_else(|| crate::model::model_by_name(name))
            .or_else(|| crate::hostile::model_by_name(name))
    }

    /// Sets the faults.
    pub fn faults(mut self, faults: FaultPlan) -> Self {
        self.faults = faults;
        self
    }

    /// Sets the total simulated time.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    /// Sends application traffic at `every` (see [`Scenario::traffic`]).
    pub fn traffic(mut self, every: Duration) -> Self {
        self.traffic = Some(every);
        self
    }

    /// Changes the config (the checks' bounds follow it).
    pub fn config(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut self.config);
        self.checks = default_checks(&self.config);
        self
    }

    /// Changes the checks.
    pub fn checks(mut self, f: impl FnOnce(&mut Checks)) -> Self {
        f(&mut self.checks);
        self
    }

    /// This scenario as run on `seed`: [`Knows::Random`] drawn (from an RNG
    /// of its own, so start times and faults draw as before); anything
    /// else as it is.
    pub fn for_seed(&self, seed: u64) -> std::borrow::Cow<'_, Scenario> {
        let Knows::Random { peers } = self.knows else {
            return std::borrow::Cow::Borrowed(self);
        };
        let n = self.nodes;
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6b6e_6f77_735f_7065);
        let mut pairs = Vec::new();
        for a in 0..n {
            let others = n.saturating_sub(1);
            for i in rand::seq::index::sample(&mut rng, others, peers.min(others)) {
                pairs.push((a, if i >= a { i + 1 } else { i }));
            }
        }
        let mut resolved = self.clone();
        resolved.knows = Knows::Only(pairs);
        std::borrow::Cow::Owned(resolved)
    }

    /// Start time of each node for `rng` (drawn from the run's seed).
    pub fn start_times(&self, rng: &mut ChaCha8Rng) -> Vec<Duration> {
        (0..self.nodes)
            .map(|i| match &self.start {
                Start::Together => Duration::ZERO,
                Start::Staggered(max) => {
                    let ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
                    Duration::from_millis(rng.random_range(0..=ms))
                }
                Start::At(times) => times.get(i).copied().unwrap_or_default(),
            })
            .collect()
    }

    /// The fault schedule for `rng`, sorted by time.
    pub fn fault_schedule(&self, rng: &mut ChaCha8Rng) -> Vec<TimedFault> {
        self.faults.schedule(self.nodes, rng)
    }

    /// Pairs `(a, b)`, `a < b`, that must end up connected: one of the two
    /// is configured with the other.
    pub fn expected_pairs(&self) -> Vec<(usize, usize)> {
        match &self.knows {
            Knows::All => (0..self.nodes)
                .flat_map(|a| (a + 1..self.nodes).map(move |b| (a, b)))
                .collect(),
            Knows::Random { .. } => Vec::new(),
            // Linear in the pairs: `knows` scans them, so the nested loop
            // was quadratic in nodes times the pairs.
            Knows::Only(pairs) => pairs
                .iter()
                .filter(|&&(a, b)| a != b && a < self.nodes && b < self.nodes)
                .map(|&(a, b)| (a.min(b), a.max(b)))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
        }
    }
}

/// Bounds derived from a config: convergence covers detecting a dead link,
/// a full backoff with jitter, a connect and a handshake; agreement covers
/// detection plus one dial.
pub fn default_checks(c: &Config) -> Checks {
    let backoff = c.redial_backoff_max + c.redial_backoff_max / 4;
    Checks {
        converge_within: c.dead_peer_bound() + backoff + c.connect_timeout + c.handshake_timeout,
        agree_within: c.dead_peer_bound()
            + c.connect_timeout
            + c.handshake_timeout
            + Duration::from_secs(1),
        check_every: Duration::from_millis(50),
    }
}
