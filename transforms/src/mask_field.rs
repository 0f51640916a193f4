//! `MaskField`: replaces top-level fields with their type's empty value (0, false, "", an empty
//! array or map), or with `replacement` converted to the field's type.
//!
//! As Kafka's, it has no pass-through for a null key/value: a tombstone is a data error (skip
//! those with the `RecordIsTombstone` predicate and `negate=true`).

use std::collections::HashSet;
use std::marker::PhantomData;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ferry_api::data::{logical, Schema, SchemaType, Structured};
use ferry_api::schemars::JsonSchema;
use ferry_api::serde::Deserialize;
use ferry_api::transform::{ConnectRecord, Transformation};
use ferry_api::ConnectError;
use serde_json::{Map, Number, Value};

use crate::side::{self, class_of, Side};
use crate::{json_type_name, structured, BuiltIn};

/// `MaskField`'s keys.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct MaskFieldConfig {
    /// Names of the (top-level) fields to mask.
    fields: Vec<String>,
    /// Custom replacement, converted to each field's type (numeric and string fields only);
    /// unset masks with the type's empty value.
    #[serde(default)]
    replacement: Option<String>,
    /// Whether a null field that has a default value in its schema takes the default (true) or
    /// stays null (false).
    #[serde(rename = "replace.null.with.default", default = "default_true")]
    replace_null_with_default: bool,
}

fn default_true() -> bool {
    true
}

/// Kafka Connect's `MaskField$Key` / `MaskField$Value`.
pub struct MaskField<S> {
    fields: HashSet<String>,
    /// Kept in order for the schemaless case, where absent fields are added.
    ordered: Vec<String>,
    replacement: Option<String>,
    replace_null_with_default: bool,
    side: PhantomData<S>,
}

impl<S: Side> Transformation for MaskField<S> {
    type Config = MaskFieldConfig;

    fn new(config: MaskFieldConfig) -> ferry_api::Result<Self> {
        if config.fields.is_empty() {
            return Err(ConnectError::config(
                "fields",
                "must name at least one field to mask",
            ));
        }
        if config.replacement.as_deref() == Some("") {
            return Err(ConnectError::config(
                "replacement",
                "must not be empty; leave it unset to mask with the type's empty value",
            ));
        }
        let mut fields = HashSet::new();
        let mut ordered = config.fields;
        ordered.retain(|name| fields.insert(name.clone()));
        Ok(MaskField {
            fields,
            ordered,
            replacement: config.replacement,
            replace_null_with_default: config.replace_null_with_default,
            side: PhantomData,
        })
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn apply(&mut self, mut record: ConnectRecord) -> ferry_api::Result<Option<ConnectRecord>> {
        let class = class_of::<S>("MaskField");
        let Some(data) = structured(S::of(&mut record), &class)? else {
            return Err(ConnectError::data(format!(
                "{class}: the {} is null; Kafka Connect's MaskField does not pass nulls through (use the RecordIsTombstone predicate to skip tombstones)",
                S::NAME.to_ascii_lowercase()
            )));
        };
        self.mask(data)
            .map_err(|why| ConnectError::data(format!("{class}: {why}")))?;
        Ok(Some(record))
    }
}

impl<S> MaskField<S> {
    fn mask(&self, data: &mut Structured) -> Result<(), String> {
        let Value::Object(object) = &mut data.value else {
            let expected = if data.schema.is_some() {
                "a struct"
            } else {
                "a JSON object in absence of a schema"
            };
            return Err(format!(
                "only {expected} can have fields masked, found {}",
                json_type_name(&data.value)
            ));
        };
        let Some(schema) = &data.schema else {
            for name in &self.ordered {
                // Kafka puts every masked field, so an absent one becomes null.
                let masked = match object.get(name) {
                    Some(value) => self
                        .mask_schemaless(value)
                        .map_err(|why| format!("field `{name}`: {why}"))?,
                    None => Value::Null,
                };
                object.insert(name.clone(), masked);
            }
            return Ok(());
        };
        if schema.schema_type != SchemaType::Struct {
            return Err(format!(
                "only a struct can have fields masked, but the schema is {}",
                schema.schema_type.connect_name()
            ));
        }
        let mut masked = Map::new();
        for field in &schema.fields {
            let mut value = object.remove(&field.field).unwrap_or(Value::Null);
            if value.is_null() && self.replace_null_with_default {
                if let Some(default) = &field.schema.default_value {
                    value = default.clone();
                }
            }
            if self.fields.contains(&field.field) && !value.is_null() {
                value = self
                    .mask_with_schema(&field.schema, &value)
                    .map_err(|why| format!("field `{}`: {why}", field.field))?;
            }
            masked.insert(field.field.clone(), value);
        }
        data.value = Value::Object(masked);
        Ok(())
    }

