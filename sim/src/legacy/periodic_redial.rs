//! `legacy-periodic-redial`: origin bug #2, "direction rule in one dial
//! path only". The origin's connect path respected its rule for who dials
//! whom, but a second periodic loop (every 120 s at a 30 s ping interval)
//! dialled every configured peer without looking at the table. The server
//! refused the duplicate, the client saw the connection close and dialled
//! again at the next round: a cycle every ~2 minutes in a healthy mesh.
//!
//! Modelled as the sound legacy node plus a blind loop every 20 s (the
//! origin's period, scaled to the simulator's 5 s ping). Every round is a
//! refused dial per peer per node, so the `no-churn` invariant breaks at the
//! first round after the mesh has converged.

use std::time::Duration;

use super::design::Design;

/// The origin's 120 s at a 30 s ping, scaled to the simulator's 5 s ping.
pub(crate) const REDIAL_EVERY: Duration = Duration::from_secs(20);

/// The design.
pub(crate) const DESIGN: Design = Design {
    name: "legacy-periodic-redial",
    summary: "origin #2: a periodic loop dials every configured peer every 20 s, connected or not",
    blind_redial_every: Some(REDIAL_EVERY),
    ..Design::SOUND
};
