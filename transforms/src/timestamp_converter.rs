//! `TimestampConverter`: converts a timestamp (the whole key/value, or one top-level field)
//! between a formatted string, Unix time and Kafka Connect's Date, Time and Timestamp types.
//!
//! `format` is a Java `SimpleDateFormat` pattern, translated to chrono's items and applied in
//! UTC as Kafka does. Supported letters: `y` (`yy` is two digits), `M` (`MMM` and `MMMM` are
//! month names), `d`, `D`, `E`, `a`, `H`, `h`, `m`, `s`, `SSS` (milliseconds), `Z` (`+0000`),
//! `X`/`XX`/`XXX` (`Z` in UTC; offsets or `Z` when parsing), `z` (`UTC`), and `'quoted'`
//! literals. Parsing ignores text after the pattern, as Java's does, but is not lenient: a
//! month 13 is an error rather than January of the next year, and a two-digit year is read as
//! chrono reads it (`16` is 2016), not by Java's window of 80 years back from now.

use std::marker::PhantomData;

use chrono::format::{Fixed, Item, Numeric, Pad, Parsed, StrftimeItems};
use chrono::DateTime;
use ferry_api::data::{logical, Field, Schema, SchemaType, Structured};
use ferry_api::schemars::JsonSchema;
use ferry_api::serde::Deserialize;
use ferry_api::transform::{ConnectRecord, Transformation};
use ferry_api::ConnectError;
use serde_json::{Map, Value};

use crate::side::{self, class_of, Side};
use crate::{json_type_name, BuiltIn};

/// `target.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde")]
#[schemars(crate = "ferry_api::schemars")]
pub enum TargetType {
    /// A string formatted by `format`.
    #[serde(rename = "string")]
    String,
    /// Unix time, an int64 in `unix.precision`.
    #[serde(rename = "unix")]
    Unix,
    /// Kafka Connect's Date (int32 days since the epoch).
    Date,
    /// Kafka Connect's Time (int32 milliseconds since midnight).
    Time,
    /// Kafka Connect's Timestamp (int64 milliseconds since the epoch).
    Timestamp,
}

/// `unix.precision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", rename_all = "lowercase")]
#[schemars(crate = "ferry_api::schemars")]
pub enum UnixPrecision {
    /// Seconds.
    Seconds,
    /// Milliseconds.
    #[default]
    Milliseconds,
    /// Microseconds.
    Microseconds,
    /// Nanoseconds.
    Nanoseconds,
}

/// `TimestampConverter`'s keys.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct TimestampConverterConfig {
    /// The (top-level) field containing the timestamp, or empty if the entire value is a
    /// timestamp.
    #[serde(default)]
    field: String,
    /// The desired timestamp representation: string, unix, Date, Time, or Timestamp.
    #[serde(rename = "target.type")]
    target_type: TargetType,
    /// A SimpleDateFormat-compatible pattern (applied in UTC): the output when target.type is
    /// string, and how string input is parsed.
    #[serde(default)]
    format: String,
    /// The Unix time precision of int64 input and of unix output: seconds, milliseconds,
    /// microseconds, or nanoseconds. Sub-millisecond parts are lost in conversions.
    #[serde(rename = "unix.precision", default)]
    unix_precision: UnixPrecision,
    /// Whether a null field that has a default value in its schema takes the default (true) or
    /// stays null (false).
    #[serde(rename = "replace.null.with.default", default = "default_true")]
    replace_null_with_default: bool,
}

fn default_true() -> bool {
    true
}

/// Kafka Connect's `TimestampConverter$Key` / `TimestampConverter$Value`.
pub struct TimestampConverter<S> {
    field: String,
    target: TargetType,
    format: Option<JavaFormat>,
    precision: UnixPrecision,
    replace_null_with_default: bool,
    side: PhantomData<S>,
}

const MILLIS_PER_DAY: i64 = 86_400_000;

impl<S: Side> Transformation for TimestampConverter<S> {
    type Config = TimestampConverterConfig;

