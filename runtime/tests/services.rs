//! Smoke test of the development services: the real Kafka and Mosquitto that `dev/services up`
//! starts answer as Ferry's tests expect, on every listener.

mod support;

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message};
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, MqttOptions, Packet, QoS,
    TlsConfiguration, Transport,
};
use support::{unique, Services};

#[tokio::test]
async fn kafka_round_trip_with_rdkafka() {
    let services = Services::from_env();
    let topic = unique("smoke");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &services.kafka_bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .unwrap();
    let headers = OwnedHeaders::new().insert(Header {
        key: "origin",
        value: Some("smoke"),
    });
    let delivery = producer
        .send(
            FutureRecord::to(&topic)
                .key("car-7")
                .payload("hello kafka")
                .headers(headers),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    assert_eq!((delivery.partition, delivery.offset), (0, 0));

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &services.kafka_bootstrap)
        .set("group.id", unique("smoke-group"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let message = (0..60)
        .find_map(|_| consumer.poll(Duration::from_millis(500)))
        .expect("the record comes back within 30 s")
        .unwrap();
    assert_eq!(message.key(), Some(&b"car-7"[..]));
    assert_eq!(message.payload(), Some(&b"hello kafka"[..]));
    let header = message.headers().unwrap().get(0);
    assert_eq!((header.key, header.value), ("origin", Some(&b"smoke"[..])));
}

/// Subscribes, publishes one message at QoS 1 on the same connection and returns what came back.
async fn mqtt_echo(options: MqttOptions, topic: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
    let (client, mut events) = AsyncClient::new(options, 10);
    client
        .subscribe(topic, QoS::AtLeastOnce)
        .await
        .map_err(|e| e.to_string())?;
    client
        .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
        .await
        .map_err(|e| e.to_string())?;
    let received = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => return Ok(p.payload.to_vec()),
                Ok(_) => {}
                Err(e) => return Err(describe(&e)),
            }
        }
    })
    .await
    .map_err(|_| "no message within 20 s".to_string())?;
    let _ = client.disconnect().await;
    received
}

fn describe(error: &ConnectionError) -> String {
    match error {
        ConnectionError::ConnectionRefused(code) => format!("refused: {code:?}"),
        other => other.to_string(),
    }
}

fn options(services: &Services, port: u16) -> MqttOptions {
    let mut options = MqttOptions::new(unique("smoke"), &services.mqtt_host, port);
    options.set_keep_alive(Duration::from_secs(5));
    options
}

fn tls(services: &Services, client_certificate: bool) -> Transport {
    let read = |p: &std::path::Path| {
        std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e} (is dev/services up?)", p.display()))
    };
    let client_auth = client_certificate.then(|| {
        (
            read(&services.tls_client_cert),
            read(&services.tls_client_key),
        )
    });
    Transport::Tls(TlsConfiguration::Simple {
        ca: read(&services.tls_ca),
        alpn: None,
        client_auth,
    })
}

#[tokio::test]
async fn mosquitto_plain_listener() {
    let services = Services::from_env();
    let got = mqtt_echo(
        options(&services, services.mqtt_port),
        "smoke/plain",
        b"plain",
    )
    .await
    .unwrap();
    assert_eq!(got, b"plain");
}

#[tokio::test]
async fn mosquitto_tls_listeners_with_and_without_client_certificate() {
    let services = Services::from_env();
    let mut server_tls = options(&services, services.mqtts_port);
    server_tls.set_transport(tls(&services, false));
    let got = mqtt_echo(server_tls, "smoke/tls", b"tls").await.unwrap();
    assert_eq!(got, b"tls");

    let mut mutual_tls = options(&services, services.mqtt_mtls_port);
    mutual_tls.set_transport(tls(&services, true));
    let got = mqtt_echo(mutual_tls, "smoke/mtls", b"mtls").await.unwrap();
    assert_eq!(got, b"mtls");

    let mut without_certificate = options(&services, services.mqtt_mtls_port);
    without_certificate.set_transport(tls(&services, false));
    let refused = mqtt_echo(without_certificate, "smoke/mtls", b"x").await;
    assert!(
        refused.is_err(),
        "the mTLS listener accepted a client without certificate"
    );
}

#[tokio::test]
async fn mosquitto_password_listener() {
    let services = Services::from_env();
    let mut good = options(&services, services.mqtt_auth_port);
    good.set_credentials(&services.mqtt_username, &services.mqtt_password);
    let got = mqtt_echo(good, "smoke/auth", b"auth").await.unwrap();
    assert_eq!(got, b"auth");

    let mut bad = options(&services, services.mqtt_auth_port);
    bad.set_credentials(&services.mqtt_username, "wrong-password");
    let refused = mqtt_echo(bad, "smoke/auth", b"x").await.unwrap_err();
    assert!(
        refused.contains(&format!("{:?}", ConnectReturnCode::NotAuthorized))
            || refused.contains(&format!("{:?}", ConnectReturnCode::BadUserNamePassword)),
        "{refused}"
    );
}
