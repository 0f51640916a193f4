//! The header transformations: `DropHeaders`, `HeaderFrom$Key` / `HeaderFrom$Value` and
//! `InsertHeader`.

use std::collections::{BTreeMap, HashSet};
use std::marker::PhantomData;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use ferry_api::data::{logical, Schema, SchemaType, Structured};
use ferry_api::schemars::JsonSchema;
use ferry_api::serde::Deserialize;
use ferry_api::transform::{ConnectHeader, ConnectRecord, Transformation};
use ferry_api::ConnectError;
use serde_json::{Map, Value};

use crate::side::{class_of, Key, Side, Value as ValueSide};
use crate::{field_value, json_type_name, BuiltIn};

/// `DropHeaders`'s keys.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct DropHeadersConfig {
    /// The name of the headers to be removed.
    headers: Vec<String>,
}

/// Kafka Connect's `DropHeaders`: removes every header with one of the names.
pub struct DropHeaders {
    headers: HashSet<String>,
}

impl Transformation for DropHeaders {
    type Config = DropHeadersConfig;

    fn new(config: DropHeadersConfig) -> ferry_api::Result<Self> {
        if config.headers.is_empty() {
            return Err(ConnectError::config(
                "headers",
                "empty list; name at least one header to remove",
            ));
        }
        Ok(DropHeaders {
            headers: config.headers.into_iter().collect(),
        })
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn apply(&mut self, mut record: ConnectRecord) -> ferry_api::Result<Option<ConnectRecord>> {
        record.headers.retain(|h| !self.headers.contains(&h.name));
        Ok(Some(record))
    }
}

/// `InsertHeader`'s keys.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct InsertHeaderConfig {
    /// The name of the header.
    header: String,
    /// The literal value that is to be set as the header value on all records.
    #[serde(rename = "value.literal")]
    value_literal: String,
}

/// Kafka Connect's `InsertHeader`: adds a header with a literal value to every record.
pub struct InsertHeader {
    header: ConnectHeader,
}

impl Transformation for InsertHeader {
    type Config = InsertHeaderConfig;

    fn new(config: InsertHeaderConfig) -> ferry_api::Result<Self> {
        let header = match parse_literal(&config.value_literal) {
            Some(value) => ConnectHeader::structured(config.header, value),
            None => ConnectHeader {
                name: config.header,
                value: None,
            },
        };
        Ok(InsertHeader { header })
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn apply(&mut self, mut record: ConnectRecord) -> ferry_api::Result<Option<ConnectRecord>> {
        record.headers.push(self.header.clone());
        Ok(Some(record))
    }
}

/// A literal typed as Kafka's `Values.parseString` types it (what SimpleHeaderConverter reads):
/// `null`, booleans, the narrowest integer type, FLOAT32 (FLOAT64 when out of its range) for
/// numbers with a fraction or exponent, Decimal for integers beyond INT64, ISO-8601 dates,
/// times and timestamps, and otherwise the text as a string. `None` is a null.
fn parse_literal(text: &str) -> Option<Structured> {
    let string = || Structured::with_schema(Schema::of(SchemaType::String), text.into());
    let token = text.trim();
    match token {
        "" => return Some(string()),
        "null" => return None,
        "true" | "false" => {
            return Some(Structured::with_schema(
                Schema::of(SchemaType::Boolean),
                Value::Bool(token == "true"),
            ))
        }
        _ => {}
    }
    let first = token.chars().next().expect("not empty");
    if first.is_ascii_digit() {
        if let Some(temporal) = parse_temporal(token) {
            return Some(temporal);
        }
    }
    if first.is_ascii_digit() || first == '+' || first == '-' {
        if let Some(number) = parse_number(token) {
            return Some(number);
        }
    }
    Some(string())
}

fn logical_schema(schema_type: SchemaType, name: &str) -> Schema {
    Schema {
        name: Some(name.to_string()),
        version: Some(1),
        ..Schema::of(schema_type)
    }
}

/// Kafka's ISO-8601 forms, told apart by length: `yyyy-MM-dd`, `HH:mm:ss.SSSZ`,
/// `yyyy-MM-ddTHH:mm:ss.SSSZ`, all UTC.
fn parse_temporal(token: &str) -> Option<Structured> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");
    match token.len() {
        10 => {
            let date = NaiveDate::parse_from_str(token, "%Y-%m-%d").ok()?;
            let days = (date - epoch).num_days();
            Some(Structured::with_schema(
                logical_schema(SchemaType::Int32, logical::DATE),
                days.into(),
            ))
        }
        13 => {
            let time = NaiveTime::parse_from_str(token, "%H:%M:%S%.3fZ").ok()?;
            let ms = (time - NaiveTime::MIN).num_milliseconds();
            Some(Structured::with_schema(
                logical_schema(SchemaType::Int32, logical::TIME),
                ms.into(),
            ))
        }
        24 => {
            let time = NaiveDateTime::parse_from_str(token, "%Y-%m-%dT%H:%M:%S%.3fZ").ok()?;
            Some(Structured::with_schema(
                logical_schema(SchemaType::Int64, logical::TIMESTAMP),
                time.and_utc().timestamp_millis().into(),
            ))
        }
        _ => None,
    }
}

