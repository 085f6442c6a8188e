//! ConnectionManager under turmoil: simultaneous dials, mesh formation,
//! partition and heal, and the comparison policies that fail.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use peerlink::manager::{ConnectionManager, ManagerOptions, PeerState, Snapshot, TieBreakPolicy};
use peerlink::transport::{SimTransport, StreamTally};
use peerlink::{Config, PeerId};

const PORT: u16 = 7000;

type Handles = Arc<Mutex<BTreeMap<String, ConnectionManager>>>;

/// How to build a mesh.
#[derive(Clone)]
struct Shape {
    nodes: usize,
    seed: u64,
    policy: TieBreakPolicy,
    /// Start delay per node (missing: 0).
    start_delays: Vec<Duration>,
    latency: (Duration, Duration),
    tick: Duration,
    random_order: bool,
}

impl Shape {
    fn new(nodes: usize, seed: u64) -> Shape {
        Shape {
            nodes,
            seed,
            policy: TieBreakPolicy::NodeId,
            start_delays: vec![],
            latency: (Duration::from_millis(1), Duration::from_millis(20)),
            tick: Duration::from_millis(5),
            random_order: true,
        }
    }
}

/// A turmoil sim with hosts `n0..`, each running a manager that keeps every
/// other host as a persistent peer.
struct Mesh {
    sim: turmoil::Sim<'static>,
    names: Vec<String>,
    handles: Handles,
    tallies: BTreeMap<String, Arc<StreamTally>>,
    probes: u64,
}

impl Mesh {
    fn new(shape: Shape) -> Mesh {
        let mut builder = turmoil::Builder::new();
        builder
            .rng_seed(shape.seed)
            .simulation_duration(Duration::from_secs(4 * 3600))
            .tick_duration(shape.tick)
            .min_message_latency(shape.latency.0)
            .max_message_latency(shape.latency.1);
        if shape.random_order {
            builder.enable_random_order();
        }
        let mut sim = builder.build();
        let names: Vec<String> = (0..shape.nodes).map(|i| format!("n{i}")).collect();
        let handles: Handles = Arc::default();
        let mut tallies = BTreeMap::new();
        for (i, name) in names.iter().enumerate() {
            let transport = SimTransport::new();
            tallies.insert(name.clone(), transport.tally());
            let (names, handles, name) = (names.clone(), handles.clone(), name.clone());
            let node_seed = shape.seed.wrapping_mul(1000).wrapping_add(i as u64);
            let delay = shape.start_delays.get(i).copied().unwrap_or_default();
            let policy = shape.policy;
            sim.host(name.clone(), move || {
                let (names, handles, name) = (names.clone(), handles.clone(), name.clone());
                let transport = transport.clone();
                async move {
                    tokio::time::sleep(delay).await;
                    let peers = names
                        .iter()
                        .filter(|n| **n != name)
                        .map(|n| SocketAddr::new(turmoil::lookup(n.as_str()), PORT))
                        .collect();
                    let config = {
                        let mut c = Config::default();
                        c.tie_break = policy;
                        c
                    };
                    let options = ManagerOptions {
                        listen: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)),
                        local_ip: Some(turmoil::lookup(name.as_str())),
                        seed: Some(node_seed),
                        peers,
                    };
                    let (manager, mut events) =
                        ConnectionManager::start(transport, config, options).await?;
                    handles.lock().unwrap().insert(name, manager);
                    while events.recv().await.is_some() {}
                    Ok(())
                }
            });
        }
        Mesh {
            sim,
            names,
            handles,
            tallies,
            probes: 0,
        }
    }

    fn run_until(&mut self, t: Duration) {
        while self.sim.elapsed() < t {
            self.sim.step().unwrap();
        }
    }

    fn snapshot(&self, name: &str) -> Snapshot {
        self.handles.lock().unwrap()[name].snapshot()
    }

    fn peer_id(&self, name: &str) -> PeerId {
        PeerId::new(self.sim.lookup(name))
    }

    /// turmoil's own count of established TCP streams per host, read by a
    /// short-lived probe host inside the simulation.
    fn open_streams(&mut self) -> BTreeMap<String, usize> {
        let out: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let targets: Vec<(String, IpAddr)> = self
            .names
            .iter()
            .map(|n| (n.clone(), self.sim.lookup(n.as_str())))
            .collect();
        let sink = out.clone();
        self.probes += 1;
        self.sim
            .client(format!("probe{}", self.probes), async move {
                let mut map = sink.lock().unwrap();
                for (name, ip) in targets {
                    map.insert(name, turmoil::established_tcp_stream_count_on(ip));
                }
                Ok(())
            });
        while out.lock().unwrap().len() < self.names.len() {
            self.sim.step().unwrap();
        }
        let map = out.lock().unwrap().clone();
        map
    }

    fn total_dials(&self) -> u64 {
        let handles = self.handles.lock().unwrap();
        let rows = handles.values().flat_map(|m| m.snapshot().peers);
        rows.map(|r| r.counters.dials).sum()
    }
}

