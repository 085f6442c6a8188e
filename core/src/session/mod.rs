//! `Session`: every decision about one connection, from its first handshake
//! byte to its close, as a synchronous state machine in the style of
//! quinn-proto and str0m: input and time in; frames to write, the next
//! timer and events out. It owns the handshake (who sends which hello, who
//! is refused with which reason, what each side says on a timeout), the
//! meaning of every message once established (application payload, ping,
//! pong, goodbye, a handshake message out of place), liveness (through
//! [`PingState`]) and the close policy (whether a goodbye or reject is
//! said, whether the stream is flushed or dropped). It must not touch a
//! socket, a task, a clock, a queue or another connection: the read
//! buffer's memory, the send queue, admission limits and the tie-break
//! belong to the shell (`peerlink::peer`) and the peer table.
//!
//! # Driving a session
//!
//! [`Session::new`] takes the direction: an `Outbound` session (the
//! dialer) queues our `Hello` at once; an `Inbound` one (the acceptor)
//! waits for the peer's. The shell then loops:
//!
//! 1. Inputs, each with `now`: [`Session::handle_read`] after every read
//!    (it decodes the whole frames in the shell's read buffer and leaves a
//!    partial one there), [`Session::handle_eof`] when the stream ends or
//!    fails, [`Session::handle_timeout`] when [`Session::poll_timeout`]
//!    passes, [`Session::admit`] with the owner's verdict on a
//!    [`SessionEvent::HelloReceived`], [`Session::close`] for a local close
//!    request, [`Session::note_stall`] after waiting on its owner, and
//!    [`Session::control_refused`] when it could not queue a transmit
//!    because the peer does not read.
//! 2. Outputs: every [`Session::poll_transmit`] frame, in order, then
//!    every [`Session::poll_event`]. `Closed` is always the last event; its
//!    [`Close`] says why ([`CloseCause`]) and what to do with the stream
//!    ([`ClosePolicy`]), and its final frame, if any, is written after every
//!    transmit. After `Closed` the session ignores every input.
//!
//! `handle_read` stops after the frame that ends the handshake (a valid
//! `HelloAccept` for the dialer, a valid `Hello` for the acceptor), leaving
//! the bytes behind it in the buffer: the acceptor decodes nothing more
//! until it is admitted, and the shell sets up its data path before the
//! first message. Calling `handle_read` again then handles them as
//! established traffic. While the handshake runs, frames are capped at
//! `min(max_frame_len, MAX_HANDSHAKE_FRAME)`.
//!
//! Application payloads come out as [`SessionEvent::Message`], sharing the
//! read buffer's allocation (no copy). Application *sends* never pass
//! through the session: they go straight to the shell's send queue; the
//! session only produces control frames (hello, accept, ping, pong) and the
//! final frame.
//!
//! The state is a value (`Clone + Eq + Hash`): the same inputs at the same
//! instants give equal sessions and the same bytes, so a model checker can
//! store and compare them. Ping nonces come from the caller's seed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::close::{CloseCause, DisconnectReason};
use crate::config::Config;
use crate::error::{DecodeError, PingTimeout, ProtocolViolation};
use crate::handshake::{check_hello, MAX_HANDSHAKE_FRAME};
use crate::id::ConnectionDirection;
use crate::ping::{PingState, PongOutcome};
use crate::wire::{decode_frame, Hello, Message, Reason};

#[cfg(test)]
mod tests;

/// How long the shell may spend writing a final frame (and what was queued
/// before it), flushing and shutting the stream down, before it drops the
/// stream anyway: a peer that does not read must not hold a task.
pub const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// The frame that refuses a peer's handshake with `reason`: what an
/// acceptor writes, best-effort, to a stream it turns away before reading
/// anything (the shell's `reject_link`).
pub fn reject_frame(reason: Reason) -> Bytes {
    Message::HelloReject(reason).to_frame()
}

