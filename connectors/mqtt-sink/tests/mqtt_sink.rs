//! The MQTT sink connector against the real Mosquitto started by `dev/services up`, loaded
//! through the worker's plugin loader as the worker loads it, with real MQTT subscribers.
//!
//! Each test uses its own topic prefix and client ids, so tests run in parallel and against a
//! broker that keeps sessions between runs. Nothing waits for a fixed time to conclude anything:
//! a test waits for what it expects (a marker record published last, on the same connection,
//! tells a subscriber that everything before it has arrived).

mod support;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use ferry_api::serde_json;
use ferry_api::{ConnectError, TopicPartition, TopicPartitionOffset};
use support::proxy::Proxy;
use support::{
    commit_all, config, positions, record, start, start_error, unique, Received, Services,
    Subscriber,
};

const WITHIN: Duration = Duration::from_secs(30);

fn payloads(received: &[Received]) -> Vec<&str> {
    received.iter().map(|m| m.payload.as_str()).collect()
}

#[test]
fn loads_with_class_name_aliases_and_documented_schema() {
    let plugin = support::plugin();
    assert_eq!(plugin.class_name, "ferry.mqtt.MqttSinkConnector");
    assert_eq!(plugin.aliases, ["MqttSinkConnector", "MqttSink"]);
    let properties = &plugin.config_schema["properties"];
    for key in [
        "mqtt.topic",
        "mqtt.qos",
        "mqtt.retain",
        "mqtt.max.inflight",
        "mqtt.put.timeout.ms",
        "mqtt.flush.timeout.ms",
        "mqtt.qos.header",
        "mqtt.user.property.header.prefix",
        "mqtt.server.uri",
        "mqtt.version",
        "mqtt.client.id",
        "mqtt.clean.session.enabled",
        "mqtt.ssl.ca.file",
        "mqtt.reconnect.backoff.max.ms",
    ] {
        let description = properties[key]["description"].as_str().unwrap_or("");
        assert!(!description.is_empty(), "{key} has no description");
    }
    assert_eq!(properties["mqtt.qos"]["default"], 1);
    assert_eq!(properties["mqtt.max.inflight"]["default"], 1000);
}

