//! `Core`: the state behind the manager's mutex, the core's `PeerTable`
//! plus the `ConnectionHandle`s its connection ids name, and `apply`, which
//! carries out the table's synchronous actions (close, route, unroute) at
//! once, under the same lock as the decision. The asynchronous ones (dial,
//! emit) are handed back to the driver task. Nothing here decides.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use peerlink_core::snapshot::{Snapshot, Traffic};
use peerlink_core::table::{Action, PeerTable};

use crate::id::ConnectionId;
use crate::peer::now;
use crate::peer::ConnectionHandle;
use crate::registry::PeerConnectionRegistry;

/// The manager's shared state: the table's decisions and the handles that
/// carry them out.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) table: PeerTable,
    /// Every established connection whose `Closed` has not arrived yet.
    handles: BTreeMap<ConnectionId, ConnectionHandle>,
    /// The send side's view of the active connections; written only here.
    registry: PeerConnectionRegistry,
    /// Asynchronous actions of decisions taken outside the driver task
    /// (`ConnectionManager::disconnect`), for the driver to carry out.
    outbox: Vec<Action>,
    /// The traffic of every connection that has ended.
    retired: Traffic,
}

/// Locks the core; a panic elsewhere does not make its data unusable.
pub(crate) fn lock(core: &Mutex<Core>) -> MutexGuard<'_, Core> {
    core.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Core {
    pub(crate) fn new(table: PeerTable, registry: PeerConnectionRegistry) -> Self {
        Core {
            table,
            handles: BTreeMap::new(),
            registry,
            outbox: Vec::new(),
            retired: Traffic::default(),
        }
    }

    /// Holds the handle of a connection about to be reported established.
    pub(crate) fn insert_handle(&mut self, handle: ConnectionHandle) {
        self.handles.insert(handle.info().id, handle);
    }

    /// Forgets the handle of a connection that has ended, keeping its
    /// final traffic in the manager's totals.
    pub(crate) fn remove_handle(&mut self, id: ConnectionId) {
        if let Some(handle) = self.handles.remove(&id) {
            self.retired.add(&handle.stats(now()).traffic);
        }
    }

    /// The table's snapshot with what the connection tasks counted, read
    /// at `at` (the manager's clock): each live connection's figures, and
    /// the traffic totals over ended and live connections.
    pub(crate) fn snapshot(&self, at: std::time::Instant) -> Snapshot {
        let mut snap = self.table.snapshot();
        let mut total = self.retired;
        for handle in self.handles.values() {
            total.add(&handle.stats(at).traffic);
        }
        for conn in snap.peers.iter_mut().flat_map(|r| &mut r.connections) {
            conn.stats = self.handles.get(&conn.id).map(|h| h.stats(at));
        }
        snap.stats.traffic = total;
        snap
    }

    /// Carries out `Close`, `Route` and `Unroute` now, in order, and
    /// returns the `Dial`s and `Emit`s, in order, for the driver task.
    pub(crate) fn apply(&mut self, actions: Vec<Action>) -> Vec<Action> {
        let mut later = Vec::new();
        for action in actions {
            match action {
                Action::Close { id, reason } => {
                    // No handle: the connection has already ended.
                    if let Some(handle) = self.handles.get(&id) {
                        handle.close(reason);
                    }
                }
                Action::Route { peer, id } => match self.handles.get(&id) {
                    Some(handle) => self.registry.set(peer, handle.sender().clone()),
                    None => tracing::warn!(%peer, conn_id = %id, "route to an unknown connection"),
                },
                Action::Unroute { peer } => self.registry.remove(peer),
                Action::Dial { .. } | Action::Emit(_) => later.push(action),
            }
        }
        later
    }

    /// Runs one decision of the table and [`Core::apply`]s its actions;
    /// returns the asynchronous ones, in order.
    pub(crate) fn decide(
        &mut self,
        decision: impl FnOnce(&mut PeerTable, &mut Vec<Action>),
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        decision(&mut self.table, &mut actions);
        self.apply(actions)
    }

    /// Keeps asynchronous actions of a decision taken outside the driver
    /// task, for the driver to carry out ([`Core::take_outbox`]). Returns
    /// whether there were any (the driver then needs a wake-up).
    pub(crate) fn defer(&mut self, later: Vec<Action>) -> bool {
        let any = !later.is_empty();
        self.outbox.extend(later);
        any
    }

    /// The asynchronous actions left by [`Core::defer`].
    pub(crate) fn take_outbox(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.outbox)
    }
}
