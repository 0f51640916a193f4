//! Placeholder: the connector arrives with its own issue.