    fn new(config: TimestampConverterConfig) -> ferry_api::Result<Self> {
        let format = if config.format.trim().is_empty() {
            if config.target_type == TargetType::String {
                return Err(ConnectError::config(
                    "format",
                    "a pattern is required when target.type is string, e.g. yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
                ));
            }
            None
        } else {
            Some(JavaFormat::new(&config.format).map_err(|why| {
                ConnectError::config(
                    "format",
                    format!(
                        "`{}` is not a supported SimpleDateFormat pattern: {why}",
                        config.format
                    ),
                )
            })?)
        };
        Ok(TimestampConverter {
            field: config.field,
            target: config.target_type,
            format,
            precision: config.unix_precision,
            replace_null_with_default: config.replace_null_with_default,
            side: PhantomData,
        })
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn apply(&mut self, mut record: ConnectRecord) -> ferry_api::Result<Option<ConnectRecord>> {
        let class = class_of::<S>("TimestampConverter");
        // No pass-through for nulls here: with a schema, Kafka converts the schema of a null.
        if let Some(payload) = S::of(&mut record).as_mut() {
            let data = payload
                .structured()
                .map_err(|why| ConnectError::data(format!("{class}: {why}")))?;
            self.convert(data)
                .map_err(|why| ConnectError::data(format!("{class}: {why}")))?;
        }
        Ok(Some(record))
    }
}

/// What a timestamp is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Unix,
    Date,
    Time,
    Timestamp,
}

impl<S> TimestampConverter<S> {
    fn convert(&self, data: &mut Structured) -> Result<(), String> {
        let Some(schema) = &data.schema else {
            if self.field.is_empty() || data.value.is_null() {
                data.value = self.convert_value(&data.value, None)?;
                return Ok(());
            }
            let Value::Object(object) = &mut data.value else {
                return Err(format!(
                    "only a JSON object can have a field converted in absence of a schema, found {}",
                    json_type_name(&data.value)
                ));
            };
            // Kafka puts the field even when it is absent: it becomes null.
            let converted = match object.get(&self.field) {
                Some(value) => self
                    .convert_value(value, None)
                    .map_err(|why| format!("field `{}`: {why}", self.field))?,
                None => Value::Null,
            };
            object.insert(self.field.clone(), converted);
            return Ok(());
        };

        if self.field.is_empty() {
            let kind = kind_of(schema)?;
            let updated = self.target_schema(schema.optional);
            data.value = self.convert_value(&data.value, Some(kind))?;
            data.schema = Some(updated);
            return Ok(());
        }

        if schema.schema_type != SchemaType::Struct {
            return Err(format!(
                "field `{}` needs a struct, but the schema is {}",
                self.field,
                schema.schema_type.connect_name()
            ));
        }
        let fields = schema
            .fields
            .iter()
            .map(|f| {
                if f.field == self.field {
                    Field::new(f.field.clone(), self.target_schema(f.schema.optional))
                } else {
                    f.clone()
                }
            })
            .collect();
        let default_value = match &schema.default_value {
            Some(default) => Some(self.convert_struct(schema, default)?),
            None => None,
        };
        let updated = Schema {
            fields,
            default_value,
            ..schema.clone()
        };
        if !data.value.is_null() {
            data.value = self.convert_struct(schema, &data.value)?;
        }
        data.schema = Some(updated);
        Ok(())
    }

    fn convert_struct(&self, schema: &Schema, value: &Value) -> Result<Value, String> {
        let Value::Object(object) = value else {
            return Err(format!(
                "the schema is a struct but the value is {}",
                json_type_name(value)
            ));
        };
        let mut converted = Map::new();
        for field in &schema.fields {
            let mut value = object.get(&field.field).cloned().unwrap_or(Value::Null);
            if value.is_null() && self.replace_null_with_default {
                if let Some(default) = &field.schema.default_value {
                    value = default.clone();
                }
            }
            if field.field == self.field {
                value = kind_of(&field.schema)
                    .and_then(|kind| self.convert_value(&value, Some(kind)))
                    .map_err(|why| format!("field `{}`: {why}", field.field))?;
            }
            converted.insert(field.field.clone(), value);
        }
        Ok(Value::Object(converted))
    }

    /// The target type's schema; Kafka's Date, Time and Timestamp schemas are version 1.
    fn target_schema(&self, optional: bool) -> Schema {
        let logical_type = |name: &str, t| Schema {
            name: Some(name.to_string()),
            version: Some(1),
            ..Schema::of(t)
        };
        let schema = match self.target {
            TargetType::String => Schema::of(SchemaType::String),
            TargetType::Unix => Schema::of(SchemaType::Int64),
            TargetType::Date => logical_type(logical::DATE, SchemaType::Int32),
            TargetType::Time => logical_type(logical::TIME, SchemaType::Int32),
            TargetType::Timestamp => logical_type(logical::TIMESTAMP, SchemaType::Int64),
        };
        Schema { optional, ..schema }
    }

