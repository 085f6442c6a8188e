//! Legacy models of the origin project's buggy designs, behind the same
//! node interface as peerlink, so the bug catalog can run the naive design
//! and ours side by side. One shared small node models the origin's
//! connection layer (`node`: tasks and sockets; `table`: its decisions;
//! `handshake` and `conn`: its connections; `design`: one switch per flaw).
//! Each file named after a flaw (its `//!` says which origin bug) is that
//! node with exactly that switch on; `legacy-sound`, every switch off, is
//! the control. `plants` holds the `check-*` fixtures: the same node with
//! a fault planted for the simulator's own checks, not an origin flaw. No
//! bug switch lives in the library.

mod cleanup_by_ip;
mod conn;
mod design;
mod dial_ownership;
mod handshake;
mod ip_port_identity;
mod node;
mod per_ip_writer;
mod periodic_redial;
mod ping_pruning;
mod plants;
mod second_outbound;
mod send_stub;
mod table;
mod torn_frames;
mod zombie_slots;

use std::sync::Arc;

use crate::model::NodeModel;
use design::{Design, LegacyModel};

/// The legacy designs: the sound control, then one per flaw in origin-bug
/// order.
const DESIGNS: [Design; 11] = [
    Design::SOUND,
    periodic_redial::DESIGN,
    per_ip_writer::DESIGN,
    ip_port_identity::DESIGN,
    dial_ownership::DESIGN,
    second_outbound::DESIGN,
    send_stub::DESIGN,
    cleanup_by_ip::DESIGN,
    zombie_slots::DESIGN,
    torn_frames::DESIGN,
    ping_pruning::DESIGN,
];

/// Every legacy model, then the planted-fault fixtures of the simulator's
/// own checks (`plants`).
pub fn models() -> Vec<Arc<dyn NodeModel>> {
    DESIGNS
        .into_iter()
        .chain(plants::DESIGNS)
        .map(|d| Arc::new(LegacyModel(d)) as Arc<dyn NodeModel>)
        .collect()
}
