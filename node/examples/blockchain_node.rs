//! Embedding peerlink in a node of your own: a toy blockchain node that
//! gossips transactions and blocks over peerlink's connections.
//!
//! It shows the whole life cycle `docs/embedding.md` walks through:
//! a `Config`, `ConnectionManager::start` on `TcpTransport`, the node's own
//! message format carried in peerlink's opaque application payloads, `send`
//! to one peer and `broadcast` to all, reacting to `PeerEvent`s, and a
//! graceful `shutdown` while the event queue keeps being drained.
//!
//! `cargo run -p peerlink-node --example blockchain_node` runs a three-node
//! demo on 127.0.0.21–23: two transactions are submitted at two nodes, the
//! third mines a block with both, every node ends with the same chain and an
//! empty mempool, and the nodes leave one by one. `node/tests/embedding.rs`
//! runs the same demo (and this `main`) and asserts what happened.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use peerlink::manager::{ConnectionManager, Events, ManagerOptions, PeerEvent, StartError};
use peerlink::transport::TcpTransport;
use peerlink::{Config, DisconnectReason, PeerId};
use tokio::sync::{mpsc, watch};

/// The chain's own network id: peerlink refuses peers of other networks.
pub const CHAIN_NETWORK_ID: u32 = 0xB10C;
/// How long the demo waits for any one step before giving up.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// Most transactions one block message may carry (bounds decoding).
const MAX_BLOCK_TXS: usize = 10_000;

/// A transaction: an id and an amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Transaction {
    /// Unique id.
    pub id: u64,
    /// Amount moved.
    pub amount: u64,
}

/// A block: its height and the transactions it confirms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Height; the first block is 1.
    pub height: u64,
    /// Confirmed transactions, by id order.
    pub txs: Vec<Transaction>,
}

/// What the chain says on the wire, inside peerlink `App` payloads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainMessage {
    /// "My tip is at this height": sent to each peer when it connects.
    Status {
        /// The sender's chain height.
        height: u64,
    },
    /// A transaction to relay.
    Transaction(Transaction),
    /// A new block to relay.
    Block(Block),
}

impl ChainMessage {
    /// Encodes as a tag byte and big-endian fields.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        match self {
            ChainMessage::Status { height } => {
                out.put_u8(1);
                out.put_u64(*height);
            }
            ChainMessage::Transaction(tx) => {
                out.put_u8(2);
                out.put_u64(tx.id);
                out.put_u64(tx.amount);
            }
            ChainMessage::Block(block) => {
                out.put_u8(3);
                out.put_u64(block.height);
                out.put_u32(u32::try_from(block.txs.len()).unwrap_or(u32::MAX));
                for tx in &block.txs {
                    out.put_u64(tx.id);
                    out.put_u64(tx.amount);
                }
            }
        }
        out.freeze()
    }

    /// Decodes a payload from the network: never panics, `None` if it is
    /// not a valid chain message.
    pub fn decode(bytes: &[u8]) -> Option<ChainMessage> {
        let (&tag, rest) = bytes.split_first()?;
        let u64_at = |at: usize| -> Option<u64> {
            let field = rest.get(at..at + 8)?;
            Some(u64::from_be_bytes(field.try_into().ok()?))
        };
        match (tag, rest.len()) {
            (1, 8) => Some(ChainMessage::Status { height: u64_at(0)? }),
            (2, 16) => Some(ChainMessage::Transaction(Transaction {
                id: u64_at(0)?,
                amount: u64_at(8)?,
            })),
            (3, len) if len >= 12 => {
                let count = u32::from_be_bytes(rest.get(8..12)?.try_into().ok()?) as usize;
                if count > MAX_BLOCK_TXS || len != 12 + count * 16 {
                    return None;
                }
                let txs = (0..count)
                    .map(|i| {
                        Some(Transaction {
                            id: u64_at(12 + i * 16)?,
                            amount: u64_at(20 + i * 16)?,
                        })
                    })
                    .collect::<Option<Vec<_>>>()?;
                Some(ChainMessage::Block(Block {
                    height: u64_at(0)?,
                    txs,
                }))
            }
            _ => None,
        }
    }
}

/// Everything one node knows; published after every change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainState {
    /// The chain, first block first.
    pub chain: Vec<Block>,
    /// Unconfirmed transactions by id.
    pub mempool: BTreeMap<u64, Transaction>,
    /// Peers connected now.
    pub peers: BTreeSet<PeerId>,
    /// The height each peer announced in its `Status`.
    pub peer_heights: BTreeMap<PeerId, u64>,
    /// Peers that left, in order, and why.
    pub departures: Vec<(PeerId, DisconnectReason)>,
    /// Payloads that were not chain messages.
    pub bad_messages: u64,
}