/// A number in Java's BigDecimal syntax, typed as `Values.parseString` types it.
fn parse_number(token: &str) -> Option<Structured> {
    let (negative, unscaled, scale) = big_decimal(token)?;
    if let Some(integral) = integral_value(negative, &unscaled, scale) {
        let (schema_type, value) = if i8::try_from(integral).is_ok() {
            (SchemaType::Int8, integral)
        } else if i16::try_from(integral).is_ok() {
            (SchemaType::Int16, integral)
        } else if i32::try_from(integral).is_ok() {
            (SchemaType::Int32, integral)
        } else {
            (SchemaType::Int64, integral)
        };
        return Some(Structured::with_schema(
            Schema::of(schema_type),
            value.into(),
        ));
    }
    if scale != 0 {
        // The shortest text that reads back as the same float, as Java's Float.toString.
        if let Some(f) = token.parse::<f32>().ok().filter(|f| f.is_finite()) {
            let value: f64 = f.to_string().parse().ok()?;
            return Some(Structured::with_schema(
                Schema::of(SchemaType::Float),
                serde_json::Number::from_f64(value)?.into(),
            ));
        }
        if let Some(d) = token.parse::<f64>().ok().filter(|d| d.is_finite()) {
            return Some(Structured::with_schema(
                Schema::of(SchemaType::Double),
                serde_json::Number::from_f64(d)?.into(),
            ));
        }
    }
    // An integer beyond INT64 (or a number beyond FLOAT64): Decimal, when i128 holds it.
    let mut unscaled: i128 = unscaled.parse().ok()?;
    if negative {
        unscaled = -unscaled;
    }
    let bytes = unscaled.to_be_bytes();
    // The shortest two's complement, as Java's BigInteger.toByteArray.
    let skip = (0..15)
        .take_while(|&i| {
            (bytes[i] == 0 && bytes[i + 1] & 0x80 == 0)
                || (bytes[i] == 0xff && bytes[i + 1] & 0x80 != 0)
        })
        .count();
    Some(Structured::with_schema(
        Schema {
            parameters: Some(BTreeMap::from([("scale".to_string(), scale.to_string())])),
            ..logical_schema(SchemaType::Bytes, logical::DECIMAL)
        },
        BASE64.encode(&bytes[skip..]).into(),
    ))
}

/// Sign, unscaled digits and scale of a BigDecimal literal: `[+-]digits[.digits][e[+-]digits]`.
fn big_decimal(token: &str) -> Option<(bool, String, i64)> {
    let (negative, rest) = match token.as_bytes().first()? {
        b'-' => (true, &token[1..]),
        b'+' => (false, &token[1..]),
        _ => (false, token),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) => (&rest[..at], rest[at + 1..].parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let scale = i64::try_from(fraction.len()).ok()? - exponent;
    Some((negative, digits, scale))
}

/// The value when the number is a whole number that fits INT64.
fn integral_value(negative: bool, digits: &str, scale: i64) -> Option<i64> {
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Some(0);
    }
    let whole = if scale > 0 {
        let cut = digits.len().checked_sub(usize::try_from(scale).ok()?)?;
        let (whole, fraction) = digits.split_at(cut);
        if !fraction.bytes().all(|b| b == b'0') {
            return None;
        }
        whole.to_string()
    } else {
        let zeros = usize::try_from(-scale).ok().filter(|&z| z <= 19)?;
        format!("{digits}{}", "0".repeat(zeros))
    };
    let magnitude: i128 = whole.parse().ok()?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// `HeaderFrom`'s `operation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", rename_all = "lowercase")]
#[schemars(crate = "ferry_api::schemars")]
pub enum Operation {
    /// The fields are moved to the headers (removed from the key/value).
    Move,
    /// The fields are copied to the headers (retained in the key/value).
    Copy,
}

/// `HeaderFrom`'s keys.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct HeaderFromConfig {
    /// Field names in the record whose values are to be copied or moved to headers.
    fields: Vec<String>,
    /// Header names, in the same order as the field names listed in the fields configuration
    /// property.
    headers: Vec<String>,
    /// Either `move` if the fields are to be moved to the headers (removed from the key/value),
    /// or `copy` if the fields are to be copied to the headers (retained in the key/value).
    operation: Operation,
    /// Whether to replace fields that have a default value and that are null to the default
    /// value. When set to true, the default value is used, otherwise null is used.
    #[serde(rename = "replace.null.with.default", default = "yes")]
    replace_null_with_default: bool,
}

