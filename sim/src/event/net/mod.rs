//! The event backend's network state: hosts, links, listeners and streams,
//! all behind one lock and changed only by synchronous methods (the async
//! halves in `stream` poll these). It owns latency, partitions, holds and
//! crashes; it never spawns, sleeps or reads a clock: callers pass `now`.
//!
//! A stream is two ends and two pipes; pipe `i` is written by end `i` and
//! read by end `1 - i`. A pipe is a FIFO of segments, each deliverable at
//! its send time plus the link's latency plus a jitter drawn per write from
//! the seed, up to the scenario's latency spread (never before the previous
//! one: TCP order). So two writes made in the same instant, a frame's
//! prefix and its body, can arrive at different instants, as on a real
//! network and on turmoil. Bytes in a pipe are bounded by [`WINDOW`]; a
//! writer past it waits for the reader, as TCP's flow control makes it.
//!
//! Faults, mirroring turmoil's: a segment (or FIN) sent into a cut link is
//! lost and the stream's direction stalls for good (no retransmission past
//! a gap); a hold queues segments until the release, which delivers them at
//! once; a power loss leaves peers seeing nothing; a process crash sends
//! each peer a FIN, or a RST where the crashed end had unread data.

mod pipe;
mod streams;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::task::Waker;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use pipe::Pipe;

/// Most bytes a pipe holds (in flight plus unread) before writes wait.
pub const WINDOW: usize = 64 * 1024;

/// Most streams waiting in a listener's accept queue; more are refused.
pub const BACKLOG: usize = 1024;

/// First ephemeral port of a host (as Linux's default range, to 65535).
const EPHEMERAL: u16 = 32768;

/// Separates the jitter's stream of numbers from the links' latencies.
const JITTER_SALT: u64 = 0x6a69_7474_6572_0001;

/// How a host went down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashKind {
    /// Power loss: no FIN, no RST; peers' streams stall, connects hang.
    PowerLoss,
    /// Process crash: the OS closes every socket (FIN, or RST with unread
    /// data) and refuses connects.
    Process,
}

/// One end of a stream: `(stream id, side)`.
pub type EndRef = (u64, usize);

#[derive(Debug)]
struct End {
    host: usize,
    incarnation: u64,
    addr: SocketAddr,
    /// Halves handed out and not dropped (0 while in an accept queue).
    halves: u8,
    /// Handed out as a link (counted in its host's `open`).
    handed: bool,
    /// Closed by its owner or by a crash: not counted any more.
    gone: bool,
    /// Its host crashed: every operation fails.
    dead: bool,
}

#[derive(Debug)]
struct Stream {
    ends: [End; 2],
    pipes: [Pipe; 2],
}

#[derive(Debug)]
struct ListenerState {
    port: u16,
    incarnation: u64,
    queue: VecDeque<EndRef>,
    waker: Option<Waker>,
}

#[derive(Debug)]
struct HostNet {
    name: String,
    ip: IpAddr,
    incarnation: u64,
    down: Option<CrashKind>,
    listener: Option<ListenerState>,
    /// Where the search for a free ephemeral port starts.
    next_port: u16,
    /// Ephemeral ports of this host's dialed ends not yet closed.
    ports: BTreeSet<u16>,
    /// Ends registered on this host and not gone (accept queue included).
    ends: BTreeSet<EndRef>,
    /// Ends handed out as links and not closed.
    open: usize,
    /// Ends cut off by crashes while handed out.
    abandoned: usize,
}

impl HostNet {
    /// The next ephemeral port not in use on this host, from where the
    /// last search stopped, wrapping from 65535 to [`EPHEMERAL`]; taken.
    /// `AddrNotAvailable` when all 32768 are in use (Linux's `EADDRNOTAVAIL`).
    fn ephemeral_port(&mut self) -> io::Result<u16> {
        for _ in EPHEMERAL..=u16::MAX {
            let port = self.next_port;
            self.next_port = port.checked_add(1).unwrap_or(EPHEMERAL);
            if self.ports.insert(port) {
                return Ok(port);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "every ephemeral port of the host is in use",
        ))
    }
}

/// What a read found.
pub enum ReadOutcome {
    /// Bytes were copied, or the end of the stream (nothing copied).
    Ready,
    /// Nothing deliverable yet; wake at this instant (or on a push).
    WaitUntil(Option<Instant>),
}

