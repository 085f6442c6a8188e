//! `PeerConnection` end to end on turmoil's simulated network: handshake,
//! App messages and pings through the one message loop in both directions,
//! exact RTTs under fixed link latency, and dead-peer detection.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use peerlink::error::{ConnectionError, ProtocolViolation};
use peerlink::peer::ConnectionEventKind;
use peerlink::transport::SimTransport;
use peerlink::wire::{Message, Reason};
use peerlink::{Config, ConnectionDirection, DisconnectReason, NodeId, PeerId};
use tokio::time::Instant;

/// Node id of the test node (host "b").
const NODE_B: u128 = 0xb0b0;
/// Node id of the dialing client (host "a").
const NODE_A: u128 = 0xa0a0;

/// Short timers so detection happens within seconds of virtual time.
fn fast_config() -> Config {
    let mut c = Config::default();
    c.ping_interval = Duration::from_secs(1);
    c.pong_timeout = Duration::from_secs(2);
    c.max_missed_pongs = 3;
    c.handshake_timeout = Duration::from_secs(5);
    c.connect_timeout = Duration::from_secs(5);
    c
}

/// Builds a sim with test node "b"; returns it and the node's taps.
fn two_node_sim<'a>(
    seed: u64,
    latency: Duration,
    duration: Duration,
    config: Config,
) -> (turmoil::Sim<'a>, NodeTaps) {
    let mut sim = sim_builder(seed, latency, duration).build();
    let (sinks, taps) = node_channels();
    sim_node(&mut sim, "b", context(NODE_B, config, None), seed, sinks);
    (sim, taps)
}

/// The accepting side's first RTT and the dialer's first RTT are both
/// exactly twice the link latency, and the second ping one interval later
/// measures the same.
#[test]
fn test_peer_connection_ping_pong() {
    let latency = Duration::from_millis(10);
    let config = fast_config();
    let (mut sim, mut taps) = two_node_sim(1, latency, Duration::from_secs(10), config.clone());
    sim.client("a", async move {
        let ctx = context(NODE_A, config.clone(), None);
        let mut a = dial(
            &SimTransport::default(),
            sim_addr("b"),
            &ctx,
            conn_id(1),
            11,
        )
        .await?;
        let established = Instant::from_std(a.handle.info().established_at);
        let b = taps.accepted.recv().await.expect("b accepted");
        let b_id = b.handle.info().id;

        // The dialer's first ping goes out on establishment: RTT is 2L.
        let (_, rtt) = next_rtt(&mut a.events, a.handle.info().id, secs(1)).await;
        assert_eq!(rtt, 2 * latency);
        assert_eq!(Instant::now() - established, 2 * latency);
        let (_, rtt) = next_rtt(&mut taps.events, b_id, secs(1)).await;
        assert_eq!(rtt, 2 * latency);

        // The next ping is one interval later and measures the same.
        let (_, rtt) = next_rtt(&mut a.events, a.handle.info().id, secs(2)).await;
        assert_eq!(rtt, 2 * latency);
        assert_eq!(
            Instant::now() - established,
            config.ping_interval + 2 * latency
        );
        let (_, rtt) = next_rtt(&mut taps.events, b_id, secs(2)).await;
        assert_eq!(rtt, 2 * latency);
        assert_eq!(a.panics.load(Ordering::SeqCst), 0);
        Ok(())
    });
    sim.run().expect("sim");
}

