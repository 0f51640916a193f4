//! How to reach an MQTT broker: the server URI, credentials, session settings and TLS, turned
//! into `rumqttc` options for MQTT 3.1.1 or 5.
//!
//! Nothing here is specific to one connector: the settings are plain data with the
//! configuration keys (`mqtt.server.uri`, `mqtt.ssl.*`, ...) named in every message, so the
//! source and the sink build the same connection from the same keys.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use ferry_api::config::ConfigIssue;
use ferry_api::tracing;
use rumqttc::tokio_rustls::rustls::{
    self,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider},
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime},
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rumqttc::{TlsConfiguration, Transport};

/// Where the broker listens, from `mqtt.server.uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUri {
    /// TLS (`ssl://`, `mqtts://`) or plain TCP (`tcp://`, `mqtt://`).
    pub tls: bool,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl FromStr for ServerUri {
    type Err = String;

    /// Parses `tcp://host:port`, `ssl://host:port`, `mqtt://` or `mqtts://`; the port defaults to
    /// 1883 (plain) or 8883 (TLS); IPv6 addresses go in brackets (`tcp://[::1]:1883`).
    fn from_str(uri: &str) -> Result<Self, String> {
        let uri = uri.trim();
        let (scheme, rest) = uri.split_once("://").ok_or_else(|| {
            format!("`{uri}` has no scheme; write it as `tcp://host:1883` or `ssl://host:8883`")
        })?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "tcp" | "mqtt" => false,
            "ssl" | "tls" | "mqtts" => true,
            _ => {
                return Err(format!(
                    "scheme `{scheme}://` is not supported; use `tcp://` (or `mqtt://`) for plain \
                     TCP and `ssl://` (or `mqtts://`) for TLS"
                ))
            }
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('/') || authority.contains('?') || authority.contains('@') {
            return Err(format!(
                "`{uri}` must be just scheme, host and port (e.g. `tcp://broker:1883`); put \
                 credentials in `mqtt.username`/`mqtt.password`"
            ));
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("`{uri}`: `[` of an IPv6 address is never closed"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(format!("`{uri}` has no host; e.g. `tcp://127.0.0.1:1883`"));
        }
        let port = match port {
            None => {
                if tls {
                    8883
                } else {
                    1883
                }
            }
            Some(port) => match port.parse::<u16>() {
                Ok(port) if port > 0 => port,
                _ => {
                    return Err(format!(
                        "`{port}` in `{uri}` is not a TCP port (1 to 65535)"
                    ))
                }
            },
        };
        Ok(ServerUri {
            tls,
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for ServerUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "ssl" } else { "tcp" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// TLS settings, from `mqtt.ssl.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM file of the CA certificates to trust; the system's roots when `None`.
    pub ca_file: Option<PathBuf>,
    /// PEM file of the client certificate chain, for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    pub key_file: Option<PathBuf>,
    /// Accept any server certificate. Only for tests against brokers with throwaway certificates.
    pub insecure_skip_verify: bool,
}

impl TlsSettings {
    /// Checks that the files exist and come in pairs; one issue per problem, named by key.
    pub fn check(&self, tls: bool) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let files = [
            ("mqtt.ssl.ca.file", &self.ca_file),
            ("mqtt.ssl.cert.file", &self.cert_file),
            ("mqtt.ssl.key.file", &self.key_file),
        ];
        for (key, file) in files {
            if let Some(path) = file {
                if !path.is_file() {
                    issues.push(ConfigIssue::new(
                        key,
                        format!(
                            "file {} does not exist or is not a regular file; give the path of a \
                             PEM file readable by the worker",
                            path.display()
                        ),
                    ));
                }
            }
        }
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => issues.push(ConfigIssue::new(
                "mqtt.ssl.key.file",
                "`mqtt.ssl.cert.file` is set but its private key is not; set `mqtt.ssl.key.file`",
            )),
            (None, Some(_)) => issues.push(ConfigIssue::new(
                "mqtt.ssl.cert.file",
                "`mqtt.ssl.key.file` is set but its certificate is not; set `mqtt.ssl.cert.file`",
            )),
            _ => {}
        }
        let configured = self.ca_file.is_some()
            || self.cert_file.is_some()
            || self.key_file.is_some()
            || self.insecure_skip_verify;
        if configured && !tls {
            issues.push(ConfigIssue::new(
                "mqtt.server.uri",
                "`mqtt.ssl.*` settings are given but the URI is plain TCP; use `ssl://host:port` \
                 (or remove the `mqtt.ssl.*` settings)",
            ));
        }
        issues
    }

    /// Builds the rustls client configuration.
    pub fn client_config(&self) -> Result<ClientConfig, TlsSetupError> {
        let provider = CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = if self.insecure_skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCertificate(provider)))
        } else {
            builder.with_root_certificates(self.roots()?)
        };
        let config = match (&self.cert_file, &self.key_file) {
            (Some(cert_file), Some(key_file)) => {
                let chain = read_certificates("mqtt.ssl.cert.file", cert_file)?;
                let key = read_key(key_file)?;
                builder.with_client_auth_cert(chain, key)?
            }
            _ => builder.with_no_client_auth(),
        };
        Ok(config)
    }

    fn roots(&self) -> Result<RootCertStore, TlsSetupError> {
        let mut roots = RootCertStore::empty();
        match &self.ca_file {
            Some(ca_file) => {
                let (_, rejected) = roots
                    .add_parsable_certificates(read_certificates("mqtt.ssl.ca.file", ca_file)?);
                if roots.is_empty() {
                    return Err(TlsSetupError::NoCertificates {
                        key: "mqtt.ssl.ca.file",
                        path: ca_file.clone(),
                        detail: format!("{rejected} certificates could not be parsed"),
                    });
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                for error in &found.errors {
                    tracing::warn!(%error, "a system root certificate could not be loaded");
                }
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(TlsSetupError::NoSystemRoots);
                }
            }
        }
        Ok(roots)
    }
}

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A PEM file could not be read.
    #[error("`{key}`: cannot read {}: {source}", path.display())]
    Read {
        /// The configuration key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A PEM file holds no usable certificate.
    #[error("`{key}`: {} holds no PEM certificate ({detail})", path.display())]
    NoCertificates {
        /// The configuration key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// More detail.
        detail: String,
    },
    /// The key file holds no private key.
    #[error("`mqtt.ssl.key.file`: {} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// No system root certificate is installed.
    #[error("`mqtt.ssl.ca.file` is not set and no system root certificate was found; set it to the PEM file of the broker's CA")]
    NoSystemRoots,
    /// rustls refused the configuration.
    #[error("TLS configuration rejected: {0}; check `mqtt.ssl.cert.file` and `mqtt.ssl.key.file`")]
    Rustls(#[from] rustls::Error),
}

impl TlsSetupError {
    /// The configuration key to blame.
    pub fn key(&self) -> &'static str {
        match self {
            TlsSetupError::Read { key, .. } | TlsSetupError::NoCertificates { key, .. } => key,
            TlsSetupError::NoKey { .. } => "mqtt.ssl.key.file",
            TlsSetupError::NoSystemRoots => "mqtt.ssl.ca.file",
            TlsSetupError::Rustls(_) => "mqtt.ssl.cert.file",
        }
    }
}

