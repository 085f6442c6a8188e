//! The steps of the checked world and what each one does, by driving the
//! real core exactly as the shell does: `PeerTable` calls with their
//! `Action`s carried out in order (followed by `poll`, as the manager's
//! loop does), and `Session` inputs with every transmit and event pumped
//! out. Owns the step semantics; the properties are in `props.rs`.

use std::collections::BTreeSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use peerlink_core::connection::ConnectionInfo;
use peerlink_core::session::{reject_frame, Session, SessionEvent};
use peerlink_core::table::{Action, PeerTable};
use peerlink_core::wire::{Hello, PROTOCOL_VERSION};
use peerlink_core::{ConnectionDirection, ConnectionId, NodeId, PeerId};

use super::state::{End, Endpoint, Link, LinkKey, Node, Phase, Seg, Status, World};
use super::Checked;

/// The port every node listens on.
pub const LISTEN_PORT: u16 = 7000;
/// The source port of every outbound connection (identity is the IP).
const EPHEMERAL_PORT: u16 = 40000;

/// Which timer fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// The table's `next_deadline` (redial backoff): `poll`.
    Table,
    /// A session's `poll_timeout` (handshake timeout, ping, pong timeout).
    Session(ConnectionId),
    /// A dialer's TCP connect timeout.
    Connect(ConnectionId),
}

/// The node id a restarted node draws, relative to every other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdOrder {
    /// Larger than every node id so far.
    Higher,
    /// Smaller than every node id so far.
    Lower,
}

/// One step of the world.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// A node starts: its configured peers are added and polled.
    Start(usize),
    /// The dialled node accepts a SYN (the table's `on_accept`).
    Accept(LinkKey),
    /// The next segment in flight towards `End` of a link arrives.
    Deliver(LinkKey, End),
    /// The manager takes a connection's outcome (`on_established`,
    /// `on_closed` or `on_handshake_failed`).
    Report(usize, ConnectionId),
    /// A timer at the earliest deadline fires.
    Fire(usize, Timer),
    /// Fault: a node loses power (no FIN for its connections).
    Crash(usize),
    /// A crashed node comes back as a new process with a new node id.
    Restart(usize, IdOrder),
    /// Fault: a TCP connection breaks (both ends see EOF).
    Break(LinkKey),
}

impl Step {
    /// Whether this step is a fault (a step the liveness check assumes
    /// eventually stops).
    pub fn is_fault(&self) -> bool {
        matches!(self, Step::Crash(_) | Step::Break(_))
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Start(n) => write!(f, "n{n} starts"),
            Step::Accept(k) => write!(f, "accept of {k}"),
            Step::Deliver(k, e) => write!(f, "deliver on {k} to the {e:?}"),
            Step::Report(n, id) => write!(f, "n{n}'s manager takes the outcome of {id}"),
            Step::Fire(n, t) => write!(f, "timer at n{n}: {t:?}"),
            Step::Crash(n) => write!(f, "FAULT n{n} crashes"),
            Step::Restart(n, o) => write!(f, "n{n} restarts with a {o:?} node id"),
            Step::Break(k) => write!(f, "FAULT {k} breaks"),
        }
    }
}

/// The IP of node `n`.
pub fn ip(n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, n as u8 + 1))
}

/// The node index behind an IP.
pub fn node_of(ip: IpAddr) -> Option<usize> {
    match ip {
        IpAddr::V4(v4) => (v4.octets()[3] as usize).checked_sub(1),
        IpAddr::V6(_) => None,
    }
}

/// Node `n`'s id in incarnation `inc`: the first ones descend with the IP
/// (so IP order and id order disagree), a restart's is above or below all.
pub fn node_id(n: usize, inc: u8, order: IdOrder) -> NodeId {
    let (n, inc) = (n as u128, inc as u128);
    match (inc, order) {
        (0, _) => NodeId((0xa0 - (n << 4)) << 120),
        (_, IdOrder::Higher) => NodeId((0xf0 << 120) + (inc << 96) + n),
        (_, IdOrder::Lower) => NodeId((inc << 96) + n),
    }
}

impl Checked {
    /// The virtual instant of `w`.
    pub fn at(&self, w: &World) -> Instant {
        self.epoch + w.now
    }

