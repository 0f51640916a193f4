//! Runs `./dev/demo` briefly, exactly as a user would (100 cars for 10 s), and checks its
//! summary: every telemetry message reached Kafka and every alert reached the right car.

use std::process::Command;

#[test]
fn the_demo_delivers_every_alert_to_the_right_car() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut demo = Command::new(format!("{root}/dev/demo"));
    demo.args([
        "--cars",
        "100",
        "--interval-ms",
        "100",
        "--duration-s",
        "10",
        "--json",
    ])
    .current_dir(root);
    // Cargo's per-test-binary variables would make the demo's own `cargo build` rebuild crates
    // whose build scripts watch them.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("CARGO_") && name != "CARGO_HOME" && name != "CARGO_TARGET_DIR" {
            demo.env_remove(&name);
        }
    }
    let output = demo.output().expect("dev/demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "dev/demo failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let summary: serde_json::Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON summary in:\n{stdout}"));
    println!("{summary:#}");
    assert!(summary["published"].as_u64().unwrap() >= 9_000, "{summary}");
    assert_eq!(summary["lost_telemetry"], 0, "{summary}");
    assert_eq!(summary["in_kafka"], summary["published"], "{summary}");
    let expected = summary["alerts_expected"].as_u64().unwrap();
    assert!(expected >= 400, "{summary}");
    assert_eq!(
        summary["alerts_received_by_right_car"], expected,
        "{summary}"
    );
    assert_eq!(summary["alerts_to_wrong_car"], 0, "{summary}");
    assert_eq!(summary["lost_alerts"], 0, "{summary}");
}
