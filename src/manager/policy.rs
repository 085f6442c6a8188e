//! Tie-break policies: how two connections to one peer are resolved.

/// How a node chooses between two connections to the same peer.
///
/// Only [`TieBreakPolicy::NodeId`] is a recommendation. The others are
/// *comparison policies*: rules real projects shipped, kept so the simulator
/// can reproduce their failures next to ours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TieBreakPolicy {
    /// Keep the connection dialled by the node with the larger node id. Both
    /// ends compare the same two ids, so both keep the same connection
    /// (Nethermind's rule).
    #[default]
    NodeId,
}
