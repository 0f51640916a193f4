//! The Ferry worker: loads connector plugins, runs their tasks, serves the REST API.

pub mod plugins;
