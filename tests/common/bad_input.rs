//! The bad-input harness shared by `tests/bad_input_handshake.rs` and
//! `tests/bad_input_established.rs`: a test node with an honest connection
//! to it ([`Case`]), run on turmoil ([`run_sim`]) or real TCP on loopback
//! ([`run_tcp`]), the `on_both_transports!` macro that makes one test per
//! transport, and hand-made bad input.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use peerlink::error::ConnectionError;
use peerlink::peer::ConnectionHandle;
use peerlink::transport::{SimTransport, TcpTransport, Transport};
use peerlink::wire::{Hello, Message, PROTOCOL_VERSION};
use peerlink::{Config, NodeId};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{
    conn_id, context, dial, loopback, next_closed, next_message, node_channels, sim_addr,
    sim_builder, sim_node, tcp_node, Dialed, Failure, NodeTaps, Raw,
};

/// The test node's id.
pub const NODE: u128 = 0x00de_cade;
/// The id of the honest dialer.
pub const HONEST: u128 = 0x0000_600d;
/// The id raw sockets claim in their hellos.
pub const RAW: u128 = 0x0000_0bad;
/// Longest any single wait may take (virtual in the sim, real on TCP).
pub const WAIT: Duration = Duration::from_secs(5);

/// Defaults, with a short handshake timeout so slowloris cases on real TCP
/// finish quickly.
pub fn config() -> Config {
    let mut c = Config::default();
    c.handshake_timeout = Duration::from_millis(500);
    c.connect_timeout = Duration::from_secs(2);
    c
}

/// One bad-input case: a test node, an honest connection to it, and the
/// means to open raw sockets.
pub struct Case<T: Transport> {
    pub transport: T,
    pub node: SocketAddr,
    pub taps: NodeTaps,
    pub honest: Dialed,
    pub honest_at_node: ConnectionHandle,
    pub raw_ip: Option<IpAddr>,
    /// Virtual time: durations are asserted exactly.
    pub exact: bool,
}

impl<T: Transport> Case<T> {
    async fn setup(
        transport: T,
        node: SocketAddr,
        mut taps: NodeTaps,
        honest_ip: Option<IpAddr>,
        raw_ip: Option<IpAddr>,
        exact: bool,
    ) -> Self {
        let ctx = context(HONEST, config(), honest_ip);
        let honest = dial(&transport, node, &ctx, conn_id(1), 21)
            .await
            .expect("honest dial");
        let honest_at_node = taps.accepted.recv().await.expect("accepted").handle;
        let mut case = Case {
            transport,
            node,
            taps,
            honest,
            honest_at_node,
            raw_ip,
            exact,
        };
        case.exchange(b"before").await;
        case
    }

    /// One App payload each way on the honest connection.
    pub async fn exchange(&mut self, tag: &'static [u8]) {
        let node_id = self.honest_at_node.info().id;
        let dialer_id = self.honest.handle.info().id;
        self.honest
            .handle
            .send(Bytes::from_static(tag))
            .expect("send");
        let (_, got) = next_message(&mut self.taps.events, node_id, WAIT).await;
        assert_eq!(got, Bytes::from_static(tag));
        self.honest_at_node
            .send(Bytes::from_static(tag))
            .expect("send");
        let (_, got) = next_message(&mut self.honest.events, dialer_id, WAIT).await;
        assert_eq!(got, Bytes::from_static(tag));
    }

    pub async fn raw(&self) -> Raw<T> {
        Raw::open(&self.transport, self.node, self.raw_ip).await
    }

    /// A raw socket past a valid handshake, its connection id at the node,
    /// and the node's first ping (sent on establishment).
    pub async fn raw_established(&mut self) -> (Raw<T>, ConnectionHandle, (u64, u64)) {
        let mut raw = self.raw().await;
        let hello = raw.handshake(RAW, 0).await;
        assert_eq!(hello.node_id, NodeId(NODE));
        let at_node = self.taps.accepted.recv().await.expect("accepted").handle;
        assert_eq!(at_node.info().remote_addr, raw.local_addr);
        match raw.recv(WAIT).await {
            Ok(Message::Ping {
                nonce,
                timestamp_ms,
            }) => (raw, at_node, (nonce, timestamp_ms)),
            other => panic!("expected the node's first ping, got {other:?}"),
        }
    }

