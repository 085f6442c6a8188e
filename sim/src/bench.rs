//! Harness overhead: the same scenario shape run two ways — through the full
//! harness (peerlink's manager, invariants every checkpoint, the trace) and
//! as a bare turmoil loop (same hosts, tick, latency and simulated time; one
//! raw TCP connection per pair exchanging ping/pong frames at the same
//! interval; nothing checked, nothing recorded).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use peerlink::wire::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::{TcpListener, TcpStream};

use crate::runner::{build_sim, run, RunOptions, PORT};
use crate::scenario::Scenario;
use crate::wallclock::Stopwatch;

/// Seeds per wall second, both ways.
#[derive(Clone, Debug)]
pub struct Overhead {
    /// Scenario measured.
    pub scenario: String,
    /// Seeds run each way.
    pub seeds: usize,
    /// Simulated time per seed.
    pub sim_time: Duration,
    /// Full harness: seeds per wall second.
    pub harness_seeds_per_sec: f64,
    /// Bare loop: seeds per wall second.
    pub bare_seeds_per_sec: f64,
}

impl Overhead {
    /// Harness time over bare time (1.0 = no overhead).
    pub fn ratio(&self) -> f64 {
        self.bare_seeds_per_sec / self.harness_seeds_per_sec
    }
}

/// Measures `scenario` over `seeds` on one thread, each way.
pub fn measure(scenario: &Scenario, seeds: &[u64]) -> Overhead {
    let watch = Stopwatch::start();
    let mut sim_time = Duration::ZERO;
    for &seed in seeds {
        if let Ok(report) = run(scenario, seed, &RunOptions::default()) {
            sim_time = report.sim_time;
        }
    }
    let harness = watch.secs();
    let watch = Stopwatch::start();
    for &seed in seeds {
        bare_run(scenario, seed, sim_time);
    }
    let bare = watch.secs();
    let n = seeds.len() as f64;
    Overhead {
        scenario: scenario.name.clone(),
        seeds: seeds.len(),
        sim_time,
        harness_seeds_per_sec: n / harness.max(1e-9),
        bare_seeds_per_sec: n / bare.max(1e-9),
    }
}

/// The bare loop: lower-indexed hosts dial higher ones; every connection
/// pings at the scenario's interval and answers pings with pongs.
pub fn bare_run(scenario: &Scenario, seed: u64, sim_time: Duration) {
    let mut sim = build_sim(scenario, seed);
    let interval = scenario.config.ping_interval;
    for i in 0..scenario.nodes {
        let nodes = scenario.nodes;
        sim.host(format!("n{i}"), move || async move {
            let listener =
                TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)).await?;
            for j in i + 1..nodes {
                let addr = SocketAddr::new(turmoil::lookup(format!("n{j}")), PORT);
                if let Ok(stream) = TcpStream::connect(addr).await {
                    tokio::spawn(pinger(stream, interval));
                }
            }
            loop {
                let (stream, _) = listener.accept().await?;
                tokio::spawn(pinger(stream, interval));
            }
        });
    }
    while sim.elapsed() < sim_time {
        if sim.step().is_err() {
            break;
        }
    }
}

async fn pinger(stream: TcpStream, interval: Duration) {
    let (mut reader, mut writer) = stream.into_split();
    let ping = Message::Ping {
        nonce: 1,
        timestamp_ms: 0,
    }
    .to_frame();
    let pong = Message::Pong {
        nonce: 1,
        timestamp_ms: 0,
    }
    .to_frame();
    let mut ticker = tokio::time::interval(interval);
    let mut buf = [0u8; 21];
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if writer.write_all(&ping).await.is_err() { return; }
            }
            read = reader.read_exact(&mut buf) => {
                if read.is_err() { return; }
                if buf[4] == 0x04 && writer.write_all(&pong).await.is_err() { return; }
            }
        }
    }
}
