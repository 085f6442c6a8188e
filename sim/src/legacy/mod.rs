//! Legacy models of the origin project's buggy designs (filled by the bug
//! catalog work).

use std::sync::Arc;

use crate::model::NodeModel;

/// Every legacy model.
pub fn models() -> Vec<Arc<dyn NodeModel>> {
    Vec::new()
}
