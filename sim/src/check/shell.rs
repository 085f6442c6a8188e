//! How the shell drives the core, step by step: a node's boot
//! (`add_peer`, `poll`), the table's decisions with their `Action`s carried
//! out in order and followed by `poll` (as the manager's loop does), an
//! accept, a read, a timer, the manager taking a connection's outcome, a
//! crash; and each `Session` pumped as the handshake and message loops
//! pump it. Owns these effects on the world; which steps exist and when
//! they are enabled is `step.rs`.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;

use bytes::BytesMut;
use peerlink_core::connection::ConnectionInfo;
use peerlink_core::session::{reject_frame, Session, SessionEvent};
use peerlink_core::table::{Action, PeerTable};
use peerlink_core::wire::{Hello, PROTOCOL_VERSION};
use peerlink_core::{ConnectionDirection, ConnectionId, PeerId};

use super::state::{End, Endpoint, Link, LinkKey, Node, Phase, Seg, Status, World};
use super::step::{end_of, ip, node_id, node_of, IdOrder, Timer, LISTEN_PORT};
use super::Checked;

/// The source port of every outbound connection (identity is the IP).
const EPHEMERAL_PORT: u16 = 40000;

impl Checked {
    pub(super) fn boot(&self, w: &mut World, n: usize, order: IdOrder) {
        let node = &mut w.nodes[n];
        if node.status == Status::Down {
            node.incarnation += 1;
        }
        let inc = node.incarnation;
        node.node_id = node_id(n, inc, order);
        node.status = Status::Up;
        let seed = (n as u64) * 1000 + u64::from(inc);
        let mut table = PeerTable::new(self.config.clone(), node.node_id, Some(ip(n)), seed);
        let at = self.epoch + w.now;
        for peer in 0..self.nodes {
            if self.knows[n][peer] {
                table.add_peer(SocketAddr::new(ip(peer), LISTEN_PORT), at);
            }
        }
        node.table = Some(table);
        node.conns.clear();
        if inc > 0 {
            // A restart is no fault, but the world needs time to recover.
            self.extend_deadline(w);
        }
        self.decide(w, n, |_, _| {});
    }

    /// Runs a table decision at node `n`, then `poll` (as the manager's
    /// loop does after every event), and carries out the actions in order.
    fn decide(&self, w: &mut World, n: usize, f: impl FnOnce(&mut PeerTable, &mut Vec<Action>)) {
        let at = self.at(w);
        let mut actions = Vec::new();
        if let Some(table) = w.nodes[n].table.as_mut() {
            f(table, &mut actions);
            table.poll(at, &mut actions);
        }
        for action in actions {
            self.carry_out(w, n, action);
        }
    }

    fn carry_out(&self, w: &mut World, n: usize, action: Action) {
        match action {
            Action::Dial { id, addr, .. } => {
                let Some(target) = node_of(addr.ip()) else {
                    return;
                };
                let node = &w.nodes[n];
                let key = LinkKey {
                    dialer: n,
                    incarnation: node.incarnation,
                    id,
                };
                let deadline = w.now + self.config.connect_timeout;
                w.nodes[n].conns.insert(
                    id,
                    Endpoint {
                        link: key,
                        end: End::Dialer,
                        phase: Phase::Connecting { deadline },
                        buf: BytesMut::new(),
                    },
                );
                w.links.insert(
                    key,
                    Link {
                        acceptor: target,
                        accepted: None,
                        open: [true, false],
                        broken: false,
                        queues: Default::default(),
                    },
                );
            }
            Action::Close { id, reason } => {
                let at = self.at(w);
                let Some(ep) = w.nodes[n].conns.get_mut(&id) else {
                    return;
                };
                match &mut ep.phase {
                    Phase::Handshake(s) | Phase::Running(s) | Phase::Established(s) => {
                        s.close(reason, at);
                    }
                    Phase::Connecting { .. } | Phase::Ended { .. } => return,
                }
                self.pump(w, n, id);
            }
            // Routing is the registry's; the properties read the table.
            Action::Route { .. } | Action::Unroute { .. } | Action::Emit(_) => {}
        }
    }

