//! The Ferry worker: loads connector plugins, runs their tasks, serves the REST API.

pub mod activity;
pub mod config;
pub mod distributed;
pub mod herder;
pub mod metrics;
pub mod plugins;
pub mod rest;
pub mod standalone;
pub mod startup;
pub mod status;
pub mod store;
pub mod worker;
