//! The MQTT source connector against the real Mosquitto started by `dev/services up`, loaded
//! through the worker's plugin loader as the worker loads it.
//!
//! Each test uses its own topic prefix and client ids, so tests run in parallel and against a
//! broker that keeps sessions between runs.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use ferry_api::serde_json;
use ferry_api::ConnectError;
use ferry_runtime::plugins::{PolledRecord, SourceTaskInstance};
use support::{
    commit, config, poll_error, poll_records, publish, start, unique, wait_for_log_line,
    wait_until_subscribed, RecordExt, Services,
};

const WITHIN: Duration = Duration::from_secs(30);

fn payloads(records: &[PolledRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.record.value.clone().unwrap()).unwrap())
        .collect()
}

#[test]
fn loads_with_class_name_aliases_and_documented_schema() {
    let plugin = support::plugin();
    assert_eq!(plugin.class_name, "ferry.mqtt.MqttSourceConnector");
    assert_eq!(plugin.aliases, ["MqttSourceConnector", "MqttSource"]);
    let properties = &plugin.config_schema["properties"];
    for key in [
        "mqtt.server.uri",
        "mqtt.topics",
        "kafka.topic",
        "kafka.key",
        "mqtt.qos",
        "mqtt.version",
        "mqtt.clean.session.enabled",
        "mqtt.client.id",
        "mqtt.ssl.ca.file",
        "mqtt.ssl.insecure.skip.verify",
        "mqtt.tasks.split",
        "mqtt.max.inflight",
        "mqtt.reconnect.backoff.max.ms",
    ] {
        let description = properties[key]["description"].as_str().unwrap_or("");
        assert!(!description.is_empty(), "{key} has no description");
    }
    assert_eq!(properties["mqtt.qos"]["default"], 1);
    assert_eq!(properties["mqtt.max.inflight"]["default"], 10_000);
}

#[test]
fn validate_names_each_offending_field() {
    let plugin = support::plugin();
    let issues = plugin
        .validate(&config(&[
            ("name", "v"),
            ("connector.class", "MqttSource"),
            ("mqtt.server.uri", "http://broker:1883"),
            ("mqtt.topics", "a/#/b,vehicles/sensor/data/+"),
            ("kafka.topic", "vehicles.{4}"),
            ("mqtt.ssl.ca.file", "/nonexistent/ca.pem"),
        ]))
        .unwrap();
    let by_field: HashMap<&str, &str> = issues
        .iter()
        .map(|i| (i.field.as_str(), i.message.as_str()))
        .collect();
    assert!(
        by_field["mqtt.server.uri"].contains("not supported"),
        "{issues:?}"
    );
    assert!(
        by_field["mqtt.topics"].contains("`#` must be"),
        "{issues:?}"
    );
    assert!(by_field["kafka.topic"].contains("level 4"), "{issues:?}");

    let issues = plugin
        .validate(&config(&[
            ("mqtt.server.uri", "ssl://127.0.0.1:8883"),
            ("mqtt.topics", "a/+"),
            ("kafka.topic", "t"),
            ("mqtt.qos", "3"),
        ]))
        .unwrap();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].field, "mqtt.qos");

    let issues = plugin
        .validate(&config(&[
            ("mqtt.server.uri", "ssl://127.0.0.1:8883"),
            ("mqtt.topics", "a/+"),
            ("kafka.topic", "t"),
            ("mqtt.ssl.ca.file", "/nonexistent/ca.pem"),
            ("mqtt.ssl.cert.file", "/nonexistent/client.pem"),
        ]))
        .unwrap();
    let fields: BTreeSet<&str> = issues.iter().map(|i| i.field.as_str()).collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "mqtt.ssl.ca.file",
            "mqtt.ssl.cert.file",
            "mqtt.ssl.key.file"
        ]),
        "{issues:?}"
    );
}