    fn offset(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.epoch)
    }

    /// Every enabled step, faults included.
    pub fn steps(&self, w: &World, out: &mut Vec<Step>) {
        if w.panicked.is_some() || w.bad_cleanup.is_some() {
            return;
        }
        for (n, node) in w.nodes.iter().enumerate() {
            match node.status {
                Status::NotStarted => out.push(Step::Start(n)),
                Status::Down => {
                    out.push(Step::Restart(n, IdOrder::Higher));
                    out.push(Step::Restart(n, IdOrder::Lower));
                }
                Status::Up => {}
            }
        }
        for (key, link) in &w.links {
            if link.accepted.is_none() && w.nodes[link.acceptor].status == Status::Up {
                out.push(Step::Accept(*key));
            }
            for end in [End::Dialer, End::Acceptor] {
                if !link.queues[end.index()].is_empty() && self.can_read(w, *key, link, end) {
                    out.push(Step::Deliver(*key, end));
                }
            }
        }
        for (n, node) in w.nodes.iter().enumerate() {
            for (id, ep) in &node.conns {
                if matches!(ep.phase, Phase::Established(_) | Phase::Ended { .. }) {
                    out.push(Step::Report(n, *id));
                }
            }
        }
        if w.faults_left > 0 || self.is_quiet(w) {
            self.timers(w, out);
        }
        if w.faults_left > 0 {
            for (n, node) in w.nodes.iter().enumerate() {
                if node.status == Status::Up {
                    out.push(Step::Crash(n));
                }
            }
            for (key, link) in &w.links {
                if link.accepted.is_some() && !link.broken && (link.open[0] || link.open[1]) {
                    out.push(Step::Break(*key));
                }
            }
        }
    }

    /// Whether every node has started and nothing is in flight: no SYN
    /// to a running node, no segment its end can read, no outcome waiting
    /// for a manager. Only then may time move on without a fault.
    pub fn is_quiet(&self, w: &World) -> bool {
        let started = w.nodes.iter().all(|n| n.status != Status::NotStarted);
        let syn = w
            .links
            .values()
            .any(|l| l.accepted.is_none() && w.nodes[l.acceptor].status == Status::Up);
        let segment = w.links.iter().any(|(key, link)| {
            [End::Dialer, End::Acceptor].into_iter().any(|end| {
                !link.queues[end.index()].is_empty() && self.can_read(w, *key, link, end)
            })
        });
        let report = w.nodes.iter().any(|n| {
            n.conns
                .values()
                .any(|ep| matches!(ep.phase, Phase::Established(_) | Phase::Ended { .. }))
        });
        started && !syn && !segment && !report
    }

    /// The enabled steps that are not faults (the world at rest has none).
    pub fn steps_no_faults(&self, w: &World, out: &mut Vec<Step>) {
        let mut w = w.clone();
        w.faults_left = 0;
        self.steps(&w, out);
    }

    fn can_read(&self, w: &World, key: LinkKey, link: &Link, end: End) -> bool {
        let Some((n, id)) = end_of(key, link, end) else {
            return false;
        };
        w.nodes[n].conns.get(&id).is_some_and(|ep| {
            ep.link == key && matches!(ep.phase, Phase::Handshake(_) | Phase::Running(_))
        })
    }

    /// The timers at the earliest deadline, if it is within the horizon.
    fn timers(&self, w: &World, out: &mut Vec<Step>) {
        let all = self.deadlines(w);
        let Some(min) = all.iter().map(|(d, _, _)| *d).min() else {
            return;
        };
        if min > w.horizon {
            return;
        }
        out.extend(
            all.into_iter()
                .filter(|(d, _, _)| *d == min)
                .map(|(_, n, t)| Step::Fire(n, t)),
        );
    }

    /// Every pending timer: (deadline offset, node, timer).
    pub fn deadlines(&self, w: &World) -> Vec<(Duration, usize, Timer)> {
        let mut all = Vec::new();
        for (n, node) in w.nodes.iter().enumerate() {
            let Some(table) = &node.table else { continue };
            if let Some(at) = table.next_deadline() {
                all.push((self.offset(at), n, Timer::Table));
            }
            for (id, ep) in &node.conns {
                match &ep.phase {
                    Phase::Connecting { deadline } => {
                        all.push((*deadline, n, Timer::Connect(*id)));
                    }
                    Phase::Handshake(s) | Phase::Running(s) => {
                        if let Some(at) = s.poll_timeout() {
                            all.push((self.offset(at), n, Timer::Session(*id)));
                        }
                    }
                    Phase::Established(_) | Phase::Ended { .. } => {}
                }
            }
        }
        all
    }

    /// The world after `step` (the caller has checked it is enabled).
    pub fn apply(&self, w: &World, step: &Step) -> World {
        let mut w = w.clone();
        let quiet = self.is_quiet(&w);
        if step.is_fault() || (matches!(step, Step::Fire(..)) && !quiet) {
            // A timer that fires with something in flight is a delay
            // beyond the timeouts: a fault too.
            w.faults_left = w.faults_left.saturating_sub(1);
            w.steady = false;
            self.extend_deadline(&mut w);
        }
        if let Step::Fire(n, timer) = step {
            self.check_late(&mut w, *n, *timer, quiet);
        }
        match step {
            Step::Start(n) => self.boot(&mut w, *n, IdOrder::Higher),
            Step::Restart(n, order) => self.boot(&mut w, *n, *order),
            Step::Accept(key) => self.accept(&mut w, *key),
            Step::Deliver(key, end) => self.deliver(&mut w, *key, *end),
            Step::Report(n, id) => self.report(&mut w, *n, *id),
            Step::Fire(n, timer) => self.fire(&mut w, *n, *timer),
            Step::Crash(n) => self.crash(&mut w, *n),
            Step::Break(key) => {
                if let Some(link) = w.links.get_mut(key) {
                    link.broken = true;
                    for end in [End::Dialer, End::Acceptor] {
                        let q = &mut link.queues[end.index()];
                        q.clear();
                        if link.open[end.index()] {
                            q.push_back(Seg::Eof);
                        }
                    }
                }
            }
        }
        gc_links(&mut w);
        if !w.steady && self.is_steady(&w) {
            w.steady = true;
        }
        w
    }

    /// After a fault or restart: every pair must converge within the
    /// recovery window, and timers run a steady window longer.
    fn extend_deadline(&self, w: &mut World) {
        w.converge_by = w.converge_by.max(w.now + self.recovery);
        w.horizon = w.converge_by + self.steady_window();
    }

    /// A timer that moves time past the convergence deadline while the
    /// world is quiet and not converged: liveness failed.
    fn check_late(&self, w: &mut World, n: usize, timer: Timer, quiet: bool) {
        let Some(d) = self
            .deadlines(w)
            .into_iter()
            .find(|(_, m, t)| *m == n && *t == timer)
            .map(|(d, _, _)| d)
        else {
            return;
        };
        // A crashed node has not recovered until it restarts (which sets
        // a new deadline).
        let down = w.nodes.iter().any(|n| n.status == Status::Down);
        if d > w.converge_by && quiet && !down && w.late.is_none() {
            if let Some(why) = super::props::converged(self, w) {
                w.late = Some(format!(
                    "not converged by {:.3}s (time moves on to {:.3}s): {why}",
                    w.converge_by.as_secs_f64(),
                    d.as_secs_f64()
                ));
            }
        }
    }

    fn boot(&self, w: &mut World, n: usize, order: IdOrder) {
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

    fn accept(&self, w: &mut World, key: LinkKey) {
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

    fn deliver(&self, w: &mut World, key: LinkKey, end: End) {
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

    fn report(&self, w: &mut World, n: usize, id: ConnectionId) {
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

    fn fire(&self, w: &mut World, n: usize, timer: Timer) {
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

    fn crash(&self, w: &mut World, n: usize) {
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

/// The node and connection id at `end` of a link, if that end has one.
pub fn end_of(key: LinkKey, link: &Link, end: End) -> Option<(usize, ConnectionId)> {
    match end {
        End::Dialer => Some((key.dialer, key.id)),
        End::Acceptor => match link.accepted {
            Some((_, Some(id))) => Some((link.acceptor, id)),
            _ => None,
        },
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
fn gc_links(w: &mut World) {
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
