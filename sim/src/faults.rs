//! Faults: partitions (two-way and one-way), holds, latency changes,
//! crashes and restarts, given explicitly or drawn from the seed within
//! bounds. Every fault a generator draws is healed before its window ends,
//! so each run ends with a liveness phase on a healthy network.

use std::fmt;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// One change to the simulated network or hosts. Nodes are indexes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Cut both directions between two nodes.
    Partition(usize, usize),
    /// Cut one direction only: a half-open connection.
    PartitionOneWay(usize, usize),
    /// Restore both directions.
    Repair(usize, usize),
    /// Restore one direction.
    RepairOneWay(usize, usize),
    /// Hold messages between two nodes (they queue).
    Hold(usize, usize),
    /// Deliver held messages.
    Release(usize, usize),
    /// Set a fixed latency on a link.
    Latency(usize, usize, Duration),
    /// Stop a node's software (its sockets vanish): a power loss, peers
    /// see nothing.
    Crash(usize),
    /// Kill a node's process: the OS closes its sockets, so peers get a
    /// FIN, or a RST where it had unread data. The event backend models
    /// this; turmoil cannot close a crashed host's sockets
    /// deterministically and runs it as [`Fault::Crash`].
    Kill(usize),
    /// Start a crashed node again (fresh process, new node id).
    Restart(usize),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Partition(a, b) => write!(f, "partition n{a} n{b}"),
            Fault::PartitionOneWay(a, b) => write!(f, "partition-oneway n{a}->n{b}"),
            Fault::Repair(a, b) => write!(f, "repair n{a} n{b}"),
            Fault::RepairOneWay(a, b) => write!(f, "repair-oneway n{a}->n{b}"),
            Fault::Hold(a, b) => write!(f, "hold n{a} n{b}"),
            Fault::Release(a, b) => write!(f, "release n{a} n{b}"),
            Fault::Latency(a, b, d) => write!(f, "latency n{a} n{b} {}ms", d.as_millis()),
            Fault::Crash(a) => write!(f, "crash n{a}"),
            Fault::Kill(a) => write!(f, "kill n{a}"),
            Fault::Restart(a) => write!(f, "restart n{a}"),
        }
    }
}

impl Fault {
    /// Whether this fault heals (ends) a disturbance.
    pub fn is_heal(&self) -> bool {
        matches!(
            self,
            Fault::Repair(..) | Fault::RepairOneWay(..) | Fault::Release(..) | Fault::Restart(_)
        )
    }
}

/// A fault at a simulated time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedFault {
    /// When.
    pub at: Duration,
    /// What.
    pub fault: Fault,
}

/// Kinds a generator may draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Two-way partition, then repair.
    Partition,
    /// One-way partition, then repair: half-open.
    HalfOpen,
    /// Hold, then release.
    Hold,
    /// Latency raised, then restored.
    Latency,
    /// Crash (power loss), then restart.
    CrashRestart,
    /// Kill (process crash), then restart.
    KillRestart,
}

/// The faults of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultPlan {
    /// A healthy network throughout.
    None,
    /// These faults, at these times.
    Fixed(Vec<TimedFault>),
    /// `episodes` faults of the given kinds drawn from the seed, each
    /// starting in `[from, until)` and healed by `until`, lasting at most
    /// `max_len`.
    Random {
        /// Number of fault episodes.
        episodes: usize,
        /// Kinds to draw from.
        kinds: Vec<FaultKind>,
        /// Earliest start.
        from: Duration,
        /// Every fault is healed by then.
        until: Duration,
        /// Longest episode.
        max_len: Duration,
    },
}

impl FaultPlan {
    /// The concrete schedule, sorted by time (stable for equal times).
    pub fn schedule(&self, nodes: usize, rng: &mut ChaCha8Rng) -> Vec<TimedFault> {
        let mut out = match self {
            FaultPlan::None => Vec::new(),
            FaultPlan::Fixed(faults) => faults.clone(),
            FaultPlan::Random {
                episodes,
                kinds,
                from,
                until,
                max_len,
            } => {
                let mut out = Vec::new();
                // Episodes start on whole milliseconds: a window shorter than
                // one (e.g. 1.2 ms to 1.7 ms) has none to draw from.
                if nodes >= 2 && !kinds.is_empty() && millis(*from) < millis(*until) {
                    for _ in 0..*episodes {
                        draw_episode(rng, nodes, kinds, *from, *until, *max_len, &mut out);
                    }
                }
                out
            }
        };
        out.sort_by_key(|f| f.at);
        out
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn draw_episode(
    rng: &mut ChaCha8Rng,
    nodes: usize,
    kinds: &[FaultKind],
    from: Duration,
    until: Duration,
    max_len: Duration,
    out: &mut Vec<TimedFault>,
) {
    let kind = kinds[rng.random_range(0..kinds.len())];
    let a = rng.random_range(0..nodes);
    let b = (a + rng.random_range(1..nodes)) % nodes;
    let start = Duration::from_millis(rng.random_range(millis(from)..millis(until)));
    let room = millis(until - start).min(millis(max_len)).max(1);
    let end = start + Duration::from_millis(rng.random_range(1..=room));
    let (begin, heal) = match kind {
        FaultKind::Partition => (Fault::Partition(a, b), Fault::Repair(a, b)),
        FaultKind::HalfOpen => (Fault::PartitionOneWay(a, b), Fault::RepairOneWay(a, b)),
        FaultKind::Hold => (Fault::Hold(a, b), Fault::Release(a, b)),
        FaultKind::Latency => {
            let slow = Duration::from_millis(rng.random_range(50..=2000));
            (
                Fault::Latency(a, b, slow),
                Fault::Latency(a, b, Duration::from_millis(10)),
            )
        }
        FaultKind::CrashRestart => (Fault::Crash(a), Fault::Restart(a)),
        FaultKind::KillRestart => (Fault::Kill(a), Fault::Restart(a)),
    };
    out.push(TimedFault {
        at: start,
        fault: begin,
    });
    out.push(TimedFault {
        at: end,
        fault: heal,
    });
}