/// Both ends hold exactly one open connection to each other, and it is the
/// same TCP connection (addresses mirrored, directions opposite).
fn assert_one_shared_connection(mesh: &Mesh, a: &str, b: &str, ctx: &str) {
    let (sa, sb) = (mesh.snapshot(a), mesh.snapshot(b));
    let ra = sa
        .peer(mesh.peer_id(b))
        .unwrap_or_else(|| panic!("{ctx}: {a} has no row for {b}\n{sa}"));
    let rb = sb
        .peer(mesh.peer_id(a))
        .unwrap_or_else(|| panic!("{ctx}: {b} has no row for {a}\n{sb}"));
    assert_eq!(ra.state, PeerState::Connected, "{ctx}: {a}→{b}\n{sa}");
    assert_eq!(rb.state, PeerState::Connected, "{ctx}: {b}→{a}\n{sb}");
    assert_eq!(ra.connections.len(), 1, "{ctx}: {a}→{b}\n{sa}");
    assert_eq!(rb.connections.len(), 1, "{ctx}: {b}→{a}\n{sb}");
    let (ca, cb) = (&ra.connections[0], &rb.connections[0]);
    assert_eq!(
        (ca.local_addr, ca.remote_addr),
        (cb.remote_addr, cb.local_addr),
        "{ctx}"
    );
    assert_ne!(ca.direction, cb.direction, "{ctx}");
}

/// Every pair of a mesh shares exactly one connection, and turmoil's socket
/// count on each host equals the node's open connections.
fn assert_full_mesh(mesh: &mut Mesh, ctx: &str) {
    let names = mesh.names.clone();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            assert_one_shared_connection(mesh, a, b, ctx);
        }
    }
    let streams = mesh.open_streams();
    for name in &names {
        let snap = mesh.snapshot(name);
        assert_eq!(
            snap.open_connections(),
            names.len() - 1,
            "{ctx}: {name}\n{snap}"
        );
        let tally = &mesh.tallies[name];
        assert_eq!(
            tally.open_streams(),
            names.len() - 1,
            "{ctx}: streams held by {name}"
        );
        // turmoil keeps a socket for every failed connect (see SimTransport).
        let expected = tally.open_streams() + tally.failed_connects();
        assert_eq!(streams[name], expected, "{ctx}: turmoil streams on {name}");
    }
}

/// Two nodes that dial each other at the same instant end with exactly one
/// connection, the same TCP connection on both ends, and never redial after,
/// over 500 seeds with turmoil's random host order and random latency.
#[test]
fn simultaneous_dial_sweep() {
    for seed in 0..500 {
        let ctx = format!("seed {seed}");
        let mut mesh = Mesh::new(Shape::new(2, seed));
        mesh.run_until(Duration::from_secs(3));
        assert_full_mesh(&mut mesh, &ctx);
        let dials = mesh.total_dials();
        mesh.run_until(Duration::from_secs(63));
        assert_full_mesh(&mut mesh, &ctx);
        assert_eq!(mesh.total_dials(), dials, "{ctx}: redial after quiescence");
    }
}

