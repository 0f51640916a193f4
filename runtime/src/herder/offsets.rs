//! The offsets API (KIP-875), the same in both modes: read, alter and reset the offsets of a
//! connector. Source offsets live in the offsets topic; sink offsets are the consumer-group
//! offsets of `connect-<name>`. Altering and resetting need the connector STOPPED.

use std::sync::Arc;

use ferry_api::SourceOffset;
use serde_json::{json, Value};

use super::{Herder, HerderError, Result};
use crate::config::connector::Subscription;
use crate::plugins::ConnectorType;
use crate::status::TargetState;
use crate::store::group_offsets;

fn group(name: &str) -> String {
    format!("connect-{name}")
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| HerderError::Internal(e.to_string()))?
}

async fn reload_source_offsets(herder: &Arc<dyn Herder>) -> Result<()> {
    let herder = herder.clone();
    blocking(move || herder.reload_source_offsets()).await
}

/// `{"offsets": [{partition, offset}]}` in Kafka Connect's source or sink form.
pub async fn read(herder: Arc<dyn Herder>, name: &str) -> Result<Value> {
    let worker = herder.worker().clone();
    let offsets: Vec<Value> = match herder.kind(name)? {
        ConnectorType::Source => {
            reload_source_offsets(&herder).await?;
            worker
                .offsets
                .offsets(name)
                .into_iter()
                .map(|o| json!({"partition": o.partition, "offset": o.offset}))
                .collect()
        }
        ConnectorType::Sink => {
            let subscription = Subscription::from_config(&herder.config(name)?)
                .map_err(|issue| HerderError::BadRequest(issue.to_string()))?;
            let client = worker.config.kafka_client();
            let group = group(name);
            blocking(move || Ok(group_offsets::read(&client, &group, &subscription)?))
                .await?
                .into_iter()
                .map(|(topic, partition, offset)| {
                    json!({
                        "partition": {"kafka_topic": topic, "kafka_partition": partition},
                        "offset": {"kafka_offset": offset}
                    })
                })
                .collect()
        }
        ConnectorType::Unknown => return Err(plugin_missing(name)),
    };
    Ok(json!({ "offsets": Value::Array(offsets) }))
}

fn plugin_missing(name: &str) -> HerderError {
    HerderError::BadRequest(format!(
        "the plugin of connector {name} is not on this worker's plugin.path, so its offsets cannot be read or changed here; install it and restart the worker"
    ))
}

fn require_stopped(herder: &dyn Herder, name: &str) -> Result<()> {
    let stopped =
        herder.target(name)? == TargetState::Stopped && herder.status(name)?.tasks.is_empty();
    if stopped {
        Ok(())
    } else {
        Err(HerderError::BadRequest(format!(
            "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/{name}/stop' endpoint"
        )))
    }
}

/// Alters offsets of a STOPPED connector (`null` offset removes a source partition).
pub async fn alter(herder: Arc<dyn Herder>, name: &str, body: Value) -> Result<Value> {
    require_stopped(herder.as_ref(), name)?;
    let entries = body["offsets"].as_array().cloned().ok_or_else(|| {
        HerderError::BadRequest(
            "body must be {\"offsets\": [{\"partition\": {...}, \"offset\": {...}}]}".into(),
        )
    })?;
    let worker = herder.worker().clone();
    match herder.kind(name)? {
        ConnectorType::Source => {
            let offsets = entries
                .iter()
                .map(source_offset)
                .collect::<Result<Vec<_>>>()?;
            worker.offsets.write(name, &offsets).await?;
        }
        ConnectorType::Sink => {
            let positions = entries
                .iter()
                .map(sink_position)
                .collect::<Result<Vec<_>>>()?;
            let client = worker.config.kafka_client();
            let group = group(name);
            blocking(move || Ok(group_offsets::alter(&client, &group, &positions)?)).await?;
        }
        ConnectorType::Unknown => return Err(plugin_missing(name)),
    }
    Ok(json!({"message": "The offsets for this connector have been altered successfully"}))
}

fn source_offset(entry: &Value) -> Result<SourceOffset> {
    let partition = entry["partition"]
        .as_object()
        .cloned()
        .ok_or_else(|| HerderError::BadRequest("each entry needs a \"partition\" object".into()))?;
    let offset = match &entry["offset"] {
        Value::Null => Default::default(),
        Value::Object(o) => o.clone(),
        _ => {
            return Err(HerderError::BadRequest(
                "\"offset\" must be an object or null".into(),
            ))
        }
    };
    Ok(SourceOffset { partition, offset })
}

fn sink_position(entry: &Value) -> Result<(String, i32, i64)> {
    let topic = entry["partition"]["kafka_topic"].as_str();
    let partition = entry["partition"]["kafka_partition"].as_i64();
    let offset = entry["offset"]["kafka_offset"].as_i64();
    match (topic, partition, offset) {
        (Some(t), Some(p), Some(o)) => Ok((t.to_string(), p as i32, o)),
        _ => Err(HerderError::BadRequest(
            "sink offsets look like {\"partition\": {\"kafka_topic\": \"t\", \"kafka_partition\": 0}, \"offset\": {\"kafka_offset\": 5}}".into(),
        )),
    }
}

/// Deletes every offset of a STOPPED connector.
pub async fn reset(herder: Arc<dyn Herder>, name: &str) -> Result<Value> {
    require_stopped(herder.as_ref(), name)?;
    let worker = herder.worker().clone();
    match herder.kind(name)? {
        ConnectorType::Source => {
            // Every partition any worker committed must get its tombstone.
            reload_source_offsets(&herder).await?;
            worker.offsets.reset(name).await?;
        }
        ConnectorType::Sink => {
            let client = worker.config.kafka_client();
            group_offsets::reset(&client, &group(name)).await?;
        }
        ConnectorType::Unknown => return Err(plugin_missing(name)),
    }
    Ok(json!({"message": "The offsets for this connector have been reset successfully"}))
}
