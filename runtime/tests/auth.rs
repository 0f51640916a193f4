//! REST authentication and roles in a real worker: HTTP Basic against argon2 hashes and Bearer
//! tokens, one check per role per endpoint class, 401s with `WWW-Authenticate`, and no
//! credential in the log.

mod support;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ferry_runtime::rest::auth::{hash_password, hash_token};
use serde_json::{json, Value};
use support::http::{curl, try_request, try_request_with, Response};
use support::unique;
use support::worker::{free_port, WorkerSetup};

const USERS: &[(&str, &str, &str)] = &[
    ("admin", "admin-secret", "admin"),
    ("ops", "ops-secret", "operator"),
    ("viewer", "viewer-secret", "viewer"),
];
const TOKEN: &str = "ferry-ci-token-5f1c";

fn basic(user: &str) -> String {
    let (_, password, _) = USERS.iter().find(|(u, _, _)| *u == user).unwrap();
    format!("Basic {}", BASE64.encode(format!("{user}:{password}")))
}

struct Api {
    port: u16,
}

impl Api {
    fn call(&self, auth: Option<&str>, method: &str, path: &str, body: Option<&Value>) -> Response {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        try_request_with(self.port, method, path, body, &headers)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    fn status(&self, auth: Option<&str>, method: &str, path: &str, body: Option<&Value>) -> u16 {
        let response = self.call(auth, method, path, body);
        if response.status >= 400 {
            // Every refusal is in Kafka Connect's error shape.
            let error = response.json();
            assert_eq!(error["error_code"], response.status, "{}", response.body);
            assert!(error["message"].is_string(), "{}", response.body);
        }
        response.status
    }
}

#[test]
fn each_role_may_do_what_it_is_granted_and_nothing_more() {
    let users_dir = tempfile::tempdir().unwrap();
    let users_file = users_dir.path().join("users.yaml");
    let mut yaml = String::from("users:\n");
    for (user, password, role) in USERS {
        let hash = hash_password(password).unwrap();
        yaml.push_str(&format!(
            "  {user}: {{role: {role}, password: \"{hash}\"}}\n"
        ));
    }
    yaml.push_str(&format!(
        "tokens:\n  ci: {{role: operator, sha256: \"{}\"}}\n",
        hash_token(TOKEN)
    ));
    std::fs::write(&users_file, yaml).unwrap();

    let setup = WorkerSetup::new(
        &["sequence_connector"],
        &format!("rest.auth.users.file: {}", users_file.display()),
    );
    let worker = setup.start();
    let api = Api { port: worker.port };
    let (admin, ops, viewer) = (basic("admin"), basic("ops"), basic("viewer"));
    let bearer = format!("Bearer {TOKEN}");
    let connector = json!({"name": "guarded", "config": {
        "connector.class": "SequenceSource", "kafka.topic": unique("guarded"),
        "rate.per.second": "5"}});

    // Without or with wrong credentials: 401 with a challenge; the health probe stays open.
    let anonymous = api.call(None, "GET", "/connectors", None);
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert!(anonymous
        .header("www-authenticate")
        .is_some_and(|h| h.contains("Basic")));
    assert_eq!(anonymous.json()["error_code"], 401);
    let wrong = format!("Basic {}", BASE64.encode("admin:not-the-password"));
    assert_eq!(api.status(Some(&wrong), "GET", "/connectors", None), 401);
    assert_eq!(
        api.status(Some("Bearer nope"), "GET", "/connectors", None),
        401
    );
    assert_eq!(
        api.status(Some("Digest x"), "GET", "/connectors", None),
        401
    );
    assert_eq!(api.status(None, "GET", "/health", None), 200);

    // Viewer: reads and validates; everything else is 403.
    assert_eq!(api.status(Some(&viewer), "GET", "/connectors", None), 200);
    assert_eq!(
        api.status(Some(&viewer), "GET", "/connector-plugins", None),
        200
    );
    assert_eq!(
        api.status(
            Some(&viewer),
            "PUT",
            "/connector-plugins/SequenceSource/config/validate",
            Some(&connector["config"]),
        ),
        200
    );
    assert_eq!(
        api.status(Some(&viewer), "POST", "/connectors", Some(&connector)),
        403
    );

    // Operator: not create; admin creates.
    assert_eq!(
        api.status(Some(&ops), "POST", "/connectors", Some(&connector)),
        403
    );
    assert_eq!(
        api.status(Some(&admin), "POST", "/connectors", Some(&connector)),
        201
    );
    assert_eq!(
        api.status(Some(&viewer), "GET", "/connectors/guarded/status", None),
        200
    );

    // Lifecycle actions: operators (and tokens with the role) yes, viewers no.
    assert_eq!(
        api.status(Some(&viewer), "PUT", "/connectors/guarded/pause", None),
        403
    );
    assert_eq!(
        api.status(Some(&ops), "PUT", "/connectors/guarded/pause", None),
        202
    );
    assert_eq!(
        api.status(Some(&bearer), "PUT", "/connectors/guarded/resume", None),
        202
    );
    assert_eq!(
        api.status(Some(&viewer), "POST", "/connectors/guarded/restart", None),
        403
    );
    let restarted = api.status(Some(&ops), "POST", "/connectors/guarded/restart", None);
    assert!(
        restarted == 204 || restarted == 202,
        "restart answered {restarted}"
    );
    assert_eq!(
        api.status(
            Some(&ops),
            "POST",
            "/connectors/guarded/tasks/0/restart",
            None
        ),
        204
    );

    // Config, offsets, loggers and delete: admin only.
    let config = connector["config"].clone();
    assert_eq!(
        api.status(
            Some(&ops),
            "PUT",
            "/connectors/guarded/config",
            Some(&config)
        ),
        403
    );
    assert_eq!(
        api.status(
            Some(&admin),
            "PUT",
            "/connectors/guarded/config",
            Some(&config)
        ),
        200
    );
    assert_eq!(
        api.status(Some(&ops), "DELETE", "/connectors/guarded/offsets", None),
        403
    );
    let level = json!({"level": "DEBUG"});
    assert_eq!(
        api.status(Some(&ops), "PUT", "/admin/loggers/ferry", Some(&level)),
        403
    );
    assert_eq!(
        api.status(Some(&viewer), "GET", "/admin/loggers", None),
        200
    );
    assert_eq!(
        api.status(Some(&ops), "DELETE", "/connectors/guarded", None),
        403
    );
    assert_eq!(
        api.status(Some(&admin), "DELETE", "/connectors/guarded", None),
        204
    );

    // Failures are logged with the client, never with the credential.
    std::thread::sleep(Duration::from_millis(200));
    let log = worker.log();
    assert!(
        log.contains("REST authentication failed"),
        "no failure logged"
    );
    for secret in [
        "admin-secret",
        "ops-secret",
        "viewer-secret",
        "not-the-password",
        TOKEN,
    ] {
        assert!(!log.contains(secret), "the log holds {secret}");
    }
    assert!(!log.contains(&BASE64.encode("admin:not-the-password")));
}

#[test]
fn a_users_file_with_a_plaintext_password_stops_the_worker_with_the_fix() {
    let users_dir = tempfile::tempdir().unwrap();
    let users_file = users_dir.path().join("users.yaml");
    std::fs::write(
        &users_file,
        "users:\n  admin: {role: admin, password: admin-secret}\n",
    )
    .unwrap();
    let setup = WorkerSetup::new(
        &["sequence_connector"],
        &format!("rest.auth.users.file: {}", users_file.display()),
    );
    let (code, log) = setup.start_expecting_failure();
    assert_ne!(code, Some(0));
    assert!(
        log.contains("rest.auth.users.file") && log.contains("ferry hash-password"),
        "{log}"
    );
    assert!(!log.contains("admin-secret"), "{log}");
}

/// The dev services' server certificate and key in one PEM file (Kafka's PEM keystore layout).
fn keystore() -> std::path::PathBuf {
    let ca = support::Services::from_env().tls_ca;
    ca.with_file_name("server-keystore.pem")
}

#[test]
fn https_serves_with_the_dev_ca_refuses_plain_http_and_can_require_client_certificates() {
    let users_dir = tempfile::tempdir().unwrap();
    let users_file = users_dir.path().join("users.yaml");
    let hash = hash_password("admin-secret").unwrap();
    std::fs::write(
        &users_file,
        format!("users:\n  admin: {{role: admin, password: \"{hash}\"}}\n"),
    )
    .unwrap();
    let services = support::Services::from_env();

    let mut setup = WorkerSetup::new(
        &["sequence_connector"],
        &format!(
            "rest.auth.users.file: {}\nlisteners.https.ssl.keystore.location: {}\n",
            users_file.display(),
            keystore().display()
        ),
    );
    setup.scheme = "https";
    let worker = setup.start();
    let (status, body) = curl(worker.port, "/connectors", &["-u", "admin:admin-secret"]);
    assert_eq!((status, body.as_str()), (200, "[]"));
    assert_eq!(curl(worker.port, "/connectors", &[]).0, 401);
    // Plain HTTP to the HTTPS port gets no HTTP answer.
    let plain = try_request(worker.port, "GET", "/", None);
    assert!(
        plain.map_or(true, |r| r.status == 0),
        "plain HTTP was answered"
    );
    drop(worker);

    // Required client certificates: none is refused at the handshake, the dev client's passes.
    let mut strict = WorkerSetup::new(
        &["sequence_connector"],
        &format!(
            "rest.auth.users.file: {}\nlisteners.https.ssl.keystore.location: {}\nlisteners.https.ssl.truststore.location: {}\nlisteners.https.ssl.client.auth: required\n",
            users_file.display(),
            keystore().display(),
            services.tls_ca.display()
        ),
    );
    strict.scheme = "https";
    let client = [
        "--cert",
        services.tls_client_cert.to_str().unwrap(),
        "--key",
        services.tls_client_key.to_str().unwrap(),
    ];
    // The readiness probe has no client certificate: start, then probe with one.
    let worker = strict.start_with_probe(&client);
    let with_cert = curl(
        worker.port,
        "/connectors",
        &[&["-u", "admin:admin-secret"][..], &client[..]].concat(),
    );
    assert_eq!(with_cert.0, 200, "{}", with_cert.1);
    let without = curl(worker.port, "/connectors", &["-u", "admin:admin-secret"]);
    assert_eq!(
        without.0, 0,
        "a connection without a client certificate was served"
    );
}

/// examples/secure/: its users file and keystore on HTTPS (on a free port rather than its 8443,
/// which a developer's worker may hold).
#[test]
fn the_secure_example_serves_https_with_its_users() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/secure/worker.yaml"
    );
    let text = std::fs::read_to_string(example).unwrap();
    assert!(text.contains("listeners: https://127.0.0.1:8443"));
    assert!(text.contains("server-keystore.pem") && text.contains("users.yaml"));
    let users = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/secure/users.yaml");
    let mut secure = WorkerSetup::new(
        &["sequence_connector"],
        &format!(
            "rest.auth.users.file: {users}\nlisteners.https.ssl.keystore.location: {}\n",
            keystore().display()
        ),
    );
    secure.scheme = "https";
    let worker = secure.start();
    assert_eq!(
        curl(worker.port, "/connectors", &["-u", "admin:admin-secret"]).0,
        200
    );
    assert_eq!(
        curl(worker.port, "/connectors", &["-u", "viewer:viewer-secret"]).0,
        200
    );
    let refused = curl(
        worker.port,
        "/connectors/x/config",
        &[
            "-u",
            "viewer:viewer-secret",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/json",
            "-d",
            "{}",
        ],
    );
    assert_eq!(refused.0, 403, "{}", refused.1);
    assert_eq!(
        curl(worker.port, "/connectors", &["-u", "admin:wrong"]).0,
        401
    );
}

