//! Who may call the REST API: HTTP Basic against argon2id password hashes, Bearer tokens
//! stored as SHA-256 digests, or the subject CN of a verified client certificate, each with a
//! role and, optionally, the connector names it is limited to.
//!
//! - `viewer` may read (every `GET`, and `config/validate`, which changes nothing);
//! - `operator` may also pause, resume, stop and restart;
//! - `admin` may do everything: create, configure, delete, offsets, loggers.
//!
//! The users file (`rest.auth.users.file`) holds no password and no token, only their hashes:
//!
//! ```yaml
//! users:
//!   admin:  {role: admin,  password: "$argon2id$v=19$m=19456,t=2,p=1$..."}   # ferry hash-password
//!   viewer: {role: viewer, password: "$argon2id$..."}
//! tokens:
//!   ci: {role: operator, sha256: "9f86d081884c7d65...", connectors: ["ci-*"]} # ferry hash-token
//! certificates:                                  # subject CN of a client certificate (mTLS)
//!   fleet-ops: {role: operator, connectors: ["cars-*", "alerts"]}
//! ```
//!
//! A grant with `connectors` (glob patterns) reaches only the connectors whose names match:
//! `GET /connectors` lists only those, anything on another connector is a 403, and so is any
//! worker-wide change (loggers); worker-wide reads (plugins, `/metrics`) stay open to it.
//! An `Authorization` header, when sent, decides; a client certificate is the identity only
//! without one, and only when its CN is listed.
//!
//! A missing or wrong credential is a 401 with `WWW-Authenticate` in Kafka Connect's error
//! shape, logged with the client's address and never the credential. Failures from one address
//! are answered ever more slowly (up to 2 s). A verified password is remembered by its SHA-256
//! so a client does not pay argon2's deliberate cost on every request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use globset::{Glob, GlobSet, GlobSetBuilder};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ApiError;

/// What a user may do; each role may do what the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads.
    Viewer,
    /// Reads, pauses, resumes, stops and restarts.
    Operator,
    /// Everything.
    Admin,
}

impl Role {
    /// The role's name in the users file.
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    users: HashMap<String, UserEntry>,
    #[serde(default)]
    tokens: HashMap<String, TokenEntry>,
    #[serde(default)]
    certificates: HashMap<String, CertificateEntry>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    role: Role,
    /// An argon2id PHC string.
    password: String,
    connectors: Option<Vec<String>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    role: Role,
    /// Hex SHA-256 of the token.
    sha256: String,
    connectors: Option<Vec<String>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CertificateEntry {
    role: Role,
    connectors: Option<Vec<String>>,
}

/// What an identity may do: a role, over every connector or only the matching ones.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The least role of the grant's requests.
    pub role: Role,
    /// `None`: every connector.
    pub connectors: Option<ConnectorPatterns>,
}

/// Connector-name glob patterns of a limited grant.
#[derive(Debug, Clone)]
pub struct ConnectorPatterns {
    patterns: Vec<String>,
    set: GlobSet,
}

impl ConnectorPatterns {
    fn new(patterns: Vec<String>) -> Result<Self, String> {
        let mut set = GlobSetBuilder::new();
        for pattern in &patterns {
            set.add(Glob::new(pattern).map_err(|e| format!("connector pattern `{pattern}`: {e}"))?);
        }
        Ok(ConnectorPatterns {
            set: set.build().map_err(|e| e.to_string())?,
            patterns,
        })
    }

    /// Whether the grant reaches connector `name`.
    pub fn allows(&self, name: &str) -> bool {
        self.set.is_match(name)
    }

    /// The patterns, as the users file gives them.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

impl Grant {
    fn new(role: Role, connectors: Option<Vec<String>>) -> Result<Grant, String> {
        Ok(Grant {
            role,
            connectors: connectors.map(ConnectorPatterns::new).transpose()?,
        })
    }

