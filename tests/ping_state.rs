//! `PingState` on its own: no sockets, no sleeping. Time is a paused tokio
//! clock read once and handed to `PingState` as a `std` instant; every
//! other instant is that one plus a duration.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use peerlink::error::{PingTimeout, ProtocolViolation};
use peerlink::Config;
use peerlink_core::ping::{PingState, PongOutcome};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn state(config: &Config, t0: Instant) -> PingState {
    PingState::new(config, t0, 7)
}

/// The ping `poll` must send now.
fn must_ping(ping: &mut PingState, now: Instant) -> (u64, u64) {
    ping.poll(now).expect("not dead").expect("a ping is due")
}

/// The next deadline, which must be later than the previous one: a poll at
/// a deadline always moves it on (no busy loop).
fn next_after(ping: &PingState, previous: Option<Instant>) -> Instant {
    let at = ping.next_deadline();
    if let Some(previous) = previous {
        assert!(at > previous, "deadline did not advance past {previous:?}");
    }
    at
}

/// Drives a peer that never answers from `t0` on, polling exactly at each
/// deadline; returns the deadlines visited and the instant it was declared
/// dead (with the error).
fn drive_silent(ping: &mut PingState, limit: Instant) -> (Vec<Instant>, Instant, PingTimeout) {
    let mut visited: Vec<Instant> = Vec::new();
    loop {
        let at = next_after(ping, visited.last().copied());
        assert!(at <= limit, "not dead by {limit:?}");
        visited.push(at);
        if let Err(e) = ping.poll(at) {
            return (visited, at, e);
        }
    }
}

/// The first ping is due at once, carries timestamp 0, and the next
/// deadline is one interval later.
#[tokio::test(start_paused = true)]
async fn first_ping_is_immediate() {
    let config = Config::default();
    let t0 = tokio::time::Instant::now().into_std();
    let mut ping = state(&config, t0);
    assert_eq!(ping.next_deadline(), t0);
    let (_, timestamp_ms) = must_ping(&mut ping, t0);
    assert_eq!(timestamp_ms, 0);
    assert_eq!(ping.pending_len(), 1);
    assert_eq!(ping.poll(t0).expect("alive"), None);
    assert_eq!(ping.next_deadline(), t0 + config.ping_interval);
    assert_eq!(ping.last_rtt(), None);
}

/// The RTT is the exact time from sending the ping to receiving its pong,
/// and each ping's timestamp is milliseconds since the state was created.
#[tokio::test(start_paused = true)]
async fn rtt_is_send_to_receive() {
    let config = Config::default();
    let t0 = tokio::time::Instant::now().into_std();
    let mut ping = state(&config, t0);
    let (n0, _) = must_ping(&mut ping, t0);
    assert_eq!(ping.on_pong(n0, t0 + ms(37)), Ok(PongOutcome::Rtt(ms(37))));
    assert_eq!(ping.last_rtt(), Some(ms(37)));
    assert_eq!(ping.pending_len(), 0);

    let t1 = t0 + config.ping_interval;
    assert_eq!(ping.next_deadline(), t1);
    let (n1, ts1) = must_ping(&mut ping, t1);
    assert_eq!(ts1, 15_000);
    assert_ne!(n1, n0);
    assert_eq!(ping.on_pong(n1, t1 + ms(1)), Ok(PongOutcome::Rtt(ms(1))));
    assert_eq!(ping.last_rtt(), Some(ms(1)));
}

/// Intervals that pass without a poll are skipped, not burst: one ping,
/// stamped with the real elapsed time, and the schedule stays on the grid.
#[tokio::test(start_paused = true)]
async fn late_poll_sends_one_ping() {
    let config = Config::default();
    let t0 = tokio::time::Instant::now().into_std();
    let mut ping = state(&config, t0);
    let (n0, _) = must_ping(&mut ping, t0);
    assert_eq!(ping.on_pong(n0, t0 + ms(5)), Ok(PongOutcome::Rtt(ms(5))));
    let (_, ts) = must_ping(&mut ping, t0 + secs(47));
    assert_eq!(ts, 47_000);
    assert_eq!(ping.poll(t0 + secs(47)).expect("alive"), None);
    assert_eq!(ping.next_deadline(), t0 + secs(60));
}

