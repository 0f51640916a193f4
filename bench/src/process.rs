//! What a process costs, read from /proc: resident memory (`VmRSS` of /proc/<pid>/status) and
//! CPU time (`utime + stime` of /proc/<pid>/stat, in clock ticks). Plus the cold start of a
//! worker: spawn `ferry standalone`, time until `GET /` answers 200.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;

/// Resident set size of `pid`, in kB.
pub fn rss_kb(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("no process {pid}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .with_context(|| format!("no VmRSS in /proc/{pid}/status"))
}

/// CPU time `pid` used so far (user + system, all threads), in seconds.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("no process {pid}"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count fields after
    // the last ')', where field 3 (state) comes first, so utime (14) and stime (15) are the
    // 12th and 13th.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unreadable /proc/<pid>/stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .context("unreadable /proc/<pid>/stat")
    };
    Ok((ticks(11)? + ticks(12)?) as f64 / clock_ticks_per_second())
}

/// `CLK_TCK`: asked of `getconf` (sysconf would need unsafe code); 100 on every Linux we know
/// when getconf is missing.
fn clock_ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .filter(|t: &f64| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// A worker's cost over a stretch of load: CPU seconds used and the largest RSS seen, sampled
/// every 200 ms by a thread.
pub struct Watch {
    pid: u32,
    cpu_start: f64,
    rss_max_kb: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    sampler: JoinHandle<()>,
}

/// The machine's CPU counters (the `cpu` line of /proc/stat), to tell how busy all cores were.
pub struct MachineCpu {
    busy: u64,
    total: u64,
}

impl MachineCpu {
    /// Now; `None` where /proc/stat cannot be read.
    pub fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let fields: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is inside user).
        let total: u64 = fields.iter().take(8).sum();
        let idle = fields.get(3)? + fields.get(4).unwrap_or(&0);
        Some(MachineCpu {
            busy: total - idle,
            total,
        })
    }

    /// Percent of all cores busy since this snapshot.
    pub fn busy_pct_since(&self) -> Option<f64> {
        let now = MachineCpu::now()?;
        let total = now.total.checked_sub(self.total).filter(|t| *t > 0)?;
        let busy = now.busy.saturating_sub(self.busy);
        Some((busy as f64 * 1000.0 / total as f64).round() / 10.0)
    }
}

/// What `Watch::finish` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    pub pid: u32,
    pub cpu_s: f64,
    pub rss_kb_max: u64,
    pub rss_kb_end: u64,
}

impl Watch {
    /// Starts watching `pid`.
    pub fn start(pid: u32) -> anyhow::Result<Self> {
        let cpu_start = cpu_seconds(pid)?;
        let rss_max_kb = Arc::new(AtomicU64::new(rss_kb(pid)?));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (rss_max_kb, stop) = (rss_max_kb.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(rss) = rss_kb(pid) {
                        rss_max_kb.fetch_max(rss, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        };
        Ok(Watch {
            pid,
            cpu_start,
            rss_max_kb,
            stop,
            sampler,
        })
    }

    /// Stops the sampler and reports.
    pub fn finish(self) -> anyhow::Result<Cost> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.sampler.join();
        let rss_end = rss_kb(self.pid)?;
        Ok(Cost {
            pid: self.pid,
            cpu_s: round3(cpu_seconds(self.pid)? - self.cpu_start),
            rss_kb_max: self.rss_max_kb.load(Ordering::Relaxed).max(rss_end),
            rss_kb_end: rss_end,
        })
    }
}

/// Watches `pid` for `max`, or while `while_pid` lives (at most `max`), e.g. a worker during a
/// fleet run.
pub fn watch_while(pid: u32, while_pid: Option<u32>, max: Duration) -> anyhow::Result<Cost> {
    let watch = Watch::start(pid)?;
    let deadline = Instant::now() + max;
    let alive = || while_pid.is_none_or(|other| Path::new(&format!("/proc/{other}")).exists());
    while alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    watch.finish()
}

/// The cold start of one worker.
#[derive(Debug, Clone, Serialize)]
pub struct ColdStart {
    /// Spawn to the first `200` on `GET /`.
    pub ready_ms: f64,
    /// RSS when REST first answered.
    pub rss_kb_at_ready: u64,
}

/// Spawns `ferry standalone <config>` (environment inherited), waits for `GET url` to answer
/// 200 within `timeout`, then stops it with SIGTERM (SIGKILL after 15 s).
pub fn cold_start(
    command: &[OsString],
    url: &str,
    log: &Path,
    timeout: Duration,
) -> anyhow::Result<ColdStart> {
    let (program, args) = command.split_first().context("no worker command")?;
    let (address, path) = split_http_url(url)?;
    let log_file = std::fs::File::create(log).with_context(|| format!("{}", log.display()))?;
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("cannot start {}", program.to_string_lossy()))?;
    let result = (|| loop {
        if http_status(&address, &path).ok() == Some(200) {
            let ready_ms = started.elapsed().as_secs_f64() * 1000.0;
            return Ok(ColdStart {
                ready_ms: (ready_ms * 10.0).round() / 10.0,
                rss_kb_at_ready: rss_kb(child.id())?,
            });
        }
        if let Some(status) = child.try_wait()? {
            bail!("the worker exited with {status}; see {}", log.display());
        }
        if started.elapsed() > timeout {
            bail!("REST not ready within {timeout:?}; see {}", log.display());
        }
        std::thread::sleep(Duration::from_millis(5));
    })();
    terminate(&mut child);
    result
}

/// SIGTERM (through `kill`, to stay free of unsafe code), then SIGKILL if it lingers.
fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `http://host:port/path` → ("host:port", "/path"). Plain HTTP only: the worker's listener.
fn split_http_url(url: &str) -> anyhow::Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("{url}: only http:// URLs"))?;
    let (address, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    Ok((address.to_string(), path.to_string()))
}

/// The status code of `GET path` on `address`, with a hand-written request so that no HTTP
/// client library takes part in the measured time.
fn http_status(address: &str, path: &str) -> anyhow::Result<u16> {
    let socket = address
        .to_socket_addrs()?
        .next()
        .context("unresolvable address")?;
    let mut stream = TcpStream::connect_timeout(&socket, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head)?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("not an HTTP answer")
}

/// Rounds to 3 decimals for the JSON.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_rss_and_cpu() {
        let pid = std::process::id();
        assert!(rss_kb(pid).unwrap() > 0);
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
        assert!(rss_kb(u32::MAX).is_err());
    }

    #[test]
    fn splits_worker_urls() {
        assert_eq!(
            split_http_url("http://127.0.0.1:18083/").unwrap(),
            ("127.0.0.1:18083".into(), "/".into())
        );
        assert_eq!(
            split_http_url("http://127.0.0.1:18083").unwrap().1,
            "/".to_string()
        );
        assert!(split_http_url("https://x/").is_err());
    }
}