    /// Whether the grant reaches connector `name`.
    pub fn allows(&self, name: &str) -> bool {
        self.connectors.as_ref().is_none_or(|c| c.allows(name))
    }
}

struct Token {
    name: String,
    grant: Grant,
    digest: [u8; 32],
}

/// The subject CN of the verified client certificate of a connection, put in each of its
/// requests by the HTTPS acceptor.
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    /// The certificate's subject common name, if it has one.
    pub common_name: Option<String>,
}

/// Who is calling, as the handlers see it.
pub type Identity = (String, Grant);

/// The users and tokens a worker accepts, and what it remembers about recent requests.
pub struct Authenticator {
    users: HashMap<String, (Grant, String)>,
    tokens: Vec<Token>,
    certificates: HashMap<String, Grant>,
    /// Whether `GET /health` needs no credential (load-balancer probes).
    health_open: bool,
    /// SHA-256 of `user:password` pairs argon2 already accepted.
    verified: Mutex<HashMap<[u8; 32], Identity>>,
    /// Recent failures per client address.
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

/// An argon2 hash to verify against when the user does not exist, so an unknown name costs
/// what a wrong password costs.
const DECOY: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$ZmVycnktZGVjb3k$4hK1TxnAOYJ3yO2b5uFQlqvsq4z0n7q0mKk0c5yKq0M";

impl Authenticator {
    /// Reads a users file; the error names what to fix.
    pub fn load(path: &Path, health_open: bool) -> Result<Authenticator, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let file: UsersFile = serde_yaml::from_str(&text)
            .map_err(|e| format!("{} is not a valid users file: {e}", path.display()))?;
        let grant = |what: &str, role, connectors| {
            Grant::new(role, connectors).map_err(|e| format!("{}: {what}: {e}", path.display()))
        };
        let mut users = HashMap::new();
        for (name, entry) in file.users {
            PasswordHash::new(&entry.password).map_err(|e| {
                format!(
                    "{}: the password of `{name}` is not an argon2 hash ({e}); make one with `ferry hash-password`",
                    path.display()
                )
            })?;
            let grant = grant(&format!("user `{name}`"), entry.role, entry.connectors)?;
            users.insert(name, (grant, entry.password));
        }
        let mut certificates = HashMap::new();
        for (name, entry) in file.certificates {
            let grant = grant(
                &format!("certificate `{name}`"),
                entry.role,
                entry.connectors,
            )?;
            certificates.insert(name, grant);
        }
        let mut tokens = Vec::new();
        for (name, entry) in file.tokens {
            let digest = decode_hex32(&entry.sha256).ok_or_else(|| {
                format!(
                    "{}: the sha256 of token `{name}` is not 64 hex digits; make it with `ferry hash-token`",
                    path.display()
                )
            })?;
            let grant = grant(&format!("token `{name}`"), entry.role, entry.connectors)?;
            tokens.push(Token {
                name,
                grant,
                digest,
            });
        }
        if users.is_empty() && tokens.is_empty() && certificates.is_empty() {
            return Err(format!(
                "{} defines no users, tokens or certificates: nobody could call the REST API",
                path.display()
            ));
        }
        Ok(Authenticator {
            users,
            tokens,
            certificates,
            health_open,
            verified: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        })
    }

    /// Whether any identity comes from a client certificate (the listener must then ask for
    /// one).
    pub fn uses_certificates(&self) -> bool {
        !self.certificates.is_empty()
    }

    /// The identity of a verified client certificate, if its CN is listed.
    fn identify_certificate(&self, certificate: &ClientCertificate) -> Option<Identity> {
        let name = certificate.common_name.as_deref()?;
        let grant = self.certificates.get(name)?;
        Some((format!("CN={name}"), grant.clone()))
    }