/// Each ping that passes its pong timeout counts one miss, exactly at
/// `sent + pong_timeout` and not a millisecond before; a good pong resets
/// the count to zero.
#[tokio::test(start_paused = true)]
async fn missed_pongs_count_and_reset() {
    let config = Config::default(); // interval 15 s, timeout 20 s
    let t0 = tokio::time::Instant::now().into_std();
    let mut ping = state(&config, t0);
    must_ping(&mut ping, t0);
    must_ping(&mut ping, t0 + secs(15));
    assert_eq!(ping.next_deadline(), t0 + secs(20));
    assert_eq!(ping.poll(t0 + secs(20) - ms(1)).expect("alive"), None);
    assert_eq!(ping.consecutive_missed(), 0);
    assert_eq!(ping.poll(t0 + secs(20)).expect("alive"), None);
    assert_eq!(ping.consecutive_missed(), 1);
    assert_eq!(ping.pending_len(), 1);
    let (n2, _) = must_ping(&mut ping, t0 + secs(30));
    assert_eq!(ping.poll(t0 + secs(35)).expect("alive"), None);
    assert_eq!(ping.consecutive_missed(), 2);
    assert_eq!(
        ping.on_pong(n2, t0 + secs(36)),
        Ok(PongOutcome::Rtt(secs(6)))
    );
    assert_eq!(ping.consecutive_missed(), 0);
    assert_eq!(ping.pending_len(), 0);
}

/// A peer silent from the start is declared dead at exactly
/// `(max_missed_pongs - 1) * ping_interval + pong_timeout` (the expiry of
/// the `max_missed_pongs`-th ping), not 1 ms before, and within
/// `Config::dead_peer_bound()`; checked for the defaults and for timeouts
/// shorter than, equal to and longer than the interval.
#[tokio::test(start_paused = true)]
async fn silent_from_start_dead_at_exact_instant() {
    let cases = [
        (secs(15), secs(20), 3, secs(50)),
        (secs(1), secs(2), 3, secs(4)),
        (secs(10), secs(5), 2, secs(15)),
        (secs(5), secs(5), 1, secs(5)),
        (secs(5), secs(30), 4, secs(45)),
    ];
    for (interval, timeout, max_missed, expected) in cases {
        let config = {
            let mut c = Config::default();
            c.ping_interval = interval;
            c.pong_timeout = timeout;
            c.max_missed_pongs = max_missed;
            c
        };
        config.validate().expect("valid");
        assert_eq!(expected, interval * (max_missed - 1) + timeout);
        let t0 = tokio::time::Instant::now().into_std();

        // Not dead 1 ms before: poll every deadline up to there, then there.
        let mut early = state(&config, t0);
        let mut previous = None;
        while early.next_deadline() < t0 + expected - ms(1) {
            let at = next_after(&early, previous);
            early.poll(at).expect("alive before the bound");
            previous = Some(at);
        }
        assert!(early.poll(t0 + expected - ms(1)).is_ok());
        assert_eq!(early.consecutive_missed(), max_missed - 1);

        let mut ping = state(&config, t0);
        let (_, dead_at, err) = drive_silent(&mut ping, t0 + secs(3600));
        assert_eq!(dead_at - t0, expected, "{config:?}");
        assert_eq!(err, PingTimeout { missed: max_missed });
        assert!(dead_at - t0 <= config.dead_peer_bound());
    }
}

/// With the defaults, the deadlines a silent peer walks through are exactly
/// the pings at 0, 15, 30, 45 s and the expiries at 20, 35, 50 s; dead at
/// 50 s, inside the documented 65 s bound.
#[tokio::test(start_paused = true)]
async fn silent_from_start_deadline_sequence() {
    let config = Config::default();
    let t0 = tokio::time::Instant::now().into_std();
    let mut ping = state(&config, t0);
    let (visited, dead_at, _) = drive_silent(&mut ping, t0 + secs(600));
    let visited: Vec<u64> = visited.iter().map(|at| (*at - t0).as_secs()).collect();
    assert_eq!(visited, [0, 15, 20, 30, 35, 45, 50]);
    assert_eq!(dead_at - t0, secs(50));
    assert_eq!(config.dead_peer_bound(), secs(65));
}