    /// One timestamp converted; `kind` comes from the schema, or is read off the JSON.
    fn convert_value(&self, value: &Value, kind: Option<Kind>) -> Result<Value, String> {
        if value.is_null() {
            return Ok(Value::Null);
        }
        let kind = match kind {
            Some(kind) => kind,
            None => match value {
                Value::String(_) => Kind::String,
                Value::Number(n) if n.is_i64() => Kind::Unix,
                other => {
                    return Err(format!(
                        "{} is not a timestamp: expected a string or an integer (Unix time)",
                        json_type_name(other)
                    ))
                }
            },
        };
        let millis = self.to_millis(value, kind)?;
        self.millis_to_target(millis)
    }

    fn to_millis(&self, value: &Value, kind: Kind) -> Result<i64, String> {
        if kind == Kind::String {
            let Value::String(text) = value else {
                return Err(format!(
                    "expected a string timestamp, found {}",
                    json_type_name(value)
                ));
            };
            let format = self
                .format
                .as_ref()
                .ok_or_else(|| "string timestamps need a pattern: set `format`".to_string())?;
            return format.parse(text);
        }
        let n = value.as_i64().ok_or_else(|| {
            format!(
                "expected an integer timestamp, found {}",
                json_type_name(value)
            )
        })?;
        Ok(match kind {
            // Java's TimeUnit conversions: saturating up, truncating down.
            Kind::Unix => match self.precision {
                UnixPrecision::Seconds => n.saturating_mul(1000),
                UnixPrecision::Milliseconds => n,
                UnixPrecision::Microseconds => n / 1000,
                UnixPrecision::Nanoseconds => n / 1_000_000,
            },
            Kind::Date => n.saturating_mul(MILLIS_PER_DAY),
            Kind::Time | Kind::Timestamp => n,
            Kind::String => unreachable!("handled above"),
        })
    }

    fn millis_to_target(&self, millis: i64) -> Result<Value, String> {
        Ok(match self.target {
            TargetType::String => {
                let format = self.format.as_ref().expect("checked when configured");
                Value::String(format.format(millis)?)
            }
            TargetType::Unix => Value::from(match self.precision {
                UnixPrecision::Seconds => millis / 1000,
                UnixPrecision::Milliseconds => millis,
                UnixPrecision::Microseconds => millis.saturating_mul(1000),
                UnixPrecision::Nanoseconds => millis.saturating_mul(1_000_000),
            }),
            TargetType::Date => {
                let days = millis.div_euclid(MILLIS_PER_DAY);
                let days = i32::try_from(days)
                    .map_err(|_| format!("{millis} ms is out of the Date range"))?;
                Value::from(days)
            }
            TargetType::Time => Value::from(millis.rem_euclid(MILLIS_PER_DAY)),
            TargetType::Timestamp => Value::from(millis),
        })
    }
}

/// Kafka's `timestampTypeFromSchema`.
fn kind_of(schema: &Schema) -> Result<Kind, String> {
    Ok(match schema.name.as_deref() {
        Some(logical::TIMESTAMP) => Kind::Timestamp,
        Some(logical::DATE) => Kind::Date,
        Some(logical::TIME) => Kind::Time,
        _ => match schema.schema_type {
            SchemaType::String => Kind::String,
            SchemaType::Int64 => Kind::Unix,
            other => {
                return Err(format!(
                    "a {} schema is not a timestamp type (use string, int64, or a Date, Time or Timestamp)",
                    other.connect_name()
                ))
            }
        },
    })
}

/// A SimpleDateFormat pattern as chrono items.
struct JavaFormat {
    items: Vec<Item<'static>>,
}

