//! `legacy-dial-ownership`: origin bug #5, "duplicate reconnect tasks".
//! A peer had a "connecting" mark so that the periodic loop would not spawn
//! a second reconnect task while one existed. The reconnect task cleared the
//! mark when it went to sleep in backoff and set it again when it woke; in
//! between, the periodic loop saw the peer as free and spawned another task.
//! Each task retried until its own dial succeeded, so once the peer was
//! reachable and connected the extra tasks kept dialling, the server kept
//! refusing them as duplicates: 200–300 duplicate attempts per hour per peer.
//!
//! Modelled as the legacy node whose reconnect task clears the mark during
//! backoff and, like the origin's, retries until its own dial succeeds (it
//! assumes it is the peer's only owner). While the peer is down for 20 s the
//! periodic loop (every 2 s) piles up tasks; after the peer is up and
//! connected, the leftover tasks keep dialling and being refused, and
//! `no-churn` breaks after convergence.

use super::design::Design;

/// The design.
pub(crate) const DESIGN: Design = Design {
    name: "legacy-dial-ownership",
    summary:
        "origin #5: a reconnect task clears its connecting mark in backoff; duplicates pile up",
    backoff_clears_mark: true,
    ..Design::SOUND
};