/// Both directions exchange App messages (empty, small, and one spanning
/// many segments) and pings through the one message loop: payloads arrive
/// exactly and in order, both RTTs are 2L, each side sees the right
/// direction, peer and remote hello, and an orderly close reaches the peer
/// with its reason.
#[test]
fn test_inbound_outbound_behavior() {
    let latency = Duration::from_millis(5);
    let config = fast_config();
    let (mut sim, mut taps) = two_node_sim(2, latency, secs(10), config.clone());
    sim.client("a", async move {
        let ctx = context(NODE_A, config.clone(), None);
        let mut a = dial(
            &SimTransport::default(),
            sim_addr("b"),
            &ctx,
            conn_id(7),
            12,
        )
        .await?;
        let b = taps.accepted.recv().await.expect("b accepted").handle;
        let (a_info, b_info) = (a.handle.info().clone(), b.info().clone());
        assert_eq!(a_info.id, conn_id(7));
        assert_eq!(b_info.id, conn_id(1));
        assert_eq!(a_info.direction, ConnectionDirection::Outbound);
        assert_eq!(b_info.direction, ConnectionDirection::Inbound);
        assert_eq!(a_info.peer, PeerId::new(turmoil::lookup("b")));
        assert_eq!(b_info.peer, PeerId::new(turmoil::lookup("a")));
        assert_eq!(a_info.remote.node_id, NodeId(NODE_B));
        assert_eq!(b_info.remote.node_id, NodeId(NODE_A));
        assert_eq!(a_info.remote_addr, b_info.local_addr);
        assert_eq!(a_info.local_addr, b_info.remote_addr);

        let big = Bytes::from((0..200_000u32).map(|i| i as u8).collect::<Vec<u8>>());
        let from_a = [Bytes::from_static(b"a-1"), Bytes::new(), big.clone()];
        let from_b = [Bytes::from_static(b"b-1"), big, Bytes::from_static(b"b-3")];
        for (x, y) in from_a.iter().zip(&from_b) {
            a.handle.send(x.clone()).expect("a send");
            b.send(y.clone()).expect("b send");
        }
        for expected in &from_a {
            let (_, got) = next_message(&mut taps.events, b_info.id, secs(1)).await;
            assert_eq!(&got, expected);
        }
        for expected in &from_b {
            let (_, got) = next_message(&mut a.events, a_info.id, secs(1)).await;
            assert_eq!(&got, expected);
        }

        // Pings share the loop with the App traffic: one interval later
        // each side measures 2L again.
        for _ in 0..2 {
            assert_eq!(
                next_rtt(&mut a.events, a_info.id, secs(2)).await.1,
                2 * latency
            );
            assert_eq!(
                next_rtt(&mut taps.events, b_info.id, secs(2)).await.1,
                2 * latency
            );
        }

        // Orderly close from the dialer: Goodbye(reason) reaches the acceptor.
        a.handle.close(Reason::Shutdown);
        let (_, local) = next_closed(&mut a.events, a_info.id, secs(1)).await;
        assert!(
            matches!(local, ConnectionError::LocalClosed(Reason::Shutdown)),
            "{local:?}"
        );
        let (_, remote) = next_closed(&mut taps.events, b_info.id, secs(1)).await;
        assert!(
            matches!(remote, ConnectionError::RemoteClosed(Reason::Shutdown)),
            "{remote:?}"
        );
        assert_eq!(remote.reason(), DisconnectReason::Remote(Reason::Shutdown));
        assert!(a.handle.sender().is_closed());
        assert_eq!(a.panics.load(Ordering::SeqCst), 0);
        assert_eq!(taps.panics.load(Ordering::SeqCst), 0);
        Ok(())
    });
    sim.run().expect("sim");
}

/// A peer that goes silent mid-connection (turmoil holds the link) is
/// declared dead with `PingTimeout { missed: 3 }` on both ends, exactly
/// three intervals plus one pong timeout after the last answered ping, and
/// within `Config::dead_peer_bound()` of going silent.
#[test]
fn test_timeout_detection() {
    let latency = Duration::from_millis(10);
    let config = fast_config();
    let bound = config.dead_peer_bound();
    let (mut sim, mut taps) = two_node_sim(3, latency, secs(30), config.clone());
    sim.client("a", async move {
        let ctx = context(NODE_A, config.clone(), None);
        let mut a = dial(
            &SimTransport::default(),
            sim_addr("b"),
            &ctx,
            conn_id(1),
            13,
        )
        .await?;
        let a_established = turmoil::sim_elapsed().expect("in sim");
        let b = taps.accepted.recv().await.expect("b accepted");
        let b_id = b.handle.info().id;
        // b completes its handshake when it sends HelloAccept, L earlier.
        assert_eq!(b.at + latency, a_established);
        // Both first pings are answered; then the link goes silent.
        next_rtt(&mut a.events, a.handle.info().id, secs(1)).await;
        next_rtt(&mut taps.events, b_id, secs(1)).await;
        turmoil::hold("a", "b");
        let silent_at = turmoil::sim_elapsed().expect("in sim");
        assert_eq!(silent_at, a_established + 2 * latency);

        let (a_dead_at, a_err) = next_closed(&mut a.events, a.handle.info().id, bound * 2).await;
        assert!(
            matches!(a_err, ConnectionError::PingTimeout { missed: 3 }),
            "{a_err:?}"
        );
        assert_eq!(a_err.reason(), DisconnectReason::Local(Reason::PingTimeout));
        // Pings at +1 s, +2 s, +3 s go unanswered; the third expires at +5 s.
        let last_answered = a_established;
        assert_eq!(
            a_dead_at,
            last_answered + 3 * config.ping_interval + config.pong_timeout
        );
        assert!(a_dead_at - silent_at <= bound);

        let (b_dead_at, b_err) = next_closed(&mut taps.events, b_id, bound * 2).await;
        assert!(
            matches!(b_err, ConnectionError::PingTimeout { missed: 3 }),
            "{b_err:?}"
        );
        assert_eq!(
            b_dead_at,
            b.at + 3 * config.ping_interval + config.pong_timeout
        );
        assert!(b_dead_at - silent_at <= bound);
        Ok(())
    });
    sim.run().expect("sim");
}