impl ChainState {
    /// The height of the tip (0 before the first block).
    pub fn height(&self) -> u64 {
        self.chain.last().map_or(0, |b| b.height)
    }
}

/// What the rest of the program asks a running node to do.
#[derive(Debug)]
pub enum Command {
    /// Add a transaction to the mempool and announce it.
    Submit(Transaction),
    /// Mine a block with the whole mempool and announce it.
    Mine,
    /// Leave the network.
    Shutdown,
}

/// A running chain node: its manager, its commands, what it knows.
pub struct ChainNode {
    /// The node's connection manager: `send`, `broadcast`, `snapshot`.
    pub manager: ConnectionManager,
    /// Commands to the node task.
    pub commands: mpsc::Sender<Command>,
    /// The node's state, updated after every event and command.
    pub state: watch::Receiver<ChainState>,
    /// The node task; yields the final state after `Command::Shutdown`.
    pub task: tokio::task::JoinHandle<ChainState>,
}

impl ChainNode {
    /// Starts a node listening on `ip` (any free port), dialling from `ip`.
    pub async fn start(ip: IpAddr, config: Config) -> Result<ChainNode, StartError> {
        let options = ManagerOptions {
            listen: Some(SocketAddr::new(ip, 0)),
            local_ip: Some(ip),
            seed: None, // production: a random node id from OS entropy
            peers: Vec::new(),
        };
        let (manager, events) = ConnectionManager::start(TcpTransport, config, options).await?;
        let (commands, command_rx) = mpsc::channel(64);
        let (published, state) = watch::channel(ChainState::default());
        let logic = ChainLogic {
            manager: manager.clone(),
            state: ChainState::default(),
            published,
        };
        let task = tokio::spawn(logic.run(events, command_rx));
        Ok(ChainNode {
            manager,
            commands,
            state,
            task,
        })
    }

    /// The address peers dial.
    pub fn addr(&self) -> SocketAddr {
        self.manager
            .listen_addr()
            .expect("started with a listen address")
    }

    /// Waits (bounded) until the node's state satisfies `cond`.
    pub async fn wait_for(&mut self, what: &str, cond: impl FnMut(&ChainState) -> bool) {
        let reached = tokio::time::timeout(STEP_TIMEOUT, self.state.wait_for(cond))
            .await
            .is_ok_and(|r| r.is_ok());
        if !reached {
            panic!(
                "{what}: not reached in {STEP_TIMEOUT:?}: {:?}",
                *self.state.borrow()
            );
        }
    }
}

/// The node task's side: reacts to peer events and commands.
struct ChainLogic {
    manager: ConnectionManager,
    state: ChainState,
    published: watch::Sender<ChainState>,
}

impl ChainLogic {
    async fn run(
        mut self,
        mut events: Events,
        mut commands: mpsc::Receiver<Command>,
    ) -> ChainState {
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.on_event(event),
                    None => break,
                },
                command = commands.recv() => match command {
                    Some(Command::Submit(tx)) => self.on_transaction(tx, None),
                    Some(Command::Mine) => self.mine(),
                    Some(Command::Shutdown) | None => break,
                },
            }
            self.published.send_replace(self.state.clone());
        }
        // Keep draining events while the manager says goodbye to every
        // peer: its event queue is bounded and must not fill up.
        let manager = self.manager.clone();
        let drain = async {
            while let Some(event) = events.recv().await {
                self.on_event(event);
            }
        };
        tokio::join!(manager.shutdown(), drain);
        self.published.send_replace(self.state.clone());
        self.state
    }

    fn on_event(&mut self, event: PeerEvent) {
        match event {
            PeerEvent::Connected { peer, .. } => {
                self.state.peers.insert(peer);
                // Tell the new peer where our chain is: a unicast `send`.
                let status = ChainMessage::Status {
                    height: self.state.height(),
                };
                if let Err(error) = self.manager.send(peer, status.encode()) {
                    tracing::warn!(%peer, %error, "status not sent");
                }
            }
            PeerEvent::Disconnected { peer, reason, .. } => {
                self.state.peers.remove(&peer);
                self.state.departures.push((peer, reason));
            }
            PeerEvent::Message { peer, bytes, .. } => match ChainMessage::decode(&bytes) {
                Some(ChainMessage::Status { height }) => {
                    self.state.peer_heights.insert(peer, height);
                }
                Some(ChainMessage::Transaction(tx)) => self.on_transaction(tx, Some(peer)),
                Some(ChainMessage::Block(block)) => self.on_block(block, Some(peer)),
                None => self.state.bad_messages += 1,
            },
            // Rtt, and event kinds a newer peerlink may add.
            _ => {}
        }
    }

    /// A new transaction, from a peer (`from`) or submitted locally.
    fn on_transaction(&mut self, tx: Transaction, from: Option<PeerId>) {
        let confirmed = self
            .state
            .chain
            .iter()
            .flat_map(|b| &b.txs)
            .any(|t| t.id == tx.id);
        if confirmed || self.state.mempool.insert(tx.id, tx).is_some() {
            return; // already known: do not relay again
        }
        self.relay(&ChainMessage::Transaction(tx), from);
    }

    /// A block from a peer: appended if it extends our tip, then relayed.
    fn on_block(&mut self, block: Block, from: Option<PeerId>) {
        if block.height != self.state.height() + 1 {
            return; // known, or a gap a real node would fill by syncing
        }
        for tx in &block.txs {
            self.state.mempool.remove(&tx.id);
        }
        self.state.chain.push(block.clone());
        self.relay(&ChainMessage::Block(block), from);
    }

    fn mine(&mut self) {
        let txs: Vec<Transaction> = std::mem::take(&mut self.state.mempool)
            .into_values()
            .collect();
        let block = Block {
            height: self.state.height() + 1,
            txs,
        };
        self.state.chain.push(block.clone());
        self.relay(&ChainMessage::Block(block), None);
    }

    /// Our own news goes to everyone (`broadcast`); a peer's news goes to
    /// everyone but the peer it came from (`send` per peer).
    fn relay(&self, message: &ChainMessage, from: Option<PeerId>) {
        let payload = message.encode();
        let Some(from) = from else {
            let report = self.manager.broadcast(payload);
            for (peer, error) in report.failed {
                tracing::warn!(%peer, %error, "broadcast not queued");
            }
            return;
        };
        for peer in self.manager.registry().connected_peers() {
            if peer != from {
                if let Err(error) = self.manager.send(peer, payload.clone()) {
                    tracing::warn!(%peer, %error, "relay not queued");
                }
            }
        }
    }
}