impl JavaFormat {
    fn new(pattern: &str) -> Result<JavaFormat, String> {
        let mut items = Vec::new();
        let mut literal = String::new();
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                // '' is a quote; 'text' is literal text, in which '' is a quote too.
                if chars.get(i + 1) == Some(&'\'') {
                    literal.push('\'');
                    i += 2;
                    continue;
                }
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("a quote is not closed".to_string()),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            literal.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&other) => {
                            literal.push(other);
                            i += 1;
                        }
                    }
                }
                continue;
            }
            if !c.is_ascii_alphabetic() {
                literal.push(c);
                i += 1;
                continue;
            }
            let mut count = 1;
            while chars.get(i + count) == Some(&c) {
                count += 1;
            }
            i += count;
            if !literal.is_empty() {
                items.push(Item::OwnedLiteral(std::mem::take(&mut literal).into()));
            }
            items.push(letter_item(c, count)?);
        }
        if !literal.is_empty() {
            items.push(Item::OwnedLiteral(literal.into()));
        }
        Ok(JavaFormat { items })
    }

    fn format(&self, millis: i64) -> Result<String, String> {
        let at = DateTime::from_timestamp_millis(millis)
            .ok_or_else(|| format!("{millis} ms is outside the supported date range"))?;
        Ok(at.format_with_items(self.items.iter()).to_string())
    }

    fn parse(&self, text: &str) -> Result<i64, String> {
        let fail = |why: &dyn std::fmt::Display| {
            format!("could not parse timestamp `{text}` with the format pattern ({why})")
        };
        let mut parsed = Parsed::new();
        // Java's parse stops where the pattern ends and ignores the rest.
        chrono::format::parse_and_remainder(&mut parsed, text, self.items.iter())
            .map_err(|e| fail(&e))?;
        fill_epoch_defaults(&mut parsed).map_err(|e| fail(&e))?;
        parsed
            .to_datetime()
            .map(|at| at.timestamp_millis())
            .map_err(|e| fail(&e))
    }
}

/// What a pattern leaves out is taken from 1970-01-01T00:00:00.000Z, as in Java.
fn fill_epoch_defaults(parsed: &mut Parsed) -> chrono::format::ParseResult<()> {
    if parsed.year().is_none() && parsed.year_mod_100().is_none() {
        parsed.set_year(1970)?;
    }
    if parsed.ordinal().is_none() {
        if parsed.month().is_none() {
            parsed.set_month(1)?;
        }
        if parsed.day().is_none() {
            parsed.set_day(1)?;
        }
    }
    if parsed.hour_div_12().is_none() {
        parsed.set_ampm(false)?;
    }
    if parsed.hour_mod_12().is_none() {
        parsed.set_hour12(12)?;
    }
    if parsed.minute().is_none() {
        parsed.set_minute(0)?;
    }
    if parsed.second().is_none() {
        parsed.set_second(0)?;
    }
    if parsed.nanosecond().is_none() {
        parsed.set_nanosecond(0)?;
    }
    if parsed.offset().is_none() {
        parsed.set_offset(0)?;
    }
    Ok(())
}

fn letter_item(letter: char, count: usize) -> Result<Item<'static>, String> {
    let numeric =
        |n: Numeric, count: usize| Item::Numeric(n, if count >= 2 { Pad::Zero } else { Pad::None });
    Ok(match letter {
        'y' if count == 2 => Item::Numeric(Numeric::YearMod100, Pad::Zero),
        'y' => numeric(Numeric::Year, count),
        'M' | 'L' => match count {
            1 | 2 => numeric(Numeric::Month, count),
            3 => Item::Fixed(Fixed::ShortMonthName),
            _ => Item::Fixed(Fixed::LongMonthName),
        },
        'd' => numeric(Numeric::Day, count),
        'D' => numeric(Numeric::Ordinal, count),
        'E' if count <= 3 => Item::Fixed(Fixed::ShortWeekdayName),
        'E' => Item::Fixed(Fixed::LongWeekdayName),
        'a' => Item::Fixed(Fixed::UpperAmPm),
        'H' => numeric(Numeric::Hour, count),
        'h' => numeric(Numeric::Hour12, count),
        'm' => numeric(Numeric::Minute, count),
        's' => numeric(Numeric::Second, count),
        // chrono's three-digit fraction without a dot has no public name but `%3f`.
        'S' if count == 3 => StrftimeItems::new("%3f").next().expect("%3f is one item"),
        'S' => {
            return Err(format!(
                "`{}` is not supported: Java reads S as milliseconds, write SSS",
                "S".repeat(count)
            ))
        }
        'Z' => Item::Fixed(Fixed::TimezoneOffset),
        'X' if count <= 2 => Item::Fixed(Fixed::TimezoneOffsetZ),
        'X' => Item::Fixed(Fixed::TimezoneOffsetColonZ),
        'z' => Item::Fixed(Fixed::TimezoneName),
        other => {
            return Err(format!(
                "pattern letter `{other}` is not supported; quote literal text as 'text'"
            ))
        }
    })
}