/// A peer that completes the handshake and then never answers a ping is
/// declared dead exactly `(max_missed_pongs - 1) * ping_interval +
/// pong_timeout` after establishment; on the wire it saw four pings with
/// timestamps 0, 1000, 2000, 3000 ms, then `Goodbye(PingTimeout)`.
#[test]
fn silent_from_start_peer_is_dead_at_exact_instant() {
    let latency = Duration::from_millis(10);
    let config = fast_config();
    let (mut sim, mut taps) = two_node_sim(4, latency, secs(30), config.clone());
    sim.client("a", async move {
        let mut raw = Raw::open(&SimTransport::default(), sim_addr("b"), None).await;
        raw.handshake(NODE_A, 0).await;
        let b = taps.accepted.recv().await.expect("b accepted");
        let (frames, end) = raw.recv_all(secs(20)).await;
        let (dead_at, err) = next_closed(&mut taps.events, b.handle.info().id, secs(1)).await;
        assert!(
            matches!(err, ConnectionError::PingTimeout { missed: 3 }),
            "{err:?}"
        );
        assert_eq!(
            dead_at - b.at,
            2 * config.ping_interval + config.pong_timeout
        );
        let timestamps: Vec<u64> = frames
            .iter()
            .filter_map(|m| match m {
                Message::Ping { timestamp_ms, .. } => Some(*timestamp_ms),
                _ => None,
            })
            .collect();
        assert_eq!(timestamps, [0, 1000, 2000, 3000]);
        assert_eq!(frames.last(), Some(&Message::Goodbye(Reason::PingTimeout)));
        assert_eq!(frames.len(), 5);
        assert_eq!(end, RawEnd::Eof);
        Ok(())
    });
    sim.run().expect("sim");
}

/// Over 50 seeds and three link latencies, each side's first measured RTT
/// equals exactly twice the fixed latency, in both directions.
#[test]
fn first_rtt_is_exactly_twice_latency_across_seeds() {
    for latency_ms in [1u64, 7, 40] {
        let latency = Duration::from_millis(latency_ms);
        for seed in 0..50u64 {
            let config = fast_config();
            let (mut sim, mut taps) = two_node_sim(seed, latency, secs(5), config.clone());
            sim.client("a", async move {
                let ctx = context(NODE_A, config, None);
                let mut a = dial(
                    &SimTransport::default(),
                    sim_addr("b"),
                    &ctx,
                    conn_id(1),
                    seed,
                )
                .await?;
                let b_id = taps
                    .accepted
                    .recv()
                    .await
                    .expect("accepted")
                    .handle
                    .info()
                    .id;
                let (_, a_rtt) = next_rtt(&mut a.events, a.handle.info().id, secs(1)).await;
                let (_, b_rtt) = next_rtt(&mut taps.events, b_id, secs(1)).await;
                assert_eq!((a_rtt, b_rtt), (2 * latency, 2 * latency), "seed {seed}");
                Ok(())
            });
            sim.run()
                .unwrap_or_else(|e| panic!("latency {latency_ms} ms seed {seed}: {e}"));
        }
    }
}

