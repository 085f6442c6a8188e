//! The event backend: its network's semantics through the `Transport`
//! trait (latency, holds, partitions, both crash kinds), and whole runs:
//! a seed replays the same trace, scenarios pass, and the catalog's naive
//! designs fail on it with the invariant they fail on turmoil.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use peerlink::transport::{Link, Listener, Transport};
use peerlink_sim::catalog;
use peerlink_sim::event::{
    crash_census, CrashKind, EventReader, EventTransport, EventWriter, Net, SharedNet,
};
use peerlink_sim::faults::{Fault, FaultPlan, TimedFault};
use peerlink_sim::runner::{run, Backend, RunOptions};
use peerlink_sim::scenario::Scenario;
use peerlink_sim::scenarios::scenario_by_name;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{timeout, Instant};

type EventLink = Link<EventReader, EventWriter>;

const LATENCY: Duration = Duration::from_millis(10);

/// Milliseconds between the prefix and the body in
/// `writes_in_one_instant_arrive_apart_and_in_order`, as seed 7 draws them
/// (0: the body drew less than the prefix and waits for it).
const GAPS: [u128; 8] = [10, 33, 29, 0, 0, 7, 0, 16];

/// Two hosts, `n0` dialing `n1`, on a fixed 10 ms link.
async fn pair() -> (SharedNet, EventLink, EventLink) {
    pair_within((LATENCY, LATENCY)).await
}

/// Two hosts, `n0` dialing `n1`, on seed 7 with latencies within `range`.
async fn pair_within(range: (Duration, Duration)) -> (SharedNet, EventLink, EventLink) {
    let names = vec!["n0".to_string(), "n1".to_string()];
    let net: SharedNet = Arc::new(Mutex::new(Net::new(7, range, &names)));
    let (a, b) = (
        EventTransport::new(net.clone(), 0, 0),
        EventTransport::new(net.clone(), 1, 0),
    );
    let mut listener = b.bind("0.0.0.0:7000".parse().unwrap()).await.unwrap();
    let addr = (b.lookup("n1"), 7000).into();
    let (dialed, accepted) = tokio::join!(a.open(addr, None), listener.accept());
    (net, dialed.unwrap(), accepted.unwrap())
}

/// Bytes arrive exactly one link latency after they are written, and a
/// connect takes a round trip.
#[tokio::test(start_paused = true)]
async fn bytes_arrive_after_the_link_latency() {
    let start = Instant::now();
    let (_net, mut a, mut b) = pair().await;
    assert_eq!(start.elapsed(), LATENCY * 2);
    let sent = Instant::now();
    a.writer.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    b.reader.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
    assert_eq!(sent.elapsed(), LATENCY);
}

/// With a latency range, each write has its own jitter from the seed: a
/// prefix and a body written in the same instant arrive at different
/// instants, the body never before the prefix, each within the link's
/// latency plus the range's spread.
#[tokio::test(start_paused = true)]
async fn writes_in_one_instant_arrive_apart_and_in_order() {
    let (lo, hi) = (Duration::from_millis(5), Duration::from_millis(60));
    let (_net, mut a, mut b) = pair_within((lo, hi)).await;
    let mut gaps = Vec::new();
    for _ in 0..8 {
        let sent = Instant::now();
        a.writer.write_all(b"len:").await.unwrap();
        a.writer.write_all(b"body").await.unwrap();
        let mut buf = [0u8; 4];
        b.reader.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"len:");
        let prefix = sent.elapsed();
        b.reader.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"body");
        let body = sent.elapsed();
        assert!(prefix >= lo && body >= prefix && body <= hi * 2 - lo);
        gaps.push((body - prefix).as_millis());
    }
    assert_eq!(gaps, GAPS);
}

