//! Which host each task belongs to, on a runtime every host shares. tokio's
//! task hooks (under `tokio_unstable`) report each spawn from inside the
//! spawning task's poll, so a task inherits the host (and incarnation) of
//! the task that spawned it, and the runner names the host of each root
//! task it spawns. Before each poll the trace learns the host, and the
//! time; a task of a crashed incarnation is muted, so what it still does
//! while winding down never reaches the trace.
//!
//! Task ids are process-wide and differ between runs; they are only ever
//! looked up, never iterated, so they cannot reach the trace.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::runtime::{Builder, TaskMeta};
use tokio::task::Id;
use tokio::time::Instant;

use crate::trace::{set_runner_time, set_task_host, TaskHost};

/// A host incarnation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Host index.
    pub host: usize,
    /// Its incarnation (0 at first start, +1 per restart).
    pub incarnation: u64,
}

#[derive(Default)]
struct State {
    owners: BTreeMap<Id, Owner>,
    /// The task being polled, or the root the runner is spawning.
    current: Option<Owner>,
    /// The running incarnation of each host (`None` while down).
    live: Vec<Option<u64>>,
    names: Vec<Arc<str>>,
    epoch: Option<Instant>,
    /// Polls of each host's tasks so far: while a host's count stands
    /// still, its table cannot change.
    polls: Vec<u64>,
}

/// The task registry of one run, shared with the runtime's hooks.
#[derive(Clone, Default)]
pub struct Tasks(Arc<Mutex<State>>);

impl Tasks {
    /// A registry for hosts named `names`, all down until started.
    pub fn new(names: &[String]) -> Tasks {
        let tasks = Tasks::default();
        {
            let mut s = tasks.lock();
            s.names = names.iter().map(|n| Arc::from(n.as_str())).collect();
            s.live = vec![None; names.len()];
            s.polls = vec![0; names.len()];
        }
        tasks
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Installs the hooks on `builder`.
    pub fn install(&self, builder: &mut Builder) {
        let (spawn, before, after, end) = (self.clone(), self.clone(), self.clone(), self.clone());
        builder
            .on_task_spawn(move |meta: &TaskMeta<'_>| {
                let mut s = spawn.lock();
                if let Some(owner) = s.current {
                    s.owners.insert(meta.id(), owner);
                }
            })
            .on_before_task_poll(move |meta: &TaskMeta<'_>| {
                let mut s = before.lock();
                let owner = s.owners.get(&meta.id()).copied();
                if let Some(o) = owner {
                    s.polls[o.host] += 1;
                }
                s.current = owner;
                if let Some(epoch) = s.epoch {
                    set_runner_time(Instant::now().saturating_duration_since(epoch));
                }
                set_task_host(match owner {
                    Some(o) if s.live[o.host] == Some(o.incarnation) => {
                        TaskHost::Host(s.names[o.host].clone())
                    }
                    Some(_) => TaskHost::Muted,
                    None => TaskHost::Runner,
                });
            })
            .on_after_task_poll(move |_: &TaskMeta<'_>| {
                after.lock().current = None;
                set_task_host(TaskHost::Runner);
            })
            .on_task_terminate(move |meta: &TaskMeta<'_>| {
                end.lock().owners.remove(&meta.id());
            });
    }

    /// Polls of each host's tasks so far.
    pub fn polls(&self) -> Vec<u64> {
        self.lock().polls.clone()
    }

    /// Sets the instant simulated time counts from.
    pub fn set_epoch(&self, epoch: Instant) {
        self.lock().epoch = Some(epoch);
    }

    /// Runs `spawn` (which spawns one root task) as `owner`, marking that
    /// incarnation live.
    pub fn spawn_as<T>(&self, owner: Owner, spawn: impl FnOnce() -> T) -> T {
        {
            let mut s = self.lock();
            s.live[owner.host] = Some(owner.incarnation);
            s.current = Some(owner);
        }
        let out = spawn();
        self.lock().current = None;
        out
    }

    /// Marks `host` down: its tasks are muted from now on.
    pub fn down(&self, host: usize) {
        self.lock().live[host] = None;
    }

    /// Mutes every task (the run is over; the runtime is about to drop).
    pub fn mute_all(&self) {
        let mut s = self.lock();
        for l in &mut s.live {
            *l = None;
        }
        drop(s);
        set_task_host(TaskHost::Muted);
    }
}
