//! The bug catalog: one scenario per connection bug of the origin project
//! (`../shared/reference/origin-bugs.md`), each run under the naive design
//! that shipped it and under our default (filled by the catalog work).

use crate::scenario::Scenario;

/// One catalog entry.
#[derive(Clone, Debug)]
pub struct CatalogEntry {
    /// Origin bug number.
    pub bug: u32,
    /// What went wrong, in a few words.
    pub title: &'static str,
    /// The `bug-<n>` scenario.
    pub scenario: String,
    /// The naive policy or legacy model that shipped the bug.
    pub naive: &'static str,
    /// A seed on which the naive run fails.
    pub naive_seed: u64,
    /// The invariant the naive run breaks.
    pub invariant: &'static str,
}

/// The catalog entries.
pub fn entries() -> Vec<CatalogEntry> {
    Vec::new()
}

/// The catalog's scenarios.
pub fn bug_scenarios() -> Vec<Scenario> {
    Vec::new()
}
