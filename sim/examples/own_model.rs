//! A node project puts its OWN node into the simulator: not a built-in model
//! picked by name, but a `NodeModel` value it wrote, given to the scenario
//! with `Scenario::with_model`. The same value then serves runs, snapshots
//! and shrinking.
//!
//! The project's node embeds peerlink and adds one behaviour of its own: it
//! greets every peer that connects. Its first version also has a bug: when
//! a peer disconnects it "resets" by shutting its connection manager down,
//! so after the first lost link it never reconnects. The simulator finds the
//! bug under random faults, and shrinking reduces the failing run.
//!
//! `cargo run -p peerlink-sim --example own_model` (also run by
//! `sim/tests/own_model.rs`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use peerlink::manager::{ConnectionManager, ManagerOptions};
use peerlink::PeerEvent;
use peerlink_sim::faults::{FaultKind, FaultPlan};
use peerlink_sim::model::{HostCtx, ManagerNode, NodeFuture, NodeModel};
use peerlink_sim::runner::{run, RunOptions};
use peerlink_sim::scenario::Scenario;
use peerlink_sim::shrink::{shrink, ShrinkOptions};
use peerlink_sim::snapshot::{snapshot, SnapshotOptions, TraceDetail};

/// The node project's node: peerlink, plus a greeting to each new peer;
/// `buggy` shuts the manager down on the first disconnect.
pub struct GreeterNode {
    /// Whether this is the first, buggy version.
    pub buggy: bool,
}

impl NodeModel for GreeterNode {
    fn name(&self) -> String {
        if self.buggy {
            "greeter-v1"
        } else {
            "greeter-v2"
        }
        .into()
    }

    fn describe(&self) -> String {
        "the node project's own node: peerlink plus a greeting per new peer".into()
    }

    fn start(&self, ctx: HostCtx) -> NodeFuture {
        let buggy = self.buggy;
        Box::pin(async move {
            let options = ManagerOptions {
                listen: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), ctx.port)),
                local_ip: Some(ctx.ip),
                seed: Some(ctx.seed),
                peers: ctx.peers,
            };
            let (manager, mut events) =
                ConnectionManager::start(ctx.transport, ctx.config, options).await?;
            // Publish the node so the simulator can check its peer table.
            *ctx.slot.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(Arc::new(ManagerNode::new(manager.clone())));
            while let Some(event) = events.recv().await {
                match event {
                    PeerEvent::Connected { peer, .. } => {
                        let _ = manager.send(peer, Bytes::from_static(b"hello from greeter"));
                    }
                    PeerEvent::Disconnected { .. } if buggy => manager.shutdown().await,
                    _ => {}
                }
            }
            Ok(())
        })
    }
}

/// 4 greeter nodes under 3 seeded fault episodes in [2 s, 12 s).
pub fn greeters(buggy: bool) -> Scenario {
    let name = if buggy { "greeters-v1" } else { "greeters-v2" };
    Scenario::new(name, "4 of the project's own nodes under seeded faults", 4)
        .with_model(Arc::new(GreeterNode { buggy }))
        .config(|c| {
            c.ping_interval = Duration::from_secs(1);
            c.pong_timeout = Duration::from_secs(1);
            c.redial_backoff_max = Duration::from_secs(4);
        })
        .duration(Duration::from_secs(30))
        .faults(FaultPlan::Random {
            episodes: 3,
            kinds: vec![FaultKind::Partition, FaultKind::CrashRestart],
            from: Duration::from_secs(2),
            until: Duration::from_secs(12),
            max_len: Duration::from_secs(4),
        })
}

pub fn main() {
    // 1. Runs: the fixed node passes; the buggy one fails.
    let fixed = greeters(false);
    for seed in 0..3 {
        let report = run(&fixed, seed, &RunOptions::default()).expect("starts");
        assert_eq!(report.violation, None, "greeter-v2 seed {seed}");
    }
    println!("greeter-v2: seeds 0..3 pass");
    let buggy = greeters(true);
    let report = run(&buggy, 0, &RunOptions::default()).expect("starts");
    let violation = report.violation.expect("greeter-v1 breaks an invariant");
    println!("greeter-v1 seed 0: {violation}");

    // 2. A snapshot of the project's own node, as a test would store it.
    let options = SnapshotOptions::new()
        .at("formed", Duration::from_secs(1))
        .trace(TraceDetail::Off);
    let snap = snapshot(&fixed, 0, &options).expect("starts");
    assert_eq!(snap.model, "greeter-v2");
    let formed = snap.checkpoint("formed").expect("reached");
    let rows = formed.node("n0").expect("n0 is up").rows();
    println!("greeter-v2 snapshot at 1 s: n0 has {} peers", rows.len());
    assert_eq!(rows.len(), 3);

    // 3. Shrinking keeps the value: the minimal run still runs greeter-v1.
    let options = ShrinkOptions {
        max_runs: 40,
        ..ShrinkOptions::default()
    };
    let shrunk = shrink(&buggy, 0, &options).expect("fails, so it shrinks");
    assert_eq!(shrunk.invariant, violation.invariant);
    assert_eq!(shrunk.scenario.model, "greeter-v1");
    println!("shrunk: {shrunk}");
    println!(
        "{}",
        peerlink_sim::file::to_toml(&shrunk.scenario, Some(0)).expect("writes")
    );
}
