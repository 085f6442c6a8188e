//! Flaps: a hostile peer that handshakes and leaves at once, in a loop, is
//! banned by every honest node for `short_lived` strikes alone; an honest
//! peer whose connections keep dying young (its process killed two
//! seconds after restarts) collects some and is never banned.
//!
//! The honest nodes run our manager under the default policy, recorded so
//! that the test can read each one's own snapshot (strikes by reason, bans,
//! banned IPs) after the run.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use peerlink::manager::{ConnectionManager, ManagerOptions, Snapshot, SHORT_LIVED};
use peerlink_sim::faults::{Fault, FaultPlan, TimedFault};
use peerlink_sim::model::{HostCtx, ManagerNode, NodeFuture, NodeModel};
use peerlink_sim::runner::{run, Backend, RunOptions, RunReport};
use peerlink_sim::scenario::{sim_config, Scenario};
use peerlink_sim::scenarios::scenario_by_name;

const SEEDS: [u64; 3] = [1, 2, 3];

/// Each host's latest manager, by host name.
type Managers = Arc<Mutex<BTreeMap<String, ConnectionManager>>>;

/// Our manager under the default policy, kept where the test can read it.
struct Recorded(Managers);

impl NodeModel for Recorded {
    fn name(&self) -> String {
        "recorded".into()
    }

    fn describe(&self) -> String {
        "peerlink, default policy, its manager kept for the test".into()
    }

    fn start(&self, ctx: HostCtx) -> NodeFuture {
        let managers = self.0.clone();
        Box::pin(async move {
            let options = ManagerOptions {
                listen: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), ctx.port)),
                local_ip: Some(ctx.ip),
                seed: Some(ctx.seed),
                peers: ctx.peers,
            };
            let (manager, mut events) =
                ConnectionManager::start(ctx.transport, ctx.config, options).await?;
            let node = Arc::new(ManagerNode::new(manager.clone()));
            *ctx.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(node);
            managers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(ctx.name.clone(), manager);
            while events.recv().await.is_some() {}
            Ok(())
        })
    }
}

/// Runs `scenario` with every node not given a model of its own recorded;
/// returns the report and each recorded host's final snapshot.
fn run_recorded(
    scenario: Scenario,
    seed: u64,
    options: &RunOptions,
) -> (RunReport, BTreeMap<String, Snapshot>) {
    let managers = Managers::default();
    let scenario = scenario.with_model(Arc::new(Recorded(managers.clone())));
    let report = run(&scenario, seed, options).unwrap();
    assert_eq!(report.violation, None, "{} seed {seed}", scenario.name);
    let managers = managers.lock().unwrap_or_else(PoisonError::into_inner);
    let snaps = managers.iter().map(|(h, m)| (h.clone(), m.snapshot()));
    (report, snaps.collect())
}

/// The flapper (n3) is banned by each honest node at its
/// `flap_threshold`-th short-lived strike, and for nothing else: its only
/// strikes are `short_lived`, exactly the threshold, one ban. No honest row
/// ever disconnects.
#[test]
fn flapper_is_banned_for_short_lived_strikes() {
    let threshold = u64::from(sim_config().flap_threshold);
    let flapper: IpAddr = "192.168.0.4".parse().unwrap();
    for seed in SEEDS {
        let scenario = scenario_by_name("hostile-flap").unwrap();
        let options = RunOptions {
            keep_trace: true,
            ..RunOptions::default()
        };
        let (report, snaps) = run_recorded(scenario, seed, &options);
        assert_eq!(snaps.len(), 3, "n0-n2 recorded");
        for (host, snap) in &snaps {
            let strikes: Vec<_> = snap.stats.strikes_by.iter().collect();
            assert_eq!(strikes, [(&SHORT_LIVED, &threshold)], "seed {seed} {host}");
            assert_eq!(snap.stats.bans, 1, "seed {seed} {host}");
            assert_eq!(snap.banned, [flapper], "seed {seed} {host}");
            for row in snap.peers.iter().filter(|r| r.peer.ip() != flapper) {
                assert_eq!(row.counters.disconnects, 0, "seed {seed} {host} {row:?}");
                assert_eq!(row.strikes, 0, "seed {seed} {host}");
            }
        }
        let lines = report.trace.iter().map(ToString::to_string);
        let bans = lines.filter(|l| l.contains(" banned ") && l.contains("192.168.0.4"));
        assert_eq!(bans.count(), 3, "seed {seed}: one ban per honest node");
    }
}

/// n2 is killed at 6 s, restarted every 3 s from 7 s to 40 s (12 times)
/// and killed again 2 s after each restart but the last, then left up: on
/// the event backend n0 and n1 see each young connection end by FIN. Those n2 dialled are flaps, and n0 and n1 strike
/// it for them (11 each), far fewer than the threshold (103 under
/// `sim_config`, 27 by default): it is never banned, and by the end it is
/// connected to both with every strike still counted.
#[test]
fn honest_peer_killed_young_is_not_banned() {
    let mut faults = vec![at_ms(6_000, Fault::Kill(2))];
    for k in 0..12 {
        let restart = 7_000 + 3_000 * k;
        faults.push(at_ms(restart, Fault::Restart(2)));
        if k < 11 {
            faults.push(at_ms(restart + 2_000, Fault::Kill(2)));
        }
    }
    let scenario = Scenario::new(
        "flaky-honest",
        "3 nodes; n2 restarted 12 times, killed 2 s after each but the last",
        3,
    )
    .faults(FaultPlan::Fixed(faults))
    .duration(Duration::from_secs(60));
    let options = RunOptions {
        backend: Backend::Event,
        ..RunOptions::default()
    };
    let n2: IpAddr = "192.168.0.3".parse().unwrap();
    let threshold = sim_config().flap_threshold as usize;
    let mut seen = Vec::new();
    for seed in SEEDS {
        let (_, snaps) = run_recorded(scenario.clone(), seed, &options);
        for host in ["n0", "n1"] {
            let snap = &snaps[host];
            let row = snap.peers.iter().find(|r| r.peer.ip() == n2).unwrap();
            assert_eq!(snap.stats.bans, 0, "seed {seed} {host}");
            assert!(snap.banned.is_empty(), "seed {seed} {host}");
            assert!(row.active.is_some(), "seed {seed} {host}: n2 connected");
            assert!(row.strikes < threshold, "seed {seed} {host}");
            let short = snap.stats.strikes_by.get(SHORT_LIVED).copied();
            assert_eq!(short, Some(row.strikes as u64), "seed {seed} {host}");
            seen.push(row.strikes);
        }
    }
    // One strike for each of the 11 restarts that were killed young: every
    // one of those connections was n2's own dial (it redials at once after
    // a restart, before n0's and n1's backoff ends).
    assert_eq!(seen, [11; 6], "strikes held by n0 and n1, seeds 1-3");
    assert_eq!(threshold, 103, "sim_config's flap threshold");
}

fn at_ms(ms: u64, fault: Fault) -> TimedFault {
    TimedFault {
        at: Duration::from_millis(ms),
        fault,
    }
}
