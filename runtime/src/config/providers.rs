//! Config providers: `${env:NAME}` and `${file:/path/to/secrets.properties:key}` in any value.
//!
//! As in Kafka Connect, stored configs keep the references and only running code sees the
//! resolved values, so secrets never appear in the config store or in REST responses.

use ferry_api::ConfigMap;

use super::ConfigError;

/// A whole connector or task config with its references resolved, for running code only.
pub fn resolve_config(config: &ConfigMap) -> Result<ConfigMap, ConfigError> {
    config
        .iter()
        .map(|(k, v)| resolve_providers(k, v).map(|v| (k.clone(), v)))
        .collect()
}

/// A task config as it may be stored and shown: where a value is a secret the connector got
/// from a config provider, the reference instead, as Kafka Connect does (`raw` is the
/// connector's config as stored, `resolved` as the connector saw it).
pub fn with_references(task: &ConfigMap, raw: &ConfigMap, resolved: &ConfigMap) -> ConfigMap {
    task.iter()
        .map(|(k, v)| match (raw.get(k), resolved.get(k)) {
            (Some(reference), Some(secret)) if secret == v && reference != secret => {
                (k.clone(), reference.clone())
            }
            _ => (k.clone(), v.clone()),
        })
        .collect()
}

/// Replaces every `${provider:...}` reference in `value`; `key` names the setting in errors.
pub fn resolve_providers(key: &str, value: &str) -> Result<String, ConfigError> {
    let mut resolved = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        resolved.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| invalid(key, "unclosed `${`; write ${env:NAME} or ${file:/path:key}"))?;
        resolved.push_str(&lookup(key, &after[..end])?);
        rest = &after[end + 1..];
    }
    resolved.push_str(rest);
    Ok(resolved)
}

fn lookup(key: &str, reference: &str) -> Result<String, ConfigError> {
    match reference.split_once(':') {
        Some(("env", name)) => std::env::var(name).map_err(|_| {
            invalid(key, &format!("environment variable {name} is not set (referenced as ${{env:{name}}})"))
        }),
        Some(("file", path_and_key)) => {
            let (path, wanted) = path_and_key.rsplit_once(':').ok_or_else(|| {
                invalid(key, "write ${file:/path/to/file.properties:key}")
            })?;
            let text = std::fs::read_to_string(path)
                .map_err(|e| invalid(key, &format!("cannot read {path}: {e}")))?;
            properties_value(&text, wanted).ok_or_else(|| {
                invalid(key, &format!("{path} has no key `{wanted}`"))
            })
        }
        _ => Err(invalid(
            key,
            &format!("unknown config provider in ${{{reference}}}; use ${{env:NAME}} or ${{file:/path:key}}"),
        )),
    }
}

/// The value of `wanted` in Java properties text (`key=value` or `key: value`, `#` comments).
fn properties_value(text: &str, wanted: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let split = l.find(['=', ':'])?;
            Some((l[..split].trim(), l[split + 1..].trim()))
        })
        .find(|(k, _)| *k == wanted)
        .map(|(_, v)| v.to_string())
}

fn invalid(key: &str, message: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_env_and_file_references() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets.properties");
        std::fs::write(&secrets, "# mqtt\nmqtt.password = s3cret\nother: x\n").unwrap();
        std::env::set_var("FERRY_TEST_PROVIDER_HOST", "broker");
        let value = format!(
            "tcp://${{env:FERRY_TEST_PROVIDER_HOST}}:1883?p=${{file:{}:mqtt.password}}",
            secrets.display()
        );
        assert_eq!(
            resolve_providers("k", &value).unwrap(),
            "tcp://broker:1883?p=s3cret"
        );
        let missing = resolve_providers("mqtt.password", "${env:FERRY_TEST_NOT_SET_ANYWHERE}");
        assert!(missing.unwrap_err().to_string().contains("mqtt.password"));
        let no_key = format!("${{file:{}:nope}}", secrets.display());
        assert!(resolve_providers("k", &no_key)
            .unwrap_err()
            .to_string()
            .contains("no key `nope`"));
    }
}
