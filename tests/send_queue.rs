//! The send queue's bounds on real TCP (loopback, real time): a peer whose
//! owner stops draining events stops reading, so our queue fills; sends
//! fail with `QueueFull` at the queue's byte bound, and the connection keeps
//! pinging through a full queue instead of closing, then delivers every
//! payload it accepted, in order, once the peer reads again. The peer,
//! reading again, takes the backlog of our pings as what it is, not as a
//! ping flood.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use peerlink::error::SendError;
use peerlink::peer::ConnectionEventKind;
use peerlink::transport::TcpTransport;
use peerlink::Config;
use tokio::time::Instant;

/// Upper bound for a whole test.
const TEST_LIMIT: Duration = Duration::from_secs(30);
const PAYLOAD: usize = 8 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_sends_keeps_pinging_and_delivers_in_order() {
    tokio::time::timeout(TEST_LIMIT, async {
        let config = {
            let mut c = Config::default();
            // About ten of our pings fall in the second the listener does
            // not read. It reads them in one go afterwards: more than its
            // four per interval, but the backlog of its own stall.
            c.ping_interval = Duration::from_millis(100);
            c.pong_timeout = Duration::from_secs(5);
            c.send_queue_len = 100_000;
            c.send_queue_bytes = 64 * 1024;
            c
        };
        let (addr, mut taps) = tcp_node(loopback(1), context(1, config.clone(), None), 1).await;
        let ctx = context(2, config, Some(loopback(4)));
        let mut a = dial(&TcpTransport, addr, &ctx, conn_id(1), 2)
            .await
            .expect("dial");
        let b = taps.accepted.recv().await.expect("accepted").handle;
        let sender = a.handle.sender().clone();

        // The listener's owner drains nothing from here on: its event
        // queue fills, its loop stops reading, TCP pushes back, and our
        // queue fills. Keep it full for a second (ten ping intervals).
        let mut accepted = 0u32;
        let mut refused = 0u32;
        let mut full_since = None;
        while full_since.is_none_or(|t: Instant| t.elapsed() < Duration::from_secs(1)) {
            let mut payload = vec![0u8; PAYLOAD];
            payload[..4].copy_from_slice(&accepted.to_be_bytes());
            match sender.send(Bytes::from(payload)) {
                Ok(()) => accepted += 1,
                Err(SendError::QueueFull) => {
                    refused += 1;
                    full_since.get_or_insert_with(Instant::now);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(e) => panic!("send failed with {e:?} after {accepted} payloads"),
            }
            if accepted % 16 == 0 {
                tokio::task::yield_now().await;
            }
        }
        assert!(refused > 0);
        assert!(
            !sender.is_closed(),
            "the connection closed with a full queue"
        );

        // The listener reads again: every accepted payload arrives, in order.
        let id = b.info().id;
        for expected in 0..accepted {
            let (_, got) = next_message(&mut taps.events, id, Duration::from_secs(10)).await;
            assert_eq!(got.len(), PAYLOAD);
            assert_eq!(got[..4], expected.to_be_bytes(), "payload {expected}");
        }
        // Our pings kept going out through the full queue: the pong of the
        // next one is answered, and no Closed came before it.
        let a_id = a.handle.info().id;
        next_rtt(&mut a.events, a_id, Duration::from_secs(5)).await;
        while let Ok(event) = a.events.try_recv() {
            assert!(
                !matches!(event.item.kind, ConnectionEventKind::Closed(_)),
                "{:?}",
                event.item.kind
            );
        }
        assert_eq!(a.panics.load(Ordering::SeqCst), 0);
        assert_eq!(taps.panics.load(Ordering::SeqCst), 0);
    })
    .await
    .expect("test finished in time");
}
