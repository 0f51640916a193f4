//! The one error type connectors return.

/// Result of a connector call.
pub type Result<T, E = ConnectError> = std::result::Result<T, E>;

/// Why a connector call failed. The worker shows the message as the task's `trace`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// A configuration value is wrong: names the key and says how to fix it.
    #[error("invalid configuration `{field}`: {message}")]
    Config {
        /// The configuration key.
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A transient failure; the worker may retry the task after a backoff.
    #[error("{0}")]
    Retriable(String),
    /// A failure that retrying will not fix.
    #[error("{0}")]
    Fatal(String),
    /// One record's data cannot be handled (Kafka Connect's DataException): it follows the
    /// connector's `errors.tolerance` instead of failing the task outright.
    #[error("{0}")]
    Data(String),
}

impl ConnectError {
    /// A configuration error for `field`.
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConnectError::Config {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A transient failure.
    pub fn retriable(message: impl Into<String>) -> Self {
        ConnectError::Retriable(message.into())
    }

    /// A record whose data cannot be handled.
    pub fn data(message: impl Into<String>) -> Self {
        ConnectError::Data(message.into())
    }

    /// A permanent failure.
    pub fn fatal(message: impl Into<String>) -> Self {
        ConnectError::Fatal(message.into())
    }
}
