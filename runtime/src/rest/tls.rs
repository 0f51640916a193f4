//! HTTPS for the REST listener: rustls with PEM files, client certificates none, requested or
//! required (Kafka Connect's `listeners.https.ssl.*` names, PEM keystore layout).

use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::config::{ClientAuth, HttpsConfig};
use crate::rest::auth::ClientCertificate;

/// The rustls configuration of an HTTPS listener; the error names the setting to fix.
pub fn server_config(https: &HttpsConfig) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let (certificates, key) = keystore(&https.keystore)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match https.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Requested | ClientAuth::Required => {
            let truststore = https.truststore.as_deref().ok_or(
                "listeners.https.ssl.client.auth needs listeners.https.ssl.truststore.location: the CA that signs client certificates",
            )?;
            let mut roots = RootCertStore::empty();
            for certificate in
                certificates_in(truststore, "listeners.https.ssl.truststore.location")?
            {
                roots.add(certificate).map_err(|e| {
                    format!(
                        "listeners.https.ssl.truststore.location: {}: {e}",
                        truststore.display()
                    )
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if https.client_auth == ClientAuth::Requested {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| format!("listeners.https.ssl.truststore.location: {e}"))?,
            )
        }
    };
    let mut config = builder
        .with_single_cert(certificates, key)
        .map_err(|e| format!("listeners.https.ssl.keystore.location: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificate chain and private key of a PEM keystore (Kafka's PEM layout: both in one
/// file).
fn keystore(path: &Path) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    const KEY: &str = "listeners.https.ssl.keystore.location";
    let certificates = certificates_in(path, KEY)?;
    let file = std::fs::File::open(path).map_err(|e| format!("{KEY}: {}: {e}", path.display()))?;
    let key = rustls_pemfile::private_key(&mut BufReader::new(file))
        .map_err(|e| format!("{KEY}: {}: {e}", path.display()))?
        .ok_or_else(|| {
            format!(
                "{KEY}: {} holds no private key; a PEM keystore holds the key and the certificate chain",
                path.display()
            )
        })?;
    Ok((certificates, key))
}

fn certificates_in(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{key}: {}: {e}", path.display()))?;
    let certificates: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut BufReader::new(file))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{key}: {}: {e}", path.display()))?;
    if certificates.is_empty() {
        return Err(format!(
            "{key}: {} holds no PEM certificate",
            path.display()
        ));
    }
    Ok(certificates)
}

/// The TLS acceptor of the REST listener: rustls's handshake, then the verified client
/// certificate's subject CN put into every request of the connection, for authentication.
#[derive(Clone)]
pub struct ClientIdentityAcceptor {
    inner: axum_server::tls_rustls::RustlsAcceptor,
}

impl ClientIdentityAcceptor {
    /// Accepts with `config`; a handshake that does not finish within 10 s is dropped.
    pub fn new(config: Arc<ServerConfig>) -> Self {
        ClientIdentityAcceptor {
            inner: axum_server::tls_rustls::RustlsAcceptor::new(
                axum_server::tls_rustls::RustlsConfig::from_config(config),
            )
            .handshake_timeout(std::time::Duration::from_secs(10)),
        }
    }
}

impl<I, S> axum_server::accept::Accept<I, S> for ClientIdentityAcceptor
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: Send + 'static,
{
    type Stream = tokio_rustls::server::TlsStream<I>;
    type Service = axum::middleware::AddExtension<S, ClientCertificate>;
    type Future =
        futures_util::future::BoxFuture<'static, std::io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            let (stream, service) = inner.accept(stream, service).await?;
            // rustls verified the chain against the truststore before this point; only the
            // name is read here.
            let common_name = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| subject_common_name(leaf));
            let certificate = ClientCertificate { common_name };
            Ok((
                stream,
                tower_layer::Layer::layer(&axum::Extension(certificate), service),
            ))
        })
    }
}

/// The subject CN of a DER certificate, if it has one in UTF-8.
fn subject_common_name(certificate: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate.as_ref()).ok()?;
    let common_name = parsed.subject().iter_common_name().next()?;
    common_name.as_str().ok().map(str::to_string)
}
