//! The strict check of a Prometheus exposition: `testkit/promcheck`, a small Go program around
//! Prometheus' own text-format parser and the linter of `promtool check metrics`. A test builds
//! it on first use, so a fresh machine needs only Go (dev/setup checks for it).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::{target_dir, workspace};

/// The built checker, compiled once per test process into the target directory.
pub fn binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let output = target_dir().join("promcheck");
            let source = workspace().join("testkit").join("promcheck");
            let result = Command::new("go")
                .args(["build", "-o"])
                .arg(&output)
                .arg(".")
                .current_dir(&source)
                // go.sum is committed: a dependency it does not pin is an error, not an update,
                // and no go.work above the checkout may swap modules in.
                .env("GOFLAGS", "-mod=readonly")
                .env("GOWORK", "off")
                .output();
            let built = match result {
                Ok(built) => built,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                    "`go` is not on PATH: the strict Prometheus text-format check \
                     ({}) is a Go program; install Go 1.26 or newer and retry",
                    source.display()
                ),
                Err(e) => panic!("`go build` in {} did not run: {e}", source.display()),
            };
            assert!(
                built.status.success(),
                "`go build` in {} failed (it fetches the modules go.sum pins from the Go \
                 module proxy on first use):\n{}",
                source.display(),
                String::from_utf8_lossy(&built.stderr)
            );
            output
        })
        .clone()
}

/// Checks `text` served with `content_type`: the samples as JSON
/// (`[{"name", "type", "labels", "value"}]`), or why a Prometheus scraper would reject it.
pub fn check(content_type: &str, text: &str) -> Result<String, String> {
    let mut child = Command::new(binary())
        .arg(content_type)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promcheck starts");
    child
        .stdin
        .take()
        .expect("promcheck's stdin")
        .write_all(text.as_bytes())
        .expect("promcheck reads the exposition");
    let output = child.wait_with_output().expect("promcheck ends");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}