fn yes() -> bool {
    true
}

/// Kafka Connect's `HeaderFrom`, from the key or the value.
pub struct HeaderFrom<S: Side> {
    fields: Vec<String>,
    headers: Vec<String>,
    operation: Operation,
    replace_null_with_default: bool,
    class: String,
    side: PhantomData<S>,
}

impl<S: Side> Transformation for HeaderFrom<S> {
    type Config = HeaderFromConfig;

    fn new(config: HeaderFromConfig) -> ferry_api::Result<Self> {
        for (key, list) in [("fields", &config.fields), ("headers", &config.headers)] {
            if list.is_empty() {
                return Err(ConnectError::config(key, "empty list; name at least one"));
            }
        }
        if config.fields.len() != config.headers.len() {
            return Err(ConnectError::config(
                "headers",
                format!(
                    "'fields' config must have the same number of elements as 'headers' config ({} fields, {} headers)",
                    config.fields.len(),
                    config.headers.len()
                ),
            ));
        }
        Ok(HeaderFrom {
            fields: config.fields,
            headers: config.headers,
            operation: config.operation,
            replace_null_with_default: config.replace_null_with_default,
            class: class_of::<S>("HeaderFrom"),
            side: PhantomData,
        })
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn apply(&mut self, mut record: ConnectRecord) -> ferry_api::Result<Option<ConnectRecord>> {
        let payload = S::of(&mut record);
        // Kafka refuses nulls here too ("Only Map objects supported ..., found: null").
        let data = match payload.as_mut() {
            None => return Err(self.not_an_object("null", false)),
            Some(data) => data
                .structured()
                .map_err(|why| ConnectError::data(format!("{}: {why}", self.class)))?,
        };
        let new_headers = match &mut data.schema {
            None => self.schemaless(&mut data.value)?,
            Some(schema) => self.with_schema(schema, &mut data.value)?,
        };
        record.headers.extend(new_headers);
        Ok(Some(record))
    }
}

impl<S: Side> HeaderFrom<S> {
    fn not_an_object(&self, found: &str, with_schema: bool) -> ConnectError {
        let how = if with_schema {
            "with a schema, only structs are supported"
        } else {
            "in absence of schema, only objects are supported"
        };
        ConnectError::data(format!(
            "{}: {how} for [header {}], found {found}",
            self.class,
            match self.operation {
                Operation::Move => "move",
                Operation::Copy => "copy",
            }
        ))
    }

    fn schemaless(&self, value: &mut Value) -> ferry_api::Result<Vec<ConnectHeader>> {
        let found = json_type_name(value);
        let object = value
            .as_object_mut()
            .ok_or_else(|| self.not_an_object(found, false))?;
        let mut headers = Vec::with_capacity(self.fields.len());
        for (field, header) in self.fields.iter().zip(&self.headers) {
            let field_value = object.get(field).cloned().unwrap_or(Value::Null);
            headers.push(match field_value {
                Value::Null => ConnectHeader {
                    name: header.clone(),
                    value: None,
                },
                other => ConnectHeader::structured(header, Structured::schemaless(other)),
            });
        }
        if self.operation == Operation::Move {
            for field in &self.fields {
                object.remove(field);
            }
        }
        Ok(headers)
    }

