//! What the send queue holds under its lock: the queued frames in order,
//! what they count for, and the line of senders waiting for room.

use std::collections::VecDeque;
use std::task::Waker;

use bytes::Bytes;

/// Queued frames, in order: `pieces`, then `tail`.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) pieces: VecDeque<Piece>,
    pub(super) tail: Vec<u8>,
    /// Queued and not yet taken by the writer.
    pub(super) frames: usize,
    pub(super) bytes: usize,
    pub(super) control: usize,
    /// Of `bytes`, those of control frames (outside the byte budget).
    pub(super) control_bytes: usize,
    pub(super) writer_waiting: bool,
    /// Senders waiting for room, in arrival order: one entry per waiting
    /// `push_app_wait`.
    pub(super) waiters: VecDeque<Waiter>,
    /// The ticket of the next waiter.
    pub(super) next_ticket: u64,
    pub(super) finishing: bool,
    pub(super) closed: bool,
    /// Application sends refused for want of room, ever.
    pub(super) refused_full: u64,
}

/// A sender's place in the line of waiters.
#[derive(Debug)]
pub(super) struct Waiter {
    pub(super) ticket: u64,
    /// Encoded length of its frame.
    pub(super) len: usize,
    /// Set once it has parked; taken by whoever wakes it.
    pub(super) waker: Option<Waker>,
}

/// A run of encoded frames, or a large payload whose header ends the run
/// before it.
#[derive(Debug)]
pub(super) enum Piece {
    Copied(Vec<u8>),
    Shared(Bytes),
}
