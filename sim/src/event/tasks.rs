//! Which host each task belongs to, on a runtime every host shares. tokio's
//! task hooks (under `tokio_unstable`) report each spawn from inside the
//! spawning task's poll, so a task inherits the host (and incarnation) of
//! the task that spawned it, and the runner names the host of each root
//! task it spawns. Before each poll the trace learns the host, and the
//! time; a task of a crashed incarnation is muted, so what it still does
//! while winding down never reaches the trace.
//!
//! A crash stops every task of the incarnation: tasks spawned through
//! [`crate::transport::spawn`] (the legacy models' loops and connections)
//! and the root are registered here with their `AbortHandle`s, and
//! [`Tasks::abort`] aborts them all. What tokio 1.54 does with an aborted
//! task (`runtime/task/harness.rs`, `scheduler/current_thread`): `abort`
//! on an idle task sets its CANCELLED bit and schedules it; the scheduler
//! runs it like any task, so `on_before_task_poll` fires, then the harness
//! sees the bit and drops the future without polling it (its destructors
//! run inside that window, under this incarnation's muted host),
//! `on_task_terminate` fires, then `on_after_task_poll`. So an aborted
//! task costs one hook "poll" and is never polled again; [`Census`] counts
//! exactly that. The library's own tasks (the manager's driver, its
//! connections) are spawned by the library, out of reach: the crash fails
//! their transport and drops their manager (the root), and they end on
//! their own.
//!
//! Task ids are process-wide and differ between runs, so they never reach
//! the trace. They are looked up, and iterated only to abort a crashed
//! incarnation's tasks: ids grow with every spawn, so that order is the
//! run's own spawn order, which the seeded scheduler fixes.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::runtime::{Builder, TaskMeta};
use tokio::task::{AbortHandle, Id};
use tokio::time::Instant;

use crate::trace::{set_runner_time, set_task_host, TaskHost};

/// A host incarnation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Owner {
    /// Host index.
    pub host: usize,
    /// Its incarnation (0 at first start, +1 per restart).
    pub incarnation: u64,
}

/// One incarnation's tasks, as the hooks saw them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Census {
    /// Tasks spawned and not terminated.
    pub live: usize,
    /// Polls of its tasks (the hook's count: an aborted task's
    /// cancellation counts as one: tokio runs it once more only to drop it).
    pub polls: u64,
}

impl State {
    /// Keeps `handle` for the crash of the incarnation that owns its task
    /// (none: a runner task, or one that already ended).
    fn register(&mut self, handle: AbortHandle) {
        if let Some(&owner) = self.owners.get(&handle.id()) {
            self.abortable
                .entry(owner)
                .or_default()
                .insert(handle.id(), handle);
        }
    }
}

/// What one crash did to its incarnation's tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashCensus {
    /// The incarnation that crashed.
    pub owner: Owner,
    /// Its tasks when it crashed, before the abort.
    pub at_crash: Census,
    /// Its tasks at the end of the run.
    pub at_end: Census,
}

#[derive(Default)]
struct State {
    owners: BTreeMap<Id, Owner>,
    /// Every incarnation that spawned a task, and its tasks.
    census: BTreeMap<Owner, Census>,
    /// Each crashed incarnation, and its census when it crashed.
    crashed: Vec<(Owner, Census)>,
    /// The tasks a crash of each incarnation aborts, until they end.
    abortable: BTreeMap<Owner, BTreeMap<Id, AbortHandle>>,
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

thread_local! {
    /// The registry of the event run on this thread, if any (one run per
    /// thread at a time: the runtime is current-thread).
    static RUNNING: RefCell<Option<Tasks>> = const { RefCell::new(None) };
}

/// Registers `handle` with the incarnation whose task is running, when an
/// event run is on this thread; a crash of that incarnation aborts it.
pub fn adopt(handle: AbortHandle) {
    RUNNING.with(|r| {
        if let Some(tasks) = r.borrow().as_ref() {
            tasks.lock().register(handle);
        }
    });
}

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
                    s.census.entry(owner).or_default().live += 1;
                }
            })
            .on_before_task_poll(move |meta: &TaskMeta<'_>| {
                let mut s = before.lock();
                let owner = s.owners.get(&meta.id()).copied();
                if let Some(o) = owner {
                    s.polls[o.host] += 1;
                    s.census.entry(o).or_default().polls += 1;
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
                let mut s = end.lock();
                if let Some(owner) = s.owners.remove(&meta.id()) {
                    if let Some(c) = s.census.get_mut(&owner) {
                        c.live = c.live.saturating_sub(1);
                    }
                    if let Some(handles) = s.abortable.get_mut(&owner) {
                        handles.remove(&meta.id());
                    }
                }
            });
    }

    /// Each crash so far, in order, with its incarnation's tasks then and
    /// now.
    pub fn crashes(&self) -> Vec<CrashCensus> {
        let s = self.lock();
        s.crashed
            .iter()
            .map(|&(owner, at_crash)| CrashCensus {
                owner,
                at_crash,
                at_end: s.census.get(&owner).copied().unwrap_or_default(),
            })
            .collect()
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

    /// Aborts every task registered for `owner` (see the module's doc for
    /// what tokio then does).
    pub fn abort(&self, owner: Owner) {
        let handles = {
            let mut s = self.lock();
            let census = s.census.get(&owner).copied().unwrap_or_default();
            s.crashed.push((owner, census));
            s.abortable.remove(&owner).unwrap_or_default()
        };
        for h in handles.into_values() {
            h.abort();
        }
    }

    /// Registers `handle` (a root task the runner spawned) for its
    /// incarnation's crash.
    pub fn adopt_root(&self, handle: AbortHandle) {
        self.lock().register(handle);
    }

    /// Runs `f` with this registry as the thread's running event run.
    pub fn running<T>(&self, f: impl FnOnce() -> T) -> T {
        /// Puts the previous value back, also when `f` panics (a sweep
        /// thread goes on to its next seed).
        struct Restore(Option<Tasks>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let before = self.0.take();
                RUNNING.with(|r| *r.borrow_mut() = before);
            }
        }
        let _restore = Restore(RUNNING.with(|r| r.replace(Some(self.clone()))));
        f()
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
