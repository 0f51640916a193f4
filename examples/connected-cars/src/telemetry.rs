//! What a car says: about 0.6 KB of JSON with 19 numeric readings, and the rule that turns a
//! reading into an alert.

use serde::{Deserialize, Serialize};

/// Engine temperatures above this (°C) raise an alert.
pub const ENGINE_TEMP_LIMIT_C: f64 = 110.0;
/// Every car overheats on this message of every `ANOMALY_PERIOD`, so the expected number of
/// alerts is known exactly.
pub const ANOMALY_PERIOD: u64 = 20;
const ANOMALY_PHASE: u64 = 7;

/// One telemetry message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Telemetry {
    /// Demo run this message belongs to (old runs' records are ignored).
    pub run: String,
    /// The car, e.g. `electric-vehicle-00042`.
    pub car: String,
    /// Per-car message number, from 0.
    pub seq: u64,
    /// When the car published it, ms since the epoch.
    pub sent_at_ms: u64,
    pub speed_kmh: f64,
    pub engine_temp_c: f64,
    pub battery_level_pct: f64,
    pub battery_temp_c: f64,
    pub battery_voltage_v: f64,
    pub motor_rpm: f64,
    pub tire_pressure_front_left_kpa: f64,
    pub tire_pressure_front_right_kpa: f64,
    pub tire_pressure_rear_left_kpa: f64,
    pub tire_pressure_rear_right_kpa: f64,
    pub latitude: f64,
    pub longitude: f64,
    pub altitude_m: f64,
    pub heading_deg: f64,
    pub odometer_km: f64,
    pub cabin_temp_c: f64,
    pub outside_temp_c: f64,
    pub acceleration_ms2: f64,
    pub energy_consumption_kwh_100km: f64,
}

/// An alert about one car, computed from one telemetry message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alert {
    pub run: String,
    pub car: String,
    /// The telemetry message that caused it.
    pub seq: u64,
    /// When that message was published, ms since the epoch.
    pub sent_at_ms: u64,
    pub reason: String,
    pub engine_temp_c: f64,
}

/// A small deterministic generator, so readings vary without a dependency.
fn noise(car: u64, seq: u64, field: u64) -> f64 {
    let mut x = car
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(seq.wrapping_mul(0xBF58_476D_1CE4_E5B9))
        .wrapping_add(field.wrapping_mul(0x94D0_49BB_1331_11EB));
    x ^= x >> 31;
    x = x.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    x ^= x >> 32;
    (x % 10_000) as f64 / 10_000.0
}

impl Telemetry {
    /// Message `seq` of car number `car`.
    pub fn reading(run: &str, car: u64, seq: u64, sent_at_ms: u64) -> Telemetry {
        let n = |field| noise(car, seq, field);
        let overheating = seq % ANOMALY_PERIOD == ANOMALY_PHASE;
        Telemetry {
            run: run.to_string(),
            car: car_name(car),
            seq,
            sent_at_ms,
            speed_kmh: 30.0 + 90.0 * n(1),
            engine_temp_c: if overheating {
                118.0 + 5.0 * n(2)
            } else {
                80.0 + 20.0 * n(2)
            },
            battery_level_pct: 20.0 + 80.0 * n(3),
            battery_temp_c: 20.0 + 15.0 * n(4),
            battery_voltage_v: 350.0 + 50.0 * n(5),
            motor_rpm: 1000.0 + 7000.0 * n(6),
            tire_pressure_front_left_kpa: 220.0 + 30.0 * n(7),
            tire_pressure_front_right_kpa: 220.0 + 30.0 * n(8),
            tire_pressure_rear_left_kpa: 220.0 + 30.0 * n(9),
            tire_pressure_rear_right_kpa: 220.0 + 30.0 * n(10),
            latitude: 48.0 + n(11),
            longitude: 11.0 + n(12),
            altitude_m: 400.0 + 200.0 * n(13),
            heading_deg: 360.0 * n(14),
            odometer_km: 10_000.0 + 50_000.0 * n(15),
            cabin_temp_c: 18.0 + 8.0 * n(16),
            outside_temp_c: -5.0 + 30.0 * n(17),
            acceleration_ms2: -3.0 + 6.0 * n(18),
            energy_consumption_kwh_100km: 12.0 + 10.0 * n(19),
        }
    }

    /// The analytics rule: an alert when the engine overheats.
    pub fn alert(&self) -> Option<Alert> {
        (self.engine_temp_c > ENGINE_TEMP_LIMIT_C).then(|| Alert {
            run: self.run.clone(),
            car: self.car.clone(),
            seq: self.seq,
            sent_at_ms: self.sent_at_ms,
            reason: format!(
                "engine temperature {:.1} °C above {ENGINE_TEMP_LIMIT_C} °C",
                self.engine_temp_c
            ),
            engine_temp_c: self.engine_temp_c,
        })
    }
}

/// `electric-vehicle-00042`, as in the talk.
pub fn car_name(car: u64) -> String {
    format!("electric-vehicle-{car:05}")
}

/// True when message `seq` of a car is one that raises an alert.
pub fn is_anomalous(seq: u64) -> bool {
    seq % ANOMALY_PERIOD == ANOMALY_PHASE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telemetry_is_about_600_bytes_with_19_readings_and_alerts_follow_the_rule() {
        let reading = Telemetry::reading("r", 42, 3, 1_700_000_000_000);
        let json = serde_json::to_value(&reading).unwrap();
        let numeric = json
            .as_object()
            .unwrap()
            .values()
            .filter(|v| v.is_f64())
            .count();
        assert_eq!(numeric, 19);
        let size = serde_json::to_vec(&reading).unwrap().len();
        assert!((450..800).contains(&size), "{size} bytes");
        assert!(reading.alert().is_none());
        let hot = Telemetry::reading("r", 42, 7, 0);
        assert!(is_anomalous(7));
        assert_eq!(hot.alert().unwrap().car, "electric-vehicle-00042");
    }
}
