//! Secrets in connector configs: keys the plugin's config definition marks as passwords
//! (JSON Schema `writeOnly`, type `PASSWORD` in `/config/validate`).
//!
//! So are the Kafka client secrets a connector may override (`producer.override.sasl.jaas.config`,
//! see `config::is_client_secret`).
//!
//! REST answers show such a value as [`HIDDEN`], and a PUT or PATCH that sends [`HIDDEN`] back
//! keeps the stored value, so a GET → edit → PUT round trip keeps working. A config provider
//! reference (`${file:...}`, `${env:...}`) is not a secret and is shown as it is.

use ferry_api::ConfigMap;

use super::HerderError;
use crate::plugins::Plugin;

/// What a REST answer shows instead of a secret.
pub const HIDDEN: &str = "[hidden]";

fn is_reference(value: &str) -> bool {
    let value = value.trim();
    value.starts_with("${") && value.ends_with('}')
}

/// Whether `key` holds a secret in a config of `plugin`'s connectors.
pub fn is_secret_key(plugin: Option<&Plugin>, key: &str) -> bool {
    plugin.is_some_and(|p| p.is_secret_key(key)) || crate::config::is_client_secret(key)
}

/// Whether `value` of `key` must not be shown.
pub fn is_secret(plugin: Option<&Plugin>, key: &str, value: &str) -> bool {
    is_secret_key(plugin, key) && !is_reference(value)
}

/// `config` as a REST answer may show it.
pub fn hide(plugin: Option<&Plugin>, config: &ConfigMap) -> ConfigMap {
    hide_keys(&|key| is_secret_key(plugin, key), config)
}

fn hide_keys(secret_key: &dyn Fn(&str) -> bool, config: &ConfigMap) -> ConfigMap {
    config
        .iter()
        .map(|(key, value)| {
            if secret_key(key) && !is_reference(value) {
                (key.clone(), HIDDEN.to_string())
            } else {
                (key.clone(), value.clone())
            }
        })
        .collect()
}

/// Puts the stored secrets back where a submitted config says [`HIDDEN`]; a placeholder with no
/// stored value behind it is refused, naming the key.
pub fn restore(
    plugin: &Plugin,
    submitted: &mut ConfigMap,
    stored: Option<&ConfigMap>,
) -> Result<(), HerderError> {
    restore_keys(&|key| is_secret_key(Some(plugin), key), submitted, stored)
}

fn restore_keys(
    secret_key: &dyn Fn(&str) -> bool,
    submitted: &mut ConfigMap,
    stored: Option<&ConfigMap>,
) -> Result<(), HerderError> {
    for (key, value) in submitted.iter_mut() {
        if value != HIDDEN || !secret_key(key) {
            continue;
        }
        match stored.and_then(|s| s.get(key)) {
            Some(secret) => value.clone_from(secret),
            None => {
                return Err(HerderError::BadRequest(format!(
                    "{key} is {HIDDEN}, but no value is stored for it; send the secret itself (or a ${{file:...}} reference)"
                )))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::config;

    fn password(key: &str) -> bool {
        key == "mqtt.password"
    }

    #[test]
    fn secrets_are_hidden_but_references_and_other_keys_shown() {
        let shown = hide_keys(
            &password,
            &config(&[("mqtt.password", "s3cret"), ("mqtt.username", "ferry")]),
        );
        assert_eq!(shown["mqtt.password"], HIDDEN);
        assert_eq!(shown["mqtt.username"], "ferry");
        let reference = "${file:/etc/secrets.properties:mqtt.password}";
        let shown = hide_keys(&password, &config(&[("mqtt.password", reference)]));
        assert_eq!(shown["mqtt.password"], reference);
    }

    #[test]
    fn kafka_client_secrets_in_overrides_are_hidden_whatever_the_plugin() {
        let shown = hide(
            None,
            &config(&[
                (
                    "producer.override.sasl.jaas.config",
                    "org...PlainLoginModule password=x;",
                ),
                ("consumer.override.ssl.key.password", "k"),
                ("producer.override.linger.ms", "5"),
            ]),
        );
        assert_eq!(shown["producer.override.sasl.jaas.config"], HIDDEN);
        assert_eq!(shown["consumer.override.ssl.key.password"], HIDDEN);
        assert_eq!(shown["producer.override.linger.ms"], "5");
    }

    #[test]
    fn hidden_placeholders_get_the_stored_secret_back() {
        let stored = config(&[("mqtt.password", "s3cret")]);
        let mut submitted = config(&[("mqtt.password", HIDDEN), ("other", HIDDEN)]);
        restore_keys(&password, &mut submitted, Some(&stored)).unwrap();
        assert_eq!(submitted["mqtt.password"], "s3cret");
        assert_eq!(submitted["other"], HIDDEN, "only secret keys are restored");
        let mut fresh = config(&[("mqtt.password", HIDDEN)]);
        let refused = restore_keys(&password, &mut fresh, None).unwrap_err();
        assert!(refused.to_string().contains("mqtt.password"), "{refused}");
        let mut changed = config(&[("mqtt.password", "new")]);
        restore_keys(&password, &mut changed, Some(&stored)).unwrap();
        assert_eq!(
            changed["mqtt.password"], "new",
            "a new secret replaces the old"
        );
    }
}
