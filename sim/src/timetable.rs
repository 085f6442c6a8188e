//! A run's timetable, shared by both backends' runners: the faults still
//! to apply and the checkpoints still to take, in time order, and the
//! record of what was applied and taken. It decides only what is due at
//! `now`; applying a fault and reading the tables are the runner's.

use std::time::Duration;

use crate::faults::{Fault, TimedFault};
use crate::invariants::Observed;
use crate::runner::Checkpoint;

/// Faults and checkpoints of one run.
pub(crate) struct Timetable {
    faults: Vec<TimedFault>,
    next_fault: usize,
    wanted: Vec<(String, Duration)>,
    /// The faults applied, in order, at the time they were applied.
    pub(crate) applied: Vec<TimedFault>,
    /// The checkpoints taken, in order.
    pub(crate) taken: Vec<Checkpoint>,
}

impl Timetable {
    /// `faults` in time order, and `wanted` checkpoints sorted by time.
    pub(crate) fn new(faults: Vec<TimedFault>, wanted: Vec<(String, Duration)>) -> Timetable {
        Timetable {
            faults,
            next_fault: 0,
            wanted,
            applied: Vec::new(),
            taken: Vec::new(),
        }
    }

    /// The whole fault schedule.
    pub(crate) fn faults(&self) -> &[TimedFault] {
        &self.faults
    }

    /// The checkpoints not yet taken.
    pub(crate) fn wanted(&self) -> &[(String, Duration)] {
        &self.wanted
    }

    /// When the next fault or checkpoint is due, if any.
    pub(crate) fn next_at(&self) -> Option<Duration> {
        let fault = self.faults.get(self.next_fault).map(|f| f.at);
        let wanted = self.wanted.first().map(|(_, at)| *at);
        fault.into_iter().chain(wanted).min()
    }

    /// The faults due at `now`, in order, recorded as applied at `now`.
    pub(crate) fn due_faults(&mut self, now: Duration) -> Vec<Fault> {
        let mut due = Vec::new();
        while let Some(tf) = self.faults.get(self.next_fault).filter(|f| f.at <= now) {
            due.push(tf.fault.clone());
            self.applied.push(TimedFault {
                at: now,
                fault: tf.fault.clone(),
            });
            self.next_fault += 1;
        }
        due
    }

    /// Takes the checkpoints due at `now`, with the tables `observe`
    /// reads (called only when one is due).
    pub(crate) fn take_checkpoints(
        &mut self,
        now: Duration,
        observe: impl FnOnce() -> Vec<Observed>,
    ) {
        let first = self.taken.len();
        while self.wanted.first().is_some_and(|(_, at)| *at <= now) {
            let (name, _) = self.wanted.remove(0);
            self.taken.push(Checkpoint {
                name,
                at: now,
                nodes: Vec::new(),
            });
        }
        if self.taken.len() == first {
            return;
        }
        let nodes = observe();
        for c in &mut self.taken[first..] {
            c.nodes = nodes
                .iter()
                .map(|o| (o.name.clone(), o.view.clone()))
                .collect();
        }
    }
}
