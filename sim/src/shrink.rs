//! Shrinking: from one failing run (scenario, seed, model) to a smaller run
//! that still breaks the SAME invariant. Seeded start times and faults are
//! first written out as explicit values (the run stays identical), then
//! passes remove fault episodes, remove nodes, halve fault windows, move
//! the faults earlier and cut the duration, keeping each change only if the invariant still breaks.
//! Deterministic (the same input gives the same output) and bounded by a
//! run budget. This module decides what to try; `runner` runs it.

use std::fmt;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::faults::{Fault, FaultPlan, TimedFault};
use crate::invariants::Violation;
use crate::runner::{run, RunError, RunOptions};
use crate::scenario::{Knows, Scenario, Start};

/// How to shrink.
#[derive(Clone, Debug)]
pub struct ShrinkOptions {
    /// Run every node (except per-node overrides) as this model; the shrunk
    /// scenario carries it as its model.
    pub model: Option<String>,
    /// Most runs to spend, the first (reproducing) run included.
    pub max_runs: usize,
}

impl Default for ShrinkOptions {
    /// The scenario's model, at most 200 runs.
    fn default() -> Self {
        ShrinkOptions {
            model: None,
            max_runs: 200,
        }
    }
}

/// Why shrinking could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShrinkError {
    /// The run could not start (unknown model, no nodes).
    #[error("{0}")]
    Run(RunError),
    /// The starting run breaks no invariant: nothing to shrink.
    #[error("{scenario} seed {seed} passes every invariant under {model}: nothing to shrink")]
    Passes {
        /// Scenario name.
        scenario: String,
        /// The seed.
        seed: u64,
        /// The model it ran.
        model: String,
    },
}

impl From<RunError> for ShrinkError {
    fn from(e: RunError) -> Self {
        ShrinkError::Run(e)
    }
}

/// The size of a run, as the reduction report counts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Size {
    /// Fault episodes (a fault and its heal count as one).
    pub episodes: usize,
    /// Nodes.
    pub nodes: usize,
    /// The scenario's duration.
    pub duration: Duration,
    /// Simulated time the run took until its violation.
    pub sim_time: Duration,
}

/// The result: the smallest failing run found.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The minimal scenario: explicit faults and start times, the model set.
    pub scenario: Scenario,
    /// The seed it fails on (the original seed).
    pub seed: u64,
    /// The invariant both the original and the minimal run break.
    pub invariant: &'static str,
    /// The minimal run's violation.
    pub violation: Violation,
    /// Size before.
    pub before: Size,
    /// Size after.
    pub after: Size,
    /// Runs spent, the first included.
    pub runs: usize,
}

impl fmt::Display for Shrunk {
    /// `6 fault episodes → 1, 5 nodes → 2, 60 s → 12 s (sim time …), N runs`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (b, a) = (&self.before, &self.after);
        write!(
            f,
            "{} fault episodes → {}, {} nodes → {}, {} s → {} s (simulated until the violation: {:.3} s → {:.3} s), {} runs",
            b.episodes,
            a.episodes,
            b.nodes,
            a.nodes,
            b.duration.as_secs_f64(),
            a.duration.as_secs_f64(),
            b.sim_time.as_secs_f64(),
            a.sim_time.as_secs_f64(),
            self.runs
        )
    }
}

/// One fault and, if it has one, the later fault that ends it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Episode {
    begin: TimedFault,
    end: Option<TimedFault>,
}

/// Whether `end` ends the disturbance `begin` started.
fn ends(begin: &Fault, end: &Fault) -> bool {
    use Fault::*;
    match (begin, end) {
        (Partition(a, b), Repair(c, d)) => (a, b) == (c, d) || (a, b) == (d, c),
        (PartitionOneWay(a, b), RepairOneWay(c, d)) | (Hold(a, b), Release(c, d)) => {
            (a, b) == (c, d)
        }
        (Latency(a, b, _), Latency(c, d, _)) => (a, b) == (c, d),
        (Crash(a) | Kill(a), Restart(b)) => a == b,
        _ => false,
    }
}

