//! A small fault-injecting TCP proxy for the network fault test: it forwards each listening
//! port to its target, and can add latency to every chunk or cut every connection (and refuse
//! new ones) until told otherwise.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Default)]
struct Faults {
    /// Added before each chunk is passed on, both ways.
    delay_ms: AtomicU64,
    cut: AtomicBool,
}

/// The proxy; dropping it stops it.
pub struct FaultProxy {
    faults: Arc<Faults>,
    /// Bumped on each cut, so open connections close.
    cuts: watch::Sender<u64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1 at each `(listen, target)` pair's first port.
    pub async fn start(routes: &[(u16, u16)]) -> FaultProxy {
        let faults = Arc::new(Faults::default());
        let (cuts, _) = watch::channel(0);
        let mut tasks = Vec::new();
        for &(listen, target) in routes {
            let listener = TcpListener::bind(("127.0.0.1", listen))
                .await
                .unwrap_or_else(|e| panic!("the proxy cannot listen on {listen}: {e}"));
            let (faults, cuts) = (faults.clone(), cuts.subscribe());
            tasks.push(tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    if faults.cut.load(Ordering::Relaxed) {
                        drop(client);
                        continue;
                    }
                    tokio::spawn(relay(client, target, faults.clone(), cuts.clone()));
                }
            }));
        }
        FaultProxy {
            faults,
            cuts,
            tasks,
        }
    }

    /// Every chunk waits `delay` before it is passed on.
    pub fn set_delay(&self, delay: Duration) {
        self.faults
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// Closes every connection and refuses new ones (`true`), or lets them through again.
    pub fn set_cut(&self, cut: bool) {
        self.faults.cut.store(cut, Ordering::Relaxed);
        if cut {
            self.cuts.send_modify(|n| *n += 1);
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.set_cut(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn relay(
    client: TcpStream,
    target: u16,
    faults: Arc<Faults>,
    mut cuts: watch::Receiver<u64>,
) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pass(client_read, server_write, faults.clone());
    let down = pass(server_read, client_write, faults);
    cuts.mark_unchanged();
    tokio::select! {
        _ = up => {}
        _ = down => {}
        _ = cuts.changed() => {}
    }
}

async fn pass(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    faults: Arc<Faults>,
) {
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let delay = faults.delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if faults.cut.load(Ordering::Relaxed) || to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