/// A peer that answers every ping in 10 ms and goes silent at `s` is
/// declared dead exactly `max_missed_pongs` intervals plus one timeout
/// after the last ping it answered (or at the silent-from-start instant if
/// it answered none), never more than `dead_peer_bound()` after `s`; for
/// silence starting anywhere in the interval.
#[tokio::test(start_paused = true)]
async fn silent_midway_dead_within_bound() {
    let config = Config::default();
    let rtt = ms(10);
    for silent_after_ms in [0u64, 10, 11, 7_500, 14_999, 15_000, 15_010, 44_000] {
        let t0 = tokio::time::Instant::now().into_std();
        let silent_at = t0 + ms(silent_after_ms);
        let mut ping = state(&config, t0);
        let mut last_answered = None;
        let mut previous = None;
        let dead_at = loop {
            let at = next_after(&ping, previous);
            previous = Some(at);
            match ping.poll(at) {
                Err(PingTimeout { missed: 3 }) => break at,
                Err(e) => panic!("{e:?}"),
                Ok(Some((nonce, _))) if at + rtt <= silent_at => {
                    assert_eq!(ping.on_pong(nonce, at + rtt), Ok(PongOutcome::Rtt(rtt)));
                    last_answered = Some(at);
                }
                Ok(_) => {}
            }
        };
        // The misses are the 3 pings after the last answered one; with
        // none answered, the first ping (at t0) is the first miss.
        let expected = match last_answered {
            Some(last) => last + config.ping_interval * 3 + config.pong_timeout,
            None => t0 + config.ping_interval * 2 + config.pong_timeout,
        };
        assert_eq!(dead_at, expected, "silent after {silent_after_ms} ms");
        assert!(dead_at - silent_at <= config.dead_peer_bound());
    }
}

/// A pong for a ping that already timed out is `Late`: ignored, and the
/// miss it caused stays counted.
#[tokio::test(start_paused = true)]
async fn late_pong_is_late() {
    let config = Config::default();
    let t0 = tokio::time::Instant::now().into_std();
    let mut ping = state(&config, t0);
    let (n0, _) = must_ping(&mut ping, t0);
    must_ping(&mut ping, t0 + config.ping_interval);
    assert_eq!(ping.poll(t0 + config.pong_timeout).expect("alive"), None);
    assert_eq!(ping.consecutive_missed(), 1);
    let late = t0 + config.pong_timeout + ms(1);
    assert_eq!(ping.on_pong(n0, late), Ok(PongOutcome::Late));
    assert_eq!(ping.consecutive_missed(), 1);
    assert_eq!(ping.last_rtt(), None);
}

/// A pong whose nonce we never sent is `UnsolicitedPong`, with or without a
/// ping pending, and leaves the pending ping in place.
#[tokio::test(start_paused = true)]
async fn unknown_nonce_is_unsolicited() {
    let config = Config::default();
    let t0 = tokio::time::Instant::now().into_std();
    let mut ping = state(&config, t0);
    assert_eq!(
        ping.on_pong(42, t0),
        Err(ProtocolViolation::UnsolicitedPong)
    );
    let (n0, _) = must_ping(&mut ping, t0);
    assert_eq!(
        ping.on_pong(n0.wrapping_add(1), t0 + ms(3)),
        Err(ProtocolViolation::UnsolicitedPong)
    );
    assert_eq!(ping.pending_len(), 1);
    assert_eq!(ping.on_pong(n0, t0 + ms(4)), Ok(PongOutcome::Rtt(ms(4))));
}

/// A second pong for an answered nonce is `DuplicatePong`.
#[tokio::test(start_paused = true)]
async fn second_pong_is_duplicate() {
    let config = Config::default();
    let t0 = tokio::time::Instant::now().into_std();
    let mut ping = state(&config, t0);
    let (n0, _) = must_ping(&mut ping, t0);
    assert_eq!(ping.on_pong(n0, t0 + ms(2)), Ok(PongOutcome::Rtt(ms(2))));
    assert_eq!(
        ping.on_pong(n0, t0 + ms(3)),
        Err(ProtocolViolation::DuplicatePong)
    );
    assert_eq!(ping.last_rtt(), Some(ms(2)));
}

/// The peer may ping `max_pings_per_interval` times per window of one
/// `ping_interval`; one more in the window is `PingFlood`, and a new window
/// opens `ping_interval` after the first ping of the last one.
#[tokio::test(start_paused = true)]
async fn ping_flood() {
    let config = Config::default(); // 4 per 15 s
    let t0 = tokio::time::Instant::now().into_std();
    let mut ping = state(&config, t0);
    for n in 0..4u64 {
        assert_eq!(ping.on_ping(n, t0 + ms(n)), Ok(()));
    }
    assert_eq!(
        ping.on_ping(4, t0 + secs(15) - ms(1)),
        Err(ProtocolViolation::PingFlood)
    );

    let mut ping = state(&config, t0);
    for n in 0..4u64 {
        assert_eq!(ping.on_ping(n, t0 + secs(1)), Ok(()));
    }
    // The window opened at 1 s, so it ends at 16 s.
    assert_eq!(ping.on_ping(10, t0 + secs(16)), Ok(()));
}