/// Every delivery order of the two dials: the second node starts at every
/// 1 ms offset across two round trips of a fixed 10 ms link, so its SYN,
/// Hello and accept land before, between and after each of the first
/// node's; and a hold on the link releases both handshakes in one batch.
/// Exactly one shared connection, every time.
#[test]
fn simultaneous_dial_every_order() {
    for offset_ms in 0..=40 {
        for seed in 0..3 {
            let mut shape = Shape::new(2, seed);
            shape.tick = Duration::from_millis(1);
            shape.latency = (Duration::from_millis(10), Duration::from_millis(10));
            shape.start_delays = vec![Duration::ZERO, Duration::from_millis(offset_ms)];
            let mut mesh = Mesh::new(shape);
            mesh.run_until(Duration::from_secs(2));
            assert_full_mesh(&mut mesh, &format!("offset {offset_ms} ms seed {seed}"));
        }
    }
    for hold_ms in [1, 5, 15, 30, 100] {
        for seed in 0..3 {
            let mut shape = Shape::new(2, seed);
            shape.tick = Duration::from_millis(1);
            shape.latency = (Duration::from_millis(10), Duration::from_millis(10));
            let mut mesh = Mesh::new(shape);
            mesh.sim.hold("n0", "n1");
            mesh.run_until(Duration::from_millis(hold_ms));
            mesh.sim.release("n0", "n1");
            mesh.run_until(Duration::from_secs(2));
            assert_full_mesh(&mut mesh, &format!("hold {hold_ms} ms seed {seed}"));
        }
    }
}

/// Eight nodes, each given all others, all started at once: a full mesh of
/// 28 connections, consistent on both ends of every pair and with turmoil's
/// open sockets, and not one redial over a simulated hour.
#[test]
fn mesh_of_eight_holds_for_an_hour() {
    for seed in 0..3 {
        let ctx = format!("seed {seed}");
        let mut shape = Shape::new(8, seed);
        shape.tick = Duration::from_millis(10);
        let mut mesh = Mesh::new(shape);
        mesh.run_until(Duration::from_secs(5));
        assert_full_mesh(&mut mesh, &ctx);
        let dials = mesh.total_dials();
        mesh.run_until(Duration::from_secs(3605));
        assert_full_mesh(&mut mesh, &ctx);
        assert_eq!(
            mesh.total_dials(),
            dials,
            "{ctx}: reconnects during the hour"
        );
    }
}

/// A partition kills the connection within the ping bound on both ends;
/// redials back off; after the heal the connection returns within the
/// backoff cap plus one handshake.
#[test]
fn partition_then_heal() {
    let config = Config::default();
    for seed in 0..5 {
        let ctx = format!("seed {seed}");
        let mut shape = Shape::new(2, seed);
        shape.tick = Duration::from_millis(10);
        let mut mesh = Mesh::new(shape);
        mesh.run_until(Duration::from_secs(5));
        assert_full_mesh(&mut mesh, &ctx);
        let cut = mesh.sim.elapsed();
        mesh.sim.partition("n0", "n1");
        mesh.run_until(cut + config.dead_peer_bound() + Duration::from_millis(50));
        for name in ["n0", "n1"] {
            let snap = mesh.snapshot(name);
            assert_eq!(
                snap.open_connections(),
                0,
                "{ctx}: {name} still connected\n{snap}"
            );
        }
        // Stay partitioned long enough for the backoff to reach its cap.
        mesh.run_until(cut + Duration::from_secs(1200));
        let failures: u64 = ["n0", "n1"]
            .iter()
            .flat_map(|n| mesh.snapshot(n).peers)
            .map(|r| r.counters.dial_failures)
            .sum();
        assert!(failures >= 2, "{ctx}: no redial attempts during partition");
        assert!(failures < 40, "{ctx}: redials not backing off: {failures}");
        let heal = mesh.sim.elapsed();
        mesh.sim.repair("n0", "n1");
        let bound = config.redial_backoff_max
            + config.redial_backoff_max / 4
            + config.connect_timeout
            + config.handshake_timeout;
        let mut healed_at = None;
        while mesh.sim.elapsed() < heal + bound {
            mesh.sim.step().unwrap();
            if mesh.snapshot("n0").open_connections() == 1
                && mesh.snapshot("n1").open_connections() == 1
            {
                healed_at = Some(mesh.sim.elapsed());
                break;
            }
        }
        assert!(healed_at.is_some(), "{ctx}: not healed within {bound:?}");
        mesh.run_until(mesh.sim.elapsed() + Duration::from_secs(5));
        assert_full_mesh(&mut mesh, &ctx);
    }
}

