//! `ConnectionManager`: identity, admission, tie-break, redial.

mod policy;

pub use policy::TieBreakPolicy;