#[test]
fn the_example_configuration_is_valid() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/connectors/mqtt-source.json"
    );
    let example: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let settings: ferry_api::ConfigMap = serde_json::from_value(example["config"].clone()).unwrap();
    assert_eq!(settings["kafka.key"], "level:3");
    let issues = support::plugin().validate(&settings).unwrap();
    assert!(issues.is_empty(), "{issues:?}");
}

#[test]
fn wildcards_map_to_topics_keys_and_headers() {
    let services = Services::from_env();
    let prefix = unique("map");
    let connector = unique("mapping");
    let settings = config(&[
        ("mqtt.server.uri", &services.uri("tcp", services.mqtt_port)),
        (
            "mqtt.topics",
            &format!("{prefix}/vehicles/+/data/+,{prefix}/alerts/#"),
        ),
        ("kafka.topic", "mqtt.{1}"),
        ("kafka.key", "level:2"),
        ("mqtt.tasks.split", "filters"),
        ("mqtt.clean.session.enabled", "true"),
    ]);
    let mut task = start(&connector, 0, &settings);
    wait_until_subscribed(
        &services,
        &mut [&mut task],
        &format!("{prefix}/alerts/probe"),
    );

    let before = now_ms();
    let speed = format!("{prefix}/vehicles/car-1/data/speed");
    let temperature = format!("{prefix}/vehicles/car-2/data/temperature");
    let alert = format!("{prefix}/alerts/car-1/overheat");
    publish(
        &services,
        services.mqtt_port,
        &[
            (&speed, br#"{"kmh":88}"#, 1),
            (&temperature, b"\x00\x01binary", 1),
            (&alert, b"hot", 1),
            (&format!("{prefix}/elsewhere/car-9"), b"not subscribed", 1),
        ],
    );
    let records = poll_records(&mut task, 3, WITHIN);
    assert_eq!(records.len(), 3);
    let by_topic: HashMap<String, &ferry_api::SourceRecord> = records
        .iter()
        .map(|r| (r.record.topic_header(), &r.record))
        .collect();

    let record = by_topic[&speed];
    assert_eq!(record.topic, "mqtt.vehicles");
    assert_eq!(record.key.as_deref(), Some(&b"car-1"[..]));
    assert_eq!(record.value.as_deref(), Some(&br#"{"kmh":88}"#[..]));
    assert_eq!(record.header("mqtt.qos").as_deref(), Some("1"));
    assert_eq!(record.header("mqtt.retained").as_deref(), Some("false"));
    assert_eq!(record.header("mqtt.duplicate").as_deref(), Some("false"));
    let id: u16 = record.header("mqtt.message.id").unwrap().parse().unwrap();
    assert!(id > 0);
    let timestamp = record.timestamp_ms.unwrap();
    assert!(timestamp >= before && timestamp <= now_ms(), "{timestamp}");

    let record = by_topic[&temperature];
    assert_eq!(record.topic, "mqtt.vehicles");
    assert_eq!(record.key.as_deref(), Some(&b"car-2"[..]));
    assert_eq!(record.value.as_deref(), Some(&b"\x00\x01binary"[..]));

    let record = by_topic[&alert];
    assert_eq!(record.topic, "mqtt.alerts");
    assert_eq!(record.key.as_deref(), Some(&b"car-1"[..]));
    commit(&mut task, &records);
    task.stop().unwrap();
}

#[test]
fn retained_messages_are_forwarded_or_skipped() {
    let services = Services::from_env();
    for skip in [false, true] {
        let prefix = unique("retained");
        let retained = format!("{prefix}/status");
        support::publish_retained(&services, &[(&retained, b"last known", 1)]);
        let settings = config(&[
            ("mqtt.server.uri", &services.uri("tcp", services.mqtt_port)),
            ("mqtt.topics", &format!("{prefix}/#")),
            ("kafka.topic", "retained"),
            // Shared subscriptions never receive retained messages: subscribe directly.
            ("mqtt.tasks.split", "filters"),
            ("mqtt.skip.retained", if skip { "true" } else { "false" }),
        ]);
        let mut task = start(&unique("retained"), 0, &settings);
        let live = format!("{prefix}/live");
        let mut records = Vec::new();
        let deadline = Instant::now() + WITHIN;
        // The retained message comes right after subscribing, before any live one.
        while !records
            .iter()
            .any(|r: &PolledRecord| r.record.topic_header() == live)
        {
            assert!(Instant::now() < deadline, "no live message");
            publish(&services, services.mqtt_port, &[(&live, b"now", 1)]);
            records.extend(task.poll(Duration::from_millis(200)).unwrap());
        }
        let first = &records[0].record;
        if skip {
            assert!(records.iter().all(|r| r.record.topic_header() == live));
        } else {
            assert_eq!(first.topic_header(), retained);
            assert_eq!(first.header("mqtt.retained").as_deref(), Some("true"));
            assert_eq!(first.value.as_deref(), Some(&b"last known"[..]));
        }
        commit(&mut task, &records);
        task.stop().unwrap();
        support::publish_retained(&services, &[(&retained, b"", 1)]);
    }
}

#[test]
fn mqtt5_user_properties_and_publish_properties_become_headers() {
    use rumqttc::v5::mqttbytes::v5::PublishProperties;
    let services = Services::from_env();
    let prefix = unique("v5");
    let settings = config(&[
        ("mqtt.server.uri", &services.uri("mqtt", services.mqtt_port)),
        ("mqtt.topics", &format!("{prefix}/#")),
        ("kafka.topic", "sensor-data"),
        ("mqtt.version", "5"),
    ]);
    let mut task = start(&unique("v5"), 0, &settings);
    wait_until_subscribed(&services, &mut [&mut task], &format!("{prefix}/probe"));

    let topic = format!("{prefix}/car-5");
    let properties = PublishProperties {
        user_properties: vec![
            ("unit".into(), "celsius".into()),
            ("fleet".into(), "eu-west".into()),
        ],
        content_type: Some("application/json".into()),
        response_topic: Some(format!("{prefix}/replies")),
        correlation_data: Some(vec![7, 7, 7].into()),
        ..PublishProperties::default()
    };
    support::publish_v5(&services, &topic, b"{\"t\":21.5}", properties);
    let records = poll_records(&mut task, 1, WITHIN);
    let record = &records[0].record;
    assert_eq!(record.topic, "sensor-data");
    assert_eq!(record.key.as_deref(), Some(topic.as_bytes()));
    assert_eq!(record.header("unit").as_deref(), Some("celsius"));
    assert_eq!(record.header("fleet").as_deref(), Some("eu-west"));
    assert_eq!(
        record.header("mqtt.content.type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        record.header("mqtt.response.topic"),
        Some(format!("{prefix}/replies"))
    );
    let correlation = record
        .headers
        .iter()
        .find(|h| h.name == "mqtt.correlation.data")
        .unwrap();
    assert_eq!(correlation.value, [7, 7, 7]);
    commit(&mut task, &records);
    task.stop().unwrap();
}

#[test]
fn qos_0_1_and_2_each_deliver() {
    let services = Services::from_env();
    let prefix = unique("qos");
    let settings = config(&[
        ("mqtt.server.uri", &services.uri("tcp", services.mqtt_port)),
        ("mqtt.topics", &format!("{prefix}/+")),
        ("kafka.topic", "qos"),
        ("mqtt.qos", "2"),
    ]);
    let mut task = start(&unique("qos"), 0, &settings);
    wait_until_subscribed(&services, &mut [&mut task], &format!("{prefix}/probe"));
    let topics: Vec<String> = (0..3).map(|q| format!("{prefix}/q{q}")).collect();
    publish(
        &services,
        services.mqtt_port,
        &[
            (&topics[0], b"zero", 0),
            (&topics[1], b"one", 1),
            (&topics[2], b"two", 2),
        ],
    );
    let records = poll_records(&mut task, 3, WITHIN);
    let qos: HashMap<String, String> = records
        .iter()
        .map(|r| {
            (
                r.record.topic_header(),
                r.record.header("mqtt.qos").unwrap(),
            )
        })
        .collect();
    assert_eq!(qos[&topics[0]], "0");
    assert_eq!(qos[&topics[1]], "1");
    assert_eq!(qos[&topics[2]], "2");
    commit(&mut task, &records);
    task.stop().unwrap();
}

/// Starts a task on a secured listener and checks one message arrives.
fn delivers_through(connection: &[(&str, String)]) {
    let services = Services::from_env();
    let prefix = unique("secure");
    let topics = format!("{prefix}/#");
    let mut pairs: Vec<(&str, &str)> =
        vec![("mqtt.topics", topics.as_str()), ("kafka.topic", "secure")];
    pairs.extend(connection.iter().map(|(k, v)| (*k, v.as_str())));
    let mut task = start(&unique("secure"), 0, &config(&pairs));
    wait_until_subscribed(&services, &mut [&mut task], &format!("{prefix}/probe"));
    let topic = format!("{prefix}/car");
    publish(
        &services,
        services.mqtt_port,
        &[(&topic, b"secret telemetry", 1)],
    );
    let records = poll_records(&mut task, 1, WITHIN);
    assert_eq!(payloads(&records), ["secret telemetry"]);
    commit(&mut task, &records);
    task.stop().unwrap();
}

#[test]
fn tls_with_ca_file() {
    let s = Services::from_env();
    delivers_through(&[
        ("mqtt.server.uri", s.uri("ssl", s.mqtts_port)),
        ("mqtt.ssl.ca.file", s.tls_ca.display().to_string()),
    ]);
}

#[test]
fn tls_without_verification_when_asked() {
    let s = Services::from_env();
    delivers_through(&[
        ("mqtt.server.uri", s.uri("mqtts", s.mqtts_port)),
        ("mqtt.ssl.insecure.skip.verify", "true".into()),
    ]);
    // The only difference an operator sees: the warning at every connect.
    let port = format!(":{}", s.mqtts_port);
    wait_for_log_line(
        &[
            "WARN",
            "INSECURE",
            "mqtt.ssl.insecure.skip.verify=true",
            &port,
        ],
        WITHIN,
    );
}

#[test]
fn mutual_tls_with_client_certificate() {
    let s = Services::from_env();
    delivers_through(&[
        ("mqtt.server.uri", s.uri("ssl", s.mqtt_mtls_port)),
        ("mqtt.ssl.ca.file", s.tls_ca.display().to_string()),
        (
            "mqtt.ssl.cert.file",
            s.tls_client_cert.display().to_string(),
        ),
        ("mqtt.ssl.key.file", s.tls_client_key.display().to_string()),
    ]);
}

#[test]
fn username_and_password() {
    let s = Services::from_env();
    delivers_through(&[
        ("mqtt.server.uri", s.uri("tcp", s.mqtt_auth_port)),
        ("mqtt.username", s.mqtt_username.clone()),
        ("mqtt.password", s.mqtt_password.clone()),
        ("mqtt.version", "5".into()),
    ]);
}

fn assert_names_credentials(error: &ConnectError) {
    assert!(matches!(error, ConnectError::Fatal(_)), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("`mqtt.username`") && text.contains("`mqtt.password`"),
        "{text}"
    );
}

#[test]
fn wrong_password_fails_the_task_naming_the_credentials() {
    let services = Services::from_env();
    for version in ["3.1.1", "5"] {
        let settings = config(&[
            (
                "mqtt.server.uri",
                &services.uri("tcp", services.mqtt_auth_port),
            ),
            ("mqtt.topics", "anything/#"),
            ("kafka.topic", "t"),
            ("mqtt.username", &services.mqtt_username),
            ("mqtt.password", "wrong-password"),
            ("mqtt.version", version),
        ]);
        let mut task = start(&unique("badpass"), 0, &settings);
        let error = poll_error(&mut task, Duration::from_secs(20));
        assert_names_credentials(&error);
        // It stays failed instead of retrying silently.
        assert_names_credentials(&task.poll(Duration::from_millis(10)).unwrap_err());
        task.stop().unwrap();
    }
}

#[test]
fn untrusted_broker_certificate_fails_naming_the_ca_setting() {
    let services = Services::from_env();
    let dir = tempfile::tempdir().unwrap();
    // Trust only a certificate that did not sign the broker's: the client certificate.
    let wrong_ca = dir.path().join("wrong-ca.pem");
    std::fs::copy(&services.tls_client_cert, &wrong_ca).unwrap();
    let settings = config(&[
        ("mqtt.server.uri", &services.uri("ssl", services.mqtts_port)),
        ("mqtt.topics", "anything/#"),
        ("kafka.topic", "t"),
        ("mqtt.ssl.ca.file", wrong_ca.to_str().unwrap()),
    ]);
    let mut task = start(&unique("badca"), 0, &settings);
    let error = poll_error(&mut task, Duration::from_secs(20));
    assert!(error.to_string().contains("`mqtt.ssl.ca.file`"), "{error}");
    task.stop().unwrap();
}

#[test]
fn acknowledges_only_after_commit_record() {
    let services = Services::from_env();
    let prefix = unique("acks");
    let client_id = unique("acks-client");
    let settings = config(&[
        ("mqtt.server.uri", &services.uri("tcp", services.mqtt_port)),
        ("mqtt.topics", &format!("{prefix}/#")),
        ("kafka.topic", "acks"),
        ("mqtt.qos", "1"),
        ("mqtt.client.id", &client_id),
        ("mqtt.tasks.split", "filters"),
    ]);
    let connector = unique("acks");
    let mut first = start(&connector, 0, &settings);
    wait_until_subscribed(&services, &mut [&mut first], &format!("{prefix}/probe"));
    let sent: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    let topic = format!("{prefix}/car");
    let messages: Vec<(&str, &[u8], u8)> = sent
        .iter()
        .map(|p| (topic.as_str(), p.as_bytes(), 1))
        .collect();
    publish(&services, services.mqtt_port, &messages);
    let records = poll_records(&mut first, 20, WITHIN);
    assert_eq!(payloads(&records), sent);
    // The worker dies before Kafka acknowledged anything: no commit_record, no stop.
    drop(first);

    let mut second = start(&connector, 0, &settings);
    let again = poll_records(&mut second, 20, WITHIN);
    assert_eq!(payloads(&again), sent, "the broker redelivers everything");
    assert!(
        again
            .iter()
            .all(|r| r.record.header("mqtt.duplicate").as_deref() == Some("true")),
        "redeliveries carry the DUP flag"
    );
    // Kafka acknowledges them out of order; acknowledgements still leave in order.
    let (even, odd): (Vec<_>, Vec<_>) = again.iter().cloned().partition(|r| r.sequence % 2 == 0);
    commit(&mut second, &odd);
    commit(&mut second, &even);
    second.stop().unwrap();

    // A third incarnation gets nothing of the committed batch: the marker published after it
    // starts is the first thing it sees.
    let mut third = start(&connector, 0, &settings);
    let marker = format!("{prefix}/marker");
    publish(&services, services.mqtt_port, &[(&marker, b"marker", 1)]);
    let records = poll_records(&mut third, 1, WITHIN);
    assert_eq!(
        payloads(&records),
        ["marker"],
        "committed messages came back"
    );
    commit(&mut third, &records);
    third.stop().unwrap();
}

#[test]
fn reconnects_and_redelivers_what_was_not_acknowledged() {
    for version in ["3.1.1", "5"] {
        reconnect_case(version);
    }
}

fn reconnect_case(version: &str) {
    let services = Services::from_env();
    let prefix = unique("reconnect");
    let client_id = unique("reconnect-client");
    let settings = config(&[
        ("mqtt.server.uri", &services.uri("tcp", services.mqtt_port)),
        ("mqtt.topics", &format!("{prefix}/#")),
        ("kafka.topic", "reconnect"),
        ("mqtt.client.id", &client_id),
        ("mqtt.tasks.split", "filters"),
        ("mqtt.reconnect.backoff.initial.ms", "50"),
        ("mqtt.version", version),
    ]);
    let connector = unique("reconnect");
    let mut task = start(&connector, 0, &settings);
    wait_until_subscribed(&services, &mut [&mut task], &format!("{prefix}/probe"));
    let sent: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
    let topic = format!("{prefix}/car");
    let messages: Vec<(&str, &[u8], u8)> = sent
        .iter()
        .map(|p| (topic.as_str(), p.as_bytes(), 1))
        .collect();
    publish(&services, services.mqtt_port, &messages);
    let before = poll_records(&mut task, 10, WITHIN);
    assert_eq!(payloads(&before), sent);

    // The connection is lost while Kafka still has the records in flight.
    // Task 0 connects as `<mqtt.client.id>-0`.
    support::take_over_session(&services, &format!("{client_id}-0"));
    let after = poll_records(&mut task, 10, WITHIN);
    assert_eq!(
        payloads(&after),
        sent,
        "MQTT {version}: redelivered after the reconnect"
    );
    assert!(after
        .iter()
        .all(|r| r.record.header("mqtt.duplicate").as_deref() == Some("true")));
    // Kafka acknowledges the first copies (their connection is gone: nothing is sent), then the
    // redelivered ones, which are acknowledged to the broker.
    commit(&mut task, &before);
    commit(&mut task, &after);
    let more = format!("{prefix}/more");
    publish(&services, services.mqtt_port, &[(&more, b"after", 1)]);
    let records = poll_records(&mut task, 1, WITHIN);
    assert_eq!(payloads(&records), ["after"]);
    commit(&mut task, &records);
    task.stop().unwrap();

    let mut restarted = start(&connector, 0, &settings);
    let marker = format!("{prefix}/marker");
    publish(&services, services.mqtt_port, &[(&marker, b"marker", 1)]);
    let records = poll_records(&mut restarted, 1, WITHIN);
    assert_eq!(
        payloads(&records),
        ["marker"],
        "acknowledged messages came back"
    );
    commit(&mut restarted, &records);
    restarted.stop().unwrap();
}

#[test]
fn a_qos2_release_for_a_forgotten_message_does_not_wedge_the_connection() {
    let services = Services::from_env();
    let prefix = unique("pubrel");
    let client_id = unique("pubrel-client");
    let settings = config(&[
        ("mqtt.server.uri", &services.uri("tcp", services.mqtt_port)),
        ("mqtt.topics", &format!("{prefix}/#")),
        ("kafka.topic", "pubrel"),
        ("mqtt.qos", "2"),
        ("mqtt.client.id", &client_id),
        ("mqtt.tasks.split", "filters"),
        ("mqtt.reconnect.backoff.initial.ms", "50"),
    ]);
    let mut task = start(&unique("pubrel"), 0, &settings);
    wait_until_subscribed(&services, &mut [&mut task], &format!("{prefix}/probe"));
    let topic = format!("{prefix}/car");
    publish(
        &services,
        services.mqtt_port,
        &[(&topic, b"exactly once", 2)],
    );
    let first = poll_records(&mut task, 1, WITHIN);
    // Another client takes the session, PUBRECs the message and vanishes: when the task
    // reconnects, the broker sends a PUBREL for a packet id the task's new connection never saw.
    support::take_over_session_mid_qos2(&services, &format!("{client_id}-0"));
    let after = format!("{prefix}/after");
    publish(
        &services,
        services.mqtt_port,
        &[(&after, b"still flowing", 2)],
    );
    let records = poll_records(&mut task, 1, WITHIN);
    assert_eq!(payloads(&records), ["still flowing"]);
    commit(&mut task, &first);
    commit(&mut task, &records);
    task.stop().unwrap();
}

#[test]
fn in_flight_messages_are_bounded_until_committed() {
    let services = Services::from_env();
    let prefix = unique("bounded");
    let settings = config(&[
        ("mqtt.server.uri", &services.uri("tcp", services.mqtt_port)),
        ("mqtt.topics", &format!("{prefix}/#")),
        ("kafka.topic", "bounded"),
        ("mqtt.max.inflight", "10"),
    ]);
    let mut task = start(&unique("bounded"), 0, &settings);
    wait_until_subscribed(&services, &mut [&mut task], &format!("{prefix}/probe"));
    let sent: Vec<String> = (0..100).map(|i| format!("{i:03}")).collect();
    let topic = format!("{prefix}/car");
    let messages: Vec<(&str, &[u8], u8)> = sent
        .iter()
        .map(|p| (topic.as_str(), p.as_bytes(), 1))
        .collect();
    publish(&services, services.mqtt_port, &messages);

    let mut held = poll_records(&mut task, 10, WITHIN);
    // Keep polling for a while without committing: nothing more comes.
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        held.extend(task.poll(Duration::from_millis(100)).unwrap());
        assert_eq!(
            held.len(),
            10,
            "more than mqtt.max.inflight uncommitted records"
        );
    }
    // Commit as Kafka would: everything arrives, in order, never more than 10 at a time.
    let mut received = payloads(&held);
    let deadline = Instant::now() + WITHIN;
    while received.len() < sent.len() {
        assert!(Instant::now() < deadline, "stalled at {}", received.len());
        commit(&mut task, &held);
        held = task.poll(Duration::from_millis(200)).unwrap();
        assert!(held.len() <= 10, "{} uncommitted records", held.len());
        received.extend(payloads(&held));
    }
    commit(&mut task, &held);
    assert_eq!(received, sent);
    task.stop().unwrap();
}

#[test]
fn three_tasks_split_a_shared_subscription() {
    let services = Services::from_env();
    let prefix = unique("shared");
    let connector = unique("shared");
    let settings = config(&[
        ("mqtt.server.uri", &services.uri("tcp", services.mqtt_port)),
        ("mqtt.topics", &format!("{prefix}/+/data")),
        ("kafka.topic", "shared"),
        ("kafka.key", "level:1"),
        ("mqtt.max.inflight", "200"),
    ]);
    let mut tasks: Vec<SourceTaskInstance> =
        (0..3).map(|t| start(&connector, t, &settings)).collect();
    {
        let mut refs: Vec<&mut SourceTaskInstance> = tasks.iter_mut().collect();
        wait_until_subscribed(&services, &mut refs, &format!("{prefix}/probe/data"));
    }
    let total = 3000;
    let sent: Vec<(String, String)> = (0..total)
        .map(|i| (format!("{prefix}/car-{}/data", i % 50), format!("{i}")))
        .collect();
    let messages: Vec<(&str, &[u8], u8)> = sent
        .iter()
        .map(|(t, p)| (t.as_str(), p.as_bytes(), 1))
        .collect();
    let started = Instant::now();
    publish(&services, services.mqtt_port, &messages);

    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut per_task = [0usize; 3];
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < total {
        assert!(
            Instant::now() < deadline,
            "only {} of {total} messages",
            seen.len()
        );
        for (i, task) in tasks.iter_mut().enumerate() {
            let records = task.poll(Duration::from_millis(20)).unwrap();
            per_task[i] += records.len();
            for record in &records {
                let value = String::from_utf8(record.record.value.clone().unwrap()).unwrap();
                *seen.entry(value).or_default() += 1;
            }
            commit(task, &records);
        }
    }
    let duplicates: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicates.is_empty(), "duplicates: {duplicates:?}");
    let expected: BTreeSet<String> = sent.into_iter().map(|(_, p)| p).collect();
    assert_eq!(seen.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(per_task.iter().all(|n| *n > 0), "not split: {per_task:?}");
    eprintln!(
        "{total} messages through 3 tasks in {:?}, split {per_task:?}",
        started.elapsed()
    );
    for mut task in tasks {
        task.stop().unwrap();
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
