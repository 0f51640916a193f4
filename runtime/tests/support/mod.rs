//! Shared by the integration tests: locating the connector libraries the workspace builds.
#![allow(dead_code)]

pub mod http;
pub mod kafka;
pub mod mqtt;
pub mod proxy;
pub mod worker;

use std::path::PathBuf;

pub use ferry_testkit::{unique, Services};

/// The path of a workspace cdylib, e.g. `library("sequence_connector")`. Builds the workspace's
/// libraries once per test binary, so `cargo test` alone is enough.
pub fn library(crate_name: &str) -> PathBuf {
    ferry_testkit::cargo_build(&["--workspace", "--lib"]);
    ferry_testkit::library(crate_name)
}

/// A fresh plugin directory holding copies of the named libraries.
pub fn plugin_dir(crate_names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in crate_names {
        let source = library(name);
        std::fs::copy(&source, dir.path().join(source.file_name().unwrap())).unwrap();
    }
    dir
}

/// Runs `dev/services` with `args` (e.g. `["down", "kafka"]`), for the outage tests.
pub fn dev_services(args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../dev/services");
    let status = std::process::Command::new(script)
        .args(args)
        .status()
        .expect("dev/services runs");
    assert!(status.success(), "dev/services {args:?} failed");
}
