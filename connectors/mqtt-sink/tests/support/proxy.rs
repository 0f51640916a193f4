//! A TCP proxy between the task and Mosquitto, to make delivery problems happen on demand:
//! hold back what the broker sends (its PUBACKs and PUBCOMPs then never reach the task while
//! subscribers already have the messages), cut every connection, or refuse new ones (an outage).

use std::io;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running proxy; dropping it closes everything.
pub struct Proxy {
    /// The port to give the task: `tcp://127.0.0.1:<port>`.
    pub port: u16,
    hold: watch::Sender<bool>,
    cut: watch::Sender<u64>,
    refuse: watch::Sender<bool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    runtime: tokio::runtime::Runtime,
}

impl Proxy {
    /// Listens on an ephemeral local port and forwards to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> Proxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (hold, hold_rx) = watch::channel(false);
        let (cut, cut_rx) = watch::channel(0u64);
        let (refuse, refuse_rx) = watch::channel(false);
        let upstream = upstream.to_string();
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accepted = connections.clone();
        runtime.spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if *refuse_rx.borrow() {
                    drop(client);
                    continue;
                }
                let Ok(broker) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (hold_rx, mut cut_rx) = (hold_rx.clone(), cut_rx.clone());
                cut_rx.mark_unchanged();
                let connection = tokio::spawn(async move {
                    let client = Arc::new(client);
                    let broker = Arc::new(broker);
                    let never_held = watch::channel(false).1;
                    tokio::select! {
                        biased;
                        _ = cut_rx.changed() => {}
                        _ = pump(client.clone(), broker.clone(), never_held) => {}
                        _ = pump(broker, client, hold_rx) => {}
                    }
                });
                accepted.lock().unwrap().push(connection);
            }
        });
        Proxy {
            port,
            hold,
            cut,
            refuse,
            connections,
            runtime,
        }
    }

    /// From now on, bytes from the broker wait in the proxy.
    pub fn hold_broker_replies(&self) {
        self.hold.send_replace(true);
    }

    /// Lets the held bytes and everything after them through.
    pub fn release_broker_replies(&self) {
        self.hold.send_replace(false);
    }

    /// Closes every connection open now and returns once they are closed; held bytes are lost.
    pub fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
        let open: Vec<JoinHandle<()>> = std::mem::take(&mut *self.connections.lock().unwrap());
        self.runtime.block_on(async {
            for connection in open {
                let _ = connection.await;
            }
        });
    }

    /// While true, new connections are closed at once (the broker looks down).
    pub fn refuse(&self, refuse: bool) {
        self.refuse.send_replace(refuse);
    }
}

/// Copies `from` to `to`, waiting while `held` is true before writing each chunk.
async fn pump(
    from: Arc<TcpStream>,
    to: Arc<TcpStream>,
    mut held: watch::Receiver<bool>,
) -> io::Result<()> {
    let mut buffer = vec![0; 64 * 1024];
    loop {
        from.readable().await?;
        let read = match from.try_read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        while *held.borrow_and_update() {
            if held.changed().await.is_err() {
                return Ok(());
            }
        }
        let mut data = &buffer[..read];
        while !data.is_empty() {
            to.writable().await?;
            match to.try_write(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        // The runtime goes with the proxy; shut it down without waiting on its tasks.
        let runtime = std::mem::replace(
            &mut self.runtime,
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
        );
        runtime.shutdown_background();
    }
}
