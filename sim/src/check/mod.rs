//! The model checker: every interleaving of 2 or 3 nodes running the real
//! `peerlink-core` (`PeerTable` per node, `Session` per connection), as a
//! stateright `Model` explored breadth first, so a counterexample is a
//! shortest one. `state.rs` owns the world, `step.rs` the steps,
//! `shell.rs` what they do to the core, `props.rs` the properties,
//! `explore.rs` the search, `report.rs` the printed result; this module
//! owns the model's parameters and the run.

pub mod explore;
pub mod props;
pub mod report;
mod shell;
pub mod state;
pub mod step;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use peerlink_core::config::Config;
use peerlink_core::policy::TieBreakPolicy;
use stateright::{Model, Property};

use crate::wallclock::Stopwatch;
use state::{Node, Status, World};
use step::{IdOrder, Step};

/// What to check.
#[derive(Clone, Debug)]
pub struct Options {
    /// 2 or 3.
    pub nodes: usize,
    /// The tie-break policy of every node.
    pub policy: TieBreakPolicy,
    /// Faults per path (crash, break, delay).
    pub faults: u8,
    /// Longest path explored; `None`: no bound but the time horizon.
    pub depth: Option<usize>,
    /// The recovery window after a restart or fault; `None`: the default
    /// ([`Checked::default_recovery`]).
    pub recovery: Option<Duration>,
}

/// The checked model: its parameters. The state is [`World`].
pub struct Checked {
    /// Nodes.
    pub nodes: usize,
    /// The configuration of every node.
    pub config: Arc<Config>,
    /// `knows[a][b]`: node `a` has `b` as a persistent peer.
    pub knows: Vec<Vec<bool>>,
    /// Faults per path.
    pub faults: u8,
    /// How long timers run after the last start, restart or fault.
    pub recovery: Duration,
    /// The base of virtual time: only offsets from it matter.
    pub epoch: Instant,
}

/// The timers of the model: small, so that paths stay short, in the same
/// order of magnitude as the defaults (see docs/testing.md).
pub fn model_config(policy: TieBreakPolicy) -> Config {
    let mut c = Config::default();
    c.handshake_timeout = Duration::from_secs(5);
    c.connect_timeout = Duration::from_secs(5);
    c.ping_interval = Duration::from_secs(10);
    c.pong_timeout = Duration::from_secs(5);
    c.max_missed_pongs = 1;
    c.redial_backoff_min = Duration::from_secs(1);
    c.redial_backoff_max = Duration::from_secs(4);
    c.tie_break = policy;
    c
}

/// Who knows whom: two nodes know each other; of three, n0 and n1 know
/// each other, n1 and n2 too, and n0 knows n2 but not the other way round.
pub fn knows(nodes: usize) -> Vec<Vec<bool>> {
    (0..nodes)
        .map(|a| (0..nodes).map(|b| a != b && !(a == 2 && b == 0)).collect())
        .collect()
}

impl Checked {
    /// The model for `options`.
    pub fn new(options: &Options) -> Self {
        let config = model_config(options.policy);
        let recovery = options
            .recovery
            .unwrap_or_else(|| Self::default_recovery(&config));
        Checked {
            nodes: options.nodes,
            config: Arc::new(config),
            knows: knows(options.nodes),
            faults: options.faults,
            recovery,
            epoch: epoch(),
        }
    }
}

impl Checked {
    /// The recovery window: detection of a dead peer, a connect and a
    /// handshake timeout, two and a half maximal backoffs (two with their
    /// jitter), and one more ping interval.
    pub fn default_recovery(config: &Config) -> Duration {
        config.dead_peer_bound()
            + config.connect_timeout
            + config.handshake_timeout
            + config.redial_backoff_max * 5 / 2
            + config.ping_interval
    }

    /// How long timers run after the convergence deadline: one ping
    /// interval and a pong timeout, so the steady state pings at least
    /// once.
    pub fn steady_window(&self) -> Duration {
        self.config.ping_interval + self.config.pong_timeout
    }
}

/// An arbitrary base instant. Read once per check; every state holds
/// offsets from it only, so its value reaches no decision and no output.
#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}

impl Model for Checked {
    type State = World;
    type Action = Step;

    fn init_states(&self) -> Vec<World> {
        let nodes = (0..self.nodes)
            .map(|n| Node {
                status: Status::NotStarted,
                incarnation: 0,
                node_id: step::node_id(n, 0, IdOrder::Higher),
                table: None,
                conns: BTreeMap::new(),
            })
            .collect();
        vec![World {
            now: Duration::ZERO,
            converge_by: Duration::ZERO,
            horizon: self.steady_window(),
            late: None,
            faults_left: self.faults,
            nodes,
            links: BTreeMap::new(),
            bad_cleanup: None,
            panicked: None,
            steady: false,
            closed_in_steady: None,
        }]
    }

    fn actions(&self, state: &World, actions: &mut Vec<Step>) {
        self.steps(state, actions);
    }

    fn next_state(&self, last: &World, action: Step) -> Option<World> {
        let step = std::panic::AssertUnwindSafe(|| self.apply(last, &action));
        match std::panic::catch_unwind(step) {
            Ok(next) => Some(next),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let mut next = last.clone();
                next.panicked = Some(format!("{action}: {msg}"));
                Some(next)
            }
        }
    }

    fn properties(&self) -> Vec<Property<Self>> {
        props::properties()
    }
}

/// The result of one check.
pub struct Outcome {
    /// Distinct states explored.
    pub states: usize,
    /// Longest path explored.
    pub depth: usize,
    /// Wall time, seconds.
    pub secs: f64,
    /// Whether the depth bound left states unexpanded.
    pub cut: bool,
    /// Each property, with the steps of its shortest counterexample if one
    /// was found.
    pub results: Vec<(&'static str, Option<Vec<Step>>)>,
    /// The model, to explain counterexamples.
    pub model: Checked,
}

impl Outcome {
    /// The properties that failed, in report order.
    pub fn violated(&self) -> Vec<&'static str> {
        self.results
            .iter()
            .filter(|(_, path)| path.is_some())
            .map(|(name, _)| *name)
            .collect()
    }
}

/// Explores every interleaving (breadth first, so a counterexample is a
/// shortest one) and stops at the first depth with a counterexample.
pub fn check(options: &Options) -> Outcome {
    let clock = Stopwatch::start();
    let model = Checked::new(options);
    let explored = explore::explore(&model, options.depth);
    let results = props::ALL
        .iter()
        .map(|name| {
            let path = explored
                .violations
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, steps)| steps.clone());
            (*name, path)
        })
        .collect();
    Outcome {
        states: explored.states,
        depth: explored.depth,
        secs: clock.secs(),
        cut: explored.cut,
        results,
        model,
    }
}
