//! The `$Key` and `$Value` variants of Kafka Connect's transformations.

use ferry_api::data::Payload;
use ferry_api::transform::ConnectRecord;

/// Which part of the record a transformation works on.
pub trait Side: Send + 'static {
    /// `Key` or `Value`, as in `ExtractField$Key`.
    const NAME: &'static str;
    /// The key or the value.
    fn of(record: &mut ConnectRecord) -> &mut Option<Payload>;
}

/// The record key.
#[derive(Debug)]
pub struct Key;

/// The record value.
#[derive(Debug)]
pub struct Value;

impl Side for Key {
    const NAME: &'static str = "Key";
    fn of(record: &mut ConnectRecord) -> &mut Option<Payload> {
        &mut record.key
    }
}

impl Side for Value {
    const NAME: &'static str = "Value";
    fn of(record: &mut ConnectRecord) -> &mut Option<Payload> {
        &mut record.value
    }
}

/// The class's simple name for a side: `ExtractField$Key`.
pub fn class_of<S: Side>(simple_name: &str) -> String {
    format!("{simple_name}${}", S::NAME)
}