/// The chain's peerlink settings: its own network id, faster pings than
/// the defaults (a demo should see some), everything else documented
/// defaults.
pub fn chain_config() -> Config {
    let mut c = Config::default();
    c.network_id = CHAIN_NETWORK_ID;
    c.ping_interval = Duration::from_secs(1);
    c.pong_timeout = Duration::from_secs(2);
    c
}

/// Runs three nodes on `ips`: a full mesh forms, transactions submitted at
/// the second and third reach all, the first mines a block with both, all
/// agree on the chain, then the nodes leave one by one. Returns each
/// node's final state, in `ips` order.
pub async fn run_demo(ips: [IpAddr; 3]) -> Result<Vec<ChainState>, StartError> {
    let mut nodes = Vec::new();
    for ip in ips {
        nodes.push(ChainNode::start(ip, chain_config()).await?);
    }
    let addrs: Vec<SocketAddr> = nodes.iter().map(ChainNode::addr).collect();
    for (i, node) in nodes.iter().enumerate() {
        for (j, addr) in addrs.iter().enumerate() {
            if i != j {
                node.manager.add_peer(*addr);
            }
        }
    }
    for node in &mut nodes {
        node.wait_for("mesh", |s| s.peer_heights.len() == 2).await;
    }
    let submitted = [
        Transaction { id: 7, amount: 100 },
        Transaction { id: 8, amount: 250 },
    ];
    for (node, tx) in nodes[1..].iter().zip(submitted) {
        let _ = node.commands.send(Command::Submit(tx)).await;
    }
    for node in &mut nodes {
        node.wait_for("transactions relayed", |s| s.mempool.len() == 2)
            .await;
    }
    let _ = nodes[0].commands.send(Command::Mine).await;
    for node in &mut nodes {
        node.wait_for("block relayed", |s| s.height() == 1 && s.mempool.is_empty())
            .await;
    }
    let mut finals = Vec::new();
    for node in nodes {
        let _ = node.commands.send(Command::Shutdown).await;
        match node.task.await {
            Ok(state) => finals.push(state),
            Err(e) => panic!("chain node task failed: {e}"),
        }
    }
    Ok(finals)
}

/// The demo on 127.0.0.21–23, printed.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let ips = [21, 22, 23].map(|x| IpAddr::V4(Ipv4Addr::new(127, 0, 0, x)));
    let finals = runtime.block_on(run_demo(ips))?;
    for (ip, state) in ips.iter().zip(&finals) {
        let txs: Vec<u64> = state
            .chain
            .iter()
            .flat_map(|b| &b.txs)
            .map(|t| t.id)
            .collect();
        let left: Vec<String> = state
            .departures
            .iter()
            .map(|(peer, reason)| format!("{peer} ({reason})"))
            .collect();
        println!(
            "{ip}: height {} confirmed txs {txs:?}, mempool {}, peers left: {}",
            state.height(),
            state.mempool.len(),
            left.join(", ")
        );
    }
    Ok(())
}
