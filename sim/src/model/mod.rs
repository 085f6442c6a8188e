//! Node models: what runs inside each simulated host. `manager` is peerlink
//! itself under any tie-break policy; `legacy` holds small models of the
//! buggy designs the origin project shipped, behind the same interface, so
//! the bug catalog can run both side by side. No bug switch lives in the
//! library's production path.

mod manager;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use peerlink::Config;

use crate::transport::HostTransport;
use crate::view::NodeView;

pub use manager::{ManagerModel, ManagerNode};

/// A running node the simulator can observe between steps.
pub trait Observe: Send + Sync {
    /// The node's table now.
    fn view(&self) -> NodeView;
}

/// Where a host publishes its running node for the runner to observe.
pub type Slot = Arc<Mutex<Option<Arc<dyn Observe>>>>;

/// What a model gets to start one node in a host.
pub struct HostCtx {
    /// Host name (`n0`, `n1`, …).
    pub name: String,
    /// The host's IP.
    pub ip: IpAddr,
    /// Port to listen on.
    pub port: u16,
    /// Peers to keep connected.
    pub peers: Vec<SocketAddr>,
    /// Connection settings.
    pub config: Config,
    /// Seed of the node's randomness.
    pub seed: u64,
    /// The host's transport: on turmoil one per host, kept across
    /// restarts; on the event backend one per incarnation.
    pub transport: HostTransport,
    /// Publish the running node here.
    pub slot: Slot,
    /// Send one application message to each connected peer at this
    /// interval, and count what arrives ([`crate::scenario::Scenario::traffic`]).
    pub traffic: Option<std::time::Duration>,
}

/// The future a host runs.
pub type NodeFuture = Pin<Box<dyn Future<Output = turmoil::Result> + 'static>>;

/// A kind of node: ours under some policy, or a legacy model.
pub trait NodeModel: Send + Sync {
    /// Stable name, as given to `--policy`.
    fn name(&self) -> String;
    /// One line on what it is.
    fn describe(&self) -> String;
    /// Starts a node; the future runs until the host is crashed.
    fn start(&self, ctx: HostCtx) -> NodeFuture;
}

/// Models a scenario carries as values (a node project's own), by name.
/// They are found before the built-in models of the same name.
#[derive(Clone, Default)]
pub struct OwnModels(Vec<Arc<dyn NodeModel>>);

impl OwnModels {
    /// Adds `model`, replacing one of the same name.
    pub fn add(&mut self, model: Arc<dyn NodeModel>) {
        self.0.retain(|m| m.name() != model.name());
        self.0.push(model);
    }

    /// The model called `name`, if the scenario carries one.
    pub fn get(&self, name: &str) -> Option<Arc<dyn NodeModel>> {
        self.0.iter().find(|m| m.name() == name).cloned()
    }

    /// Their names, in the order added.
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|m| m.name()).collect()
    }
}

impl std::fmt::Debug for OwnModels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// Every model by name: our manager under each tie-break policy, then the
/// legacy models.
pub fn all_models() -> Vec<Arc<dyn NodeModel>> {
    let mut models: Vec<Arc<dyn NodeModel>> = peerlink::manager::TieBreakPolicy::ALL
        .into_iter()
        .map(|p| Arc::new(ManagerModel(p)) as Arc<dyn NodeModel>)
        .collect();
    models.extend(crate::legacy::models());
    models
}

/// The model called `name`.
pub fn model_by_name(name: &str) -> Option<Arc<dyn NodeModel>> {
    all_models().into_iter().find(|m| m.name() == name)
}