    fn hello(&self, node: &Node) -> Hello {
        Hello {
            version: PROTOCOL_VERSION,
            network_id: self.config.network_id,
            node_id: node.node_id,
            listen_port: LISTEN_PORT,
        }
    }

    /// The seed of a connection's ping nonces: a hash of who owns it.
    fn session_seed(n: usize, inc: u8, id: ConnectionId) -> u64 {
        let mut h = std::hash::DefaultHasher::new();
        (n, inc, id).hash(&mut h);
        h.finish()
    }

    pub(super) fn accept(&self, w: &mut World, key: LinkKey) {
        let Some(link) = w.links.get(&key) else {
            return;
        };
        let a = link.acceptor;
        let at = self.at(w);
        let remote = SocketAddr::new(ip(key.dialer), EPHEMERAL_PORT);
        let inc = w.nodes[a].incarnation;
        let admitted = match w.nodes[a].table.as_mut() {
            Some(table) => table.on_accept(remote, at),
            None => return,
        };
        // The dialer's connect completes: its session says hello.
        let hello = self.hello(&w.nodes[key.dialer]);
        let dialer_seed = Self::session_seed(key.dialer, key.incarnation, key.id);
        let session = Session::new(
            ConnectionDirection::Outbound,
            &self.config,
            hello,
            at,
            dialer_seed,
        );
        if let Some(ep) = w.nodes[key.dialer].conns.get_mut(&key.id) {
            ep.phase = Phase::Handshake(session);
        }
        let link = w.links.get_mut(&key).expect("checked above");
        match admitted {
            Ok(id) => {
                link.accepted = Some((inc, Some(id)));
                link.open[1] = true;
                let hello = self.hello(&w.nodes[a]);
                let seed = Self::session_seed(a, inc, id);
                let s = Session::new(ConnectionDirection::Inbound, &self.config, hello, at, seed);
                w.nodes[a].conns.insert(
                    id,
                    Endpoint {
                        link: key,
                        end: End::Acceptor,
                        phase: Phase::Handshake(s),
                        buf: BytesMut::new(),
                    },
                );
            }
            Err(reason) => {
                // The shell's `reject_link`: the reject frame, then close.
                link.accepted = Some((inc, None));
                link.queues[0].push_back(Seg::Frame(reject_frame(reason)));
                link.queues[0].push_back(Seg::Eof);
            }
        }
        self.pump(w, key.dialer, key.id);
        self.decide(w, a, |_, _| {});
    }

    pub(super) fn deliver(&self, w: &mut World, key: LinkKey, end: End) {
        let at = self.at(w);
        let Some(link) = w.links.get_mut(&key) else {
            return;
        };
        let Some((n, id)) = end_of(key, link, end) else {
            return;
        };
        let Some(seg) = link.queues[end.index()].pop_front() else {
            return;
        };
        let Some(ep) = w.nodes[n].conns.get_mut(&id) else {
            return;
        };
        let Endpoint { phase, buf, .. } = ep;
        let (Phase::Handshake(s) | Phase::Running(s)) = phase else {
            return;
        };
        match seg {
            Seg::Frame(frame) => {
                buf.extend_from_slice(&frame);
                s.handle_read(buf, at);
            }
            Seg::Eof => s.handle_eof(at),
        }
        self.pump(w, n, id);
    }

