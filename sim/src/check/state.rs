//! The checked world as a value: per node the real `PeerTable` and one real
//! `Session` per connection, the network as one FIFO queue per direction of
//! each TCP connection, a virtual clock, and the few history bits the
//! properties read. Plain data; the steps that change it are in `step.rs`.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use peerlink_core::close::CloseCause;
use peerlink_core::session::Session;
use peerlink_core::table::PeerTable;
use peerlink_core::{ConnectionId, NodeId};

/// One TCP connection, named by its dialer: node, the dialer's incarnation
/// and the id its table handed out (unique per incarnation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkKey {
    /// The dialling node's index.
    pub dialer: usize,
    /// Its incarnation when it dialled.
    pub incarnation: u8,
    /// The dialer's connection id.
    pub id: ConnectionId,
}

impl fmt::Display for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}.{}:{}", self.dialer, self.incarnation, self.id)
    }
}

/// An end of a TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum End {
    /// The node that dialled.
    Dialer,
    /// The node that accepted.
    Acceptor,
}

impl End {
    /// Index into [`Link::open`] and [`Link::queues`].
    pub fn index(self) -> usize {
        match self {
            End::Dialer => 0,
            End::Acceptor => 1,
        }
    }

    /// The other end.
    pub fn other(self) -> End {
        match self {
            End::Dialer => End::Acceptor,
            End::Acceptor => End::Dialer,
        }
    }
}

/// What travels on one direction of a TCP connection, in order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Seg {
    /// One whole frame (the session only acts on whole frames, so a partial
    /// read adds no behaviour).
    Frame(Bytes),
    /// The stream ended (FIN, RST or a broken path: the core sees all three
    /// as `handle_eof`).
    Eof,
}

/// One TCP connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Link {
    /// The node dialled.
    pub acceptor: usize,
    /// `None` while the SYN is in flight; then the acceptor's incarnation
    /// and the id its table gave the connection (`None`: refused).
    pub accepted: Option<(u8, Option<ConnectionId>)>,
    /// Whether each end (by [`End::index`]) still holds the connection.
    pub open: [bool; 2],
    /// Broken by a fault: nothing sent after the break arrives.
    pub broken: bool,
    /// What is in flight towards each end (by [`End::index`]).
    pub queues: [VecDeque<Seg>; 2],
}

/// Where one connection of a node is, as the shell holds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The dialer's TCP connect is in flight until this virtual instant.
    Connecting {
        /// Connect timeout, as an offset from the epoch.
        deadline: Duration,
    },
    /// The handshake runs.
    Handshake(Session),
    /// The handshake succeeded; the table has not yet been told
    /// (`on_established` is a step of its own, as in the shell).
    Established(Session),
    /// The table knows it; the message loop runs.
    Running(Session),
    /// The session ended (final frame written); the table has not yet been
    /// told (`on_closed` or `on_handshake_failed`).
    Ended {
        /// Why.
        cause: CloseCause,
        /// Whether the table had it as established.
        established: bool,
    },
}

/// One connection at one node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// The TCP connection.
    pub link: LinkKey,
    /// Which end of it this node is.
    pub end: End,
    /// Where it is.
    pub phase: Phase,
    /// The read buffer the session decodes from.
    pub buf: BytesMut,
}

/// Whether a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Not started yet.
    NotStarted,
    /// Running.
    Up,
    /// Crashed, waiting to restart.
    Down,
}

/// One node: the real table and its connections.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Node {
    /// Whether it runs.
    pub status: Status,
    /// Restarts so far.
    pub incarnation: u8,
    /// The node id of this incarnation.
    pub node_id: NodeId,
    /// The real peer table (`None` while down).
    pub table: Option<PeerTable>,
    /// Its connections by the ids its table handed out.
    pub conns: BTreeMap<ConnectionId, Endpoint>,
}

/// The whole checked state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct World {
    /// Virtual time, as an offset from the model's epoch.
    pub now: Duration,
    /// By this offset every pair must be converged: the start (no timer
    /// may be needed), or the last restart or fault plus the recovery
    /// window.
    pub converge_by: Duration,
    /// No timer past this offset fires: `converge_by` plus the steady
    /// window.
    pub horizon: Duration,
    /// History: time passed `converge_by` with the world quiet and not
    /// converged (why).
    pub late: Option<String>,
    /// Faults (crash, break, delay) still allowed on this path.
    pub faults_left: u8,
    /// The nodes, by index (node `i` has IP `10.0.0.(i+1)`).
    pub nodes: Vec<Node>,
    /// TCP connections in flight or held by an end.
    pub links: BTreeMap<LinkKey, Link>,
    /// History: a cleanup removed or replaced a connection other than its
    /// own (what it did, where).
    pub bad_cleanup: Option<String>,
    /// History: the core panicked on a step (its debug assertions on the
    /// table's counts included).
    pub panicked: Option<String>,
    /// History: the world has been converged and at rest since the last
    /// fault.
    pub steady: bool,
    /// History: a connection closed while `steady`.
    pub closed_in_steady: Option<String>,
}