    fn with_schema(
        &self,
        schema: &mut Schema,
        value: &mut Value,
    ) -> ferry_api::Result<Vec<ConnectHeader>> {
        if schema.schema_type != SchemaType::Struct {
            return Err(self.not_an_object(
                &format!(
                    "a value with a schema of type {}",
                    schema.schema_type.connect_name()
                ),
                true,
            ));
        }
        let found = json_type_name(value);
        let object = value
            .as_object_mut()
            .ok_or_else(|| self.not_an_object(found, true))?;
        let mut headers = Vec::with_capacity(self.fields.len());
        for (name, header) in self.fields.iter().zip(&self.headers) {
            let field = schema.field(name).ok_or_else(|| {
                ConnectError::data(format!(
                    "{}: field `{name}` is not in the schema, so header `{header}` cannot be set from it",
                    self.class
                ))
            })?;
            let field_value = field_value(object, field, self.replace_null_with_default);
            headers.push(ConnectHeader::structured(
                header,
                Structured::with_schema(field.schema.clone(), field_value),
            ));
        }
        if self.operation == Operation::Move {
            let kept = std::mem::take(&mut schema.fields)
                .into_iter()
                .filter(|f| !self.fields.contains(&f.field))
                .collect();
            *schema = schema.struct_like(kept);
            let mut moved = Map::new();
            for field in &schema.fields {
                moved.insert(
                    field.field.clone(),
                    field_value(object, field, self.replace_null_with_default),
                );
            }
            *object = moved;
        }
        Ok(headers)
    }
}

pub(crate) fn registered() -> Vec<BuiltIn> {
    vec![
        BuiltIn::transformation::<DropHeaders>("DropHeaders"),
        BuiltIn::transformation::<HeaderFrom<Key>>(&class_of::<Key>("HeaderFrom")),
        BuiltIn::transformation::<HeaderFrom<ValueSide>>(&class_of::<ValueSide>("HeaderFrom")),
        BuiltIn::transformation::<InsertHeader>("InsertHeader"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api::data::Field;
    use ferry_api::data::Payload;
    use serde_json::json;

    use crate::test_built_in as build;

    fn bytes_header(name: &str, value: &str) -> ConnectHeader {
        ConnectHeader {
            name: name.into(),
            value: Some(Payload::Bytes(value.as_bytes().to_vec())),
        }
    }

    fn names(record: &ConnectRecord) -> Vec<&str> {
        record.headers.iter().map(|h| h.name.as_str()).collect()
    }

    #[test]
    fn drop_headers_removes_every_header_with_the_names() {
        let mut t = build("DropHeaders", &[("headers", "a, c")]).unwrap();
        let mut record = ConnectRecord::new("t");
        record.headers = vec![
            bytes_header("a", "1"),
            bytes_header("b", "2"),
            bytes_header("a", "3"),
            bytes_header("c", "4"),
        ];
        let out = t.apply(record).unwrap().unwrap();
        assert_eq!(out.headers, vec![bytes_header("b", "2")]);
        // Nothing to drop is fine.
        let out = t.apply(ConnectRecord::new("t")).unwrap().unwrap();
        assert!(out.headers.is_empty());
    }

    #[test]
    fn drop_headers_needs_names() {
        assert_eq!(build("DropHeaders", &[]).err().unwrap()[0].field, "headers");
        assert_eq!(
            build("DropHeaders", &[("headers", "")]).err().unwrap()[0].field,
            "headers"
        );
    }

    fn header_value(record: &ConnectRecord, index: usize) -> Option<Structured> {
        match &record.headers[index].value {
            Some(Payload::Structured(s)) => Some(s.clone()),
            None => None,
            other => panic!("not structured: {other:?}"),
        }
    }

    #[test]
    fn insert_header_appends_even_when_the_name_exists() {
        let mut t = build("InsertHeader", &[("header", "h"), ("value.literal", "x")]).unwrap();
        let mut record = ConnectRecord::new("t");
        record.headers = vec![bytes_header("h", "old")];
        let out = t.apply(record).unwrap().unwrap();
        assert_eq!(names(&out), ["h", "h"]);
        assert_eq!(
            header_value(&out, 1),
            Some(Structured::with_schema(
                Schema::of(SchemaType::String),
                json!("x")
            ))
        );
    }

    fn literal(text: &str) -> Option<(SchemaType, Option<String>, Value)> {
        parse_literal(text).map(|s| {
            let schema = s.schema.unwrap();
            (schema.schema_type, schema.name, s.value)
        })
    }

    #[test]
    fn literals_are_typed_as_values_parse_string_types_them() {
        use SchemaType::*;
        assert_eq!(literal("true"), Some((Boolean, None, json!(true))));
        assert_eq!(literal(" false "), Some((Boolean, None, json!(false))));
        assert_eq!(literal("null"), None);
        assert_eq!(literal("42"), Some((Int8, None, json!(42))));
        assert_eq!(literal("-129"), Some((Int16, None, json!(-129))));
        assert_eq!(literal("+40000"), Some((Int32, None, json!(40000))));
        assert_eq!(
            literal("5000000000"),
            Some((Int64, None, json!(5_000_000_000_i64)))
        );
        // A whole number with a fraction or exponent is still an integer, as with BigDecimal.
        assert_eq!(literal("1.0"), Some((Int8, None, json!(1))));
        assert_eq!(literal("1e3"), Some((Int16, None, json!(1000))));
        assert_eq!(literal("1.1"), Some((Float, None, json!(1.1))));
        assert_eq!(literal("2.5e-1"), Some((Float, None, json!(0.25))));
        assert_eq!(literal("1e39"), Some((Double, None, json!(1e39))));
        assert_eq!(literal("1e30"), Some((Float, None, json!(1e30))));
        assert_eq!(literal(""), Some((String, None, json!(""))));
        assert_eq!(
            literal("hello world"),
            Some((String, None, json!("hello world")))
        );
        assert_eq!(literal("12ab"), Some((String, None, json!("12ab"))));
        assert_eq!(literal("true}"), Some((String, None, json!("true}"))));
        let date = Some(logical::DATE.to_string());
        assert_eq!(literal("2017-01-02"), Some((Int32, date, json!(17168))));
        let time = Some(logical::TIME.to_string());
        assert_eq!(literal("00:00:01.500Z"), Some((Int32, time, json!(1500))));
        let timestamp = Some(logical::TIMESTAMP.to_string());
        assert_eq!(
            literal("2017-01-01T00:00:00.001Z"),
            Some((Int64, timestamp, json!(1_483_228_800_001_i64)))
        );
        assert_eq!(
            literal("2017-13-45"),
            Some((String, None, json!("2017-13-45")))
        );
    }

    #[test]
    fn integers_beyond_int64_are_decimals() {
        let parsed = parse_literal("9223372036854775808").unwrap();
        let schema = parsed.schema.unwrap();
        assert_eq!(schema.name.as_deref(), Some(logical::DECIMAL));
        assert_eq!(schema.parameters.unwrap()["scale"], "0");
        // 2^63 as BigInteger.toByteArray: a zero sign byte, then 0x80 and seven zeros.
        assert_eq!(
            BASE64.decode(parsed.value.as_str().unwrap()).unwrap(),
            [0, 0x80, 0, 0, 0, 0, 0, 0, 0]
        );
        let negative = parse_literal("-9223372036854775809").unwrap();
        assert_eq!(
            BASE64.decode(negative.value.as_str().unwrap()).unwrap(),
            [0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn insert_header_needs_both_keys() {
        let issues = build("InsertHeader", &[("header", "h")]).err().unwrap();
        assert_eq!(issues[0].field, "value.literal");
        let issues = build("InsertHeader", &[("value.literal", "1")])
            .err()
            .unwrap();
        assert_eq!(issues[0].field, "header");
    }

    fn value_record(value: Payload) -> ConnectRecord {
        let mut record = ConnectRecord::new("t");
        record.value = Some(value);
        record.headers = vec![bytes_header("old", "x")];
        record
    }

    #[test]
    fn header_from_schemaless_copy_and_move() {
        let value = json!({"a": 1, "b": "two", "c": true});
        let mut copy = build(
            "HeaderFrom$Value",
            &[
                ("fields", "a,b,missing"),
                ("headers", "ha,hb,hm"),
                ("operation", "copy"),
            ],
        )
        .unwrap();
        let out = copy
            .apply(value_record(Payload::schemaless(value.clone())))
            .unwrap()
            .unwrap();
        assert_eq!(out.value, Some(Payload::schemaless(value.clone())));
        assert_eq!(names(&out), ["old", "ha", "hb", "hm"]);
        assert_eq!(
            header_value(&out, 1),
            Some(Structured::schemaless(json!(1)))
        );
        assert_eq!(
            header_value(&out, 2),
            Some(Structured::schemaless(json!("two")))
        );
        assert_eq!(header_value(&out, 3), None);

        let mut moved = build(
            "HeaderFrom$Value",
            &[
                ("fields", "a,b"),
                ("headers", "ha,hb"),
                ("operation", "move"),
            ],
        )
        .unwrap();
        let out = moved
            .apply(value_record(Payload::schemaless(value)))
            .unwrap()
            .unwrap();
        assert_eq!(out.value, Some(Payload::schemaless(json!({"c": true}))));
        assert_eq!(names(&out), ["old", "ha", "hb"]);
    }

    fn car_schema() -> Schema {
        Schema {
            name: Some("car".into()),
            ..Schema::structure(vec![
                Field::new("id", Schema::of(SchemaType::String)),
                Field::new(
                    "speed",
                    Schema {
                        default_value: Some(json!(0)),
                        ..Schema::of(SchemaType::Int32).optional()
                    },
                ),
                Field::new("tag", Schema::of(SchemaType::String).optional()),
            ])
        }
    }

    #[test]
    fn header_from_with_schema_moves_fields_out_of_the_schema() {
        let speed = car_schema().field("speed").unwrap().schema.clone();
        let input =
            Structured::with_schema(car_schema(), json!({"id": "c1", "speed": null, "tag": "x"}));
        let mut moved = build(
            "HeaderFrom$Key",
            &[
                ("fields", "speed,id"),
                ("headers", "s,i"),
                ("operation", "move"),
            ],
        )
        .unwrap();
        let mut record = ConnectRecord::new("t");
        record.key = Some(Payload::Structured(input.clone()));
        let out = moved.apply(record).unwrap().unwrap();
        let expected_schema = Schema {
            name: Some("car".into()),
            ..Schema::structure(vec![Field::new(
                "tag",
                Schema::of(SchemaType::String).optional(),
            )])
        };
        assert_eq!(
            out.key,
            Some(Payload::Structured(Structured::with_schema(
                expected_schema,
                json!({"tag": "x"})
            )))
        );
        assert_eq!(
            header_value(&out, 0),
            Some(Structured::with_schema(speed.clone(), json!(0)))
        );
        assert_eq!(
            header_value(&out, 1),
            Some(Structured::with_schema(
                Schema::of(SchemaType::String),
                json!("c1")
            ))
        );

        // Copy leaves the value as it was; without defaults the header is null.
        let mut copy = build(
            "HeaderFrom$Value",
            &[
                ("fields", "speed"),
                ("headers", "s"),
                ("operation", "copy"),
                ("replace.null.with.default", "false"),
            ],
        )
        .unwrap();
        let out = copy
            .apply(value_record(Payload::Structured(input.clone())))
            .unwrap()
            .unwrap();
        assert_eq!(out.value, Some(Payload::Structured(input)));
        assert_eq!(
            header_value(&out, 1),
            Some(Structured::with_schema(speed, Value::Null))
        );
    }

    #[test]
    fn header_from_data_errors() {
        let mut t = build(
            "HeaderFrom$Value",
            &[("fields", "nope"), ("headers", "h"), ("operation", "copy")],
        )
        .unwrap();
        let input = Structured::with_schema(car_schema(), json!({"id": "c"}));
        let error = t
            .apply(value_record(Payload::Structured(input)))
            .unwrap_err();
        assert!(matches!(error, ConnectError::Data(_)), "{error}");
        assert!(error.to_string().contains("`nope`"), "{error}");

        let error = t
            .apply(value_record(Payload::schemaless(json!([1]))))
            .unwrap_err();
        assert_eq!(
            error,
            ConnectError::data(
                "HeaderFrom$Value: in absence of schema, only objects are supported for [header copy], found an array"
            )
        );
        // A tombstone is refused, as in Kafka.
        let error = t.apply(ConnectRecord::new("t")).unwrap_err();
        assert!(error.to_string().contains("found null"), "{error}");
    }

    #[test]
    fn header_from_config_errors_name_the_key() {
        let issues = build(
            "HeaderFrom$Value",
            &[("fields", "a,b"), ("headers", "h"), ("operation", "copy")],
        )
        .err()
        .unwrap();
        assert_eq!(issues[0].field, "headers");
        assert!(issues[0].message.contains("same number"), "{}", issues[0]);
        let issues = build(
            "HeaderFrom$Value",
            &[("fields", "a"), ("headers", "h"), ("operation", "rename")],
        )
        .err()
        .unwrap();
        assert_eq!(issues[0].field, "operation");
        let issues = build("HeaderFrom$Key", &[("fields", "a"), ("headers", "h")])
            .err()
            .unwrap();
        assert_eq!(issues[0].field, "operation");
    }
}
