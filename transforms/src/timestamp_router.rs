//! `TimestampRouter`: renames the topic from the original topic and the record's timestamp.

use chrono::{DateTime, Datelike, Timelike, Utc};
use ferry_api::schemars::JsonSchema;
use ferry_api::serde::Deserialize;
use ferry_api::transform::{ConnectRecord, Transformation};
use ferry_api::ConnectError;

use crate::BuiltIn;

/// `TimestampRouter`'s keys.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct TimestampRouterConfig {
    /// Format string which can contain `${topic}` and `${timestamp}` as placeholders for the
    /// topic and timestamp, respectively.
    #[serde(rename = "topic.format", default = "default_topic_format")]
    topic_format: String,
    /// Format string for the timestamp that is compatible with `java.text.SimpleDateFormat`
    /// (formatted in UTC).
    #[serde(rename = "timestamp.format", default = "default_timestamp_format")]
    timestamp_format: String,
}

fn default_topic_format() -> String {
    "${topic}-${timestamp}".to_string()
}

fn default_timestamp_format() -> String {
    "yyyyMMdd".to_string()
}

/// Kafka Connect's `TimestampRouter`.
pub struct TimestampRouter {
    topic_format: String,
    timestamp_format: Vec<Piece>,
}

impl Transformation for TimestampRouter {
    type Config = TimestampRouterConfig;

    fn new(config: TimestampRouterConfig) -> ferry_api::Result<Self> {
        let timestamp_format = parse_simple_date_format(&config.timestamp_format)
            .map_err(|why| ConnectError::config("timestamp.format", why))?;
        Ok(TimestampRouter {
            topic_format: config.topic_format,
            timestamp_format,
        })
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn apply(&mut self, mut record: ConnectRecord) -> ferry_api::Result<Option<ConnectRecord>> {
        let Some(ms) = record.timestamp_ms else {
            return Err(ConnectError::data(format!(
                "TimestampRouter: Timestamp missing on record for topic `{}`",
                record.topic
            )));
        };
        let time = DateTime::<Utc>::from_timestamp_millis(ms).ok_or_else(|| {
            ConnectError::data(format!(
                "TimestampRouter: timestamp {ms} is out of the range of dates that can be formatted"
            ))
        })?;
        let formatted = format_time(&self.timestamp_format, &time);
        // Same order as Kafka: the topic goes in first, then every `${timestamp}`.
        record.topic = self
            .topic_format
            .replace("${topic}", &record.topic)
            .replace("${timestamp}", &formatted);
        Ok(Some(record))
    }
}

/// One element of a SimpleDateFormat pattern: literal text, or a letter repeated `count` times.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Field(char, usize),
}

/// The pattern letters this formatter supports (SimpleDateFormat's, but for week-based ones).
const LETTERS: &str = "GyMLdDEuaHkKhmsSzZX";