/// A healthy peer whose RTT is exactly `pong_timeout` (link latency
/// `pong_timeout / 2`) is never declared dead over 3 simulated hours with
/// the default ping settings; every RTT measured is exactly `pong_timeout`
/// (100 ms ticks; latencies and timers are multiples of the tick).
#[test]
fn pong_at_exactly_the_timeout_is_never_dead_over_three_hours() {
    let config = {
        let mut c = Config::default();
        c.handshake_timeout = secs(60);
        c.connect_timeout = secs(60);
        c
    };
    let latency = config.pong_timeout / 2;
    let run_for = secs(3 * 3600);
    let mut builder = sim_builder(5, latency, run_for + secs(120));
    builder.tick_duration(Duration::from_millis(100));
    let mut sim = builder.build();
    let (sinks, mut taps) = node_channels();
    sim_node(
        &mut sim,
        "b",
        context(NODE_B, config.clone(), None),
        5,
        sinks,
    );
    sim.client("a", async move {
        let ctx = context(NODE_A, config.clone(), None);
        let mut a = dial(
            &SimTransport::default(),
            sim_addr("b"),
            &ctx,
            conn_id(1),
            15,
        )
        .await?;
        let a_established = turmoil::sim_elapsed().expect("in sim");
        let b = taps.accepted.recv().await.expect("accepted");
        let end = a_established + run_for;
        let deadline = Instant::now() + run_for;
        let (mut a_rtts, mut b_rtts) = (0u64, 0u64);
        loop {
            let (on_a, event) = tokio::select! {
                e = a.events.recv() => (true, e),
                e = taps.events.recv() => (false, e),
                () = tokio::time::sleep_until(deadline) => break,
            };
            let event = event.expect("events open");
            match event.item.kind {
                ConnectionEventKind::Rtt(rtt) => {
                    assert_eq!(rtt, config.pong_timeout, "at {:?}", event.at);
                    *if on_a { &mut a_rtts } else { &mut b_rtts } += 1;
                }
                other => panic!("unexpected event at {:?}: {other:?}", event.at),
            }
        }
        // a pings at e + k*I and hears the pong at e + k*I + 2L <= end.
        let expect_a =
            (end - a_established - 2 * latency).as_secs() / config.ping_interval.as_secs() + 1;
        // b was established L before a.
        let expect_b = (end - b.at - 2 * latency).as_secs() / config.ping_interval.as_secs() + 1;
        assert_eq!((a_rtts, b_rtts), (expect_a, expect_b));
        assert_eq!((expect_a, expect_b), (719, 720));
        Ok(())
    });
    sim.run().expect("sim");
}

/// A peer that pings faster than `max_pings_per_interval` allows is cut
/// off with `Violation(PingFlood)`, and the node says `Goodbye(rate_limited)`.
#[test]
fn ping_flood_is_cut_off() {
    let config = fast_config();
    let (mut sim, mut taps) = two_node_sim(6, Duration::from_millis(2), secs(10), config.clone());
    sim.client("a", async move {
        let mut raw = Raw::open(&SimTransport::default(), sim_addr("b"), None).await;
        raw.handshake(NODE_A, 0).await;
        let b_id = taps
            .accepted
            .recv()
            .await
            .expect("accepted")
            .handle
            .info()
            .id;
        for nonce in 0..=u64::from(config.max_pings_per_interval) {
            raw.send(&Message::Ping {
                nonce,
                timestamp_ms: 0,
            })
            .await;
        }
        let (_, err) = next_closed(&mut taps.events, b_id, secs(1)).await;
        assert!(
            matches!(
                err,
                ConnectionError::Violation(ProtocolViolation::PingFlood)
            ),
            "{err:?}"
        );
        assert_eq!(err.reason(), DisconnectReason::Local(Reason::RateLimited));
        let (frames, _) = raw.recv_all(secs(5)).await;
        let pongs = frames
            .iter()
            .filter(|m| matches!(m, Message::Pong { .. }))
            .count();
        assert_eq!(pongs as u32, config.max_pings_per_interval);
        assert_eq!(frames.last(), Some(&Message::Goodbye(Reason::RateLimited)));
        Ok(())
    });
    sim.run().expect("sim");
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