/// A hold keeps bytes back however long it lasts; the release delivers
/// them at once, in order.
#[tokio::test(start_paused = true)]
async fn held_bytes_arrive_on_release() {
    let (net, mut a, mut b) = pair().await;
    net.lock().unwrap().hold(0, 1);
    a.writer.write_all(b"one").await.unwrap();
    a.writer.write_all(b"two").await.unwrap();
    let mut buf = [0u8; 6];
    assert!(
        timeout(Duration::from_secs(5), b.reader.read_exact(&mut buf))
            .await
            .is_err()
    );
    net.lock().unwrap().release(0, 1, Instant::now());
    let released = Instant::now();
    b.reader.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"onetwo");
    assert_eq!(released.elapsed(), Duration::ZERO);
}

/// A byte sent into a partition is lost, and the direction stays stalled
/// after the repair (no retransmission past the gap), as on turmoil.
#[tokio::test(start_paused = true)]
async fn a_partition_stalls_the_stream_for_good() {
    let (net, mut a, mut b) = pair().await;
    net.lock().unwrap().partition(0, 1, true);
    a.writer.write_all(b"lost").await.unwrap();
    net.lock().unwrap().repair(0, 1, true);
    a.writer.write_all(b"late").await.unwrap();
    let mut buf = [0u8; 4];
    assert!(timeout(Duration::from_secs(60), b.reader.read(&mut buf))
        .await
        .is_err());
}

/// A power loss: the peer sees nothing (its read stalls) and the crashed
/// end's operations fail at once.
#[tokio::test(start_paused = true)]
async fn power_loss_is_silent() {
    let (net, mut a, mut b) = pair().await;
    net.lock()
        .unwrap()
        .crash(1, CrashKind::PowerLoss, Instant::now());
    let mut buf = [0u8; 4];
    assert!(timeout(Duration::from_secs(60), a.reader.read(&mut buf))
        .await
        .is_err());
    assert!(b.writer.write_all(b"x").await.is_err());
    assert!(b.reader.read(&mut buf).await.is_err());
}

/// A process crash: the peer reads EOF one latency later, or a reset when
/// the crashed end had unread data.
#[tokio::test(start_paused = true)]
async fn process_crash_sends_fin_or_reset() {
    let (net, mut a, _b) = pair().await;
    let crashed = Instant::now();
    net.lock().unwrap().crash(1, CrashKind::Process, crashed);
    let mut buf = [0u8; 4];
    assert_eq!(a.reader.read(&mut buf).await.unwrap(), 0);
    assert_eq!(crashed.elapsed(), LATENCY);

    let (net, mut a, _b) = pair().await;
    a.writer.write_all(b"unread").await.unwrap();
    tokio::time::sleep(LATENCY * 2).await;
    net.lock()
        .unwrap()
        .crash(1, CrashKind::Process, Instant::now());
    let err = a.reader.read(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
}

fn event() -> RunOptions {
    RunOptions {
        backend: Backend::Event,
        keep_trace: true,
        ..RunOptions::default()
    }
}

/// A seed replays the same trace on the event backend, and the trace says
/// which host did what.
#[test]
fn event_backend_replays_the_same_trace() {
    let scenario = scenario_by_name("random-faults").unwrap();
    let a = run(&scenario, 3, &event()).unwrap();
    let b = run(&scenario, 3, &event()).unwrap();
    assert_eq!(a.violation, None);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.trace, b.trace);
    assert!(a
        .trace
        .iter()
        .any(|r| r.node == "n0" && r.kind == "established"));
    assert!(a.replay_command().contains("--backend event"));
}

/// Scenarios of every fault kind pass on the event backend.
#[test]
fn scenarios_pass_on_the_event_backend() {
    for name in [
        "mesh-8",
        "partition-heal",
        "half-open",
        "crash-restart",
        "hold-release",
        "hostile-never-reads",
        "flaky-links",
    ] {
        let scenario = scenario_by_name(name).unwrap();
        for seed in 0..3 {
            let report = run(&scenario, seed, &event()).unwrap();
            assert_eq!(report.violation, None, "{name} seed {seed}");
        }
    }
}

