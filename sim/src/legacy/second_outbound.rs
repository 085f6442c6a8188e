//! `legacy-second-outbound`: origin bug #6, "a refactor's second
//! outbound path". A refactor gave outbound connections a code path of their
//! own, and left it unfinished: it never registered the connection's writer,
//! so sends to a peer reached over it failed, and its message loop dropped
//! every application message the peer sent on it. (It also sent no
//! handshake; that part is not modelled: under peerlink's wire protocol an
//! acceptor admits nothing before a `Hello`, so such a connection would
//! never be established and the other two defects would never show.)
//!
//! Modelled as the sound legacy node whose dialled connections take that
//! second path: one switch, the unfinished path. Under traffic, every pair
//! keeps one connection (the node-id rule), dialled by one of its ends; on
//! that end sends find no writer and arriving messages are dropped, so
//! neither direction of the pair receives anything: `sends-arrive`.

use super::design::Design;

/// The design.
pub(crate) const DESIGN: Design = Design {
    name: "legacy-second-outbound",
    summary: "origin #6: dialled connections take an unfinished path: no writer registered, app messages dropped",
    unfinished_outbound_path: true,
    ..Design::SOUND
};
