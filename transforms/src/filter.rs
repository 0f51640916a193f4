//! `Filter`: drops every record it is applied to; with a predicate, the ones that match.

use ferry_api::schemars::JsonSchema;
use ferry_api::serde::Deserialize;
use ferry_api::transform::{ConnectRecord, Transformation};

use crate::BuiltIn;

/// `Filter` has no keys of its own.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct FilterConfig {}

/// Kafka Connect's `Filter`.
pub struct Filter;

impl Transformation for Filter {
    type Config = FilterConfig;

    fn new(_: FilterConfig) -> ferry_api::Result<Self> {
        Ok(Filter)
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn apply(&mut self, _: ConnectRecord) -> ferry_api::Result<Option<ConnectRecord>> {
        Ok(None)
    }
}

pub(crate) fn registered() -> Vec<BuiltIn> {
    vec![BuiltIn::transformation::<Filter>("Filter")]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_every_record() {
        let mut filter = Filter::new(FilterConfig {}).unwrap();
        assert_eq!(filter.apply(ConnectRecord::new("t")).unwrap(), None);
    }
}
