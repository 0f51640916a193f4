//! `Cast`: casts the whole key/value, or top-level fields of it, to another primitive type.
//!
//! Java semantics are kept where JSON can carry them: numbers narrow as Java's casts do (integers
//! wrap to the low bits, floats saturate then wrap: `300` to int8 is `44`, `1e10` to int32 is
//! `2147483647`), strings parse as `Byte.parseByte` & co. do (`"42"`, not `" 42"` or `"4.2"`),
//! `"true"` (any case) is true and every other string false, numbers are true unless their
//! integer part is zero (`0.5` is false), and floats print as Java's `Double.toString`
//! (`1.0E10`). A cast that yields NaN or an infinity is a data error, as JSON has neither.

use std::collections::HashMap;
use std::marker::PhantomData;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::DateTime;
use ferry_api::data::{logical, Field, Schema, SchemaType, Structured};
use ferry_api::schemars::JsonSchema;
use ferry_api::serde::Deserialize;
use ferry_api::transform::{ConnectRecord, Transformation};
use ferry_api::ConnectError;
use serde_json::{Map, Number, Value};

use crate::side::{self, class_of, Side};
use crate::{json_type_name, structured, BuiltIn};

/// `Cast`'s keys.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct CastConfig {
    /// Fields and the types to cast them to, as `field1:type,field2:type` (top-level fields of
    /// an object or struct), or a single type to cast the whole key/value. Types: int8, int16,
    /// int32, int64, float32, float64, boolean, string; bytes can only be cast to string
    /// (base64).
    spec: Vec<String>,
    /// Whether a null field that has a default value in its schema takes the default (true) or
    /// stays null (false).
    #[serde(rename = "replace.null.with.default", default = "default_true")]
    replace_null_with_default: bool,
}

fn default_true() -> bool {
    true
}

/// What to cast: the whole key/value, or some of its fields.
enum Casts {
    Whole(SchemaType),
    Fields(Vec<(String, SchemaType)>),
}

/// Kafka Connect's `Cast$Key` / `Cast$Value`.
pub struct Cast<S> {
    casts: Casts,
    replace_null_with_default: bool,
    side: PhantomData<S>,
}

impl<S: Side> Transformation for Cast<S> {
    type Config = CastConfig;

    fn new(config: CastConfig) -> ferry_api::Result<Self> {
        Ok(Cast {
            casts: parse_spec(&config.spec).map_err(|why| ConnectError::config("spec", why))?,
            replace_null_with_default: config.replace_null_with_default,
            side: PhantomData,
        })
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn apply(&mut self, mut record: ConnectRecord) -> ferry_api::Result<Option<ConnectRecord>> {
        let class = class_of::<S>("Cast");
        if let Some(data) = structured(S::of(&mut record), &class)? {
            self.cast(data)
                .map_err(|why| ConnectError::data(format!("{class}: {why}")))?;
        }
        Ok(Some(record))
    }
}

impl<S> Cast<S> {
    fn cast(&self, data: &mut Structured) -> Result<(), String> {
        match (&self.casts, data.schema.as_mut()) {
            (Casts::Whole(target), None) => {
                data.value = cast_value(None, &data.value, *target)?;
            }
            (Casts::Whole(target), Some(schema)) => {
                let updated = whole_schema(schema, *target)?;
                data.value = cast_value(Some(schema), &data.value, *target)?;
                *schema = updated;
            }
            (Casts::Fields(fields), None) => {
                let Value::Object(object) = &mut data.value else {
                    return Err(format!(
                        "only JSON objects can have fields cast in absence of a schema, found {}",
                        json_type_name(&data.value)
                    ));
                };
                for (name, target) in fields {
                    // Kafka puts the cast of an absent field too: it becomes a null field.
                    let cast = match object.get(name) {
                        Some(value) => cast_value(None, value, *target)
                            .map_err(|why| format!("field `{name}`: {why}"))?,
                        None => Value::Null,
                    };
                    object.insert(name.clone(), cast);
                }
            }
            (Casts::Fields(fields), Some(schema)) => {
                if schema.schema_type != SchemaType::Struct {
                    return Err(format!(
                        "field casts need a struct, but the schema is {}",
                        schema.schema_type.connect_name()
                    ));
                }
                let targets: HashMap<&str, SchemaType> =
                    fields.iter().map(|(n, t)| (n.as_str(), *t)).collect();
                let updated = self.struct_schema(schema, &targets)?;
                data.value = self.cast_struct(schema, &data.value, &targets)?;
                *schema = updated;
            }
        }
        Ok(())
    }