    fn mask_schemaless(&self, value: &Value) -> Result<Value, String> {
        // JsonConverter reads schemaless integers as Long and other numbers as Double.
        let integer = matches!(value, Value::Number(n) if n.is_i64() || n.is_u64());
        match (&self.replacement, value) {
            (_, Value::Null) => Ok(Value::Null),
            (None, Value::Bool(_)) => Ok(Value::Bool(false)),
            (None, Value::Number(_)) if integer => Ok(Value::from(0)),
            (None, Value::Number(_)) => Ok(Value::from(0.0)),
            (None, Value::String(_)) => Ok(Value::String(String::new())),
            (None, Value::Array(_)) => Ok(Value::Array(Vec::new())),
            (None, Value::Object(_)) => Ok(Value::Object(Map::new())),
            (Some(r), Value::Number(_)) if integer => Ok(Value::from(long_value(r)?)),
            (Some(r), Value::Number(_)) => double(double_value(r)?),
            (Some(r), Value::String(_)) => Ok(Value::String(r.clone())),
            (Some(_), other) => Err(format!(
                "cannot mask {} with a custom replacement (only numbers and strings)",
                json_type_name(other)
            )),
        }
    }

    fn mask_with_schema(&self, schema: &Schema, value: &Value) -> Result<Value, String> {
        let time_like = [logical::DATE, logical::TIME, logical::TIMESTAMP]
            .iter()
            .any(|name| schema.is_logical(name));
        let replacement = self.replacement.as_deref();
        let no_replacement = || {
            Err(format!(
                "cannot mask a {} value with a custom replacement (only numbers and strings)",
                schema
                    .name
                    .as_deref()
                    .unwrap_or(schema.schema_type.connect_name())
            ))
        };
        match schema.schema_type {
            // A Date, Time or Timestamp masks to the epoch.
            _ if time_like => match replacement {
                None => Ok(Value::from(0)),
                Some(_) => no_replacement(),
            },
            SchemaType::Int8 | SchemaType::Int16 | SchemaType::Int32 | SchemaType::Int64 => {
                let Some(r) = replacement else {
                    return Ok(Value::from(0));
                };
                let long = long_value(r)?;
                // Java narrows a long by keeping the low bits.
                Ok(Value::from(match schema.schema_type {
                    SchemaType::Int8 => i64::from(long as i8),
                    SchemaType::Int16 => i64::from(long as i16),
                    SchemaType::Int32 => i64::from(long as i32),
                    _ => long,
                }))
            }
            SchemaType::Float => match replacement {
                None => Ok(Value::from(0.0)),
                // The float32 as Java prints it, not its widened double.
                Some(r) => double(
                    (double_value(r)? as f32)
                        .to_string()
                        .parse()
                        .unwrap_or(f64::NAN),
                ),
            },
            SchemaType::Double => match replacement {
                None => Ok(Value::from(0.0)),
                Some(r) => double(double_value(r)?),
            },
            SchemaType::Boolean => match replacement {
                None => Ok(Value::Bool(false)),
                Some(_) => no_replacement(),
            },
            SchemaType::String => Ok(Value::String(replacement.unwrap_or_default().to_string())),
            SchemaType::Bytes if schema.is_logical(logical::DECIMAL) => {
                let scale = schema
                    .parameters
                    .as_ref()
                    .and_then(|p| p.get("scale"))
                    .and_then(|s| s.parse::<i64>().ok())
                    .unwrap_or(0);
                let unscaled = match replacement {
                    None => 0,
                    Some(r) => decimal_unscaled(r, scale)?,
                };
                Ok(Value::String(BASE64.encode(twos_complement(unscaled))))
            }
            SchemaType::Bytes => Err("cannot mask BYTES values".to_string()),
            SchemaType::Array | SchemaType::Map => match replacement {
                // JsonConverter writes a map with non-string keys as an array of pairs.
                None if value.is_array() => Ok(Value::Array(Vec::new())),
                None => Ok(Value::Object(Map::new())),
                Some(_) => no_replacement(),
            },
            SchemaType::Struct => Err("cannot mask STRUCT values".to_string()),
        }
    }
}

fn double(d: f64) -> Result<Value, String> {
    Number::from_f64(d)
        .map(Value::Number)
        .ok_or_else(|| "the replacement is not a finite number".to_string())
}

/// Java's `BigDecimal` text: sign, digits with an optional point, optional exponent. Returns
/// the sign, the digits without the point, and the scale (value = digits × 10^-scale).
fn big_decimal(text: &str) -> Option<(bool, String, i64)> {
    let (negative, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) => (&rest[..at], rest[at + 1..].parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((negative, digits, frac.len() as i64 - exponent))
}

fn not_a_number(text: &str) -> String {
    format!("the replacement `{text}` is not a number")
}

/// `new BigDecimal(text).longValue()`: the integer part's low 64 bits.
fn long_value(text: &str) -> Result<i64, String> {
    let (negative, digits, scale) = big_decimal(text).ok_or_else(|| not_a_number(text))?;
    let kept = digits.len().saturating_sub(scale.max(0) as usize);
    // 10^64 is a multiple of 2^64, so more trailing zeros leave the low bits at zero.
    let zeros = (-scale).clamp(0, 64) as usize;
    let mut long: i64 = 0;
    for digit in digits[..kept]
        .bytes()
        .chain(std::iter::repeat_n(b'0', zeros))
    {
        long = long.wrapping_mul(10).wrapping_add(i64::from(digit - b'0'));
    }
    Ok(if negative { long.wrapping_neg() } else { long })
}

fn double_value(text: &str) -> Result<f64, String> {
    big_decimal(text).ok_or_else(|| not_a_number(text))?;
    text.parse().map_err(|_| not_a_number(text))
}

/// The replacement's unscaled value at the Decimal schema's scale; it must fit exactly.
fn decimal_unscaled(text: &str, scale: i64) -> Result<i128, String> {
    let (negative, digits, own_scale) = big_decimal(text).ok_or_else(|| not_a_number(text))?;
    let too_big = || format!("the replacement `{text}` does not fit the Decimal's scale {scale}");
    let mut unscaled: i128 = digits.parse().map_err(|_| too_big())?;
    if own_scale <= scale {
        let shift = u32::try_from(scale - own_scale).map_err(|_| too_big())?;
        unscaled = 10i128
            .checked_pow(shift)
            .and_then(|p| unscaled.checked_mul(p))
            .ok_or_else(too_big)?;
    } else {
        let shift = u32::try_from(own_scale - scale).map_err(|_| too_big())?;
        let divisor = 10i128.checked_pow(shift).ok_or_else(too_big)?;
        if unscaled % divisor != 0 {
            return Err(too_big());
        }
        unscaled /= divisor;
    }
    Ok(if negative { -unscaled } else { unscaled })
}

/// The shortest big-endian two's complement bytes, as Java's `BigInteger.toByteArray`.
fn twos_complement(n: i128) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let mut start = 0;
    while start < 15 {
        let (byte, next) = (bytes[start], bytes[start + 1]);
        let redundant = (byte == 0 && next & 0x80 == 0) || (byte == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    bytes[start..].to_vec()
}

pub(crate) fn registered() -> Vec<BuiltIn> {
    vec![
        BuiltIn::transformation::<MaskField<side::Key>>(&class_of::<side::Key>("MaskField")),
        BuiltIn::transformation::<MaskField<side::Value>>(&class_of::<side::Value>("MaskField")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api::data::{Field, Payload};
    use serde_json::json;

    fn mask<S: Side>(fields: &str, replacement: Option<&str>) -> ferry_api::Result<MaskField<S>> {
        MaskField::new(MaskFieldConfig {
            fields: fields.split(',').map(str::to_string).collect(),
            replacement: replacement.map(str::to_string),
            replace_null_with_default: false,
        })
    }

    fn apply_value(t: &mut MaskField<side::Value>, data: Structured) -> ferry_api::Result<Value> {
        let mut record = ConnectRecord::new("t");
        record.value = Some(Payload::Structured(data));
        match t.apply(record)?.unwrap().value {
            Some(Payload::Structured(s)) => Ok(s.value),
            other => panic!("{other:?}"),
        }
    }

    fn schemaless(
        fields: &str,
        replacement: Option<&str>,
        value: Value,
    ) -> ferry_api::Result<Value> {
        apply_value(
            &mut mask(fields, replacement)?,
            Structured::schemaless(value),
        )
    }

    #[test]
    fn config_errors_name_the_key() {
        let error = MaskField::<side::Value>::new(MaskFieldConfig {
            fields: vec![],
            replacement: None,
            replace_null_with_default: true,
        })
        .err()
        .unwrap();
        assert!(matches!(&error, ConnectError::Config { field, .. } if field == "fields"));
        let error = mask::<side::Value>("a", Some("")).err().unwrap();
        assert!(matches!(&error, ConnectError::Config { field, .. } if field == "replacement"));
    }

    #[test]
    fn schemaless_fields_mask_to_empty_values() {
        let value = json!({"int": 42, "double": 42.5, "bool": true, "string": "55.121.20.20",
            "list": [42], "map": {"key": "value"}, "other": 1, "null": null});
        let out = schemaless("int,double,bool,string,list,map,null,absent", None, value).unwrap();
        assert_eq!(
            out,
            json!({"int": 0, "double": 0.0, "bool": false, "string": "", "list": [], "map": {},
                "other": 1, "null": null, "absent": null})
        );
    }

    #[test]
    fn schemaless_replacements_convert_to_the_field_type() {
        let value = json!({"int": 42, "double": 42.5, "string": "x", "bool": true});
        let out = schemaless("int,double,string", Some("123"), value.clone()).unwrap();
        assert_eq!(
            out,
            json!({"int": 123, "double": 123.0, "string": "123", "bool": true})
        );
        assert_eq!(
            schemaless("int", Some("12.7e1"), value.clone()).unwrap()["int"],
            json!(127)
        );

        let error = schemaless("bool", Some("123"), value.clone()).unwrap_err();
        assert!(matches!(error, ConnectError::Data(_)));
        assert!(
            error.to_string().contains("cannot mask a boolean"),
            "{error}"
        );
        let error = schemaless("int", Some("foo"), value).unwrap_err();
        assert!(
            error.to_string().contains("`foo` is not a number"),
            "{error}"
        );
    }

    #[test]
    fn nulls_and_non_objects_are_data_errors_as_in_kafka() {
        let mut t = mask::<side::Value>("a", None).unwrap();
        let error = t.apply(ConnectRecord::new("t")).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("MaskField$Value: the value is null"),
            "{error}"
        );
        let error = apply_value(&mut t, Structured::schemaless(json!("x"))).unwrap_err();
        assert!(error.to_string().contains("only a JSON object"), "{error}");
    }

    fn schema() -> Schema {
        let logical_type = |name: &str, t| Schema {
            name: Some(name.into()),
            ..Schema::of(t)
        };
        Schema::structure(vec![
            Field::new("byte", Schema::of(SchemaType::Int8)),
            Field::new("long", Schema::of(SchemaType::Int64)),
            Field::new("float", Schema::of(SchemaType::Float)),
            Field::new("bool", Schema::of(SchemaType::Boolean)),
            Field::new("string", Schema::of(SchemaType::String)),
            Field::new("date", logical_type(logical::DATE, SchemaType::Int32)),
            Field::new(
                "decimal",
                Schema {
                    parameters: Some([("scale".to_string(), "1".to_string())].into()),
                    ..logical_type(logical::DECIMAL, SchemaType::Bytes)
                },
            ),
            Field::new(
                "array",
                Schema {
                    items: Some(Box::new(Schema::of(SchemaType::Int32))),
                    ..Schema::of(SchemaType::Array)
                },
            ),
            Field::new(
                "withDefault",
                Schema {
                    default_value: Some(json!("default")),
                    ..Schema::of(SchemaType::String).optional()
                },
            ),
            Field::new("bytes", Schema::of(SchemaType::Bytes)),
        ])
    }

    fn value() -> Value {
        json!({"byte": 42, "long": 42, "float": 42.0, "bool": true, "string": "hmm", "date": 19000,
            "decimal": BASE64.encode([0x01, 0xa4]), "array": [1, 2, 3], "withDefault": null,
            "bytes": "AAE="})
    }

    #[test]
    fn struct_fields_mask_by_their_schema_type() {
        let mut t = mask::<side::Value>(
            "byte,long,float,bool,string,date,decimal,array,withDefault",
            None,
        )
        .unwrap();
        let out = apply_value(&mut t, Structured::with_schema(schema(), value())).unwrap();
        assert_eq!(
            out,
            json!({"byte": 0, "long": 0, "float": 0.0, "bool": false, "string": "", "date": 0,
                "decimal": "AA==", "array": [], "withDefault": null, "bytes": "AAE="})
        );

        let mut t = mask::<side::Value>("bytes", None).unwrap();
        let error = apply_value(&mut t, Structured::with_schema(schema(), value())).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("field `bytes`: cannot mask BYTES"),
            "{error}"
        );

        // With replace.null.with.default the default is what gets masked.
        let mut t = MaskField::<side::Value>::new(MaskFieldConfig {
            fields: vec!["withDefault".into()],
            replacement: Some("***".into()),
            replace_null_with_default: true,
        })
        .unwrap();
        let out = apply_value(&mut t, Structured::with_schema(schema(), value())).unwrap();
        assert_eq!(out["withDefault"], json!("***"));
    }

    #[test]
    fn struct_replacements_convert_to_the_field_type() {
        let mut t = mask::<side::Value>("byte,long,float,string,decimal", Some("300")).unwrap();
        let out = apply_value(&mut t, Structured::with_schema(schema(), value())).unwrap();
        assert_eq!(out["byte"], json!(44));
        assert_eq!(out["long"], json!(300));
        assert_eq!(out["float"], json!(300.0));
        assert_eq!(out["string"], json!("300"));
        // 300 at scale 1 is 3000 unscaled: 0x0bb8.
        assert_eq!(out["decimal"], json!(BASE64.encode([0x0b, 0xb8])));

        for field in ["date", "bool", "array"] {
            let mut t = mask::<side::Value>(field, Some("1")).unwrap();
            let error =
                apply_value(&mut t, Structured::with_schema(schema(), value())).unwrap_err();
            assert!(
                error.to_string().contains("with a custom replacement"),
                "{error}"
            );
        }
    }

    #[test]
    fn keys_mask_too() {
        let mut t = mask::<side::Key>("id", Some("0")).unwrap();
        let mut record = ConnectRecord::new("t");
        record.key = Some(Payload::schemaless(json!({"id": "car-1"})));
        record.value = Some(Payload::schemaless(json!({"id": "car-1"})));
        let out = t.apply(record).unwrap().unwrap();
        assert_eq!(out.key, Some(Payload::schemaless(json!({"id": "0"}))));
        assert_eq!(out.value, Some(Payload::schemaless(json!({"id": "car-1"}))));
    }

    #[test]
    fn java_numbers() {
        assert_eq!(long_value("-12.9").unwrap(), -12);
        assert_eq!(long_value("1e2").unwrap(), 100);
        assert_eq!(long_value("18446744073709551617").unwrap(), 1);
        assert!(long_value("1 ").is_err());
        assert_eq!(twos_complement(0), vec![0]);
        assert_eq!(twos_complement(-1), vec![0xff]);
        assert_eq!(twos_complement(128), vec![0, 0x80]);
        assert_eq!(decimal_unscaled("-1.50", 1).unwrap(), -15);
        assert!(decimal_unscaled("1.55", 1).is_err());
    }
}
