//! (being written)

use crate::BuiltIn;

pub(crate) fn registered() -> Vec<BuiltIn> {
    Vec::new()
}