#[test]
fn validate_names_each_offending_field() {
    let plugin = support::plugin();
    let issues = plugin
        .validate(&config(&[
            ("name", "v"),
            ("connector.class", "MqttSink"),
            ("topics", "car-alerts"),
            ("errors.tolerance", "all"),
            ("mqtt.server.uri", "http://broker:1883"),
            ("mqtt.topic", "cars/{car}/alerts"),
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
        by_field["mqtt.topic"].contains("unknown placeholder `{car}`"),
        "{issues:?}"
    );

    let issues = plugin
        .validate(&config(&[
            ("mqtt.server.uri", "tcp://127.0.0.1:1883"),
            ("mqtt.topic", "cars/{key/alerts"),
        ]))
        .unwrap();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].field, "mqtt.topic");
    assert!(
        issues[0].message.contains("unbalanced braces"),
        "{issues:?}"
    );

    let issues = plugin
        .validate(&config(&[
            ("mqtt.server.uri", "tcp://127.0.0.1:1883"),
            ("mqtt.topic", "cars/{key}"),
            ("mqtt.qos", "3"),
        ]))
        .unwrap();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].field, "mqtt.qos");

    let issues = plugin
        .validate(&config(&[
            ("mqtt.server.uri", "ssl://127.0.0.1:8883"),
            ("mqtt.topic", "cars/{key}"),
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
        "/../../examples/connectors/mqtt-sink.json"
    );
    let example: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(example["name"], "mqtt-sink");
    let settings: ferry_api::ConfigMap = serde_json::from_value(example["config"].clone()).unwrap();
    assert_eq!(settings["connector.class"], "ferry.mqtt.MqttSinkConnector");
    assert_eq!(settings["topics"], "car-alerts");
    assert_eq!(settings["mqtt.topic"], "cars/{key}/alerts");
    let issues = support::plugin().validate(&settings).unwrap();
    assert!(issues.is_empty(), "{issues:?}");
}

#[test]
fn alerts_keyed_by_car_reach_exactly_that_car() {
    let services = Services::from_env();
    let prefix = unique("cars");
    let cars = ["car-1", "car-2", "car-3"];
    let subscribers: Vec<Subscriber> = cars
        .iter()
        .map(|car| Subscriber::start(&services, &format!("{prefix}/{car}/alerts")))
        .collect();
    let settings = config(&[
        ("mqtt.server.uri", &services.uri("tcp", services.mqtt_port)),
        ("mqtt.topic", &format!("{prefix}/{{key}}/alerts")),
    ]);
    let mut task = start(&unique("routing"), &settings);
    task.open(&[TopicPartition {
        topic: "car-alerts".into(),
        partition: 0,
    }])
    .unwrap();

    let records = vec![
        record("car-alerts", 0, Some("car-1"), "overheat", &[]),
        record(
            "car-alerts",
            1,
            Some("car-2"),
            "low-battery",
            &[("mqtt.qos", "2")],
        ),
        record("car-alerts", 2, Some("car-1"), "tyre", &[("mqtt.qos", "0")]),
        record(
            "car-alerts",
            3,
            Some("car-3"),
            "door",
            &[("mqtt.retain", "true")],
        ),
        record("car-alerts", 4, None, "orphan", &[]),
        record(
            "car-alerts",
            5,
            Some("car-2"),
            "brake",
            &[("mqtt.retain", "false")],
        ),
        // Markers at QoS 2: a broker forwards a QoS 2 message only at PUBREL, after the QoS 0
        // and 1 messages published before it; so the marker arrives last.
        record(
            "car-alerts",
            6,
            Some("car-1"),
            "end-car-1",
            &[("mqtt.qos", "2")],
        ),
        record(
            "car-alerts",
            7,
            Some("car-2"),
            "end-car-2",
            &[("mqtt.qos", "2")],
        ),
        record(
            "car-alerts",
            8,
            Some("car-3"),
            "end-car-3",
            &[("mqtt.qos", "2")],
        ),
    ];
    let errant = task.put(&records).unwrap();
    assert_eq!(errant.len(), 1, "{errant:?}");
    assert_eq!(errant[0].0.offset, 4);
    assert!(
        errant[0].1.contains("no key, needed by {key}"),
        "{errant:?}"
    );

    // In publish order; MQTT keeps the order of messages of the same QoS only (Mosquitto
    // forwards a QoS 2 message at PUBREL, after QoS 0/1 messages published after it).
    let expected: [&[(&str, u8, bool)]; 3] = [
        &[
            ("overheat", 1, false),
            ("tyre", 0, false),
            ("end-car-1", 2, false),
        ],
        &[
            ("low-battery", 2, false),
            ("brake", 1, false),
            ("end-car-2", 2, false),
        ],
        &[("door", 1, true), ("end-car-3", 2, false)],
    ];
    for ((car, subscriber), expected) in cars.iter().zip(&subscribers).zip(expected) {
        let received = subscriber.until_payload(&format!("end-{car}"), WITHIN);
        let mut got: Vec<(&str, u8, bool)> = received
            .iter()
            .map(|m| (m.payload.as_str(), m.qos, m.retain))
            .collect();
        let same_qos_in_order = |got: &[(&str, u8, bool)], qos: u8| {
            let of = |list: &[(&str, u8, bool)]| -> Vec<String> {
                list.iter()
                    .filter(|m| m.1 == qos)
                    .map(|m| m.0.to_string())
                    .collect()
            };
            of(got) == of(expected)
        };
        assert!(
            (0..=2).all(|qos| same_qos_in_order(&got, qos)),
            "{car}: {got:?}"
        );
        got.sort();
        let mut expected = expected.to_vec();
        expected.sort();
        assert_eq!(got, expected, "{car}");
        assert!(received
            .iter()
            .all(|m| m.topic == format!("{prefix}/{car}/alerts")));
    }
    commit_all(&mut task, &positions(&records), WITHIN);

    // A null value with retain clears the retained alert: a new subscriber gets the next live
    // message first.
    let mut clear = record(
        "car-alerts",
        9,
        Some("car-3"),
        "",
        &[("mqtt.retain", "true")],
    );
    clear.value = None;
    let clear = [clear];
    task.put(&clear).unwrap();
    commit_all(&mut task, &positions(&clear), WITHIN);
    let late = Subscriber::start(&services, &format!("{prefix}/car-3/alerts"));
    task.put(&[record("car-alerts", 10, Some("car-3"), "after", &[])])
        .unwrap();
    let first = late.count(1, WITHIN);
    assert_eq!(first[0].payload, "after", "{first:?}");
    task.stop().unwrap();
}

#[test]
fn header_and_nested_json_field_templates_route_and_unfillable_records_are_errant() {
    let services = Services::from_env();
    let prefix = unique("fleet");
    let subscriber = Subscriber::start(&services, &format!("{prefix}/#"));
    let settings = config(&[
        ("mqtt.server.uri", &services.uri("tcp", services.mqtt_port)),
        (
            "mqtt.topic",
            &format!("{prefix}/{{header.region}}/{{value.vehicle.id}}/{{topic}}-{{partition}}"),
        ),
    ]);
    let mut task = start(&unique("templates"), &settings);
    let eu = [("region", "eu")];
    let records = vec![
        record(
            "alerts",
            0,
            None,
            r#"{"vehicle":{"id":"ev-1"},"level":3}"#,
            &eu,
        ),
        record("alerts", 1, None, r#"{"vehicle":{"model":"x"}}"#, &eu),
        record("alerts", 2, None, "not json", &eu),
        record("alerts", 3, None, r#"{"vehicle":{"id":42}}"#, &[]),
        record(
            "alerts",
            4,
            None,
            r#"{"vehicle":{"id":42}}"#,
            &[("region", "us")],
        ),
        record("alerts", 5, None, r#"{"vehicle":{"id":"end"}}"#, &eu),
    ];
    let errant = task.put(&records).unwrap();
    let by_offset: HashMap<i64, &str> = errant
        .iter()
        .map(|(position, reason)| (position.offset, reason.as_str()))
        .collect();
    assert_eq!(by_offset.len(), 3, "{errant:?}");
    assert!(
        by_offset[&1].contains("no field `vehicle.id`, needed by {value.vehicle.id}"),
        "{errant:?}"
    );
    assert!(by_offset[&2].contains("not JSON"), "{errant:?}");
    assert!(
        by_offset[&3].contains("no header `region`, needed by {header.region}"),
        "{errant:?}"
    );

    let received = subscriber.until_payload(r#"{"vehicle":{"id":"end"}}"#, WITHIN);
    let topics: Vec<(&str, &str)> = received
        .iter()
        .map(|m| (m.topic.as_str(), m.payload.as_str()))
        .collect();
    assert_eq!(
        topics,
        [
            (
                format!("{prefix}/eu/ev-1/alerts-0").as_str(),
                r#"{"vehicle":{"id":"ev-1"},"level":3}"#
            ),
            (
                format!("{prefix}/us/42/alerts-0").as_str(),
                r#"{"vehicle":{"id":42}}"#
            ),
            (
                format!("{prefix}/eu/end/alerts-0").as_str(),
                r#"{"vehicle":{"id":"end"}}"#
            ),
        ]
    );
    // Errant records do not hold back the commit: the worker deals with them.
    commit_all(&mut task, &positions(&records), WITHIN);
    task.stop().unwrap();
}

#[test]
fn mqtt5_user_properties_content_type_and_expiry_come_from_headers() {
    let services = Services::from_env();
    let prefix = unique("v5");
    let subscriber = Subscriber::start(&services, &format!("{prefix}/#"));
    let settings = config(&[
        ("mqtt.server.uri", &services.uri("mqtt", services.mqtt_port)),
        ("mqtt.version", "5"),
        ("mqtt.topic", &format!("{prefix}/{{key}}")),
    ]);
    let mut task = start(&unique("v5"), &settings);
    let records = vec![
        record(
            "telemetry",
            0,
            Some("car-5"),
            r#"{"t":21.5}"#,
            &[
                ("mqtt.user.unit", "celsius"),
                ("trace-id", "not a property"),
                ("mqtt.user.fleet", "eu-west"),
                ("mqtt.content.type", "application/json"),
                ("mqtt.message.expiry.interval", "3600"),
            ],
        ),
        record("telemetry", 1, Some("car-5"), "plain", &[]),
        record(
            "telemetry",
            2,
            Some("car-5"),
            "bad",
            &[("mqtt.message.expiry.interval", "soon")],
        ),
    ];
    let errant = task.put(&records).unwrap();
    assert_eq!(errant.len(), 1, "{errant:?}");
    assert!(
        errant[0].1.contains("mqtt.message.expiry.interval"),
        "{errant:?}"
    );
    let received = subscriber.until_payload("plain", WITHIN);
    assert_eq!(payloads(&received), [r#"{"t":21.5}"#, "plain"]);
    let first = &received[0];
    assert_eq!(
        first.user_properties,
        [
            ("unit".to_string(), "celsius".to_string()),
            ("fleet".to_string(), "eu-west".to_string())
        ]
    );
    assert_eq!(first.content_type.as_deref(), Some("application/json"));
    let expiry = first.message_expiry_interval.expect("an expiry interval");
    assert!((3500..=3600).contains(&expiry), "{expiry}");
    let plain = &received[1];
    assert!(plain.user_properties.is_empty());
    assert_eq!(plain.content_type, None);
    commit_all(&mut task, &positions(&records), WITHIN);
    task.stop().unwrap();
}

/// Settings for a task that reaches the broker through `proxy`.
fn through(proxy: &Proxy, topic: &str, extra: &[(&str, &str)]) -> ferry_api::ConfigMap {
    let uri = format!("tcp://127.0.0.1:{}", proxy.port);
    let mut settings = config(&[
        ("mqtt.server.uri", &uri),
        ("mqtt.topic", topic),
        ("mqtt.reconnect.backoff.initial.ms", "50"),
        ("mqtt.reconnect.backoff.max.ms", "200"),
    ]);
    for (k, v) in extra {
        settings.insert(k.to_string(), v.to_string());
    }
    settings
}

#[test]
fn pre_commit_never_passes_a_record_the_broker_has_not_acknowledged() {
    let services = Services::from_env();
    let proxy = Proxy::start(&services.plain_address());
    let prefix = unique("acks");
    let subscriber = Subscriber::start(&services, &format!("{prefix}/#"));
    let settings = through(
        &proxy,
        &format!("{prefix}/{{key}}"),
        &[("mqtt.flush.timeout.ms", "300")],
    );
    let mut task = start(&unique("acks"), &settings);

    proxy.hold_broker_replies();
    let records: Vec<_> = (0..20)
        .map(|i| {
            let qos = if i % 2 == 0 { "1" } else { "2" };
            record(
                "alerts",
                100 + i,
                Some(&format!("car-{}", i % 3)),
                &format!("m{i}"),
                &[("mqtt.qos", qos)],
            )
        })
        .collect();
    assert!(task.put(&records).unwrap().is_empty());
    // The QoS 1 publishes reach the subscriber: the broker has them, its PUBACKs are held.
    subscriber.wait_for(WITHIN, |r| r.iter().any(|m| m.payload == "m18"));
    let consumed = positions(&records);
    let committable = task.pre_commit(&consumed).unwrap();
    assert_eq!(
        committable,
        [TopicPartitionOffset {
            topic: "alerts".into(),
            partition: 0,
            offset: 100
        }],
        "no acknowledgement reached the task"
    );

    proxy.release_broker_replies();
    commit_all(&mut task, &consumed, WITHIN);
    let received = subscriber.count(20, WITHIN);
    let distinct: BTreeSet<&str> = payloads(&received).into_iter().collect();
    assert_eq!(distinct.len(), 20);
    task.stop().unwrap();
}

#[test]
fn a_lost_connection_loses_nothing() {
    let services = Services::from_env();
    let proxy = Proxy::start(&services.plain_address());
    let prefix = unique("reconnect");
    let subscriber = Subscriber::start(&services, &format!("{prefix}/#"));
    let mut task = start(
        &unique("reconnect"),
        &through(
            &proxy,
            &format!("{prefix}/{{key}}"),
            &[("mqtt.flush.timeout.ms", "200")],
        ),
    );
    let count_of = |received: &[Received], payload: &str| {
        received.iter().filter(|m| m.payload == payload).count()
    };

    // 1. The first connection of a task starts a clean session, so after losing it nothing is
    //    resumed: the unacknowledged QoS 1 publishes go out again as new ones.
    proxy.hold_broker_replies();
    let first: Vec<_> = (0..10)
        .map(|i| record("alerts", i, Some("car"), &format!("a{i}"), &[]))
        .collect();
    task.put(&first).unwrap();
    subscriber.wait_for(WITHIN, |r| count_of(r, "a9") == 1);
    proxy.cut();
    proxy.release_broker_replies();
    commit_all(&mut task, &positions(&first), WITHIN);
    let received = subscriber.wait_for(WITHIN, |r| count_of(r, "a9") == 2);
    for i in 0..10 {
        assert_eq!(
            count_of(&received, &format!("a{i}")),
            2,
            "a{i}: {received:?}"
        );
    }

    // 2. Later connections resume the persistent session: QoS 2 publishes cut off before their
    //    PUBREC / PUBCOMP are sent again under the same packet id, and the broker delivers each
    //    once. The QoS 1 probe behind them shows the broker has read them.
    proxy.hold_broker_replies();
    let mut second: Vec<_> = (0..10)
        .map(|i| {
            record(
                "alerts",
                10 + i,
                Some("car"),
                &format!("b{i}"),
                &[("mqtt.qos", "2")],
            )
        })
        .collect();
    second.push(record("alerts", 20, Some("car"), "probe", &[]));
    task.put(&second).unwrap();
    subscriber.wait_for(WITHIN, |r| count_of(r, "probe") == 1);
    proxy.cut();
    proxy.release_broker_replies();
    commit_all(&mut task, &positions(&second), WITHIN);

    // 3. An outage: the broker cannot be reached for a while; records put meanwhile wait.
    proxy.refuse(true);
    proxy.cut();
    let third: Vec<_> = (0..10)
        .map(|i| record("alerts", 21 + i, Some("car"), &format!("c{i}"), &[]))
        .collect();
    task.put(&third).unwrap();
    let consumed = positions(&third);
    assert_eq!(task.pre_commit(&consumed).unwrap()[0].offset, 21);
    std::thread::sleep(Duration::from_millis(500)); // the outage lasts; nothing is asserted on it
    proxy.refuse(false);
    commit_all(&mut task, &consumed, WITHIN);
    task.put(&[record("alerts", 31, Some("car"), "end", &[])])
        .unwrap();
    let received = subscriber.until_payload("end", WITHIN);
    for i in 0..10 {
        assert_eq!(
            count_of(&received, &format!("b{i}")),
            1,
            "b{i}: {received:?}"
        );
        assert!(count_of(&received, &format!("c{i}")) >= 1, "c{i} lost");
    }
    task.stop().unwrap();
}

#[test]
fn a_full_window_makes_put_retriable_and_the_retry_publishes_each_record_once() {
    let services = Services::from_env();
    let proxy = Proxy::start(&services.plain_address());
    let prefix = unique("window");
    let subscriber = Subscriber::start(&services, &format!("{prefix}/#"));
    let mut task = start(
        &unique("window"),
        &through(
            &proxy,
            &format!("{prefix}/{{key}}"),
            &[("mqtt.max.inflight", "5"), ("mqtt.put.timeout.ms", "300")],
        ),
    );
    proxy.hold_broker_replies();
    let batch: Vec<_> = (0..8)
        .map(|i| {
            let key = if i == 2 { None } else { Some("car") };
            record("alerts", i, key, &format!("r{i}"), &[])
        })
        .collect();
    match task.put(&batch) {
        Err(ConnectError::Retriable(message)) => {
            assert!(message.contains("mqtt.max.inflight"), "{message}")
        }
        other => panic!("expected a retriable error, got {other:?}"),
    }
    // Five publishes are in flight (r2 is errant), the rest was not taken.
    let received = subscriber.count(5, WITHIN);
    assert_eq!(payloads(&received), ["r0", "r1", "r3", "r4", "r5"]);

    proxy.release_broker_replies();
    // The worker's retry hands the same batch: the errant record is reported again, the records
    // already accepted are not published again.
    let errant = task.put(&batch).unwrap();
    assert_eq!(errant.len(), 1, "{errant:?}");
    assert_eq!(errant[0].0.offset, 2);
    task.put(&[record("alerts", 8, Some("car"), "end", &[])])
        .unwrap();
    let received = subscriber.until_payload("end", WITHIN);
    assert_eq!(
        payloads(&received),
        ["r0", "r1", "r3", "r4", "r5", "r6", "r7", "end"]
    );
    commit_all(&mut task, &positions(&batch), WITHIN);
    task.stop().unwrap();
}

#[test]
fn tls_mutual_tls_and_password_listeners_each_deliver() {
    let services = Services::from_env();
    let prefix = unique("secure");
    let subscriber = Subscriber::start(&services, &format!("{prefix}/#"));
    let ca = services.tls_ca.to_string_lossy().into_owned();
    let cert = services.tls_client_cert.to_string_lossy().into_owned();
    let key = services.tls_client_key.to_string_lossy().into_owned();
    let tls = services.uri("ssl", services.mqtts_port);
    let mtls = services.uri("ssl", services.mqtt_mtls_port);
    let auth = services.uri("tcp", services.mqtt_auth_port);
    let variants: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "tls",
            vec![("mqtt.server.uri", &tls), ("mqtt.ssl.ca.file", &ca)],
        ),
        (
            "mtls",
            vec![
                ("mqtt.server.uri", &mtls),
                ("mqtt.ssl.ca.file", &ca),
                ("mqtt.ssl.cert.file", &cert),
                ("mqtt.ssl.key.file", &key),
            ],
        ),
        (
            "password",
            vec![
                ("mqtt.server.uri", &auth),
                ("mqtt.username", &services.mqtt_username),
                ("mqtt.password", &services.mqtt_password),
            ],
        ),
    ];
    let topic = format!("{prefix}/{{key}}");
    for (name, mut pairs) in variants {
        pairs.push(("mqtt.topic", &topic));
        let mut task = start(&unique(name), &config(&pairs));
        let records = [record("alerts", 0, Some(name), name, &[])];
        task.put(&records).unwrap();
        commit_all(&mut task, &positions(&records), WITHIN);
        let received = subscriber.until_payload(name, WITHIN);
        assert_eq!(received.last().unwrap().topic, format!("{prefix}/{name}"));
        task.stop().unwrap();
    }
}

#[test]
fn a_wrong_password_fails_the_task_naming_the_credentials() {
    let services = Services::from_env();
    let error = start_error(
        &unique("badpass"),
        &config(&[
            (
                "mqtt.server.uri",
                &services.uri("tcp", services.mqtt_auth_port),
            ),
            ("mqtt.topic", "cars/{key}"),
            ("mqtt.username", &services.mqtt_username),
            ("mqtt.password", "not-the-password"),
        ]),
    );
    let message = error.to_string();
    assert!(matches!(error, ConnectError::Fatal(_)), "{error:?}");
    assert!(
        message.contains("mqtt.username") && message.contains("mqtt.password"),
        "{message}"
    );
}

#[test]
fn many_records_arrive_once_each_and_are_all_committed() {
    let services = Services::from_env();
    let prefix = unique("many");
    let subscriber = Subscriber::start(&services, &format!("{prefix}/#"));
    let mut task = start(
        &unique("many"),
        &config(&[
            ("mqtt.server.uri", &services.uri("tcp", services.mqtt_port)),
            ("mqtt.topic", &format!("{prefix}/{{key}}/alerts")),
        ]),
    );
    const TOTAL: i64 = 20_000;
    let mut all = Vec::new();
    for batch in 0..TOTAL / 500 {
        let records: Vec<_> = (batch * 500..(batch + 1) * 500)
            .map(|i| {
                record(
                    "alerts",
                    i,
                    Some(&format!("car-{}", i % 100)),
                    &format!("{i}"),
                    &[],
                )
            })
            .collect();
        assert!(task.put(&records).unwrap().is_empty());
        all.extend(records);
    }
    commit_all(&mut task, &positions(&all), WITHIN);
    let received = subscriber.count(TOTAL as usize, WITHIN);
    let distinct: BTreeSet<&str> = payloads(&received).into_iter().collect();
    assert_eq!(distinct.len(), TOTAL as usize);
    task.stop().unwrap();
}