    /// The user and grant behind an `Authorization` header value, if it is valid.
    fn identify(&self, authorization: &str) -> Option<Identity> {
        if let Some(token) = authorization.strip_prefix("Bearer ") {
            let digest: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
            // Every stored token is compared, in constant time, whichever matches.
            let mut found = None;
            for candidate in &self.tokens {
                if bool::from(candidate.digest.ct_eq(&digest)) {
                    found = Some((candidate.name.clone(), candidate.grant.clone()));
                }
            }
            return found;
        }
        let encoded = authorization.strip_prefix("Basic ")?;
        let decoded = String::from_utf8(BASE64.decode(encoded.trim()).ok()?).ok()?;
        let (user, password) = decoded.split_once(':')?;
        let key: [u8; 32] = Sha256::digest(decoded.as_bytes()).into();
        if let Some(known) = lock(&self.verified).get(&key) {
            return Some(known.clone());
        }
        let (grant, hash) = match self.users.get(user) {
            Some((grant, hash)) => (Some(grant), hash.as_str()),
            None => (None, DECOY),
        };
        let parsed = PasswordHash::new(hash).ok()?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        let grant = grant.filter(|_| matches)?;
        let identity = (user.to_string(), grant.clone());
        lock(&self.verified).insert(key, identity.clone());
        Some(identity)
    }