fn parse_simple_date_format(pattern: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            // `''` is a quote, inside or outside a quoted run.
            if chars.peek() == Some(&'\'') {
                chars.next();
                literal.push('\'');
                continue;
            }
            loop {
                match chars.next() {
                    None => return Err(format!("unterminated quote in `{pattern}`")),
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        literal.push('\'');
                    }
                    Some('\'') => break,
                    Some(other) => literal.push(other),
                }
            }
        } else if c.is_ascii_alphabetic() {
            if !LETTERS.contains(c) {
                let hint = if "YwWF".contains(c) {
                    " (week-based fields are not supported; for the calendar year use `yyyy`)"
                } else {
                    ""
                };
                return Err(format!(
                    "illegal pattern character '{c}' in `{pattern}`{hint}; quote literal text with '...'"
                ));
            }
            let mut count = 1;
            while chars.peek() == Some(&c) {
                chars.next();
                count += 1;
            }
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Field(c, count));
        } else {
            literal.push(c);
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Formats as SimpleDateFormat does in the US locale and UTC.
fn format_time(pieces: &[Piece], time: &DateTime<Utc>) -> String {
    let mut out = String::new();
    let number = |out: &mut String, n: i64, width: usize| {
        if n < 0 {
            out.push_str(&format!("-{:0width$}", -n));
        } else {
            out.push_str(&format!("{n:0width$}"));
        }
    };
    let text = |out: &mut String, full: &str, count: usize| {
        if count >= 4 {
            out.push_str(full);
        } else {
            out.push_str(&full[..3]);
        }
    };
    for piece in pieces {
        let (letter, count) = match piece {
            Piece::Literal(text) => {
                out.push_str(text);
                continue;
            }
            Piece::Field(letter, count) => (*letter, *count),
        };
        let hour = i64::from(time.hour());
        match letter {
            'G' => out.push_str(if time.year() > 0 { "AD" } else { "BC" }),
            'y' => {
                // Java prints the year of era: 1 BC is year 1.
                let year = i64::from(time.year());
                let year = if year > 0 { year } else { 1 - year };
                if count == 2 {
                    number(&mut out, year % 100, 2);
                } else {
                    number(&mut out, year, count);
                }
            }
            'M' | 'L' if count >= 3 => text(&mut out, MONTHS[time.month0() as usize], count),
            'M' | 'L' => number(&mut out, i64::from(time.month()), count),
            'd' => number(&mut out, i64::from(time.day()), count),
            'D' => number(&mut out, i64::from(time.ordinal()), count),
            'E' => text(
                &mut out,
                DAYS[time.weekday().num_days_from_monday() as usize],
                count,
            ),
            'u' => number(
                &mut out,
                i64::from(time.weekday().number_from_monday()),
                count,
            ),
            'a' => out.push_str(if hour < 12 { "AM" } else { "PM" }),
            'H' => number(&mut out, hour, count),
            'k' => number(&mut out, if hour == 0 { 24 } else { hour }, count),
            'K' => number(&mut out, hour % 12, count),
            'h' => number(&mut out, if hour % 12 == 0 { 12 } else { hour % 12 }, count),
            'm' => number(&mut out, i64::from(time.minute()), count),
            's' => number(&mut out, i64::from(time.second()), count),
            // SimpleDateFormat's `S` is the millisecond count, padded (not a fraction).
            'S' => number(&mut out, i64::from(time.timestamp_subsec_millis()), count),
            'z' if count >= 4 => out.push_str("Coordinated Universal Time"),
            'z' => out.push_str("UTC"),
            'Z' => out.push_str("+0000"),
            'X' => out.push('Z'),
            other => unreachable!("pattern letter {other} is refused when parsing"),
        }
    }
    out
}

pub(crate) fn registered() -> Vec<BuiltIn> {
    vec![BuiltIn::transformation::<TimestampRouter>(
        "TimestampRouter",
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(topic_format: &str, timestamp_format: &str) -> ferry_api::Result<TimestampRouter> {
        TimestampRouter::new(TimestampRouterConfig {
            topic_format: topic_format.into(),
            timestamp_format: timestamp_format.into(),
        })
    }

    fn route(router: &mut TimestampRouter, topic: &str, ms: i64) -> String {
        let mut record = ConnectRecord::new(topic);
        record.timestamp_ms = Some(ms);
        router.apply(record).unwrap().unwrap().topic
    }

    // 2017-01-01T00:00:00.000Z, Kafka's test, and 2024-03-05T14:07:09.042Z (a Tuesday).
    const NEW_YEAR_2017: i64 = 1_483_228_800_000;
    const TUESDAY: i64 = 1_709_647_629_042;

    #[test]
    fn default_configuration_as_in_kafka() {
        let config: TimestampRouterConfig = ferry_api::config::parse(&Default::default()).unwrap();
        let mut r = TimestampRouter::new(config).unwrap();
        assert_eq!(route(&mut r, "test", NEW_YEAR_2017), "test-20170101");
    }

    #[test]
    fn java_patterns_are_formatted_in_utc() {
        let mut r = router("${timestamp}", "yyyy-MM-dd'T'HH:mm:ss.SSS").unwrap();
        assert_eq!(route(&mut r, "t", TUESDAY), "2024-03-05T14:07:09.042");
        let mut r = router("${timestamp}", "yy M d H m s S").unwrap();
        assert_eq!(route(&mut r, "t", TUESDAY), "24 3 5 14 7 9 42");
        let mut r = router("${timestamp}", "EEE EEEE MMM MMMM D hh a k K u").unwrap();
        assert_eq!(
            route(&mut r, "t", TUESDAY),
            "Tue Tuesday Mar March 65 02 PM 14 2 2"
        );
        let mut r = router("${timestamp}", "'at' HH 'o''clock' z Z X ''").unwrap();
        assert_eq!(route(&mut r, "t", TUESDAY), "at 14 o'clock UTC +0000 Z '");
    }

    #[test]
    fn topic_format_placeholders_repeat_and_mix() {
        let mut r = router("${topic}_${timestamp}_${topic}", "yyyy").unwrap();
        assert_eq!(route(&mut r, "cars", TUESDAY), "cars_2024_cars");
        let mut r = router("fixed", "yyyy").unwrap();
        assert_eq!(route(&mut r, "cars", TUESDAY), "fixed");
    }

    #[test]
    fn a_record_without_timestamp_is_a_data_error() {
        let mut r = router("${topic}", "yyyy").unwrap();
        let error = r.apply(ConnectRecord::new("cars")).unwrap_err();
        assert_eq!(
            error,
            ConnectError::data("TimestampRouter: Timestamp missing on record for topic `cars`")
        );
    }

    #[test]
    fn bad_patterns_name_the_key() {
        for bad in ["yyyy-ww", "YYYY", "'open", "yyyyq"] {
            let error = router("${topic}", bad).err().unwrap();
            assert!(
                error.to_string().contains("`timestamp.format`"),
                "{bad}: {error}"
            );
        }
    }
}