    /// The struct's schema with the cast fields' types changed (and their defaults cast).
    fn struct_schema(
        &self,
        schema: &Schema,
        targets: &HashMap<&str, SchemaType>,
    ) -> Result<Schema, String> {
        let mut fields = Vec::with_capacity(schema.fields.len());
        for field in &schema.fields {
            let Some(&target) = targets.get(field.field.as_str()) else {
                fields.push(field.clone());
                continue;
            };
            let mut cast = Schema::of(target);
            cast.optional = field.schema.optional;
            if let Some(default) = &field.schema.default_value {
                cast.default_value = Some(
                    cast_value(Some(&field.schema), default, target)
                        .map_err(|why| format!("default of field `{}`: {why}", field.field))?,
                );
            }
            fields.push(Field::new(field.field.clone(), cast));
        }
        let default_value = match &schema.default_value {
            // Kafka would try to cast the default struct as a whole and fail; casting its
            // fields like a value's is what the new schema needs.
            Some(default) => Some(self.cast_struct(schema, default, targets)?),
            None => None,
        };
        Ok(Schema {
            fields,
            default_value,
            ..schema.clone()
        })
    }

    /// A struct value cast field by field; it has exactly the schema's fields afterwards.
    fn cast_struct(
        &self,
        schema: &Schema,
        value: &Value,
        targets: &HashMap<&str, SchemaType>,
    ) -> Result<Value, String> {
        let Value::Object(object) = value else {
            return Err(format!(
                "the schema is a struct but the value is {}",
                json_type_name(value)
            ));
        };
        let mut cast = Map::new();
        for field in &schema.fields {
            let mut value = object.get(&field.field).cloned().unwrap_or(Value::Null);
            if value.is_null() && self.replace_null_with_default {
                if let Some(default) = &field.schema.default_value {
                    value = default.clone();
                }
            }
            if let Some(&target) = targets.get(field.field.as_str()) {
                value = cast_value(Some(&field.schema), &value, target)
                    .map_err(|why| format!("field `{}`: {why}", field.field))?;
            }
            cast.insert(field.field.clone(), value);
        }
        Ok(Value::Object(cast))
    }
}

/// The schema of a whole value cast to `target`: Kafka keeps name, version, doc and parameters.
fn whole_schema(schema: &Schema, target: SchemaType) -> Result<Schema, String> {
    let mut updated = Schema {
        optional: schema.optional,
        name: schema.name.clone(),
        version: schema.version,
        doc: schema.doc.clone(),
        parameters: schema.parameters.clone(),
        ..Schema::of(target)
    };
    // A logical type's name on a type it is not made of (a Timestamp's name on a string) would
    // make a converter misread the value; Kafka keeps it, Ferry drops it with its parameters.
    let base = match schema.name.as_deref() {
        Some(logical::TIMESTAMP) => Some(SchemaType::Int64),
        Some(logical::DATE | logical::TIME) => Some(SchemaType::Int32),
        Some(logical::DECIMAL) => Some(SchemaType::Bytes),
        _ => None,
    };
    if base.is_some_and(|base| base != target) {
        updated.name = None;
        updated.parameters = None;
    }
    if let Some(default) = &schema.default_value {
        updated.default_value = Some(
            cast_value(Some(schema), default, target).map_err(|why| format!("default: {why}"))?,
        );
    }
    Ok(updated)
}

fn parse_spec(spec: &[String]) -> Result<Casts, String> {
    if spec.is_empty() {
        return Err(
            "must name at least one cast: `field:type` pairs, or one type for the whole value"
                .to_string(),
        );
    }
    let mut fields = Vec::new();
    for mapping in spec {
        match mapping.split(':').collect::<Vec<_>>()[..] {
            [whole] => {
                if spec.len() > 1 {
                    return Err(format!(
                        "`{whole}` casts the whole value, which must be the only cast in the spec; use `field:type` pairs to cast fields"
                    ));
                }
                return Ok(Casts::Whole(target_type(whole.trim())?));
            }
            [field, target] => {
                let field = field.trim().to_string();
                let target = target_type(target.trim())?;
                // Like Kafka's map, a later cast of the same field wins.
                fields.retain(|(name, _)| name != &field);
                fields.push((field, target));
            }
            _ => {
                return Err(format!(
                    "invalid cast `{mapping}`: write `field:type`, or a single type"
                ))
            }
        }
    }
    Ok(Casts::Fields(fields))
}

fn target_type(name: &str) -> Result<SchemaType, String> {
    const SUPPORTED: &str = "int8, int16, int32, int64, float32, float64, boolean, string";
    let target = match name.to_ascii_lowercase().as_str() {
        "int8" => SchemaType::Int8,
        "int16" => SchemaType::Int16,
        "int32" => SchemaType::Int32,
        "int64" => SchemaType::Int64,
        "float32" => SchemaType::Float,
        "float64" => SchemaType::Double,
        "boolean" => SchemaType::Boolean,
        "string" => SchemaType::String,
        "bytes" | "array" | "map" | "struct" => {
            return Err(format!(
                "cannot cast to {name}; supported types are {SUPPORTED}"
            ))
        }
        _ => return Err(format!("unknown type `{name}`; use one of {SUPPORTED}")),
    };
    Ok(target)
}

/// A value as the Java object Kafka's Cast would see.
enum Source {
    Int(i64),
    Float(f32),
    Double(f64),
    Bool(bool),
    Text(String),
    /// Base64 text, as JsonConverter carries bytes.
    Bytes(String),
    Decimal {
        unscaled: i128,
        scale: i32,
    },
    /// A Date, Time or Timestamp as milliseconds since the epoch (only when cast to string).
    Date(i64),
}

fn cast_value(schema: Option<&Schema>, value: &Value, target: SchemaType) -> Result<Value, String> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let source = match schema {
        None => schemaless_source(value)?,
        Some(schema) => schema_source(schema, value, target)?,
    };
    cast_source(source, target)
}