/// What a session reports to the shell.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SessionEvent {
    /// Acceptor only: the peer's hello is valid (`check_hello` passed).
    /// The session waits for [`Session::admit`].
    HelloReceived(Hello),
    /// The handshake is complete; the peer's hello.
    Established(Hello),
    /// An application payload arrived.
    Message(Bytes),
    /// A pong answered one of our pending pings: the round-trip time.
    Rtt(Duration),
    /// The session ended; always the last event.
    Closed(Close),
}

/// How a session ended, and what the shell does with the stream.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Close {
    /// Why it ended.
    pub cause: CloseCause,
    /// What to do with the stream.
    pub policy: ClosePolicy,
}

/// What the shell does with the stream of a closed session.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClosePolicy {
    /// We are the one closing and say why: write every transmit and every
    /// frame already queued, then this frame (a `Goodbye` or a
    /// `HelloReject`) with nothing after it, flush and shut the stream
    /// down, all within [`CLOSE_WRITE_TIMEOUT`]; then drop it.
    Final(Bytes),
    /// An established connection the peer closed (its goodbye) or lost
    /// (EOF, I/O error): nothing to say, but the frames already queued are
    /// written, flushed and the stream shut down within
    /// [`CLOSE_WRITE_TIMEOUT`].
    Flush,
    /// A handshake that ends with nothing to say (the peer's reject, EOF,
    /// an I/O error, bad input from the acceptor we dialled, bad magic: not
    /// our protocol): drop the stream at once.
    Drop,
}

impl Close {
    /// The final frame to write last, if any.
    pub fn final_frame(&self) -> Option<&Bytes> {
        match &self.policy {
            ClosePolicy::Final(frame) => Some(frame),
            ClosePolicy::Flush | ClosePolicy::Drop => None,
        }
    }
}

/// The settings a session reads, copied from [`Config`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Settings {
    max_frame_len: u32,
    ping_interval: Duration,
    pong_timeout: Duration,
    max_missed_pongs: u32,
    max_pings_per_interval: u32,
}

impl Settings {
    fn new(config: &Config) -> Self {
        Settings {
            max_frame_len: config.max_frame_len,
            ping_interval: config.ping_interval,
            pong_timeout: config.pong_timeout,
            max_missed_pongs: config.max_missed_pongs,
            max_pings_per_interval: config.max_pings_per_interval,
        }
    }

    /// A config with the ping settings, for [`PingState::new`].
    fn ping_config(&self) -> Config {
        Config {
            ping_interval: self.ping_interval,
            pong_timeout: self.pong_timeout,
            max_missed_pongs: self.max_missed_pongs,
            max_pings_per_interval: self.max_pings_per_interval,
            ..Config::default()
        }
    }
}

/// Where a session is.
// One per connection, moved a few times in its life: the ping state inline
// costs less than a box (an allocation per connection).
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum State {
    /// Waiting for the peer's `Hello` (acceptor) or answer (dialer).
    Handshake { deadline: Instant },
    /// Acceptor: the peer's hello is valid; waiting for the owner's verdict.
    Admitting { deadline: Instant, remote: Hello },
    /// The handshake is complete.
    Established { remote: Hello, ping: PingState },
    /// Ended; every input is ignored.
    Closed,
}

/// One connection's decisions; see the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Session {
    direction: ConnectionDirection,
    local: Hello,
    settings: Settings,
    /// Seeds the ping nonces once established.
    seed: u64,
    state: State,
    transmits: VecDeque<Bytes>,
    events: VecDeque<SessionEvent>,
}

impl Session {
    /// A session for a stream opened (or accepted) at `now`: the handshake
    /// must complete by `now + config.handshake_timeout`. An `Outbound`
    /// session queues our `Hello` at once. `seed` seeds the ping nonces.
    pub fn new(
        direction: ConnectionDirection,
        config: &Config,
        local: Hello,
        now: Instant,
        seed: u64,
    ) -> Self {
        let mut session = Session {
            direction,
            local,
            settings: Settings::new(config),
            seed,
            state: State::Handshake {
                deadline: now + config.handshake_timeout,
            },
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        };
        if direction == ConnectionDirection::Outbound {
            session.transmit(&Message::Hello(local));
        }
        session
    }

