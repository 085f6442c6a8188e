//! The steps of the checked world: which exist, when each is enabled
//! (timers only at the earliest deadline, and while something is in
//! flight only as a fault), and the bookkeeping around each (faults,
//! deadlines, history bits). What a step does to the core is `shell.rs`;
//! the properties are in `props.rs`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use peerlink_core::{ConnectionId, NodeId};

use super::shell::gc_links;
use super::state::{End, Link, LinkKey, Phase, Seg, Status, World};
use super::Checked;

/// The port every node listens on.
pub const LISTEN_PORT: u16 = 7000;

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
    pub(super) fn extend_deadline(&self, w: &mut World) {
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