fn unsupported_input(type_name: &str) -> String {
    format!("cannot cast from {type_name}; supported types are INT8, INT16, INT32, INT64, FLOAT32, FLOAT64, BOOLEAN, STRING, BYTES")
}

fn schemaless_source(value: &Value) -> Result<Source, String> {
    Ok(match value {
        Value::Bool(b) => Source::Bool(*b),
        // JsonConverter reads schemaless integers as Long and other numbers as Double.
        Value::Number(n) => match n.as_i64() {
            Some(i) => Source::Int(i),
            None => Source::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Source::Text(s.clone()),
        Value::Array(_) => return Err(unsupported_input("ARRAY")),
        Value::Object(_) => return Err(unsupported_input("MAP")),
        Value::Null => unreachable!("nulls are not cast"),
    })
}

fn schema_source(schema: &Schema, value: &Value, target: SchemaType) -> Result<Source, String> {
    let mismatch = || {
        format!(
            "{} does not match its schema type {}",
            json_type_name(value),
            schema.schema_type.connect_name()
        )
    };
    Ok(match schema.schema_type {
        SchemaType::Int8 | SchemaType::Int16 | SchemaType::Int32 | SchemaType::Int64 => {
            let n = value.as_i64().ok_or_else(mismatch)?;
            // Logical dates cast to their integer as is, and to string as Java formats a Date.
            match schema.name.as_deref() {
                Some(logical::DATE) if target == SchemaType::String => {
                    Source::Date(n.saturating_mul(MILLIS_PER_DAY))
                }
                Some(logical::TIME | logical::TIMESTAMP) if target == SchemaType::String => {
                    Source::Date(n)
                }
                _ => Source::Int(n),
            }
        }
        SchemaType::Float => Source::Float(value.as_f64().ok_or_else(mismatch)? as f32),
        SchemaType::Double => Source::Double(value.as_f64().ok_or_else(mismatch)?),
        SchemaType::Boolean => Source::Bool(value.as_bool().ok_or_else(mismatch)?),
        SchemaType::String => Source::Text(value.as_str().ok_or_else(mismatch)?.to_string()),
        SchemaType::Bytes => {
            let text = value.as_str().ok_or_else(mismatch)?;
            if schema.is_logical(logical::DECIMAL) {
                decimal(schema, text)?
            } else {
                Source::Bytes(text.to_string())
            }
        }
        other => return Err(unsupported_input(other.connect_name())),
    })
}

const MILLIS_PER_DAY: i64 = 86_400_000;

/// A Decimal's unscaled big-endian two's complement bytes (base64) and its `scale` parameter.
fn decimal(schema: &Schema, base64: &str) -> Result<Source, String> {
    let bytes = BASE64
        .decode(base64)
        .map_err(|e| format!("Decimal value is not base64 ({e})"))?;
    if bytes.len() > 16 {
        return Err("Decimal values wider than 128 bits are not supported".to_string());
    }
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut unscaled: i128 = if negative { -1 } else { 0 };
    for byte in bytes {
        unscaled = (unscaled << 8) | i128::from(byte);
    }
    let scale = schema
        .parameters
        .as_ref()
        .and_then(|p| p.get("scale"))
        .map(|s| s.parse::<i32>())
        .transpose()
        .map_err(|e| format!("Decimal schema has an invalid scale ({e})"))?
        .unwrap_or(0);
    Ok(Source::Decimal { unscaled, scale })
}

/// The integer part of a decimal, in the low 128 bits (Java keeps the low bits of it too).
fn decimal_integer(unscaled: i128, scale: i32) -> i128 {
    match scale {
        0 => unscaled,
        s if s > 38 => 0,
        s if s > 0 => unscaled / 10i128.pow(s as u32),
        s => unscaled.wrapping_mul(10i128.wrapping_pow(s.unsigned_abs())),
    }
}

fn decimal_f64(unscaled: i128, scale: i32) -> f64 {
    unscaled as f64 / 10f64.powi(scale)
}

fn cast_source(source: Source, target: SchemaType) -> Result<Value, String> {
    match target {
        SchemaType::Int8 => integer(
            &source,
            "INT8",
            |i| i as i8 as i64,
            |f| f as i32 as i8 as i64,
            |s| s.parse::<i8>().map(i64::from).ok(),
        ),
        SchemaType::Int16 => integer(
            &source,
            "INT16",
            |i| i as i16 as i64,
            |f| f as i32 as i16 as i64,
            |s| s.parse::<i16>().map(i64::from).ok(),
        ),
        SchemaType::Int32 => integer(
            &source,
            "INT32",
            |i| i as i32 as i64,
            |f| f as i32 as i64,
            |s| s.parse::<i32>().map(i64::from).ok(),
        ),
        SchemaType::Int64 => integer(
            &source,
            "INT64",
            |i| i,
            |f| f as i64,
            |s| s.parse::<i64>().ok(),
        ),
        SchemaType::Float => {
            let f = match source {
                Source::Int(i) => i as f32,
                Source::Float(f) => f,
                Source::Double(d) => d as f32,
                Source::Decimal { unscaled, scale } => decimal_f64(unscaled, scale) as f32,
                Source::Bool(b) => f32::from(u8::from(b)),
                Source::Text(s) => java_float_text(&s)
                    .and_then(|t| t.parse::<f32>().ok())
                    .ok_or_else(|| format!("value ({s}) is not a valid FLOAT32"))?,
                Source::Bytes(_) | Source::Date(_) => return Err(not_castable("FLOAT32")),
            };
            float32_json(f)
        }
        SchemaType::Double => {
            let d = match source {
                Source::Int(i) => i as f64,
                Source::Float(f) => f64::from(f),
                Source::Double(d) => d,
                Source::Decimal { unscaled, scale } => decimal_f64(unscaled, scale),
                Source::Bool(b) => f64::from(u8::from(b)),
                Source::Text(s) => java_float_text(&s)
                    .and_then(|t| t.parse::<f64>().ok())
                    .ok_or_else(|| format!("value ({s}) is not a valid FLOAT64"))?,
                Source::Bytes(_) | Source::Date(_) => return Err(not_castable("FLOAT64")),
            };
            float64_json(d)
        }
        SchemaType::Boolean => Ok(Value::Bool(match source {
            // Java's Number.longValue() != 0: the integer part decides.
            Source::Int(i) => i != 0,
            Source::Float(f) => f as i64 != 0,
            Source::Double(d) => d as i64 != 0,
            Source::Decimal { unscaled, scale } => decimal_integer(unscaled, scale) as i64 != 0,
            Source::Bool(b) => b,
            Source::Text(s) => s.eq_ignore_ascii_case("true"),
            Source::Bytes(_) | Source::Date(_) => return Err(not_castable("BOOLEAN")),
        })),
        SchemaType::String => Ok(Value::String(match source {
            Source::Int(i) => i.to_string(),
            Source::Float(f) => java_float_string(f),
            Source::Double(d) => java_double_string(d),
            Source::Decimal { unscaled, scale } => java_decimal_string(unscaled, scale),
            Source::Bool(b) => b.to_string(),
            Source::Text(s) | Source::Bytes(s) => s,
            Source::Date(ms) => java_date_string(ms)?,
        })),
        other => Err(format!("cannot cast to {}", other.connect_name())),
    }
}

fn not_castable(target: &str) -> String {
    format!("bytes can only be cast to STRING, not to {target}")
}

/// An integer cast: `wrap` narrows a long, `saturate` narrows a float as Java's casts do.
fn integer(
    source: &Source,
    target: &str,
    wrap: impl Fn(i64) -> i64,
    saturate: impl Fn(f64) -> i64,
    parse: impl Fn(&str) -> Option<i64>,
) -> Result<Value, String> {
    let n = match source {
        Source::Int(i) => wrap(*i),
        Source::Float(f) => saturate(f64::from(*f)),
        Source::Double(d) => saturate(*d),
        Source::Decimal { unscaled, scale } => wrap(decimal_integer(*unscaled, *scale) as i64),
        Source::Bool(b) => i64::from(*b),
        Source::Text(s) => parse(s)
            .ok_or_else(|| format!("value ({s}) is not a valid {target} (or out of its range)"))?,
        Source::Bytes(_) | Source::Date(_) => return Err(not_castable(target)),
    };
    Ok(Value::from(n))
}

/// Java's `Float.parseFloat` text: surrounding whitespace and a `f`/`d` suffix are allowed.
fn java_float_text(text: &str) -> Option<&str> {
    let text = text.trim();
    let bare = text.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(text);
    (!bare.is_empty()).then_some(bare)
}

fn float64_json(d: f64) -> Result<Value, String> {
    Number::from_f64(d).map(Value::Number).ok_or_else(|| {
        format!(
            "the result ({}) cannot be written as JSON",
            java_double_string(d)
        )
    })
}

/// A float32 as the JSON number Java prints for it (`0.1`, not the double `0.10000000149`).
fn float32_json(f: f32) -> Result<Value, String> {
    if !f.is_finite() {
        return Err(format!(
            "the result ({}) cannot be written as JSON",
            java_float_string(f)
        ));
    }
    let shortest: f64 = f
        .to_string()
        .parse()
        .expect("a finite float prints as a number");
    float64_json(shortest)
}

/// Java's `Double.toString`: plain between 10^-3 and 10^7, else `d.dddE±n`; always a `.`.
fn java_double_string(d: f64) -> String {
    java_float_format(
        d.is_nan(),
        d.is_infinite(),
        d,
        d.to_string(),
        format!("{d:e}"),
    )
}

fn java_float_string(f: f32) -> String {
    java_float_format(
        f.is_nan(),
        f.is_infinite(),
        f64::from(f),
        f.to_string(),
        format!("{f:e}"),
    )
}

fn java_float_format(
    nan: bool,
    infinite: bool,
    value: f64,
    plain: String,
    scientific: String,
) -> String {
    if nan {
        return "NaN".to_string();
    }
    if infinite {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    let magnitude = value.abs();
    if magnitude == 0.0 || (1e-3..1e7).contains(&magnitude) {
        return if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        };
    }
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("scientific notation has an exponent");
    if mantissa.contains('.') {
        format!("{mantissa}E{exponent}")
    } else {
        format!("{mantissa}.0E{exponent}")
    }
}

/// Java's `BigDecimal.toString`: plain unless the scale is negative or the number is tiny.
fn java_decimal_string(unscaled: i128, scale: i32) -> String {
    let sign = if unscaled < 0 { "-" } else { "" };
    let digits = unscaled.unsigned_abs().to_string();
    let adjusted = i64::from(-scale) + digits.len() as i64 - 1;
    if scale >= 0 && adjusted >= -6 {
        let scale = scale as usize;
        if scale == 0 {
            format!("{sign}{digits}")
        } else if digits.len() > scale {
            let (int, frac) = digits.split_at(digits.len() - scale);
            format!("{sign}{int}.{frac}")
        } else {
            format!("{sign}0.{}{digits}", "0".repeat(scale - digits.len()))
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let plus = if adjusted > 0 { "+" } else { "" };
        format!("{sign}{first}{rest}E{plus}{adjusted}")
    }
}

/// Kafka's `Values.dateFormatFor`: a time of day below one day, a date at a midnight, else a
/// full timestamp; Ferry formats in UTC (Kafka uses the JVM's default time zone).
fn java_date_string(ms: i64) -> Result<String, String> {
    let at = DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| format!("{ms} ms is outside the supported date range"))?;
    let pattern = if ms < MILLIS_PER_DAY {
        "%H:%M:%S%.3fZ"
    } else if ms % MILLIS_PER_DAY == 0 {
        "%Y-%m-%d"
    } else {
        "%Y-%m-%dT%H:%M:%S%.3fZ"
    };
    Ok(at.format(pattern).to_string())
}

pub(crate) fn registered() -> Vec<BuiltIn> {
    vec![
        BuiltIn::transformation::<Cast<side::Key>>(&class_of::<side::Key>("Cast")),
        BuiltIn::transformation::<Cast<side::Value>>(&class_of::<side::Value>("Cast")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api::data::Payload;
    use serde_json::json;

    fn cast<S: Side>(spec: &str) -> Cast<S> {
        Cast::new(CastConfig {
            spec: spec.split(',').map(str::to_string).collect(),
            replace_null_with_default: true,
        })
        .unwrap()
    }

    fn config_error(spec: &[&str]) -> String {
        let error = Cast::<side::Value>::new(CastConfig {
            spec: spec.iter().map(|s| s.to_string()).collect(),
            replace_null_with_default: true,
        })
        .err()
        .unwrap();
        assert!(matches!(&error, ConnectError::Config { field, .. } if field == "spec"));
        error.to_string()
    }

    fn value_record(data: Structured) -> ConnectRecord {
        let mut record = ConnectRecord::new("t");
        record.value = Some(Payload::Structured(data));
        record
    }

    fn apply_value(t: &mut Cast<side::Value>, data: Structured) -> ferry_api::Result<Structured> {
        let record = t.apply(value_record(data))?.unwrap();
        match record.value {
            Some(Payload::Structured(s)) => Ok(s),
            other => panic!("{other:?}"),
        }
    }

    fn schemaless(t: &mut Cast<side::Value>, value: Value) -> Value {
        apply_value(t, Structured::schemaless(value)).unwrap().value
    }

    #[test]
    fn bad_specs_name_the_key() {
        assert!(config_error(&[]).contains("at least one"));
        assert!(config_error(&["foo:faketype"]).contains("unknown type"));
        assert!(config_error(&["foo:array"]).contains("cannot cast to"));
        assert!(config_error(&["bytes"]).contains("cannot cast to"));
        assert!(config_error(&["foo:int8:extra"]).contains("invalid cast"));
        assert!(config_error(&["foo:int8", "int32"]).contains("only cast"));
    }

    #[test]
    fn whole_schemaless_values_cast_as_java_does() {
        let mut int8 = cast::<side::Value>("int8");
        assert_eq!(schemaless(&mut int8, json!(42)), json!(42));
        assert_eq!(schemaless(&mut int8, json!(300)), json!(44));
        assert_eq!(schemaless(&mut int8, json!(1e10)), json!(-1));
        assert_eq!(schemaless(&mut int8, json!(true)), json!(1));
        assert_eq!(schemaless(&mut int8, json!("-12")), json!(-12));
        let error = apply_value(&mut int8, Structured::schemaless(json!("300"))).unwrap_err();
        assert!(matches!(error, ConnectError::Data(_)), "{error}");
        assert!(
            error.to_string().contains("Cast$Value: value (300)"),
            "{error}"
        );
        let error = apply_value(&mut int8, Structured::schemaless(json!(["foo"]))).unwrap_err();
        assert!(
            error.to_string().contains("cannot cast from ARRAY"),
            "{error}"
        );

        let mut int32 = cast::<side::Value>("int32");
        assert_eq!(schemaless(&mut int32, json!(1e10)), json!(i32::MAX));
        assert_eq!(schemaless(&mut int32, json!(-7.9)), json!(-7));
        let mut float32 = cast::<side::Value>("float32");
        assert_eq!(schemaless(&mut float32, json!(0.1)), json!(0.1));
        assert_eq!(schemaless(&mut float32, json!(" 2.5f ")), json!(2.5));
        let mut float64 = cast::<side::Value>("float64");
        assert_eq!(schemaless(&mut float64, json!(42)), json!(42.0));
        let mut boolean = cast::<side::Value>("boolean");
        assert_eq!(schemaless(&mut boolean, json!(42)), json!(true));
        assert_eq!(schemaless(&mut boolean, json!(0.5)), json!(false));
        assert_eq!(schemaless(&mut boolean, json!("TRUE")), json!(true));
        assert_eq!(schemaless(&mut boolean, json!("yes")), json!(false));
        let mut string = cast::<side::Value>("string");
        assert_eq!(schemaless(&mut string, json!(42)), json!("42"));
        assert_eq!(schemaless(&mut string, json!(42.0)), json!("42.0"));
        assert_eq!(schemaless(&mut string, json!(1e10)), json!("1.0E10"));
        assert_eq!(schemaless(&mut string, json!(1.5e-5)), json!("1.5E-5"));
        assert_eq!(schemaless(&mut string, json!(false)), json!("false"));
    }

    #[test]
    fn whole_values_with_a_schema_change_the_schema() {
        let mut t = cast::<side::Value>("int32");
        let schema = Schema {
            default_value: Some(json!(-42.125)),
            doc: Some("speed".into()),
            ..Schema::of(SchemaType::Float)
        };
        let out = apply_value(&mut t, Structured::with_schema(schema, json!(42.125))).unwrap();
        assert_eq!(out.value, json!(42));
        let schema = out.schema.unwrap();
        assert_eq!(schema.schema_type, SchemaType::Int32);
        assert_eq!(schema.default_value, Some(json!(-42)));
        assert_eq!(schema.doc.as_deref(), Some("speed"));

        // A struct cannot be cast as a whole.
        let mut t = cast::<side::Value>("string");
        let error = apply_value(
            &mut t,
            Structured::with_schema(Schema::structure(vec![]), json!({})),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("cannot cast from STRUCT"),
            "{error}"
        );

        // A timestamp prints as Kafka's Values.dateFormatFor does; the logical name goes.
        let timestamp = Schema {
            name: Some(logical::TIMESTAMP.into()),
            ..Schema::of(SchemaType::Int64)
        };
        let out = apply_value(
            &mut t,
            Structured::with_schema(timestamp, json!(MILLIS_PER_DAY + 1)),
        )
        .unwrap();
        assert_eq!(out.value, json!("1970-01-02T00:00:00.001Z"));
        assert_eq!(out.schema.unwrap(), Schema::of(SchemaType::String));
    }

    #[test]
    fn key_casts_leave_the_value_alone() {
        let mut t = cast::<side::Key>("int8");
        let mut record = ConnectRecord::new("t");
        record.key = Some(Payload::Structured(Structured::with_schema(
            Schema::of(SchemaType::Int32),
            json!(42),
        )));
        record.value = Some(Payload::schemaless(json!("bogus")));
        let out = t.apply(record).unwrap().unwrap();
        assert_eq!(
            out.key,
            Some(Payload::Structured(Structured::with_schema(
                Schema::of(SchemaType::Int8),
                json!(42)
            )))
        );
        assert_eq!(out.value, Some(Payload::schemaless(json!("bogus"))));
    }

    #[test]
    fn nulls_pass_through() {
        let mut t = cast::<side::Value>("foo:int64");
        let null = Structured::with_schema(Schema::of(SchemaType::String), Value::Null);
        assert_eq!(apply_value(&mut t, null.clone()).unwrap(), null);
        let mut record = ConnectRecord::new("t");
        record.key = Some(Payload::schemaless(json!("k")));
        assert_eq!(t.apply(record.clone()).unwrap().unwrap(), record);
    }

    #[test]
    fn schemaless_fields_cast_and_absent_ones_become_null() {
        let mut t =
            cast::<side::Value>("int8:int16,float64:boolean,boolean:int8,string:int32,gone:int8");
        let out = schemaless(
            &mut t,
            json!({"int8": 8, "float64": -64.0, "boolean": true, "string": "42", "other": [1]}),
        );
        assert_eq!(
            out,
            json!({"int8": 8, "float64": true, "boolean": 1, "string": 42, "other": [1], "gone": null})
        );
        let error = apply_value(&mut t, Structured::schemaless(json!(7))).unwrap_err();
        assert!(error.to_string().contains("only JSON objects"), "{error}");
        let error =
            apply_value(&mut t, Structured::schemaless(json!({"int8": {"a": 1}}))).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("field `int8`: cannot cast from MAP"),
            "{error}"
        );
    }

    #[test]
    fn struct_fields_cast_with_their_schemas() {
        let mut t = cast::<side::Value>(
            "int8:int16,int16:int32,float64:boolean,bytes:string,date:string,decimal:string,decimal_int:int32,timestamp:int64,magic:string",
        );
        let logical_type = |name: &str, t| Schema {
            name: Some(name.into()),
            ..Schema::of(t)
        };
        let decimal = |scale: &str| Schema {
            parameters: Some([("scale".to_string(), scale.to_string())].into()),
            ..logical_type(logical::DECIMAL, SchemaType::Bytes)
        };
        let schema = Schema::structure(vec![
            Field::new("int8", Schema::of(SchemaType::Int8)),
            Field::new("int16", Schema::of(SchemaType::Int16).optional()),
            Field::new(
                "float64",
                Schema {
                    default_value: Some(json!(-1.125)),
                    ..Schema::of(SchemaType::Double)
                },
            ),
            Field::new("bytes", Schema::of(SchemaType::Bytes)),
            Field::new("date", logical_type(logical::DATE, SchemaType::Int32)),
            Field::new("decimal", decimal("2")),
            Field::new("decimal_int", decimal("0")),
            Field::new(
                "timestamp",
                logical_type(logical::TIMESTAMP, SchemaType::Int64),
            ),
            Field::new(
                "magic",
                Schema {
                    default_value: Some(json!(10)),
                    ..Schema::of(SchemaType::Int32).optional()
                },
            ),
            Field::new("kept", Schema::of(SchemaType::String)),
        ]);
        // 198212 unscaled = 0x030644; 2^31 = 0x0080000000.
        let value = json!({
            "int8": 8, "int16": null, "float64": 0.0, "bytes": "/ty6mHZUMhA=", "date": 1,
            "decimal": BASE64.encode([0x03, 0x06, 0x44]),
            "decimal_int": BASE64.encode([0x00, 0x80, 0, 0, 0]),
            "timestamp": 0, "magic": null, "kept": "x", "extra": 1
        });
        let out = apply_value(
            &mut t,
            Structured::with_schema(schema.clone(), value.clone()),
        )
        .unwrap();
        assert_eq!(
            out.value,
            json!({
                "int8": 8, "int16": null, "float64": false, "bytes": "/ty6mHZUMhA=",
                "date": "1970-01-02", "decimal": "1982.12", "decimal_int": i32::MIN,
                "timestamp": 0, "magic": "10", "kept": "x"
            })
        );
        let out_schema = out.schema.unwrap();
        let field = |name: &str| out_schema.field(name).unwrap().schema.clone();
        assert_eq!(field("int8"), Schema::of(SchemaType::Int16));
        assert_eq!(field("int16"), Schema::of(SchemaType::Int32).optional());
        assert_eq!(field("float64").schema_type, SchemaType::Boolean);
        assert_eq!(field("float64").default_value, Some(json!(true)));
        assert_eq!(field("date"), Schema::of(SchemaType::String));
        assert_eq!(field("timestamp"), Schema::of(SchemaType::Int64));
        assert_eq!(field("magic").default_value, Some(json!("10")));
        assert_eq!(field("kept"), Schema::of(SchemaType::String));

        // Without replace.null.with.default a null stays null.
        let mut t = Cast::<side::Value>::new(CastConfig {
            spec: vec!["magic:string".into()],
            replace_null_with_default: false,
        })
        .unwrap();
        let out = apply_value(&mut t, Structured::with_schema(schema.clone(), value)).unwrap();
        assert_eq!(out.value["magic"], Value::Null);

        // A value that does not fit its schema, and a non-struct value, are data errors.
        let error = apply_value(
            &mut t,
            Structured::with_schema(schema.clone(), json!({"magic": "ten"})),
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("does not match its schema type INT32"),
            "{error}"
        );
        let error = apply_value(&mut t, Structured::with_schema(schema, json!([1]))).unwrap_err();
        assert!(
            error.to_string().contains("the value is an array"),
            "{error}"
        );
    }

    #[test]
    fn bytes_only_cast_to_string() {
        let mut t = cast::<side::Value>("int32");
        let error = apply_value(
            &mut t,
            Structured::with_schema(Schema::of(SchemaType::Bytes), json!("AAE=")),
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("bytes can only be cast to STRING"),
            "{error}"
        );
    }

    #[test]
    fn java_number_formats() {
        assert_eq!(
            java_double_string(9.223372036854776E18),
            "9.223372036854776E18"
        );
        assert_eq!(java_double_string(0.001), "0.001");
        assert_eq!(java_double_string(0.0001), "1.0E-4");
        assert_eq!(java_double_string(-0.0), "-0.0");
        assert_eq!(java_float_string(0.1), "0.1");
        assert_eq!(java_decimal_string(42, 0), "42");
        assert_eq!(java_decimal_string(-5, 3), "-0.005");
        assert_eq!(java_decimal_string(5, 9), "5E-9");
        assert_eq!(java_decimal_string(123, -2), "1.23E+4");
        assert_eq!(
            java_date_string(MILLIS_PER_DAY / 24).unwrap(),
            "01:00:00.000Z"
        );
    }
}