    /// How long to hold the answer to a client's failed attempt: nothing for the first few,
    /// then doubling up to 2 s; failures are forgotten after a quiet minute.
    fn failed(&self, client: IpAddr) -> Duration {
        let mut failures = lock(&self.failures);
        let entry = failures.entry(client).or_insert((0, Instant::now()));
        if entry.1.elapsed() > Duration::from_secs(60) {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
        entry.1 = Instant::now();
        let extra = entry.0.saturating_sub(3).min(6);
        if extra == 0 {
            Duration::ZERO
        } else {
            Duration::from_millis(100 << (extra - 1)).min(Duration::from_secs(2))
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn decode_hex32(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The least role a request needs, or `None` when it needs no credential.
pub fn required_role(method: &Method, path: &str, health_open: bool) -> Option<Role> {
    if path == "/health" && health_open {
        return None;
    }
    // The console's page and script hold no data; what they fetch is authenticated.
    if super::console::is_asset(path) && (method == Method::GET || method == Method::HEAD) {
        return None;
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if method == Method::GET || method == Method::HEAD {
        return Some(Role::Viewer);
    }
    match (method.as_str(), segments.as_slice()) {
        ("PUT", ["connector-plugins", _, "config", "validate"]) => Some(Role::Viewer),
        ("PUT", ["connectors", _, "pause" | "resume" | "stop"]) => Some(Role::Operator),
        ("POST", ["connectors", _, "restart"]) => Some(Role::Operator),
        ("POST", ["connectors", _, "tasks", _, "restart"]) => Some(Role::Operator),
        _ => Some(Role::Admin),
    }
}

/// The connector a request is about, from its path (`/connectors/{name}/...`), decoded as the
/// router decodes it.
fn connector_in_path(path: &str) -> Option<String> {
    let mut segments = path.trim_start_matches('/').split('/');
    if segments.next() != Some("connectors") {
        return None;
    }
    let name = segments.next().filter(|n| !n.is_empty())?;
    Some(
        percent_encoding::percent_decode_str(name)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// Requests no connector is the subject of, that a limited grant may still make: reads and
/// validation, which change nothing.
fn worker_wide_read(method: &Method, path: &str) -> bool {
    method == Method::GET
        || method == Method::HEAD
        || (method == Method::PUT && path.ends_with("/config/validate"))
}

/// Sent by the web console with each call.
pub const CONSOLE_HEADER: &str = "x-ferry-console";

/// The middleware: identifies the caller, checks the role the request needs and, for a limited
/// grant, that the connector is one it reaches.
pub async fn authenticate(
    State(auth): State<Arc<Authenticator>>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(needed) = required_role(request.method(), request.uri().path(), auth.health_open)
    else {
        return next.run(request).await;
    };
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let identity = match authorization {
        None => request
            .extensions()
            .get::<ClientCertificate>()
            .and_then(|certificate| auth.identify_certificate(certificate)),
        Some(value) => {
            let auth = auth.clone();
            // argon2 is deliberately slow: off the async threads.
            tokio::task::spawn_blocking(move || auth.identify(&value))
                .await
                .ok()
                .flatten()
        }
    };
    let from_console = request.headers().contains_key(CONSOLE_HEADER);
    let Some((user, grant)) = identity else {
        let delay = auth.failed(client.ip());
        tracing::warn!(client = %client, path = %request.uri().path(), "REST authentication failed: missing or wrong credentials");
        tokio::time::sleep(delay).await;
        let mut response = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Authentication required: send HTTP Basic credentials or a Bearer token of a user in rest.auth.users.file, or a client certificate whose CN it lists",
        )
        .into_response();
        // The console asks for credentials itself: a challenge would make the browser open
        // its own dialog over it.
        if !from_console {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"ferry\", Bearer realm=\"ferry\""),
            );
        }
        return response;
    };
    let role = grant.role;
    if role < needed {
        tracing::info!(%user, role = role.name(), method = %request.method(), path = %request.uri().path(), "REST request refused: role too low");
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "User {user} (role {}) may not {} {}: it needs the {} role",
                role.name(),
                request.method(),
                request.uri().path(),
                needed.name()
            ),
        )
        .into_response();
    }
    if let Some(patterns) = &grant.connectors {
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let connector = match connector_in_path(&path) {
            Some(name) => Some(name),
            None if method == Method::POST && path.trim_end_matches('/') == "/connectors" => {
                let (parts, body) = request.into_parts();
                let Ok(bytes) = axum::body::to_bytes(body, super::error::REQUEST_BODY_LIMIT).await
                else {
                    return super::error::too_large().into_response();
                };
                let name = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|body| body["name"].as_str().map(str::to_string))
                    .unwrap_or_default();
                request = Request::from_parts(parts, Body::from(bytes));
                Some(name)
            }
            None => None,
        };
        let refusal = match &connector {
            Some(name) if !patterns.allows(name) => Some(format!(
                "User {user} may not reach connector {name}: its grant is limited to connectors matching {}",
                patterns.patterns.join(", ")
            )),
            None if !worker_wide_read(&method, &path) => Some(format!(
                "User {user} may not {method} {path}: its grant is limited to connectors matching {}, and this changes the whole worker",
                patterns.patterns.join(", ")
            )),
            _ => None,
        };
        if let Some(message) = refusal {
            tracing::info!(%user, %method, %path, "REST request refused: outside the grant's connectors");
            return ApiError::new(StatusCode::FORBIDDEN, message).into_response();
        }
    }
    request.extensions_mut().insert(Caller { user, grant });
    next.run(request).await
}

/// The authenticated caller, in each request's extensions for the handlers that answer
/// differently to a limited grant (the connector list).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user, token or `CN=` name.
    pub user: String,
    /// What it may do.
    pub grant: Grant,
}

/// An argon2id hash of `password` for the users file, with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = password_hash::SaltString::generate(&mut password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// The hex SHA-256 of a token, for the users file.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_by_endpoint_class() {
        let role =
            |m: &str, p: &str| required_role(&Method::from_bytes(m.as_bytes()).unwrap(), p, true);
        assert_eq!(role("GET", "/health"), None);
        assert_eq!(role("GET", "/connectors/a/config"), Some(Role::Viewer));
        assert_eq!(
            role("PUT", "/connector-plugins/X/config/validate"),
            Some(Role::Viewer)
        );
        assert_eq!(role("PUT", "/connectors/a/pause"), Some(Role::Operator));
        assert_eq!(
            role("POST", "/connectors/a/tasks/0/restart"),
            Some(Role::Operator)
        );
        assert_eq!(role("POST", "/connectors"), Some(Role::Admin));
        assert_eq!(role("PUT", "/connectors/a/config"), Some(Role::Admin));
        assert_eq!(role("DELETE", "/connectors/a/offsets"), Some(Role::Admin));
        assert_eq!(role("PUT", "/admin/loggers/root"), Some(Role::Admin));
        assert_eq!(
            required_role(&Method::GET, "/health", false),
            Some(Role::Viewer)
        );
    }

    #[test]
    fn hashes_verify_and_the_decoy_is_a_valid_hash() {
        PasswordHash::new(DECOY).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("users.yaml");
        let hash = hash_password("s3cret").unwrap();
        std::fs::write(
            &file,
            format!(
                "users:\n  ada: {{role: operator, password: \"{hash}\"}}\ntokens:\n  ci: {{role: viewer, sha256: \"{}\"}}\n",
                hash_token("tok-1")
            ),
        )
        .unwrap();
        let auth = Authenticator::load(&file, true).unwrap();
        let role_of = |identity: Option<Identity>| identity.map(|(user, grant)| (user, grant.role));
        let basic = |user: &str, password: &str| {
            role_of(auth.identify(&format!(
                "Basic {}",
                BASE64.encode(format!("{user}:{password}"))
            )))
        };
        assert_eq!(basic("ada", "s3cret"), Some(("ada".into(), Role::Operator)));
        assert_eq!(
            basic("ada", "s3cret"),
            Some(("ada".into(), Role::Operator)),
            "cached"
        );
        assert_eq!(basic("ada", "wrong"), None);
        assert_eq!(basic("nobody", "s3cret"), None);
        assert_eq!(
            role_of(auth.identify("Bearer tok-1")),
            Some(("ci".into(), Role::Viewer))
        );
        assert!(auth.identify("Bearer tok-2").is_none());
        assert!(!std::fs::read_to_string(&file).unwrap().contains("s3cret"));
    }

    #[test]
    fn repeated_failures_are_slowed_down() {
        let auth = Authenticator {
            users: HashMap::new(),
            tokens: Vec::new(),
            certificates: HashMap::new(),
            health_open: true,
            verified: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        };
        let client: IpAddr = "127.0.0.1".parse().unwrap();
        let delays: Vec<Duration> = (0..10).map(|_| auth.failed(client)).collect();
        assert_eq!(delays[..3], [Duration::ZERO; 3]);
        assert!(delays[3] > Duration::ZERO && delays[4] > delays[3]);
        assert_eq!(delays[9], Duration::from_secs(2));
    }

    #[test]
    fn limited_grants_reach_only_matching_connectors() {
        let grant = Grant::new(Role::Admin, Some(vec!["cars-*".into(), "alerts".into()])).unwrap();
        assert!(grant.allows("cars-eu") && grant.allows("alerts"));
        assert!(!grant.allows("alerts-2") && !grant.allows("orders"));
        assert!(Grant::new(Role::Viewer, None).unwrap().allows("anything"));
        assert!(Grant::new(Role::Viewer, Some(vec!["[".into()])).is_err());
        assert_eq!(
            connector_in_path("/connectors/caf%C3%A9/config").as_deref(),
            Some("café")
        );
        assert_eq!(connector_in_path("/connectors"), None);
        assert_eq!(connector_in_path("/connector-plugins/X/config"), None);
        assert!(worker_wide_read(
            &Method::PUT,
            "/connector-plugins/X/config/validate"
        ));
        assert!(!worker_wide_read(&Method::PUT, "/admin/loggers/root"));
    }

    #[test]
    fn a_users_file_with_plaintext_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("users.yaml");
        std::fs::write(&file, "users:\n  ada: {role: admin, password: hunter2}\n").unwrap();
        let error = Authenticator::load(&file, true).unwrap_err();
        assert!(error.contains("ferry hash-password"), "{error}");
    }
}