    /// The node's handshake failure for `raw`.
    pub async fn failure(&mut self, raw: &Raw<T>) -> Failure {
        let failure = tokio::time::timeout(WAIT, self.taps.failures.recv())
            .await
            .expect("handshake failure reported in time")
            .expect("failures open");
        assert_eq!(failure.remote_addr, raw.local_addr);
        failure
    }

    /// How the node's end of `conn` closed.
    pub async fn closed(&mut self, conn: &ConnectionHandle) -> ConnectionError {
        next_closed(&mut self.taps.events, conn.info().id, WAIT)
            .await
            .1
    }

    /// The honest connection still works, and nothing panicked.
    pub async fn finish(mut self) {
        self.exchange(b"after").await;
        assert_eq!(self.taps.panics.load(Ordering::SeqCst), 0);
        assert_eq!(self.honest.panics.load(Ordering::SeqCst), 0);
        assert!(self.taps.failures.try_recv().is_err(), "no other failure");
    }
}

pub fn run_sim<F, Fut>(scenario: F)
where
    F: FnOnce(Case<SimTransport>) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let seed = 17;
    let mut sim = sim_builder(seed, Duration::from_millis(2), Duration::from_secs(60)).build();
    let (sinks, taps) = node_channels();
    sim_node(&mut sim, "node", context(NODE, config(), None), seed, sinks);
    sim.client("peer", async move {
        let case = Case::setup(
            SimTransport::default(),
            sim_addr("node"),
            taps,
            None,
            None,
            true,
        )
        .await;
        scenario(case).await;
        Ok(())
    });
    sim.run().expect("sim");
}

pub async fn run_tcp<F, Fut>(scenario: F)
where
    F: FnOnce(Case<TcpTransport>) -> Fut,
    Fut: Future<Output = ()>,
{
    tokio::time::timeout(Duration::from_secs(15), async {
        let (addr, taps) = tcp_node(loopback(1), context(NODE, config(), None), 17).await;
        let case = Case::setup(
            TcpTransport,
            addr,
            taps,
            Some(loopback(2)),
            Some(loopback(3)),
            false,
        )
        .await;
        scenario(case).await;
    })
    .await
    .expect("test finished in time");
}

/// Generates `<case>::sim` (turmoil) and `<case>::tcp` (real TCP) for a
/// scenario function of the same name. The invoking file must have
/// `run_sim`, `run_tcp`, `SimTransport` and `TcpTransport` in scope.
#[macro_export]
macro_rules! on_both_transports {
    ($(#[doc = $doc:literal])* $name:ident) => {
        mod $name {
            use super::*;

            $(#[doc = $doc])*
            /// On turmoil.
            #[test]
            fn sim() {
                run_sim(super::$name::<SimTransport>);
            }

            $(#[doc = $doc])*
            /// On real TCP over loopback.
            #[tokio::test(unhandled_panic = "shutdown_runtime")]
            async fn tcp() {
                run_tcp(super::$name::<TcpTransport>).await;
            }
        }
    };
}

/// A valid hello frame from [`RAW`], then with its magic and version
/// overwritten.
pub fn hello_frame(magic: [u8; 4], version: u16) -> Vec<u8> {
    let mut frame = Message::Hello(Hello {
        version: PROTOCOL_VERSION,
        network_id: 0,
        node_id: NodeId(RAW),
        listen_port: 0,
    })
    .to_frame()
    .to_vec();
    frame[5..9].copy_from_slice(&magic);
    frame[9..11].copy_from_slice(&version.to_be_bytes());
    frame
}

/// Seeded garbage whose first four bytes, read as a length prefix, are over
/// the frame cap (checked, so the expected error is exact).
pub fn garbage() -> (Vec<u8>, u32) {
    let mut bytes = vec![0u8; 48];
    ChaCha8Rng::seed_from_u64(0xbad).fill_bytes(&mut bytes);
    let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    assert!(
        len > config().max_frame_len,
        "garbage prefix {len} under the cap"
    );
    (bytes, len)
}