pub(crate) fn registered() -> Vec<BuiltIn> {
    vec![
        BuiltIn::transformation::<TimestampConverter<side::Key>>(&class_of::<side::Key>(
            "TimestampConverter",
        )),
        BuiltIn::transformation::<TimestampConverter<side::Value>>(&class_of::<side::Value>(
            "TimestampConverter",
        )),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api::data::Payload;
    use ferry_api::ConfigMap;
    use serde_json::json;

    /// 2016-01-01T01:02:03.004Z.
    const MILLIS: i64 = 1_451_610_123_004;
    const DAYS: i64 = 16_801;
    const TIME_OF_DAY: i64 = 3_723_004;
    const KAFKA_FORMAT: &str = "yyyy MM dd HH mm ss SSS z";

    fn configured<S: Side>(pairs: &[(&str, &str)]) -> ferry_api::Result<TimestampConverter<S>> {
        let map: ConfigMap = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config =
            ferry_api::config::parse::<TimestampConverterConfig>(&map).map_err(|issues| {
                ConnectError::config(issues[0].field.clone(), issues[0].message.clone())
            })?;
        TimestampConverter::new(config)
    }

    fn to(target: &str) -> TimestampConverter<side::Value> {
        configured(&[("target.type", target), ("format", KAFKA_FORMAT)]).unwrap()
    }

    fn apply_value(
        t: &mut TimestampConverter<side::Value>,
        data: Structured,
    ) -> ferry_api::Result<Structured> {
        let mut record = ConnectRecord::new("t");
        record.value = Some(Payload::Structured(data));
        match t.apply(record)?.unwrap().value {
            Some(Payload::Structured(s)) => Ok(s),
            other => panic!("{other:?}"),
        }
    }

    fn schemaless(
        t: &mut TimestampConverter<side::Value>,
        value: Value,
    ) -> ferry_api::Result<Value> {
        apply_value(t, Structured::schemaless(value)).map(|s| s.value)
    }

    fn logical_type(name: &str, t: SchemaType) -> Schema {
        Schema {
            name: Some(name.into()),
            version: Some(1),
            ..Schema::of(t)
        }
    }

    #[test]
    fn config_errors_name_the_key() {
        let key = |error: ConnectError| match error {
            ConnectError::Config { field, .. } => field,
            other => panic!("{other}"),
        };
        let error = configured::<side::Value>(&[("target.type", "string")])
            .err()
            .unwrap();
        assert_eq!(key(error), "format");
        let error = configured::<side::Value>(&[("target.type", "unix"), ("format", "yyyy-ww")])
            .err()
            .unwrap();
        assert!(error.to_string().contains("letter `w`"), "{error}");
        assert_eq!(key(error), "format");
        let error = configured::<side::Value>(&[("target.type", "date")])
            .err()
            .unwrap();
        assert_eq!(key(error), "target.type");
        let error =
            configured::<side::Value>(&[("target.type", "unix"), ("unix.precision", "minutes")])
                .err()
                .unwrap();
        assert_eq!(key(error), "unix.precision");
    }

    #[test]
    fn schemaless_whole_values_convert_between_all_types() {
        assert_eq!(
            schemaless(&mut to("Timestamp"), json!(MILLIS)).unwrap(),
            json!(MILLIS)
        );
        assert_eq!(
            schemaless(&mut to("Date"), json!(MILLIS)).unwrap(),
            json!(DAYS)
        );
        assert_eq!(
            schemaless(&mut to("Time"), json!(MILLIS)).unwrap(),
            json!(TIME_OF_DAY)
        );
        assert_eq!(
            schemaless(&mut to("string"), json!(MILLIS)).unwrap(),
            json!("2016 01 01 01 02 03 004 UTC")
        );
        assert_eq!(
            schemaless(&mut to("unix"), json!("2016 01 01 01 02 03 004 UTC")).unwrap(),
            json!(MILLIS)
        );
        assert_eq!(
            schemaless(&mut to("unix"), Value::Null).unwrap(),
            Value::Null
        );

        let error = schemaless(&mut to("unix"), json!(1.5)).unwrap_err();
        assert!(matches!(error, ConnectError::Data(_)));
        assert!(
            error
                .to_string()
                .contains("TimestampConverter$Value: a number is not a timestamp"),
            "{error}"
        );
        let error = schemaless(&mut to("unix"), json!("yesterday")).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("could not parse timestamp `yesterday`"),
            "{error}"
        );
    }

    #[test]
    fn unix_precision_applies_to_input_and_output() {
        let mut seconds = configured::<side::Value>(&[
            ("target.type", "Timestamp"),
            ("unix.precision", "seconds"),
        ])
        .unwrap();
        assert_eq!(
            schemaless(&mut seconds, json!(1_451_610_123)).unwrap(),
            json!(1_451_610_123_000i64)
        );
        let mut micros = configured::<side::Value>(&[
            ("target.type", "unix"),
            ("unix.precision", "microseconds"),
        ])
        .unwrap();
        assert_eq!(
            schemaless(&mut micros, json!(1_451_610_123_004_999i64)).unwrap(),
            json!(MILLIS * 1000)
        );
        let mut nanos = configured::<side::Value>(&[
            ("target.type", "Timestamp"),
            ("unix.precision", "nanoseconds"),
        ])
        .unwrap();
        assert_eq!(
            schemaless(&mut nanos, json!(MILLIS * 1_000_000 + 999)).unwrap(),
            json!(MILLIS)
        );
    }

    #[test]
    fn iso_patterns_with_offsets_parse_and_format_in_utc() {
        let mut t = configured::<side::Value>(&[
            ("target.type", "string"),
            ("format", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"),
        ])
        .unwrap();
        assert_eq!(
            schemaless(&mut t, json!(MILLIS)).unwrap(),
            json!("2016-01-01T01:02:03.004Z")
        );
        let mut t = configured::<side::Value>(&[
            ("target.type", "unix"),
            ("format", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"),
        ])
        .unwrap();
        // The offset is applied, and text after the pattern is ignored as in Java.
        assert_eq!(
            schemaless(&mut t, json!("2016-01-01T03:02:03.004+02:00 trailing")).unwrap(),
            json!(MILLIS)
        );
        // Fields the pattern leaves out come from the epoch.
        let mut t =
            configured::<side::Value>(&[("target.type", "unix"), ("format", "HH:mm")]).unwrap();
        assert_eq!(
            schemaless(&mut t, json!("01:02")).unwrap(),
            json!(3_720_000)
        );
        let mut t =
            configured::<side::Value>(&[("target.type", "Date"), ("format", "yy-MM-dd")]).unwrap();
        assert_eq!(schemaless(&mut t, json!("16-01-01")).unwrap(), json!(DAYS));
        let mut t = configured::<side::Value>(&[
            ("target.type", "string"),
            ("format", "EEE, d MMM yy h:mm a ''Z''"),
        ])
        .unwrap();
        assert_eq!(
            schemaless(&mut t, json!(MILLIS)).unwrap(),
            json!("Fri, 1 Jan 16 1:02 AM '+0000'")
        );
    }

    #[test]
    fn schemaless_fields_convert_and_absent_ones_become_null() {
        let mut t = configured::<side::Value>(&[("target.type", "Date"), ("field", "ts")]).unwrap();
        assert_eq!(
            schemaless(&mut t, json!({"ts": MILLIS, "other": "x"})).unwrap(),
            json!({"ts": DAYS, "other": "x"})
        );
        assert_eq!(
            schemaless(&mut t, json!({"other": "x"})).unwrap(),
            json!({"ts": null, "other": "x"})
        );
        assert_eq!(schemaless(&mut t, Value::Null).unwrap(), Value::Null);
        let error = schemaless(&mut t, json!([MILLIS])).unwrap_err();
        assert!(error.to_string().contains("only a JSON object"), "{error}");
        let error = schemaless(&mut t, json!({"ts": true})).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("field `ts`: a boolean is not a timestamp"),
            "{error}"
        );
    }

    #[test]
    fn whole_values_with_a_schema_get_the_target_schema() {
        let mut t = to("Date");
        let timestamp = logical_type(logical::TIMESTAMP, SchemaType::Int64);
        let out = apply_value(
            &mut t,
            Structured::with_schema(timestamp.clone(), json!(MILLIS)),
        )
        .unwrap();
        assert_eq!(
            out,
            Structured::with_schema(logical_type(logical::DATE, SchemaType::Int32), json!(DAYS))
        );

        // A Date (days) and a Time read by their schema.
        let mut t = to("Timestamp");
        let date = logical_type(logical::DATE, SchemaType::Int32);
        let out = apply_value(&mut t, Structured::with_schema(date, json!(DAYS))).unwrap();
        assert_eq!(out.value, json!(DAYS * MILLIS_PER_DAY));
        let mut t = to("string");
        let time = logical_type(logical::TIME, SchemaType::Int32);
        let out = apply_value(&mut t, Structured::with_schema(time, json!(TIME_OF_DAY))).unwrap();
        assert_eq!(
            out,
            Structured::with_schema(
                Schema::of(SchemaType::String),
                json!("1970 01 01 01 02 03 004 UTC")
            )
        );

        // A null keeps being null, under the converted (optional) schema.
        let mut t = to("unix");
        let out = apply_value(
            &mut t,
            Structured::with_schema(timestamp.optional(), Value::Null),
        )
        .unwrap();
        assert_eq!(
            out,
            Structured::with_schema(Schema::of(SchemaType::Int64).optional(), Value::Null)
        );

        let error = apply_value(
            &mut t,
            Structured::with_schema(Schema::of(SchemaType::Int32), json!(1)),
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("a INT32 schema is not a timestamp type"),
            "{error}"
        );
    }

    #[test]
    fn struct_fields_convert_with_their_schema() {
        let mut t = configured::<side::Value>(&[
            ("target.type", "string"),
            ("format", KAFKA_FORMAT),
            ("field", "ts"),
        ])
        .unwrap();
        let schema = Schema::structure(vec![
            Field::new(
                "ts",
                Schema {
                    default_value: Some(json!(0)),
                    ..logical_type(logical::TIMESTAMP, SchemaType::Int64).optional()
                },
            ),
            Field::new("other", Schema::of(SchemaType::String)),
        ]);
        let out = apply_value(
            &mut t,
            Structured::with_schema(schema.clone(), json!({"ts": MILLIS, "other": "x"})),
        )
        .unwrap();
        assert_eq!(
            out.value,
            json!({"ts": "2016 01 01 01 02 03 004 UTC", "other": "x"})
        );
        let updated = out.schema.unwrap();
        assert_eq!(
            updated.field("ts").unwrap().schema,
            Schema::of(SchemaType::String).optional()
        );
        assert_eq!(
            updated.field("other").unwrap().schema,
            Schema::of(SchemaType::String)
        );

        // A null field takes its default first (replace.null.with.default is true).
        let out = apply_value(
            &mut t,
            Structured::with_schema(schema.clone(), json!({"ts": null, "other": "x"})),
        )
        .unwrap();
        assert_eq!(out.value["ts"], json!("1970 01 01 00 00 00 000 UTC"));

        let mut keep_null = configured::<side::Value>(&[
            ("target.type", "unix"),
            ("field", "ts"),
            ("replace.null.with.default", "false"),
        ])
        .unwrap();
        let out = apply_value(
            &mut keep_null,
            Structured::with_schema(schema.clone(), json!({"ts": null, "other": "x"})),
        )
        .unwrap();
        assert_eq!(out.value["ts"], Value::Null);

        // A null struct keeps being null; its schema is converted.
        let out =
            apply_value(&mut t, Structured::with_schema(schema.clone(), Value::Null)).unwrap();
        assert_eq!(out.value, Value::Null);
        assert_eq!(
            out.schema.unwrap().field("ts").unwrap().schema.schema_type,
            SchemaType::String
        );

        let error = apply_value(
            &mut t,
            Structured::with_schema(schema, json!({"ts": "x", "other": "x"})),
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("field `ts`: expected an integer timestamp"),
            "{error}"
        );
    }

    #[test]
    fn the_key_side_converts_the_key() {
        let mut t = configured::<side::Key>(&[("target.type", "Date")]).unwrap();
        let mut record = ConnectRecord::new("t");
        record.key = Some(Payload::schemaless(json!(MILLIS)));
        record.value = Some(Payload::schemaless(json!(MILLIS)));
        let out = t.apply(record).unwrap().unwrap();
        assert_eq!(out.key, Some(Payload::schemaless(json!(DAYS))));
        assert_eq!(out.value, Some(Payload::schemaless(json!(MILLIS))));
    }
}