/// curl arguments for a JSON request with a body.
fn json_body<'a>(method: &'a str, body: &'a str) -> [&'a str; 6] {
    [
        "-X",
        method,
        "-H",
        "Content-Type: application/json",
        "-d",
        body,
    ]
}

#[test]
fn a_client_certificate_is_an_identity_and_a_grant_can_be_limited_to_connectors() {
    let services = support::Services::from_env();
    let users_dir = tempfile::tempdir().unwrap();
    let users_file = users_dir.path().join("users.yaml");
    let hash = hash_password("admin-secret").unwrap();
    // The dev client certificate's subject is CN=ferry-client.
    std::fs::write(
        &users_file,
        format!(
            "users:\n  admin: {{role: admin, password: \"{hash}\"}}\ncertificates:\n  ferry-client: {{role: admin, connectors: [\"cars-*\"]}}\n"
        ),
    )
    .unwrap();
    let tls = format!(
        "rest.auth.users.file: {}\nlisteners.https.ssl.keystore.location: {}\nlisteners.https.ssl.truststore.location: {}\n",
        users_file.display(),
        keystore().display(),
        services.tls_ca.display()
    );

    // Certificates in the users file need a listener that asks for them.
    let mut without_client_auth = WorkerSetup::new(&["sequence_connector"], &tls);
    without_client_auth.scheme = "https";
    let (code, log) = without_client_auth.start_expecting_failure();
    assert_ne!(code, Some(0));
    assert!(
        log.contains("listeners.https.ssl.client.auth"),
        "the refusal does not name the key to set:\n{log}"
    );

    let mut setup = WorkerSetup::new(
        &["sequence_connector"],
        &format!("{tls}listeners.https.ssl.client.auth: requested\n"),
    );
    setup.scheme = "https";
    let worker = setup.start();
    let admin = ["-u", "admin:admin-secret"];
    let certificate = [
        "--cert",
        services.tls_client_cert.to_str().unwrap(),
        "--key",
        services.tls_client_key.to_str().unwrap(),
    ];
    let as_admin =
        |path: &str, extra: &[&str]| curl(worker.port, path, &[&admin[..], extra].concat());
    let as_certificate =
        |path: &str, extra: &[&str]| curl(worker.port, path, &[&certificate[..], extra].concat());
    let connector = |name: &str| {
        json!({"name": name, "config": {"connector.class": "SequenceSource",
            "kafka.topic": unique(name), "rate.per.second": "1"}})
        .to_string()
    };
    let orders = connector("orders");
    let created = as_admin("/connectors", &json_body("POST", &orders));
    assert_eq!(created.0, 201, "{}", created.1);

    // No credential and no certificate: 401, as before.
    assert_eq!(curl(worker.port, "/connectors", &[]).0, 401);
    // The certificate alone is an identity; its grant reaches only cars-*.
    let cars = connector("cars-eu");
    let created = as_certificate("/connectors", &json_body("POST", &cars));
    assert_eq!(created.0, 201, "{}", created.1);
    let outside = as_certificate("/connectors", &json_body("POST", &connector("orders-2")));
    assert_eq!(outside.0, 403, "{}", outside.1);
    assert!(outside.1.contains("cars-*"), "{}", outside.1);
    let listed = as_certificate("/connectors", &[]);
    assert_eq!((listed.0, listed.1.as_str()), (200, r#"["cars-eu"]"#));
    let expanded: Value =
        serde_json::from_str(&as_certificate("/connectors?expand=status", &[]).1).unwrap();
    assert_eq!(expanded.as_object().unwrap().len(), 1, "{expanded}");
    assert_eq!(as_certificate("/connectors/orders/status", &[]).0, 403);
    assert_eq!(
        as_certificate("/connectors/orders", &["-X", "DELETE"]).0,
        403
    );
    assert_eq!(
        as_certificate("/connectors/cars-eu/pause", &["-X", "PUT"]).0,
        202
    );
    // Worker-wide reads stay open to it; worker-wide changes do not.
    assert_eq!(as_certificate("/connector-plugins", &[]).0, 200);
    let loggers = as_certificate(
        "/admin/loggers/ferry",
        &json_body("PUT", r#"{"level": "DEBUG"}"#),
    );
    assert_eq!(loggers.0, 403, "{}", loggers.1);
    // An Authorization header decides over the certificate.
    let both = curl(
        worker.port,
        "/connectors",
        &[&admin[..], &certificate[..]].concat(),
    );
    assert_eq!((both.0, both.1.as_str()), (200, r#"["cars-eu","orders"]"#));
    let logged = worker.log();
    assert!(logged.contains("CN=ferry-client"), "{logged}");
}

#[test]
fn every_listener_is_served_and_admin_listeners_move_or_turn_off_the_admin_endpoints() {
    let (admin_port, second_port) = (free_port(), free_port());
    let mut setup = WorkerSetup::new(
        &["sequence_connector"],
        &format!("admin.listeners: http://127.0.0.1:{admin_port}\n"),
    );
    setup.more_listeners = vec![format!("http://127.0.0.1:{second_port}")];
    let worker = setup.start();
    let status = |port: u16, path: &str| {
        let response = try_request(port, "GET", path, None)
            .unwrap_or_else(|e| panic!("GET {path} on port {port}: {e}"));
        if response.status == 404 {
            assert_eq!(response.json()["error_code"], 404, "{}", response.body);
        }
        response.status
    };
    for port in [worker.port, second_port] {
        assert_eq!(status(port, "/connectors"), 200, "port {port}");
        assert_eq!(status(port, "/admin/loggers"), 404, "port {port}");
    }
    assert_eq!(status(admin_port, "/admin/loggers"), 200);
    assert_eq!(status(admin_port, "/connectors"), 404);
    drop(worker);

    // Empty: no admin endpoints anywhere; unset: on the main listeners.
    let off = WorkerSetup::new(&["sequence_connector"], "admin.listeners: \"\"\n");
    let worker = off.start();
    assert_eq!(status(worker.port, "/admin/loggers"), 404);
    assert_eq!(status(worker.port, "/connectors"), 200);
    drop(worker);
    let setup = WorkerSetup::new(&["sequence_connector"], "");
    let worker = setup.start();
    assert_eq!(status(worker.port, "/admin/loggers"), 200);

    // TLS keys for an admin listener that is not https:// are refused, naming the key.
    let (code, log) = WorkerSetup::new(
        &["sequence_connector"],
        &format!("admin.listeners: http://127.0.0.1:{admin_port}\nadmin.listeners.https.ssl.keystore.location: /nowhere.pem\n"),
    )
    .start_expecting_failure();
    assert_ne!(code, Some(0));
    assert!(
        log.contains("admin.listeners.https.ssl.keystore.location"),
        "{log}"
    );
}