    /// Moves a session's transmits onto the wire and handles its events,
    /// as the shell's handshake and message loops do.
    fn pump(&self, w: &mut World, n: usize, id: ConnectionId) {
        let at = self.at(w);
        let Some(ep) = w.nodes[n].conns.get(&id) else {
            return;
        };
        let (key, end) = (ep.link, ep.end);
        let (mut s, running) = match &ep.phase {
            Phase::Handshake(s) | Phase::Established(s) => (s.clone(), false),
            Phase::Running(s) => (s.clone(), true),
            Phase::Connecting { .. } | Phase::Ended { .. } => return,
        };
        let mut established = matches!(ep.phase, Phase::Established(_));
        let mut closed = None;
        loop {
            while let Some(frame) = s.poll_transmit() {
                send(w, key, end, Seg::Frame(frame));
            }
            match s.poll_event() {
                None => break,
                Some(SessionEvent::HelloReceived(_)) => {
                    let verdict = match w.nodes[n].table.as_ref() {
                        Some(table) => table.admit(id),
                        None => return,
                    };
                    s.admit(verdict, at);
                }
                Some(SessionEvent::Established(_)) => established = true,
                Some(SessionEvent::Rtt(rtt)) => {
                    if let Some(table) = w.nodes[n].table.as_mut() {
                        table.on_rtt(id, rtt);
                    }
                }
                Some(SessionEvent::Message(_)) => {}
                Some(SessionEvent::Closed(close)) => {
                    if let Some(frame) = close.final_frame() {
                        send(w, key, end, Seg::Frame(frame.clone()));
                    }
                    send(w, key, end, Seg::Eof);
                    closed = Some(close.cause);
                }
            }
        }
        let phase = match closed {
            Some(cause) => {
                if running && w.steady && w.closed_in_steady.is_none() {
                    w.closed_in_steady = Some(format!("n{n} closed {id}: {cause}"));
                }
                if let Some(link) = w.links.get_mut(&key) {
                    link.open[end.index()] = false;
                    link.queues[end.index()].clear();
                }
                Phase::Ended {
                    cause,
                    established: running,
                }
            }
            None if running => Phase::Running(s),
            None if established => Phase::Established(s),
            None => Phase::Handshake(s),
        };
        if let Some(ep) = w.nodes[n].conns.get_mut(&id) {
            ep.phase = phase;
        }
    }

    pub(super) fn report(&self, w: &mut World, n: usize, id: ConnectionId) {
        let at = self.at(w);
        let Some(ep) = w.nodes[n].conns.get(&id).cloned() else {
            return;
        };
        match ep.phase {
            Phase::Established(s) => {
                let Some(remote) = s.remote().copied() else {
                    return;
                };
                let Some(link) = w.links.get(&ep.link) else {
                    return;
                };
                let peer_node = match ep.end {
                    End::Dialer => link.acceptor,
                    End::Acceptor => ep.link.dialer,
                };
                let (local_port, remote_port) = match ep.end {
                    End::Dialer => (EPHEMERAL_PORT, LISTEN_PORT),
                    End::Acceptor => (LISTEN_PORT, EPHEMERAL_PORT),
                };
                let info = ConnectionInfo {
                    id,
                    peer: PeerId::new(ip(peer_node)),
                    direction: s.direction(),
                    local_addr: SocketAddr::new(ip(n), local_port),
                    remote_addr: SocketAddr::new(ip(peer_node), remote_port),
                    remote,
                    established_at: at,
                };
                if let Some(ep) = w.nodes[n].conns.get_mut(&id) {
                    ep.phase = Phase::Running(s);
                }
                self.decide(w, n, |t, a| t.on_established(info, at, a));
                // Frames that came with the handshake.
                if let Some(ep) = w.nodes[n].conns.get_mut(&id) {
                    if let Phase::Running(s) = &mut ep.phase {
                        s.handle_read(&mut ep.buf, at);
                    }
                }
                self.pump(w, n, id);
            }
            Phase::Ended { cause, established } => {
                w.nodes[n].conns.remove(&id);
                self.cleanup(w, n, id, |t, a| {
                    if established {
                        t.on_closed(id, &cause, at, a);
                    } else {
                        t.on_handshake_failed(id, Some(cause), at, a);
                    }
                });
            }
            _ => {}
        }
    }