/// Under the naive "reject any inbound while connected or dialling" policy
/// the simultaneous dial ends with no connection on some seed (origin bugs
/// #1, #9): the testbed sees the failure.
#[test]
fn naive_reject_inbound_reaches_zero() {
    let zero = (0..50).find(|&seed| {
        let mut shape = Shape::new(2, seed);
        shape.policy = TieBreakPolicy::RejectInbound;
        let mut mesh = Mesh::new(shape);
        mesh.run_until(Duration::from_secs(3));
        mesh.snapshot("n0").open_connections() == 0 && mesh.snapshot("n1").open_connections() == 0
    });
    assert!(
        zero.is_some(),
        "reject-inbound never reached zero connections"
    );
}

/// Under the naive "keep both" policy the simultaneous dial leaves two
/// connections per pair.
#[test]
fn naive_keep_both_keeps_two() {
    let mut shape = Shape::new(2, 1);
    shape.policy = TieBreakPolicy::KeepBoth;
    let mut mesh = Mesh::new(shape);
    mesh.run_until(Duration::from_secs(3));
    assert_eq!(
        mesh.snapshot("n0").open_connections(),
        2,
        "{}",
        mesh.snapshot("n0")
    );
    assert_eq!(
        mesh.snapshot("n1").open_connections(),
        2,
        "{}",
        mesh.snapshot("n1")
    );
    assert_eq!(mesh.tallies["n0"].open_streams(), 2);
    let leaked = mesh.tallies["n0"].failed_connects();
    assert_eq!(mesh.open_streams()["n0"], 2 + leaked);
}

/// A node configured with its own address dials it once, recognises its own
/// node id in the handshake, and never dials it again (ten minutes later,
/// still one dial, no connection).
#[test]
fn self_dial_detected_and_stopped() {
    let mut sim = turmoil::Builder::new()
        .rng_seed(5)
        .simulation_duration(Duration::from_secs(3600))
        .tick_duration(Duration::from_millis(10))
        .build();
    let handles: Handles = Arc::default();
    let published = handles.clone();
    sim.host("solo", move || {
        let published = published.clone();
        async move {
            let me = SocketAddr::new(turmoil::lookup("solo"), PORT);
            let options = ManagerOptions {
                listen: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)),
                local_ip: Some(me.ip()),
                seed: Some(9),
                peers: vec![me],
            };
            let (manager, mut events) =
                ConnectionManager::start(SimTransport::new(), Config::default(), options).await?;
            published.lock().unwrap().insert("solo".into(), manager);
            while events.recv().await.is_some() {}
            Ok(())
        }
    });
    while sim.elapsed() < Duration::from_secs(600) {
        sim.step().unwrap();
    }
    let snap = handles.lock().unwrap()["solo"].snapshot();
    let row = snap
        .peer(PeerId::new(sim.lookup("solo")))
        .expect("row kept");
    assert_eq!(
        (row.counters.dials, row.counters.dial_failures),
        (1, 1),
        "{snap}"
    );
    assert_eq!(row.connections.len(), 0);
    assert_eq!(row.state, PeerState::Idle);
    assert_eq!(
        snap.stats.reasons.get("self_connection"),
        Some(&2),
        "both ends refused: {snap:?}"
    );
}

/// `snapshot()` called from outside the simulation (between steps, where
/// tokio's own clock would be the wall clock) dates its ages on the node's
/// runtime clock: two snapshots 2 simulated seconds apart show connection
/// ages exactly 2 s apart, and never more than the time simulated.
#[test]
fn snapshot_ages_are_virtual_between_steps() {
    let mut mesh = Mesh::new(Shape::new(2, 1));
    let age = |mesh: &Mesh| {
        let snap = mesh.snapshot("n0");
        let stats = snap.peers[0].connections[0]
            .stats
            .expect("a live connection");
        (stats.age, mesh.sim.elapsed())
    };
    mesh.run_until(Duration::from_secs(3));
    let (first, at_first) = age(&mesh);
    mesh.run_until(Duration::from_secs(5));
    let (second, at_second) = age(&mesh);
    assert_eq!(at_second - at_first, Duration::from_secs(2));
    assert_eq!(second - first, Duration::from_secs(2));
    assert!(first > Duration::ZERO && first < at_first, "{first:?}");
}