/// Every naive design of the bug catalog breaks, on the event backend, the
/// invariant it breaks on turmoil, on the same seed. Bug 12 (torn frames)
/// among them: a frame's prefix and body, written apart, arrive apart
/// (each write has its own jitter), so a cancel-unsafe read is cut
/// mid-frame.
#[test]
fn catalog_naive_designs_fail_on_the_event_backend() {
    for entry in catalog::entries() {
        let scenario = scenario_by_name(&entry.scenario).unwrap();
        let options = RunOptions {
            model: Some(entry.naive.to_string()),
            ..event()
        };
        let report = run(&scenario, entry.naive_seed, &options).unwrap();
        let broke = report.violation.map(|v| v.invariant);
        assert_eq!(
            broke,
            Some(entry.invariant),
            "bug {} ({})",
            entry.bug,
            entry.naive
        );
    }
}

/// A killed process's peers drop the connection at once (FIN); after a
/// power loss they still hold it until pings time out.
#[test]
fn a_kill_is_seen_at_once_and_a_power_loss_is_not() {
    let with = |fault: Fault| {
        let scenario = Scenario::new("kill", "2 nodes, n1 goes down at 10 s", 2)
            .latency(LATENCY, LATENCY)
            .faults(FaultPlan::Fixed(vec![
                TimedFault {
                    at: Duration::from_secs(10),
                    fault,
                },
                TimedFault {
                    at: Duration::from_secs(40),
                    fault: Fault::Restart(1),
                },
            ]));
        let options = RunOptions {
            checkpoints: vec![("after".into(), Duration::from_millis(10_500))],
            ..event()
        };
        let report = run(&scenario, 0, &options).unwrap();
        assert_eq!(report.violation, None);
        let (_, view) = &report.checkpoints[0].nodes[0];
        view.as_ref().unwrap().open_connections()
    };
    assert_eq!(with(Fault::Kill(1)), 0);
    assert_eq!(with(Fault::Crash(1)), 1);
}

/// `net-100`'s peers are drawn from the seed: 8 per node, none itself, and
/// a different draw on another seed.
#[test]
fn net_100_draws_eight_peers_per_node_from_the_seed() {
    let scenario = scenario_by_name("net-100").unwrap();
    let pairs = |seed| match scenario.for_seed(seed).knows.clone() {
        peerlink_sim::scenario::Knows::Only(p) => p,
        other => panic!("unresolved: {other:?}"),
    };
    let a = pairs(0);
    assert_eq!(a.len(), 800);
    for node in 0..100 {
        let mine: Vec<_> = a.iter().filter(|(x, _)| *x == node).collect();
        assert_eq!(mine.len(), 8);
        assert!(mine.iter().all(|(x, y)| x != y));
    }
    assert_eq!(a, pairs(0));
    assert_ne!(a, pairs(1));
}