fn read_file(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsSetupError> {
    std::fs::read(path).map_err(|source| TlsSetupError::Read {
        key,
        path: path.to_path_buf(),
        source,
    })
}

fn read_certificates(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let pem = read_file(key, path)?;
    let certificates = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsSetupError::NoCertificates {
            key,
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    if certificates.is_empty() {
        return Err(TlsSetupError::NoCertificates {
            key,
            path: path.to_path_buf(),
            detail: "no `BEGIN CERTIFICATE` block".into(),
        });
    }
    Ok(certificates)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    let pem = read_file("mqtt.ssl.key.file", path)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .ok()
        .flatten()
        .ok_or_else(|| TlsSetupError::NoKey {
            path: path.to_path_buf(),
        })
}

/// The verifier behind `mqtt.ssl.insecure.skip.verify`: any certificate, any name. Handshake
/// signatures are still checked, so the session keys belong to whoever sent the certificate.
#[derive(Debug)]
struct AcceptAnyServerCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Everything needed to open an MQTT connection, whatever the protocol version.
#[derive(Clone)]
pub struct ConnectionSettings {
    /// The broker.
    pub server: ServerUri,
    /// The MQTT client identifier; with a persistent session it names the session.
    pub client_id: String,
    /// `mqtt.username`.
    pub username: Option<String>,
    /// `mqtt.password`.
    pub password: Option<String>,
    /// Start a clean session (3.1.1 clean session, 5 clean start) instead of resuming one.
    pub clean_session: bool,
    /// MQTT 5 session expiry interval in seconds for a persistent session (`u32::MAX`: never).
    pub session_expiry_seconds: u32,
    /// Keep-alive interval; zero disables it.
    pub keep_alive: Duration,
    /// TCP + TLS + CONNECT/CONNACK timeout.
    pub connect_timeout: Duration,
    /// Largest MQTT packet accepted, in bytes.
    pub max_packet_size: u32,
    /// MQTT 5 Receive Maximum: QoS 1 and 2 messages the broker may send before an acknowledgement.
    pub receive_maximum: u16,
    /// Acknowledge received publishes only when told to (`AsyncClient::ack`).
    pub manual_acks: bool,
    /// Capacity of the channel of requests (acks, subscribes) to the event loop.
    pub request_capacity: usize,
    /// TLS settings, used when `server.tls`.
    pub tls: TlsSettings,
}

impl fmt::Debug for ConnectionSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionSettings")
            .field("server", &self.server.to_string())
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("clean_session", &self.clean_session)
            .field("keep_alive", &self.keep_alive)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl ConnectionSettings {
    fn transport(&self) -> Result<Transport, TlsSetupError> {
        if !self.server.tls {
            return Ok(Transport::tcp());
        }
        let config = self.tls.client_config()?;
        Ok(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(config),
        )))
    }

    /// Options for an MQTT 3.1.1 connection.
    pub fn v4(&self) -> Result<(rumqttc::MqttOptions, rumqttc::NetworkOptions), TlsSetupError> {
        let mut options =
            rumqttc::MqttOptions::new(&self.client_id, &self.server.host, self.server.port);
        options
            .set_transport(self.transport()?)
            .set_keep_alive(self.keep_alive)
            .set_clean_session(self.clean_session)
            .set_manual_acks(self.manual_acks)
            .set_max_packet_size(self.max_packet_size as usize, self.max_packet_size as usize)
            // Outgoing publishes only: enough for a subscriber; `EventLoop::publisher` raises it.
            .set_inflight(10);
        if let Some(username) = &self.username {
            options.set_credentials(username, self.password.as_deref().unwrap_or(""));
        }
        let mut network = rumqttc::NetworkOptions::new();
        network.set_connection_timeout(self.connect_timeout.as_secs().max(1));
        Ok((options, network))
    }

    /// Options for an MQTT 5 connection.
    pub fn v5(&self) -> Result<rumqttc::v5::MqttOptions, TlsSetupError> {
        let mut options =
            rumqttc::v5::MqttOptions::new(&self.client_id, &self.server.host, self.server.port);
        options
            .set_transport(self.transport()?)
            // rumqttc's MQTT 5 client panics below 5 s; the configuration check rejects it.
            .set_keep_alive(self.keep_alive.max(Duration::from_secs(5)))
            .set_clean_start(self.clean_session)
            .set_manual_acks(self.manual_acks)
            .set_connection_timeout(self.connect_timeout.as_secs().max(1))
            .set_max_packet_size(Some(self.max_packet_size))
            .set_receive_maximum(Some(self.receive_maximum.max(1)))
            // Outgoing publishes only: enough for a subscriber; `EventLoop::publisher` raises it.
            .set_outgoing_inflight_upper_limit(10);
        if !self.clean_session {
            // Without it an MQTT 5 session ends with the connection.
            options.set_session_expiry_interval(Some(self.session_expiry_seconds));
        }
        if let Some(username) = &self.username {
            options.set_credentials(username, self.password.as_deref().unwrap_or(""));
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_uris() {
        let uri = |s: &str| s.parse::<ServerUri>();
        assert_eq!(
            uri("tcp://127.0.0.1:1883").unwrap(),
            ServerUri {
                tls: false,
                host: "127.0.0.1".into(),
                port: 1883
            }
        );
        assert_eq!(uri("ssl://broker.example:8884").unwrap().port, 8884);
        assert!(uri("ssl://broker.example:8884").unwrap().tls);
        assert!(uri("mqtts://broker").unwrap().tls);
        assert_eq!(uri("mqtts://broker").unwrap().port, 8883);
        assert_eq!(uri("mqtt://broker/").unwrap().port, 1883);
        let v6 = uri("tcp://[::1]:1884").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 1884));
        assert_eq!(v6.to_string(), "tcp://[::1]:1884");

        for (bad, why) in [
            ("127.0.0.1:1883", "no scheme"),
            ("http://broker:1883", "not supported"),
            ("tcp://:1883", "no host"),
            ("tcp://broker:0", "not a TCP port"),
            ("tcp://broker:99999", "not a TCP port"),
            ("tcp://broker:abc", "not a TCP port"),
            ("tcp://user:pw@broker:1883", "mqtt.username"),
            ("tcp://broker:1883/path", "just scheme"),
            ("tcp://[::1:1883", "never closed"),
        ] {
            let error = uri(bad).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn tls_file_checks_name_the_key() {
        let missing = TlsSettings {
            ca_file: Some("/nonexistent/ca.pem".into()),
            cert_file: Some("/nonexistent/client.pem".into()),
            ..TlsSettings::default()
        };
        let issues = missing.check(true);
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "mqtt.ssl.ca.file",
                "mqtt.ssl.cert.file",
                "mqtt.ssl.key.file"
            ]
        );
        assert!(issues[0].message.contains("does not exist"));
        assert!(issues[2].message.contains("set `mqtt.ssl.key.file`"));

        let plain = TlsSettings {
            insecure_skip_verify: true,
            ..TlsSettings::default()
        };
        assert_eq!(plain.check(false)[0].field, "mqtt.server.uri");
        assert!(TlsSettings::default().check(false).is_empty());
    }

    #[test]
    fn unreadable_pem_files_are_reported_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let settings = TlsSettings {
            ca_file: Some(junk.clone()),
            ..TlsSettings::default()
        };
        let error = settings.client_config().unwrap_err();
        assert_eq!(error.key(), "mqtt.ssl.ca.file");

        let insecure = TlsSettings {
            insecure_skip_verify: true,
            cert_file: Some(junk.clone()),
            key_file: Some(junk),
            ..TlsSettings::default()
        };
        let error = insecure.client_config().unwrap_err();
        assert_eq!(error.key(), "mqtt.ssl.cert.file", "{error}");
    }
}