    /// Who dialled.
    pub fn direction(&self) -> ConnectionDirection {
        self.direction
    }

    /// The peer's hello, once established.
    pub fn remote(&self) -> Option<&Hello> {
        match &self.state {
            State::Established { remote, .. } => Some(remote),
            _ => None,
        }
    }

    /// The liveness state, once established.
    pub fn ping(&self) -> Option<&PingState> {
        match &self.state {
            State::Established { ping, .. } => Some(ping),
            _ => None,
        }
    }

    /// Whether the handshake is complete and the session not closed.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established { .. })
    }

    /// Whether the session has ended (its `Closed` event may still be
    /// waiting to be polled).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Handles every whole frame in `buf`, splitting each off (application
    /// payloads keep sharing `buf`'s allocation); a partial frame stays in
    /// `buf` for the next read. Stops after the frame that ends the
    /// handshake, and at a close (see the module docs).
    pub fn handle_read(&mut self, buf: &mut BytesMut, now: Instant) {
        match self.state {
            State::Handshake { .. } => self.read_handshake(buf, now),
            State::Established { .. } => self.read_established(buf, now),
            State::Admitting { .. } | State::Closed => {}
        }
    }

    /// The owner's verdict on the hello of [`SessionEvent::HelloReceived`]:
    /// `Ok` transmits our `HelloAccept` and establishes the session; `Err`
    /// transmits nothing and closes with `Refused(reason)`, the final
    /// frame `HelloReject(reason)`. Ignored in any other state.
    pub fn admit(&mut self, verdict: Result<(), Reason>, now: Instant) {
        let State::Admitting { remote, .. } = self.state else {
            return;
        };
        match verdict {
            Ok(()) => {
                self.transmit(&Message::HelloAccept(self.local));
                self.establish(remote, now);
            }
            Err(reason) => self.close_with(
                CloseCause::Refused(reason),
                ClosePolicy::Final(reject_frame(reason)),
            ),
        }
    }

    /// The stream ended, or reading or writing it failed: closes with
    /// `Lost`, saying nothing. Transmits not yet polled are dropped.
    pub fn handle_eof(&mut self, _now: Instant) {
        if self.is_closed() {
            return;
        }
        self.transmits.clear();
        let policy = if self.is_established() {
            ClosePolicy::Flush
        } else {
            ClosePolicy::Drop
        };
        self.close_with(CloseCause::Lost, policy);
    }

    /// Time has reached `now`: ends a handshake whose deadline has passed
    /// (the dialer says `Goodbye(handshake_timeout)`, the acceptor
    /// `HelloReject(handshake_timeout)`); once established, expires overdue
    /// pings (closing with `PingTimeout` and `Goodbye(ping_timeout)` after
    /// `max_missed_pongs` in a row) and transmits a ping that is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &mut self.state {
            State::Handshake { deadline } | State::Admitting { deadline, .. } => {
                if now < *deadline {
                    return;
                }
                let reason = Reason::HandshakeTimeout;
                let frame = match self.direction {
                    ConnectionDirection::Outbound => Message::Goodbye(reason).to_frame(),
                    ConnectionDirection::Inbound => reject_frame(reason),
                };
                self.close_with(CloseCause::HandshakeTimeout, ClosePolicy::Final(frame));
            }
            State::Established { ping, .. } => match ping.poll(now) {
                Ok(None) => {}
                Ok(Some((nonce, timestamp_ms))) => self.transmit(&Message::Ping {
                    nonce,
                    timestamp_ms,
                }),
                Err(PingTimeout { missed }) => self.say_goodbye(CloseCause::PingTimeout { missed }),
            },
            State::Closed => {}
        }
    }

    /// The next instant [`Session::handle_timeout`] has something to do:
    /// the handshake deadline, then the ping state's next deadline; `None`
    /// once closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Handshake { deadline } | State::Admitting { deadline, .. } => Some(*deadline),
            State::Established { ping, .. } => Some(ping.next_deadline()),
            State::Closed => None,
        }
    }

    /// A local close request (owner, manager, tie-break, ban, shutdown):
    /// closes with `Local(reason)`, saying `Goodbye(reason)` if established
    /// and nothing during the handshake. Ignored once closed.
    pub fn close(&mut self, reason: Reason, _now: Instant) {
        match self.state {
            State::Established { .. } => self.close_with(
                CloseCause::Local(reason),
                ClosePolicy::Final(Message::Goodbye(reason).to_frame()),
            ),
            State::Handshake { .. } | State::Admitting { .. } => {
                self.close_with(CloseCause::Local(reason), ClosePolicy::Drop);
            }
            State::Closed => {}
        }
    }

    /// The shell read nothing for `stalled` because its owner did not take
    /// events: the peer's pings piled up meanwhile and are not a flood
    /// ([`PingState::note_stall`]).
    pub fn note_stall(&mut self, stalled: Duration, now: Instant) {
        if let State::Established { ping, .. } = &mut self.state {
            ping.note_stall(stalled, now);
        }
    }

    /// The shell could not queue a transmit: the room for control frames
    /// is full because the peer does not read. Closes with `SlowReader`
    /// (final frame `Goodbye(slow_reader)` if established, which the shell
    /// will most likely fail to queue as well); that transmit and those
    /// after it are dropped.
    pub fn control_refused(&mut self, _now: Instant) {
        if self.is_closed() {
            return;
        }
        self.transmits.clear();
        if self.is_established() {
            self.say_goodbye(CloseCause::SlowReader);
        } else {
            self.close_with(CloseCause::SlowReader, ClosePolicy::Drop);
        }
    }

    /// The next frame to write, in order: hello, accept, ping, pong. The
    /// final frame of a close is in [`Close`], not here.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmits.pop_front()
    }

    /// The next event; `Closed` is always the last.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Whether a transmit or an event is waiting to be polled.
    pub fn has_output(&self) -> bool {
        !self.transmits.is_empty() || !self.events.is_empty()
    }

    /// Frames before the handshake is complete: one message decides.
    fn read_handshake(&mut self, buf: &mut BytesMut, now: Instant) {
        let cap = self.settings.max_frame_len.min(MAX_HANDSHAKE_FRAME);
        let message = match decode_frame(buf, cap) {
            Ok(None) => return,
            Ok(Some(body)) => Message::decode(body).map_err(CloseCause::Decode),
            Err(e) => Err(CloseCause::Frame(e)),
        };
        let message = match message {
            Ok(message) => message,
            Err(cause) => {
                let policy = match (self.direction, &cause) {
                    // The acceptor we dialled sent garbage: nothing to say.
                    (ConnectionDirection::Outbound, _) => ClosePolicy::Drop,
                    // Not our protocol at all: nothing useful to say to it.
                    (_, CloseCause::Decode(DecodeError::BadMagic(_))) => ClosePolicy::Drop,
                    (ConnectionDirection::Inbound, _) => match cause.reason() {
                        DisconnectReason::Local(reason) => ClosePolicy::Final(reject_frame(reason)),
                        _ => ClosePolicy::Drop,
                    },
                };
                return self.close_with(cause, policy);
            }
        };
        match self.direction {
            ConnectionDirection::Outbound => self.dialer_reads(message, now),
            ConnectionDirection::Inbound => self.acceptor_reads(message),
        }
    }

    /// The dialer's one message: the acceptor's answer.
    fn dialer_reads(&mut self, message: Message, now: Instant) {
        match message {
            Message::HelloAccept(remote) => match check_hello(&self.local, &remote) {
                Ok(()) => self.establish(remote, now),
                Err(reason) => self.close_with(
                    CloseCause::Refused(reason),
                    ClosePolicy::Final(Message::Goodbye(reason).to_frame()),
                ),
            },
            Message::HelloReject(reason) => {
                self.close_with(CloseCause::Remote(reason), ClosePolicy::Drop);
            }
            other => self.close_with(
                CloseCause::Unexpected(other.message_type()),
                ClosePolicy::Final(Message::Goodbye(Reason::ProtocolViolation).to_frame()),
            ),
        }
    }

    /// The acceptor's one message: the dialer's hello.
    fn acceptor_reads(&mut self, message: Message) {
        let State::Handshake { deadline } = self.state else {
            return;
        };
        match message {
            Message::Hello(remote) => match check_hello(&self.local, &remote) {
                Ok(()) => {
                    self.state = State::Admitting { deadline, remote };
                    self.events.push_back(SessionEvent::HelloReceived(remote));
                }
                Err(reason) => self.close_with(
                    CloseCause::Refused(reason),
                    ClosePolicy::Final(reject_frame(reason)),
                ),
            },
            other => self.close_with(
                CloseCause::Unexpected(other.message_type()),
                ClosePolicy::Final(reject_frame(Reason::ProtocolViolation)),
            ),
        }
    }

    /// Established traffic: every whole frame, until the buffer runs out
    /// or the session closes.
    fn read_established(&mut self, buf: &mut BytesMut, now: Instant) {
        let max = self.settings.max_frame_len;
        let State::Established { ping, .. } = &mut self.state else {
            return;
        };
        let cause = loop {
            let body = match decode_frame(buf, max) {
                Ok(Some(body)) => body,
                Ok(None) => return,
                Err(e) => break CloseCause::Frame(e),
            };
            let message = match Message::decode(body) {
                Ok(message) => message,
                Err(e) => break CloseCause::Decode(e),
            };
            match message {
                Message::App(bytes) => self.events.push_back(SessionEvent::Message(bytes)),
                Message::Ping {
                    nonce,
                    timestamp_ms,
                } => match ping.on_ping(nonce, now) {
                    Ok(()) => self.transmits.push_back(
                        Message::Pong {
                            nonce,
                            timestamp_ms,
                        }
                        .to_frame(),
                    ),
                    Err(v) => break CloseCause::Violation(v),
                },
                Message::Pong { nonce, .. } => match ping.on_pong(nonce, now) {
                    Ok(PongOutcome::Rtt(rtt)) => self.events.push_back(SessionEvent::Rtt(rtt)),
                    Ok(PongOutcome::Late) => {}
                    Err(v) => break CloseCause::Violation(v),
                },
                Message::Goodbye(reason) => {
                    return self.close_with(CloseCause::Remote(reason), ClosePolicy::Flush);
                }
                Message::Hello(_) | Message::HelloAccept(_) | Message::HelloReject(_) => {
                    break CloseCause::Violation(ProtocolViolation::HandshakeAfterEstablished(
                        message.message_type(),
                    ));
                }
            }
        };
        self.say_goodbye(cause);
    }

    fn establish(&mut self, remote: Hello, now: Instant) {
        let ping = PingState::new(&self.settings.ping_config(), now, self.seed);
        self.state = State::Established { remote, ping };
        self.events.push_back(SessionEvent::Established(remote));
    }

    /// Closes an established session with `cause`, a close of ours,
    /// saying `Goodbye` with its reason.
    fn say_goodbye(&mut self, cause: CloseCause) {
        let policy = match cause.reason() {
            DisconnectReason::Local(reason) => {
                ClosePolicy::Final(Message::Goodbye(reason).to_frame())
            }
            _ => ClosePolicy::Drop,
        };
        self.close_with(cause, policy);
    }

    fn close_with(&mut self, cause: CloseCause, policy: ClosePolicy) {
        self.state = State::Closed;
        self.events
            .push_back(SessionEvent::Closed(Close { cause, policy }));
    }

    fn transmit(&mut self, message: &Message) {
        self.transmits.push_back(message.to_frame());
    }
}