/// Pairs a time-sorted schedule into episodes, in order of their start.
fn episodes(faults: &[TimedFault]) -> Vec<Episode> {
    let mut used = vec![false; faults.len()];
    let mut out = Vec::new();
    for i in 0..faults.len() {
        if used[i] {
            continue;
        }
        used[i] = true;
        let end =
            (i + 1..faults.len()).find(|&j| !used[j] && ends(&faults[i].fault, &faults[j].fault));
        if let Some(j) = end {
            used[j] = true;
        }
        out.push(Episode {
            begin: faults[i].clone(),
            end: end.map(|j| faults[j].clone()),
        });
    }
    out
}

/// `d` rounded down to whole milliseconds, so shrunk times read well.
fn whole_ms(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A scenario with these episodes as its fixed faults.
fn with_episodes(base: &Scenario, episodes: &[Episode]) -> Scenario {
    let mut faults: Vec<TimedFault> = episodes
        .iter()
        .flat_map(|e| std::iter::once(e.begin.clone()).chain(e.end.clone()))
        .collect();
    faults.sort_by_key(|f| f.at);
    let mut s = base.clone();
    s.faults = if faults.is_empty() {
        FaultPlan::None
    } else {
        FaultPlan::Fixed(faults)
    };
    s
}

fn fixed_faults(s: &Scenario) -> Vec<TimedFault> {
    match &s.faults {
        FaultPlan::Fixed(f) => f.clone(),
        _ => Vec::new(),
    }
}

/// Node indexes of a fault.
fn fault_nodes(f: &Fault) -> Vec<usize> {
    match *f {
        Fault::Partition(a, b)
        | Fault::PartitionOneWay(a, b)
        | Fault::Repair(a, b)
        | Fault::RepairOneWay(a, b)
        | Fault::Hold(a, b)
        | Fault::Release(a, b)
        | Fault::Latency(a, b, _) => vec![a, b],
        Fault::Crash(a) | Fault::Kill(a) | Fault::Restart(a) => vec![a],
    }
}

/// The fault with every node index passed through `map`.
fn renumber_fault(f: &Fault, map: impl Fn(usize) -> usize) -> Fault {
    match *f {
        Fault::Partition(a, b) => Fault::Partition(map(a), map(b)),
        Fault::PartitionOneWay(a, b) => Fault::PartitionOneWay(map(a), map(b)),
        Fault::Repair(a, b) => Fault::Repair(map(a), map(b)),
        Fault::RepairOneWay(a, b) => Fault::RepairOneWay(map(a), map(b)),
        Fault::Hold(a, b) => Fault::Hold(map(a), map(b)),
        Fault::Release(a, b) => Fault::Release(map(a), map(b)),
        Fault::Latency(a, b, d) => Fault::Latency(map(a), map(b), d),
        Fault::Crash(a) => Fault::Crash(map(a)),
        Fault::Kill(a) => Fault::Kill(map(a)),
        Fault::Restart(a) => Fault::Restart(map(a)),
    }
}

/// `s` without node `k`: its faults and knows-pairs go, higher indexes
/// move down by one.
fn without_node(s: &Scenario, k: usize) -> Scenario {
    let map = |i: usize| if i > k { i - 1 } else { i };
    let mut out = s.clone();
    out.nodes -= 1;
    if let Knows::Only(pairs) = &s.knows {
        let kept = pairs.iter().filter(|(a, b)| *a != k && *b != k);
        out.knows = Knows::Only(kept.map(|&(a, b)| (map(a), map(b))).collect());
    }
    if let Start::At(times) = &s.start {
        let mut times = times.clone();
        if k < times.len() {
            times.remove(k);
        }
        out.start = Start::At(times);
    }
    out.per_node_models = s
        .per_node_models
        .iter()
        .filter(|(i, _)| **i != k)
        .map(|(i, m)| (map(*i), m.clone()))
        .collect();
    let faults = fixed_faults(s)
        .into_iter()
        .filter(|f| !fault_nodes(&f.fault).contains(&k))
        .map(|f| TimedFault {
            at: f.at,
            fault: renumber_fault(&f.fault, map),
        })
        .collect::<Vec<_>>();
    out.faults = if faults.is_empty() {
        FaultPlan::None
    } else {
        FaultPlan::Fixed(faults)
    };
    out
}

/// `s` with its seeded peer graph, start times and faults written out, as
/// the run on `seed` draws them: the run itself does not change.
pub fn materialise(s: &Scenario, seed: u64) -> Scenario {
    let s = &*s.for_seed(seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let starts = s.start_times(&mut rng);
    let faults = s.fault_schedule(&mut rng);
    let mut out = s.clone();
    if !matches!(s.start, Start::Together) {
        out.start = Start::At(starts);
    }
    out.faults = if faults.is_empty() {
        FaultPlan::None
    } else {
        FaultPlan::Fixed(faults)
    };
    out
}

/// The search state: the best (smallest failing) scenario so far.
struct Search {
    best: Scenario,
    violation: Violation,
    sim_time: Duration,
    seed: u64,
    invariant: &'static str,
    runs: usize,
    max_runs: usize,
}

impl Search {
    fn budget_left(&self) -> bool {
        self.runs < self.max_runs
    }

    /// Runs `candidate`; keeps it if it breaks the same invariant.
    fn try_candidate(&mut self, candidate: Scenario) -> bool {
        if !self.budget_left() {
            return false;
        }
        self.runs += 1;
        let Ok(report) = run(&candidate, self.seed, &RunOptions::default()) else {
            return false;
        };
        match report.violation {
            Some(v) if v.invariant == self.invariant => {
                self.best = candidate;
                self.violation = v;
                self.sim_time = report.sim_time;
                true
            }
            _ => false,
        }
    }

    fn episodes(&self) -> Vec<Episode> {
        episodes(&fixed_faults(&self.best))
    }

    /// All faults at once, then each episode in turn.
    fn drop_episodes(&mut self) -> bool {
        let mut progress = false;
        if !self.episodes().is_empty() && self.try_candidate(with_episodes(&self.best, &[])) {
            return true;
        }
        let mut i = 0;
        while i < self.episodes().len() && self.budget_left() {
            let mut fewer = self.episodes();
            fewer.remove(i);
            if self.try_candidate(with_episodes(&self.best, &fewer)) {
                progress = true;
            } else {
                i += 1;
            }
        }
        progress
    }

    /// Each node, highest index first.
    fn drop_nodes(&mut self) -> bool {
        let mut progress = false;
        let mut k = self.best.nodes;
        while k > 0 && self.best.nodes > 1 && self.budget_left() {
            k -= 1;
            if k < self.best.nodes && self.try_candidate(without_node(&self.best, k)) {
                progress = true;
            }
        }
        progress
    }

    /// Halves each episode's window (begin to end), up to 4 times each,
    /// down to 100 ms.
    fn narrow_windows(&mut self) -> bool {
        let mut progress = false;
        for i in 0..self.episodes().len() {
            for _ in 0..4 {
                let mut eps = self.episodes();
                let Some(ep) = eps.get_mut(i) else { break };
                let Some(end) = ep.end.as_mut() else { break };
                let len = end.at.saturating_sub(ep.begin.at);
                if len <= Duration::from_millis(100) {
                    break;
                }
                end.at = ep.begin.at + whole_ms(len / 2);
                if !self.try_candidate(with_episodes(&self.best, &eps)) {
                    break;
                }
                progress = true;
            }
        }
        progress
    }

    /// Moves every fault earlier by half the first one's time, up to 6
    /// times: the failure then shows sooner in simulated time.
    fn move_earlier(&mut self) -> bool {
        let mut progress = false;
        for _ in 0..6 {
            let faults = fixed_faults(&self.best);
            let Some(first) = faults.first() else { break };
            let shift = whole_ms(first.at / 2);
            if shift.is_zero() {
                break;
            }
            let mut earlier = self.best.clone();
            earlier.faults = FaultPlan::Fixed(
                faults
                    .iter()
                    .map(|f| TimedFault {
                        at: f.at - shift,
                        fault: f.fault.clone(),
                    })
                    .collect(),
            );
            if !self.try_candidate(earlier) {
                break;
            }
            progress = true;
        }
        progress
    }

    /// The shortest duration in whole seconds that still fails, by
    /// bisection between 1 s and the current duration.
    fn cut_duration(&mut self) -> bool {
        let (mut lo, mut hi) = (1, self.best.duration.as_secs());
        let start = hi;
        while lo < hi && self.budget_left() {
            let mid = lo + (hi - lo) / 2;
            let mut shorter = self.best.clone();
            shorter.duration = Duration::from_secs(mid);
            if self.try_candidate(shorter) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        self.best.duration.as_secs() < start
    }

    fn size(&self) -> Size {
        Size {
            episodes: self.episodes().len(),
            nodes: self.best.nodes,
            duration: self.best.duration,
            sim_time: self.sim_time,
        }
    }
}

/// Shrinks the failing run of `scenario` on `seed`.
pub fn shrink(
    scenario: &Scenario,
    seed: u64,
    options: &ShrinkOptions,
) -> Result<Shrunk, ShrinkError> {
    let mut start = scenario.clone();
    if let Some(model) = &options.model {
        start.model = model.clone();
    }
    let report = run(&start, seed, &RunOptions::default())?;
    let Some(violation) = report.violation else {
        return Err(ShrinkError::Passes {
            scenario: scenario.name.clone(),
            seed,
            model: report.model,
        });
    };
    let before = Size {
        episodes: episodes(&fixed_faults(&materialise(&start, seed))).len(),
        nodes: start.nodes,
        duration: start.duration,
        sim_time: report.sim_time,
    };
    let mut search = Search {
        best: materialise(&start, seed),
        invariant: violation.invariant,
        violation,
        sim_time: report.sim_time,
        seed,
        runs: 1,
        max_runs: options.max_runs.max(1),
    };
    loop {
        let mut progress = search.drop_episodes();
        progress |= search.drop_nodes();
        progress |= search.narrow_windows();
        progress |= search.move_earlier();
        progress |= search.cut_duration();
        if !progress || !search.budget_left() {
            break;
        }
    }
    let after = search.size();
    Ok(Shrunk {
        scenario: search.best,
        seed,
        invariant: search.invariant,
        violation: search.violation,
        before,
        after,
        runs: search.runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64, fault: Fault) -> TimedFault {
        TimedFault {
            at: Duration::from_millis(ms),
            fault,
        }
    }

    /// A schedule pairs each fault with the first later fault that ends it.
    #[test]
    fn episodes_pair_faults_with_their_heals() {
        let faults = vec![
            at(1, Fault::Crash(1)),
            at(2, Fault::Partition(0, 2)),
            at(3, Fault::Restart(1)),
            at(4, Fault::Repair(2, 0)),
            at(5, Fault::Release(0, 1)),
        ];
        let eps = episodes(&faults);
        assert_eq!(eps.len(), 3);
        assert_eq!(eps[0].end, Some(at(3, Fault::Restart(1))));
        assert_eq!(eps[1].end, Some(at(4, Fault::Repair(2, 0))));
        assert_eq!(eps[2].begin, at(5, Fault::Release(0, 1)));
        assert_eq!(eps[2].end, None);
    }

    /// Removing a node drops its faults and pairs and renumbers the rest.
    #[test]
    fn removing_a_node_renumbers() {
        let s = Scenario::new("t", "", 4)
            .knows(Knows::Only(vec![(0, 1), (1, 3), (3, 2)]))
            .node_model(3, "slowloris")
            .faults(FaultPlan::Fixed(vec![
                at(1, Fault::Crash(1)),
                at(2, Fault::Partition(2, 3)),
            ]));
        let out = without_node(&s, 1);
        assert_eq!(out.nodes, 3);
        assert_eq!(out.knows, Knows::Only(vec![(2, 1)]));
        assert_eq!(
            out.per_node_models.get(&2).map(String::as_str),
            Some("slowloris")
        );
        assert_eq!(
            out.faults,
            FaultPlan::Fixed(vec![at(2, Fault::Partition(1, 2))])
        );
    }
}