    /// A cleanup call for connection `id`, checked: it may remove `id`
    /// and nothing else, and may not move the active connection away from
    /// another one.
    fn cleanup(
        &self,
        w: &mut World,
        n: usize,
        id: ConnectionId,
        f: impl FnOnce(&mut PeerTable, &mut Vec<Action>),
    ) {
        let before = w.nodes[n].table.as_ref().map(held);
        let mut actions = Vec::new();
        let at = self.at(w);
        if let Some(table) = w.nodes[n].table.as_mut() {
            f(table, &mut actions);
            let after = held(table);
            if let Some((live, active)) = before {
                let expected: BTreeSet<_> = live.iter().filter(|c| c.1 != id).copied().collect();
                let kept_active: BTreeSet<_> = active.iter().filter(|c| c.1 != id).collect();
                let lost_active = kept_active.iter().any(|c| !after.1.contains(c));
                if after.0 != expected || lost_active {
                    w.bad_cleanup.get_or_insert(format!(
                        "n{n}: cleanup of {id} left [{}] (expected [{}]), active [{}] -> [{}]",
                        list(&after.0),
                        list(&expected),
                        list(&active),
                        list(&after.1)
                    ));
                }
            }
            table.poll(at, &mut actions);
        }
        for action in actions {
            self.carry_out(w, n, action);
        }
    }

    pub(super) fn fire(&self, w: &mut World, n: usize, timer: Timer) {
        let deadline = self
            .deadlines(w)
            .into_iter()
            .find(|(_, m, t)| *m == n && *t == timer)
            .map(|(d, _, _)| d);
        if let Some(d) = deadline {
            w.now = w.now.max(d);
        }
        let at = self.at(w);
        match timer {
            Timer::Table => self.decide(w, n, |_, _| {}),
            Timer::Session(id) => {
                if let Some(ep) = w.nodes[n].conns.get_mut(&id) {
                    if let Phase::Handshake(s) | Phase::Running(s) = &mut ep.phase {
                        s.handle_timeout(at);
                    }
                }
                self.pump(w, n, id);
            }
            Timer::Connect(id) => {
                if let Some(ep) = w.nodes[n].conns.remove(&id) {
                    w.links.remove(&ep.link);
                }
                self.cleanup(w, n, id, |t, a| t.on_handshake_failed(id, None, at, a));
            }
        }
    }

    pub(super) fn crash(&self, w: &mut World, n: usize) {
        let node = &mut w.nodes[n];
        let inc = node.incarnation;
        node.status = Status::Down;
        node.table = None;
        node.conns.clear();
        w.links.retain(|key, link| {
            if key.dialer == n && key.incarnation == inc {
                if link.accepted.is_none() {
                    return false;
                }
                link.open[0] = false;
                link.queues[0].clear();
            }
            if link.acceptor == n && matches!(link.accepted, Some((i, _)) if i == inc) {
                link.open[1] = false;
                link.queues[1].clear();
            }
            true
        });
    }
}

/// Puts a segment on the wire from `from` towards the other end, unless
/// that end is gone or the link is broken (then it is lost).
fn send(w: &mut World, key: LinkKey, from: End, seg: Seg) {
    if let Some(link) = w.links.get_mut(&key) {
        let to = from.other().index();
        if link.open[to] && !link.broken {
            link.queues[to].push_back(seg);
        }
    }
}

/// Drops the links no end holds and nothing travels on.
pub(super) fn gc_links(w: &mut World) {
    w.links.retain(|_, l| {
        l.accepted.is_none() || l.open[0] || l.open[1] || l.queues.iter().any(|q| !q.is_empty())
    });
}

/// `peer/id, ...`.
fn list(set: &BTreeSet<(PeerId, ConnectionId)>) -> String {
    let items: Vec<String> = set.iter().map(|(p, id)| format!("{p}/{id}")).collect();
    items.join(", ")
}

/// A table's live connections as (peer, id), and its active ones.
#[allow(clippy::type_complexity)]
fn held(
    table: &PeerTable,
) -> (
    BTreeSet<(PeerId, ConnectionId)>,
    BTreeSet<(PeerId, ConnectionId)>,
) {
    let snap = table.snapshot();
    let mut live = BTreeSet::new();
    let mut active = BTreeSet::new();
    for row in &snap.peers {
        for c in &row.connections {
            live.insert((row.peer, c.id));
        }
        if let Some(id) = row.active {
            active.insert((row.peer, id));
        }
    }
    (live, active)
}
