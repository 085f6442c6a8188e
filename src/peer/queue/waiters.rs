//! The line of senders waiting for room (`send_wait`): first come, first
//! served, only the head of the line admitted, and a sender that gives up
//! leaves its place to the next.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

use super::state::{State, Waiter};
use super::{Refused, SendQueue};
use crate::wire::FRAME_HEADER_LEN;

impl SendQueue {
    /// Queues an application payload, waiting for room behind the senders
    /// already waiting. Cancel safe: dropped before it returns, it has
    /// queued nothing, and the waiters behind it move up.
    pub(crate) async fn push_app_wait(&self, payload: Bytes) -> Result<(), Refused> {
        let len = FRAME_HEADER_LEN + 1 + payload.len();
        let ticket = {
            let mut state = self.lock();
            if state.finishing || state.closed {
                return Err(Refused::Closed);
            }
            if state.waiters.is_empty() && self.fits(&state, len) {
                Self::append(&mut state, &payload);
                self.wake_writer(state, None);
                return Ok(());
            }
            // In line now, so no sender arriving later overtakes us.
            let ticket = state.next_ticket;
            state.next_ticket = ticket.wrapping_add(1);
            state.waiters.push_back(Waiter {
                ticket,
                len,
                waker: None,
            });
            ticket
        };
        let mut wait = Wait {
            queue: self,
            ticket,
            payload: Some(payload),
        };
        // The writer, running beside us, usually takes the queue in a
        // moment: one yield is cheaper than parking and being woken.
        tokio::task::yield_now().await;
        (&mut wait).await
    }

    /// The head waiter's waker, if its frame fits now (it admits itself
    /// when it runs).
    pub(super) fn head_waker(&self, state: &mut State) -> Option<Waker> {
        let len = state.waiters.front()?.len;
        if !self.fits(state, len) {
            return None;
        }
        state.waiters.front_mut()?.waker.take()
    }
}

/// A sender's wait in line for room (see [`SendQueue::push_app_wait`]).
/// Dropped before it completes, it leaves the line.
struct Wait<'a> {
    queue: &'a SendQueue,
    ticket: u64,
    /// Taken when the wait ends.
    payload: Option<Bytes>,
}

impl Future for Wait<'_> {
    type Output = Result<(), Refused>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let queue = this.queue;
        let mut state = queue.lock();
        if state.finishing || state.closed {
            // Closing emptied the line.
            this.payload = None;
            return Poll::Ready(Err(Refused::Closed));
        }
        let Some(at) = state.waiters.iter().position(|w| w.ticket == this.ticket) else {
            // Unreachable: only closing removes a waiter other than itself.
            this.payload = None;
            return Poll::Ready(Err(Refused::Closed));
        };
        // Only the head of the line is admitted, and only whole.
        let admit = at == 0
            && state
                .waiters
                .front()
                .is_some_and(|w| queue.fits(&state, w.len));
        if admit {
            if let Some(payload) = this.payload.take() {
                state.waiters.pop_front();
                SendQueue::append(&mut state, &payload);
                // The next in line may fit too.
                let next = queue.head_waker(&mut state);
                queue.wake_writer(state, next);
                return Poll::Ready(Ok(()));
            }
        }
        if let Some(waiter) = state.waiters.get_mut(at) {
            if !waiter
                .waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                waiter.waker = Some(cx.waker().clone());
            }
        }
        Poll::Pending
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if self.payload.is_none() {
            return;
        }
        let queue = self.queue;
        let mut state = queue.lock();
        let Some(at) = state.waiters.iter().position(|w| w.ticket == self.ticket) else {
            return;
        };
        state.waiters.remove(at);
        if at == 0 {
            // It may have been woken for room it will not take: pass it on.
            let next = queue.head_waker(&mut state);
            drop(state);
            if let Some(waker) = next {
                waker.wake();
            }
        }
    }
}
