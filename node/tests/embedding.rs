//! Runs the embedding example (`node/examples/blockchain_node.rs`) on real
//! loopback TCP and checks what it did, so the example `docs/embedding.md`
//! walks through is not only compiled but proven to work.

#[path = "../examples/blockchain_node.rs"]
#[allow(dead_code)] // not every public item of the example is asserted on
mod blockchain_node;

use std::net::{IpAddr, Ipv4Addr};

use blockchain_node::{Block, ChainMessage, ChainState, Transaction};
use peerlink::wire::Reason;
use peerlink::PeerId;

fn ip(x: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, x))
}

/// A node's departures with the wire reason either side gave, sorted. A
/// simultaneous dial leaves none: the manager holds back a duplicate's
/// `Disconnected` while the winner is in its handshake. Which side's
/// `shutdown` goodbye arrives first is a race between the nodes, so who
/// closed is not compared.
fn departures(state: &ChainState) -> Vec<(PeerId, Option<Reason>)> {
    let mut left: Vec<(PeerId, Option<Reason>)> = state
        .departures
        .iter()
        .map(|(peer, reason)| (*peer, reason.code()))
        .collect();
    left.sort();
    left
}

/// Three embedded chain nodes form a mesh, exchange `Status` on connect,
/// relay two transactions to every mempool, agree on the mined block, and
/// on shutdown every node records each peer leaving with `shutdown`, and no
/// other departure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_gossips_transactions_and_blocks() {
    let ips = [ip(31), ip(32), ip(33)];
    let finals = blockchain_node::run_demo(ips).await.expect("demo starts");
    assert_eq!(finals.len(), 3);
    let block = Block {
        height: 1,
        txs: vec![
            Transaction { id: 7, amount: 100 },
            Transaction { id: 8, amount: 250 },
        ],
    };
    let peers: Vec<PeerId> = ips.iter().map(|ip| PeerId::new(*ip)).collect();
    for (i, state) in finals.iter().enumerate() {
        assert_eq!(state.chain, vec![block.clone()], "node {i}");
        assert!(state.mempool.is_empty(), "node {i}");
        assert!(state.peers.is_empty(), "node {i}: all peers gone");
        assert_eq!(state.bad_messages, 0);
        let others: Vec<PeerId> = peers.iter().copied().filter(|p| *p != peers[i]).collect();
        // Each peer announced height 0 on connect, before the block.
        let heights: Vec<(PeerId, u64)> = others.iter().map(|p| (*p, 0)).collect();
        assert_eq!(
            state.peer_heights.clone().into_iter().collect::<Vec<_>>(),
            heights
        );
        let left: Vec<(PeerId, Option<Reason>)> = others
            .iter()
            .map(|p| (*p, Some(Reason::Shutdown)))
            .collect();
        assert_eq!(departures(state), left, "node {i}");
    }
}

/// The example's wire format round-trips, and truncated or oversized
/// payloads from the network decode to `None` rather than panicking.
#[test]
fn chain_messages_round_trip_and_reject_garbage() {
    let messages = [
        ChainMessage::Status { height: 9 },
        ChainMessage::Transaction(Transaction { id: 1, amount: 2 }),
        ChainMessage::Block(Block {
            height: 3,
            txs: vec![Transaction { id: 4, amount: 5 }],
        }),
    ];
    for m in &messages {
        let bytes = m.encode();
        assert_eq!(ChainMessage::decode(&bytes).as_ref(), Some(m));
        for cut in 0..bytes.len() {
            assert_eq!(
                ChainMessage::decode(&bytes[..cut]),
                None,
                "{m:?} cut at {cut}"
            );
        }
    }
    let huge_count = [3, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff];
    assert_eq!(ChainMessage::decode(&huge_count), None);
    assert_eq!(ChainMessage::decode(&[9, 0]), None);
}

/// The example's own `main` (the three-node demo on 127.0.0.21–23) runs to
/// completion and returns `Ok`.
#[test]
fn example_main_runs() {
    blockchain_node::main().expect("example main succeeds");
}
