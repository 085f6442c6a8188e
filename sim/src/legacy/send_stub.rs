//! `legacy-send-stub`: origin bug #7, "send and broadcast stubs". The
//! origin's `send` and `broadcast` were stubs that returned `Ok` without
//! sending anything: the caller saw success, the peer got nothing, and the
//! table said connected throughout.
//!
//! Modelled as the sound legacy node whose `send` is that stub. Under the
//! scenario's traffic every connection stays healthy (pings and pongs flow
//! on it), and no application message ever arrives: `sends-arrive`. (The
//! origin's same release also left a peer stuck "already connecting" and let
//! counters underflow; those are table states, caught by `one-dial-per-peer`,
//! `converges` and `counters-match-table`, and not part of this model.)

use super::design::Design;

/// The design.
pub(crate) const DESIGN: Design = Design {
    name: "legacy-send-stub",
    summary: "origin #7: send is a stub that returns Ok and queues nothing",
    send_is_stub: true,
    ..Design::SOUND
};