/// `check-determinism --backend event` runs each seed twice in-process and
/// once in a second process, and finds the same trace every time.
#[test]
fn check_determinism_passes_on_the_event_backend() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_peerlink-sim"))
        .args([
            "check-determinism",
            "crash-restart",
            "--seeds",
            "3",
            "--backend",
            "event",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_eq!(text.lines().last(), Some("3 passed, 0 failed"));
}

/// `catalog --backend event` runs the catalog on the event backend: every
/// naive design breaks the invariant its entry names, on its seed, and our
/// default passes every catalog scenario on the sweep; exit 0.
#[test]
fn catalog_command_runs_on_the_event_backend() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_peerlink-sim"))
        .args([
            "catalog",
            "--backend",
            "event",
            "--seeds",
            "3",
            "--jobs",
            "1",
            "--json",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let entries = catalog::entries();
    assert_eq!(rows.len(), entries.len());
    for (row, entry) in rows.iter().zip(&entries) {
        assert_eq!(row["bug"], entry.bug);
        assert_eq!(row["backend"], "event");
        assert_eq!(row["naive"], entry.naive);
        assert_eq!(row["naive_broke"], entry.invariant, "bug {}", entry.bug);
        assert_eq!(row["ours_seeds"], 3);
        assert_eq!(
            row["ours_failed"],
            serde_json::json!([]),
            "bug {}",
            entry.bug
        );
    }
}

/// A crash aborts every task its incarnation spawned (the legacy model
/// spawns through `peerlink_sim::transport::spawn`): on `bug-11` under
/// `legacy-zombie-slots`, n1, n2 and n3 lose power at 10 s; tokio runs each
/// of their tasks once more only to drop it (one hook poll per task, the
/// future is not polled), and none is left at the end of the run.
#[test]
fn a_crash_aborts_every_task_of_the_incarnation() {
    let scenario = scenario_by_name("bug-11").unwrap();
    let crashes = crash_census(&scenario, 0, Some("legacy-zombie-slots")).unwrap();
    let seen: Vec<_> = crashes
        .iter()
        .map(|c| (c.owner.host, c.owner.incarnation, c.at_crash, c.at_end))
        .collect();
    eprintln!("{seen:#?}");
    assert_eq!(crashes.len(), 3);
    for c in &crashes {
        assert_eq!(c.at_end.live, 0, "{c:?}");
        assert_eq!(
            c.at_end.polls,
            c.at_crash.polls + c.at_crash.live as u64,
            "{c:?}"
        );
    }
}

/// The library's own tasks are out of the crash's reach (the library
/// spawns them), but they end: on `crash-restart` seed 0, n1's first
/// incarnation has 8 tasks when it crashes; they take 13 hook polls to end
/// (cancellations and their last real polls, on a failing transport), and
/// none is left at the end of the run.
#[test]
fn a_crashed_library_node_leaves_no_task() {
    let scenario = scenario_by_name("crash-restart").unwrap();
    let crashes = crash_census(&scenario, 0, None).unwrap();
    let seen: Vec<_> = crashes
        .iter()
        .map(|c| {
            let after = c.at_end.polls - c.at_crash.polls;
            (
                c.owner.host,
                c.owner.incarnation,
                c.at_crash.live,
                after,
                c.at_end.live,
            )
        })
        .collect();
    assert_eq!(seen, [(1, 0, 8, 13, 0)]);
}

/// A run of a scenario read from a file replays with `--file F`, not by
/// the scenario's name, which is not a built-in.
#[test]
fn a_file_scenario_replays_by_its_file() {
    let path = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/repro-zombie-slots.toml"
    ));
    let (scenario, _) = peerlink_sim::file::load(&path).unwrap();
    let options = RunOptions {
        file: Some(path.clone()),
        ..event()
    };
    let report = run(&scenario, 4, &options).unwrap();
    assert_eq!(
        report.replay_command(),
        format!(
            "peerlink-sim replay --file {} --seed 4 --policy legacy-zombie-slots --backend event --trace",
            path.display()
        )
    );
}

/// A host's ephemeral ports (32768..=65535) are never handed out twice:
/// with all 32768 held by open streams a connect fails with
/// `AddrNotAvailable`, and a port whose stream closed is handed out again
/// after the wrap.
#[tokio::test(start_paused = true)]
async fn ephemeral_ports_are_never_handed_out_twice() {
    let names = vec!["n0".to_string(), "n1".to_string()];
    let mut net = Net::new(7, (LATENCY, LATENCY), &names);
    net.bind(1, 0, 7000).unwrap();
    let waker = std::task::Waker::noop();
    let mut ends = Vec::new();
    for _ in 0..32768 {
        let (end, local, _) = net.arrive(0, 0, 1, 7000).unwrap().unwrap();
        net.accept(1, 0, waker).unwrap().unwrap();
        ends.push((end, local.port()));
    }
    assert_eq!(ends[0].1, 32768);
    assert_eq!(ends[32767].1, 65535);
    let full = net.arrive(0, 0, 1, 7000).unwrap_err();
    assert_eq!(full.kind(), std::io::ErrorKind::AddrNotAvailable);
    let (end, port) = ends[40000 - 32768];
    assert_eq!(port, 40000);
    net.drop_half(end, false, Instant::now());
    net.drop_half(end, true, Instant::now());
    let (_, local, _) = net.arrive(0, 0, 1, 7000).unwrap().unwrap();
    assert_eq!(local.port(), 40000);
    assert_eq!(net.open_streams(0), 32768);
}