/// After a stall of ours of 10 intervals, the honest backlog (one ping per
/// interval stalled, plus one) arrives at once on top of the usual four and
/// passes; one more is a flood. A stall shorter than an interval changes
/// nothing on its own, short stalls add up, and the allowance ends with its
/// window.
#[tokio::test(start_paused = true)]
async fn a_stall_of_ours_allows_the_ping_backlog() {
    let config = Config::default(); // 4 per 15 s
    let t0 = tokio::time::Instant::now().into_std();
    let after = t0 + secs(150);
    let mut ping = state(&config, t0);
    ping.note_stall(secs(150), after);
    for n in 0..15u64 {
        assert_eq!(ping.on_ping(n, after), Ok(()), "ping {n}");
    }
    assert_eq!(ping.on_ping(15, after), Err(ProtocolViolation::PingFlood));

    let mut ping = state(&config, t0);
    ping.note_stall(secs(150), after);
    // The next window has the usual four only.
    for n in 0..4u64 {
        assert_eq!(ping.on_ping(n, after + secs(15)), Ok(()));
    }
    assert_eq!(
        ping.on_ping(4, after + secs(15)),
        Err(ProtocolViolation::PingFlood)
    );

    let mut ping = state(&config, t0);
    ping.note_stall(secs(15) - ms(1), t0 + secs(1));
    for n in 0..4u64 {
        assert_eq!(ping.on_ping(n, t0 + secs(1)), Ok(()));
    }
    assert_eq!(
        ping.on_ping(4, t0 + secs(1)),
        Err(ProtocolViolation::PingFlood)
    );

    // Short stalls add up: fifteen of 1 s are one interval of lag. The
    // window opened at the fifteenth allows its backlog of two pings on top
    // of the usual four.
    let mut ping = state(&config, t0);
    for i in 1..=14u32 {
        ping.note_stall(secs(1), t0 + secs(2) * i);
    }
    for n in 0..4u64 {
        assert_eq!(ping.on_ping(n, t0 + secs(29)), Ok(()));
    }
    ping.note_stall(secs(1), t0 + secs(30));
    let after = t0 + secs(31);
    for n in 4..10u64 {
        assert_eq!(ping.on_ping(n, after), Ok(()), "ping {n}");
    }
    assert_eq!(ping.on_ping(10, after), Err(ProtocolViolation::PingFlood));
}

/// A peer ping reusing one of its recent nonces is `DuplicatePingNonce`;
/// the memory holds the last 16 nonces, so the 17th-oldest may recur.
#[tokio::test(start_paused = true)]
async fn replayed_peer_nonce() {
    let config = Config::default();
    let t0 = tokio::time::Instant::now().into_std();
    let mut ping = state(&config, t0);
    assert_eq!(ping.on_ping(99, t0), Ok(()));
    assert_eq!(
        ping.on_ping(99, t0 + ms(1)),
        Err(ProtocolViolation::DuplicatePingNonce)
    );

    // One ping per interval, so the rate limit never interferes.
    let mut ping = state(&config, t0);
    let at = |i: u32| t0 + config.ping_interval * i;
    for i in 0..16u32 {
        assert_eq!(ping.on_ping(u64::from(i), at(i)), Ok(()));
    }
    assert_eq!(
        ping.on_ping(15, at(16)),
        Err(ProtocolViolation::DuplicatePingNonce)
    );
    assert_eq!(ping.on_ping(16, at(17)), Ok(()));
    assert_eq!(ping.on_ping(0, at(18)), Ok(()));
}

/// With a peer that never answers and a miss limit that is never reached,
/// the pending table holds exactly the pings of one timeout window and
/// never more than `Config::max_pending_pings()`; all nonces are distinct.
#[tokio::test(start_paused = true)]
async fn pending_table_stays_bounded() {
    let config = {
        let mut c = Config::default();
        c.ping_interval = secs(1);
        c.pong_timeout = secs(10);
        c.max_missed_pongs = u32::MAX;
        c
    };
    config.validate().expect("valid");
    assert_eq!(config.max_pending_pings(), 12);
    let t0 = tokio::time::Instant::now().into_std();
    let mut ping = state(&config, t0);
    let mut nonces = BTreeSet::new();
    let mut previous = None;
    while ping.next_deadline() <= t0 + secs(1000) {
        let at = next_after(&ping, previous);
        previous = Some(at);
        if let Some((nonce, _)) = ping.poll(at).expect("never dead") {
            assert!(nonces.insert(nonce), "nonce reused");
        }
        assert!(ping.pending_len() <= config.max_pending_pings());
        if at >= t0 + secs(10) {
            assert_eq!(ping.pending_len(), 10, "at {:?}", at - t0);
        }
    }
    assert_eq!(nonces.len(), 1001);
    assert_eq!(ping.consecutive_missed(), 991);
}