/// The whole network.
#[derive(Debug)]
pub struct Net {
    seed: u64,
    latency: (Duration, Duration),
    hosts: Vec<HostNet>,
    by_ip: BTreeMap<IpAddr, usize>,
    by_name: BTreeMap<String, usize>,
    cut: BTreeSet<(usize, usize)>,
    held: BTreeSet<(usize, usize)>,
    link_latency: BTreeMap<(usize, usize), Duration>,
    /// Links whose latency a fault set: their writes take exactly it.
    fixed_links: BTreeSet<(usize, usize)>,
    /// Draws each write's jitter, in write order (which the seeded
    /// scheduler fixes).
    jitter: ChaCha8Rng,
    streams: BTreeMap<u64, Stream>,
    next_stream: u64,
    /// Connects waiting for a hold to end.
    waiting_connects: Vec<Waker>,
}

fn gone_error(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, what.to_string())
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl Net {
    /// A network of `names` (IPs from 192.168.0.1 on, as turmoil numbers
    /// hosts) whose link latencies are drawn from `seed` within `latency`.
    pub fn new(seed: u64, latency: (Duration, Duration), names: &[String]) -> Net {
        let base = u32::from(std::net::Ipv4Addr::new(192, 168, 0, 1));
        let hosts: Vec<HostNet> = names
            .iter()
            .enumerate()
            .map(|(i, name)| HostNet {
                name: name.clone(),
                ip: IpAddr::V4(std::net::Ipv4Addr::from(base + i as u32)),
                incarnation: 0,
                down: None,
                listener: None,
                next_port: EPHEMERAL,
                ports: BTreeSet::new(),
                ends: BTreeSet::new(),
                open: 0,
                abandoned: 0,
            })
            .collect();
        Net {
            seed,
            latency,
            by_ip: hosts.iter().enumerate().map(|(i, h)| (h.ip, i)).collect(),
            by_name: hosts
                .iter()
                .enumerate()
                .map(|(i, h)| (h.name.clone(), i))
                .collect(),
            hosts,
            cut: BTreeSet::new(),
            held: BTreeSet::new(),
            link_latency: BTreeMap::new(),
            fixed_links: BTreeSet::new(),
            jitter: ChaCha8Rng::seed_from_u64(seed ^ JITTER_SALT),
            streams: BTreeMap::new(),
            next_stream: 0,
            waiting_connects: Vec::new(),
        }
    }

    /// The IP of host `index`.
    pub fn ip(&self, index: usize) -> IpAddr {
        self.hosts[index].ip
    }

    /// The IP of the host called `name` (unspecified if none).
    pub fn lookup(&self, name: &str) -> IpAddr {
        self.by_name
            .get(name)
            .map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |&i| {
                self.hosts[i].ip
            })
    }

    /// The latency of the link between `a` and `b`: set by a fault, else
    /// drawn once from the seed and the pair (so it does not depend on the
    /// order links are first used in).
    pub fn latency(&mut self, a: usize, b: usize) -> Duration {
        let key = pair(a, b);
        if let Some(d) = self.link_latency.get(&key) {
            return *d;
        }
        let (lo, hi) = self.latency;
        let d = if hi <= lo {
            lo
        } else {
            let mix = (key.0 as u64) << 32 | key.1 as u64;
            let mut rng =
                ChaCha8Rng::seed_from_u64(self.seed ^ mix.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let span = u64::try_from((hi - lo).as_micros()).unwrap_or(u64::MAX);
            lo + Duration::from_micros(rng.random_range(0..=span))
        };
        self.link_latency.insert(key, d);
        d
    }

    /// How long a write from `from` to `to` made now takes: on a link whose
    /// latency a fault set, exactly that; otherwise a delay drawn per write
    /// from the seed within the scenario's latency bounds, as turmoil draws
    /// each message's (fixed on a fixed-latency scenario). The pipe keeps
    /// the direction's order whatever is drawn.
    pub(super) fn write_delay(&mut self, from: usize, to: usize) -> Duration {
        let (lo, hi) = self.latency;
        if self.fixed_links.contains(&pair(from, to)) || hi <= lo {
            return self.latency(from, to);
        }
        let span = u64::try_from((hi - lo).as_micros()).unwrap_or(u64::MAX);
        lo + Duration::from_micros(self.jitter.random_range(0..=span))
    }

    /// Whether `incarnation` of host `host` is the one running.
    pub fn is_live(&self, host: usize, incarnation: u64) -> bool {
        let h = &self.hosts[host];
        h.down.is_none() && h.incarnation == incarnation
    }

    /// Streams handed out on `host` and not closed (its transport's count).
    pub fn open_streams(&self, host: usize) -> usize {
        self.hosts[host].open
    }

    /// Streams the network holds on `host`, accept queue included (the
    /// network's own count, as turmoil's per-host socket count).
    pub fn established(&self, host: usize) -> usize {
        self.hosts[host].ends.len()
    }

    /// Streams cut off on `host` by crashes while handed out.
    pub fn abandoned(&self, host: usize) -> usize {
        self.hosts[host].abandoned
    }

    // ----- faults ---------------------------------------------------------

    /// Cuts `a → b` (and `b → a` when `both`).
    pub fn partition(&mut self, a: usize, b: usize, both: bool) {
        self.cut.insert((a, b));
        if both {
            self.cut.insert((b, a));
        }
    }

    /// Restores `a → b` (and `b → a` when `both`).
    pub fn repair(&mut self, a: usize, b: usize, both: bool) {
        self.cut.remove(&(a, b));
        if both {
            self.cut.remove(&(b, a));
        }
    }

    /// Holds segments between `a` and `b`, both ways.
    pub fn hold(&mut self, a: usize, b: usize) {
        self.held.insert((a, b));
        self.held.insert((b, a));
    }

    /// Ends a hold: every held segment between `a` and `b` is deliverable
    /// now, in order.
    pub fn release(&mut self, a: usize, b: usize, now: Instant) {
        self.held.remove(&(a, b));
        self.held.remove(&(b, a));
        for stream in self.streams.values_mut() {
            let hosts = (stream.ends[0].host, stream.ends[1].host);
            if pair(hosts.0, hosts.1) != pair(a, b) {
                continue;
            }
            for pipe in &mut stream.pipes {
                let mut any = false;
                for seg in pipe.segs.iter_mut().filter(|s| s.held) {
                    seg.held = false;
                    seg.at = seg.at.max(now);
                    any = true;
                }
                if any {
                    pipe.wake_reader();
                }
            }
        }
        for w in self.waiting_connects.drain(..) {
            w.wake();
        }
    }

    /// Sets the latency between `a` and `b`, both ways.
    pub fn set_latency(&mut self, a: usize, b: usize, d: Duration) {
        self.link_latency.insert(pair(a, b), d);
        self.fixed_links.insert(pair(a, b));
    }

    /// Takes `host` down. Its ends die (every operation on them fails, so
    /// the crashed incarnation's tasks wind down); on a process crash each
    /// peer gets a FIN, or a RST where this end had unread data.
    pub fn crash(&mut self, host: usize, kind: CrashKind, now: Instant) {
        let h = &mut self.hosts[host];
        if h.down.is_some() {
            return;
        }
        h.down = Some(kind);
        if let Some(mut l) = h.listener.take() {
            if let Some(w) = l.waker.take() {
                w.wake();
            }
        }
        h.ports.clear();
        let ends = std::mem::take(&mut h.ends);
        for (id, side) in ends {
            let Some(peer_host) = self.streams.get(&id).map(|s| s.ends[1 - side].host) else {
                continue;
            };
            let leg = self.leg(host, peer_host);
            let Some(stream) = self.streams.get_mut(&id) else {
                continue;
            };
            let end = &mut stream.ends[side];
            end.gone = true;
            end.dead = true;
            if end.handed {
                self.hosts[host].open -= 1;
                self.hosts[host].abandoned += 1;
            }
            if kind == CrashKind::Process {
                stream.close_side(side, now, leg);
            }
            stream.pipes[0].wake_both();
            stream.pipes[1].wake_both();
            self.maybe_remove(id);
        }
    }

    /// Brings `host` up again as a new incarnation; returns its number.
    pub fn restart(&mut self, host: usize) -> u64 {
        let h = &mut self.hosts[host];
        h.down = None;
        h.incarnation += 1;
        h.incarnation
    }

    // ----- listeners and connects ----------------------------------------

    /// Binds `port` on `host` for `incarnation`.
    pub fn bind(&mut self, host: usize, incarnation: u64, port: u16) -> io::Result<SocketAddr> {
        if !self.is_live(host, incarnation) {
            return Err(gone_error("host crashed"));
        }
        let h = &mut self.hosts[host];
        if h.listener.is_some() {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, "port in use"));
        }
        h.listener = Some(ListenerState {
            port,
            incarnation,
            queue: VecDeque::new(),
            waker: None,
        });
        Ok(SocketAddr::new(h.ip, port))
    }

    /// Closes `host`'s listener of `incarnation`, and the streams in its
    /// accept queue.
    pub fn unbind(&mut self, host: usize, incarnation: u64, now: Instant) {
        let h = &mut self.hosts[host];
        if !h
            .listener
            .as_ref()
            .is_some_and(|l| l.incarnation == incarnation)
        {
            return;
        }
        let Some(l) = h.listener.take() else { return };
        for end in l.queue {
            self.close_end(end, now);
        }
    }

    /// Takes the next stream from `host`'s accept queue, or registers
    /// `waker`. `Ok(None)`: wait.
    pub fn accept(
        &mut self,
        host: usize,
        incarnation: u64,
        waker: &Waker,
    ) -> io::Result<Option<(EndRef, SocketAddr, SocketAddr)>> {
        if !self.is_live(host, incarnation) {
            return Err(gone_error("host crashed"));
        }
        let Some(l) = self.hosts[host]
            .listener
            .as_mut()
            .filter(|l| l.incarnation == incarnation)
        else {
            return Err(gone_error("listener closed"));
        };
        let Some(end) = l.queue.pop_front() else {
            l.waker = Some(waker.clone());
            return Ok(None);
        };
        self.hosts[host].open += 1;
        let stream = self
            .streams
            .get_mut(&end.0)
            .ok_or_else(|| gone_error("stream gone"))?;
        stream.ends[end.1].halves = 2;
        stream.ends[end.1].handed = true;
        Ok(Some((
            end,
            stream.ends[end.1].addr,
            stream.ends[1 - end.1].addr,
        )))
    }

    /// Whether a SYN from `from` to `to` may leave now: `Err` on a cut
    /// (turmoil fails such a connect at once), `Ok(false)` during a hold
    /// (`waker` is woken on a release).
    pub fn syn_may_leave(&mut self, from: usize, to: usize, waker: &Waker) -> io::Result<bool> {
        if self.cut.contains(&(from, to)) || self.cut.contains(&(to, from)) {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "partitioned",
            ));
        }
        if self.held.contains(&(from, to)) {
            self.waiting_connects.push(waker.clone());
            return Ok(false);
        }
        Ok(true)
    }

    /// The host listening at `addr`, if it exists.
    pub fn host_of(&self, addr: SocketAddr) -> Option<usize> {
        self.by_ip.get(&addr.ip()).copied()
    }

    /// The SYN reached `to`: a stream into its accept queue, and our end.
    /// `Ok(None)`: the host lost power, the SYN goes unanswered.
    pub fn arrive(
        &mut self,
        from: usize,
        incarnation: u64,
        to: usize,
        port: u16,
    ) -> io::Result<Option<(EndRef, SocketAddr, SocketAddr)>> {
        if !self.is_live(from, incarnation) {
            return Err(gone_error("host crashed"));
        }
        let refused = || io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused");
        match self.hosts[to].down {
            Some(CrashKind::PowerLoss) => return Ok(None),
            Some(CrashKind::Process) => return Err(refused()),
            None => {}
        }
        if self.cut.contains(&(from, to)) {
            return Ok(None);
        }
        let listening = self.hosts[to]
            .listener
            .as_ref()
            .is_some_and(|l| l.port == port && l.queue.len() < BACKLOG);
        if !listening {
            return Err(refused());
        }
        let local_port = self.hosts[from].ephemeral_port()?;
        let id = self.next_stream;
        self.next_stream += 1;
        let local = SocketAddr::new(self.hosts[from].ip, local_port);
        let remote = SocketAddr::new(self.hosts[to].ip, port);
        let end = |host, incarnation, addr, halves| End {
            host,
            incarnation,
            addr,
            halves,
            handed: halves > 0,
            gone: false,
            dead: false,
        };
        let to_inc = self.hosts[to].incarnation;
        self.streams.insert(
            id,
            Stream {
                ends: [end(from, incarnation, local, 2), end(to, to_inc, remote, 0)],
                pipes: [Pipe::default(), Pipe::default()],
            },
        );
        self.hosts[from].ends.insert((id, 0));
        self.hosts[from].open += 1;
        self.hosts[to].ends.insert((id, 1));
        if let Some(l) = self.hosts[to].listener.as_mut() {
            l.queue.push_back((id, 1));
            if let Some(w) = l.waker.take() {
                w.wake();
            }
        }
        Ok(Some(((id, 0), local, remote)))
    }
}
