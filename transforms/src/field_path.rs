//! Field names in transformation keys, read by `field.syntax.version` (KIP-821).
//!
//! `V1` (the default) takes a name as written: `a.b` is the top-level field called `a.b`. `V2`
//! reads dots as nesting (`a.b` is field `b` inside `a`); a name that contains dots is wrapped in
//! backticks (`` `a.b`.c ``), and a backtick inside a wrapped name is written `` \` ``.

use ferry_api::schemars::JsonSchema;
use ferry_api::serde::Deserialize;
use serde_json::{Map, Value};

/// `field.syntax.version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde")]
#[schemars(crate = "ferry_api::schemars")]
pub enum FieldSyntaxVersion {
    /// A name is one top-level field.
    #[default]
    V1,
    /// Dots separate nested fields; backticks quote names with dots.
    V2,
}

/// A path to a (possibly nested) field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    steps: Vec<String>,
}

impl FieldPath {
    /// Reads `text` by `version`; `Err` says what is malformed.
    pub fn parse(text: &str, version: FieldSyntaxVersion) -> Result<FieldPath, String> {
        if version == FieldSyntaxVersion::V1 || !text.contains(['.', '`']) {
            return Ok(FieldPath {
                steps: vec![text.to_string()],
            });
        }
        let mut steps = Vec::new();
        let mut chars = text.chars().peekable();
        loop {
            let mut step = String::new();
            if chars.peek() == Some(&'`') {
                chars.next();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' if chars.peek() == Some(&'`') => {
                            chars.next();
                            step.push('`');
                        }
                        '`' if matches!(chars.peek(), None | Some('.')) => {
                            closed = true;
                            break;
                        }
                        other => step.push(other),
                    }
                }
                if !closed {
                    return Err(format!(
                        "field path `{text}` has a backtick that is not closed before a dot or the end"
                    ));
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == '.' {
                        break;
                    }
                    step.push(c);
                    chars.next();
                }
            }
            if step.is_empty() {
                return Err(format!("field path `{text}` has an empty field name"));
            }
            steps.push(step);
            match chars.next() {
                None => break,
                Some('.') => continue,
                Some(_) => unreachable!("a step ends at a dot or the end"),
            }
        }
        Ok(FieldPath { steps })
    }

    /// A one-step path.
    pub fn single(name: impl Into<String>) -> FieldPath {
        FieldPath {
            steps: vec![name.into()],
        }
    }

    /// The names from the top level down.
    pub fn steps(&self) -> &[String] {
        &self.steps
    }

    /// The last name.
    pub fn leaf(&self) -> &str {
        self.steps.last().map(String::as_str).unwrap_or_default()
    }

    /// The value at this path in a JSON object, if every step exists.
    pub fn get<'a>(&self, object: &'a Map<String, Value>) -> Option<&'a Value> {
        let (last, parents) = self.steps.split_last()?;
        let mut current = object;
        for step in parents {
            current = current.get(step)?.as_object()?;
        }
        current.get(last)
    }

    /// The object holding the leaf, if every parent exists and is an object.
    pub fn parent_mut<'a>(
        &self,
        object: &'a mut Map<String, Value>,
    ) -> Option<&'a mut Map<String, Value>> {
        let (_, parents) = self.steps.split_last()?;
        let mut current = object;
        for step in parents {
            current = current.get_mut(step)?.as_object_mut()?;
        }
        Some(current)
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.steps.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn steps(text: &str) -> Vec<String> {
        FieldPath::parse(text, FieldSyntaxVersion::V2)
            .unwrap()
            .steps()
            .to_vec()
    }

    #[test]
    fn v1_takes_names_as_written_and_v2_nests() {
        let v1 = FieldPath::parse("a.b", FieldSyntaxVersion::V1).unwrap();
        assert_eq!(v1.steps(), ["a.b"]);
        assert_eq!(steps("a.b.c"), ["a", "b", "c"]);
        assert_eq!(steps("`a.b`.c"), ["a.b", "c"]);
        assert_eq!(steps("a.`b.c`"), ["a", "b.c"]);
        assert_eq!(steps("`x`"), ["x"]);
        assert_eq!(steps(r"`a\`b`.c"), ["a`b", "c"]);
        assert!(FieldPath::parse("a..b", FieldSyntaxVersion::V2).is_err());
        assert!(FieldPath::parse("`a.b", FieldSyntaxVersion::V2).is_err());
    }

    #[test]
    fn paths_find_nested_values() {
        let object = json!({"a": {"b": 1}, "a.b": 2});
        let object = object.as_object().unwrap();
        let nested = FieldPath::parse("a.b", FieldSyntaxVersion::V2).unwrap();
        assert_eq!(nested.get(object), Some(&json!(1)));
        let flat = FieldPath::parse("a.b", FieldSyntaxVersion::V1).unwrap();
        assert_eq!(flat.get(object), Some(&json!(2)));
        assert_eq!(FieldPath::single("missing").get(object), None);
    }
}
