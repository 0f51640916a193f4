//! Secrets in the config topic, sealed: with `config.storage.secrets.key` set, every value of
//! a key the connector's plugin marks as a password is written as
//! `ferry:sealed:v1:<base64 of nonce, AES-256-GCM ciphertext and tag>`, the key's name bound in
//! as associated data so a sealed value cannot be moved to another key. Anyone who reads the
//! topic sees ciphertext; only workers with the key see the secret. The rest of the record
//! stays in Kafka Connect's layout, so tools that read the topic still work.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ferry_api::ConfigMap;

/// What a sealed value starts with.
const SEALED: &str = "ferry:sealed:v1:";

/// Whether a key of a connector of a class is a secret, by the plugin's config definition.
pub type SecretKeys = dyn Fn(&str, &str) -> bool + Send + Sync;

/// Seals and opens the secret values of connector and task configs.
pub struct Sealer {
    /// `None`: this worker has no key; it writes secrets as they are and cannot read sealed
    /// ones.
    key: Option<LessSafeKey>,
    secret_keys: Box<SecretKeys>,
}

impl Sealer {
    /// A sealer with the worker's 32-byte key, or none.
    pub fn new(key: Option<&[u8; 32]>, secret_keys: Box<SecretKeys>) -> Sealer {
        Sealer {
            key: key.map(|k| {
                LessSafeKey::new(UnboundKey::new(&AES_256_GCM, k).expect("a 32-byte AES key"))
            }),
            secret_keys,
        }
    }

    /// `config` as the topic gets it: the secret values of a connector of `class` sealed.
    pub fn seal(&self, class: Option<&str>, config: &ConfigMap) -> ConfigMap {
        let (Some(key), Some(class)) = (&self.key, class) else {
            return config.clone();
        };
        config
            .iter()
            .map(|(name, value)| {
                if (self.secret_keys)(class, name) && !is_reference(value) && !is_sealed(value) {
                    (name.clone(), seal_value(key, name, value))
                } else {
                    (name.clone(), value.clone())
                }
            })
            .collect()
    }

    /// `config` as read from the topic, its sealed values opened; the error says why one
    /// cannot be.
    pub fn open(&self, config: ConfigMap) -> Result<ConfigMap, String> {
        config
            .into_iter()
            .map(|(name, value)| {
                if !is_sealed(&value) {
                    return Ok((name, value));
                }
                let key = self.key.as_ref().ok_or_else(|| {
                    format!("{name} is sealed with config.storage.secrets.key, and this worker has none: set config.storage.secrets.key to the cluster's key")
                })?;
                let plain = open_value(key, &name, &value).ok_or_else(|| {
                    format!("{name} is sealed with another key than this worker's config.storage.secrets.key: set it to the cluster's key")
                })?;
                Ok((name, plain))
            })
            .collect()
    }
}

/// A config provider reference is not a secret (the provider holds it) and stays readable.
fn is_reference(value: &str) -> bool {
    let value = value.trim();
    value.starts_with("${") && value.ends_with('}')
}

fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED)
}

fn seal_value(key: &LessSafeKey, name: &str, value: &str) -> String {
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).expect("the system's random source");
    let mut sealed = value.as_bytes().to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(name.as_bytes()),
        &mut sealed,
    )
    .expect("AES-GCM seals any config value");
    let mut bytes = nonce.to_vec();
    bytes.extend_from_slice(&sealed);
    format!("{SEALED}{}", BASE64.encode(bytes))
}

fn open_value(key: &LessSafeKey, name: &str, value: &str) -> Option<String> {
    let bytes = BASE64.decode(value.strip_prefix(SEALED)?).ok()?;
    if bytes.len() < NONCE_LEN {
        return None;
    }
    let (nonce, sealed) = bytes.split_at(NONCE_LEN);
    let mut sealed = sealed.to_vec();
    let plain = key
        .open_in_place(
            Nonce::try_assume_unique_for_key(nonce).ok()?,
            Aad::from(name.as_bytes()),
            &mut sealed,
        )
        .ok()?;
    String::from_utf8(plain.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(key: Option<&[u8; 32]>) -> Sealer {
        Sealer::new(
            key,
            Box::new(|class, name| class == "Mqtt" && name == "mqtt.password"),
        )
    }

    fn config(pairs: &[(&str, &str)]) -> ConfigMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn secrets_are_sealed_and_open_only_with_the_key() {
        let key = [7u8; 32];
        let plain = config(&[("mqtt.password", "ferry-secret"), ("mqtt.username", "car")]);
        let sealed = sealer(Some(&key)).seal(Some("Mqtt"), &plain);
        assert!(sealed["mqtt.password"].starts_with(SEALED));
        assert!(!sealed["mqtt.password"].contains("ferry-secret"));
        assert_eq!(sealed["mqtt.username"], "car");
        // A fresh nonce each time.
        assert_ne!(
            sealed["mqtt.password"],
            sealer(Some(&key)).seal(Some("Mqtt"), &plain)["mqtt.password"]
        );
        assert_eq!(sealer(Some(&key)).open(sealed.clone()).unwrap(), plain);
        let without = sealer(None).open(sealed.clone()).unwrap_err();
        assert!(without.contains("config.storage.secrets.key"), "{without}");
        let other = sealer(Some(&[8u8; 32])).open(sealed.clone()).unwrap_err();
        assert!(other.contains("another key"), "{other}");
        // Moved to another key, the ciphertext does not open.
        let mut moved = sealed.clone();
        moved.insert("mqtt.username".into(), sealed["mqtt.password"].clone());
        assert!(sealer(Some(&key)).open(moved).is_err());
        // References and other plugins' keys stay as they are; no key writes plaintext.
        let reference = config(&[("mqtt.password", "${file:/etc/ferry/s.properties:pw}")]);
        assert_eq!(sealer(Some(&key)).seal(Some("Mqtt"), &reference), reference);
        assert_eq!(sealer(Some(&key)).seal(Some("Other"), &plain), plain);
        assert_eq!(sealer(None).seal(Some("Mqtt"), &plain), plain);
    }
}
