//! What the REST API does with input at its edges, in a real worker: a body over the limit,
//! a client that never finishes its headers, a path that is not UTF-8, and connector names
//! outside ASCII, each answered in Kafka Connect's error shape or served as named.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;
use support::http::{request, Response};
use support::unique;
use support::worker::WorkerSetup;

/// Every refusal is `{"error_code": status, "message": ...}`.
fn assert_error_shape(response: &Response, status: u16) {
    assert_eq!(response.status, status, "{}", response.body);
    let error = response.json();
    assert_eq!(error["error_code"], status, "{}", response.body);
    assert!(error["message"].is_string(), "{}", response.body);
}

#[test]
fn oversized_bodies_slow_clients_and_bad_paths_get_kafka_connect_errors() {
    let setup = WorkerSetup::new(&["sequence_connector"], "");
    let worker = setup.start();

    // A 5 MiB create: refused from its Content-Length, before the body is read.
    let mut stream = TcpStream::connect(("127.0.0.1", worker.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /connectors HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        5 << 20
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let too_large = Response {
        status: head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        headers: Vec::new(),
        body: body.to_string(),
    };
    assert_error_shape(&too_large, 413);
    assert!(too_large.body.contains("MiB"), "{}", too_large.body);

    // Headers that never end: the connection is closed after the 10 s header deadline.
    let mut slow = TcpStream::connect(("127.0.0.1", worker.port)).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(20),
        "a client that never finished its headers was held {waited:?}"
    );
    assert!(
        !String::from_utf8_lossy(&rest).contains(" 200 "),
        "an unfinished request was answered"
    );

    // A path that is not UTF-8, and an unknown route.
    assert_error_shape(
        &request(worker.port, "GET", "/connectors/%FF/status", None),
        400,
    );
    assert_error_shape(&request(worker.port, "GET", "/nowhere", None), 404);
    assert_error_shape(
        &request(worker.port, "DELETE", "/connector-plugins", None),
        405,
    );
    // The worker is still serving.
    assert_eq!(request(worker.port, "GET", "/", None).status, 200);
}

#[test]
fn connector_names_outside_ascii_are_served_at_their_percent_encoded_paths() {
    let setup = WorkerSetup::new(&["sequence_connector"], "");
    let worker = setup.start();
    let name = "café-☕ fleet";
    let encoded = "caf%C3%A9-%E2%98%95%20fleet";
    let created = request(
        worker.port,
        "POST",
        "/connectors",
        Some(
            &json!({"name": name, "config": {"connector.class": "SequenceSource",
            "kafka.topic": unique("unicode"), "rate.per.second": "1"}}),
        ),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json()["name"], name);
    assert_eq!(
        created.header("location"),
        Some(format!("/connectors/{encoded}").as_str())
    );
    // A logger name is one target, not more filter directives.
    let injected = request(
        worker.port,
        "PUT",
        "/admin/loggers/ferry_runtime%3Ddebug%2Cx",
        Some(&json!({"level": "INFO"})),
    );
    assert_eq!(injected.status, 400, "{}", injected.body);
    assert_eq!(
        request(worker.port, "GET", "/connectors", None).json(),
        json!([name])
    );
    let status = worker.wait_for(
        &format!("/connectors/{encoded}/status"),
        Duration::from_secs(30),
        |s| s["connector"]["state"] == "RUNNING",
    );
    assert_eq!(status["name"], name);
    let config = request(
        worker.port,
        "GET",
        &format!("/connectors/{encoded}/config"),
        None,
    );
    assert_eq!(config.json()["name"], name, "{}", config.body);
    assert_eq!(
        request(
            worker.port,
            "DELETE",
            &format!("/connectors/{encoded}"),
            None
        )
        .status,
        204
    );
    assert_eq!(
        request(worker.port, "GET", "/connectors", None).json(),
        json!([])
    );
}
