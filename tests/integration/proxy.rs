//! A TCP proxy in front of the shared PostgreSQL server that a test cuts (every live connection
//! closed, new ones refused, as when the server or the network goes away) and restores, so that
//! the store fails mid-run while the server itself never stops.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::support::eventually;

pub struct Proxy {
    /// Where clients connect; the same address after every restore.
    pub addr: SocketAddr,
    upstream: SocketAddr,
    /// The accept loop and the token that stops it, while the proxy is up.
    serving: Mutex<Option<(CancellationToken, JoinHandle<()>)>>,
}

impl Proxy {
    /// A proxy on a free loopback port forwarding to `upstream`, up.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Self {
            addr: listener.local_addr().unwrap(),
            upstream,
            serving: Mutex::new(None),
        };
        *proxy.serving.lock().await = Some(serve(listener, upstream));
        proxy
    }

    /// Closes every live connection (both sides) and the listening socket, so that new
    /// connections are refused. Returns once all of it is closed.
    pub async fn cut(&self) {
        let Some((stop, accept)) = self.serving.lock().await.take() else {
            return;
        };
        stop.cancel();
        accept.await.unwrap();
    }

    /// Listens again on the same address.
    pub async fn restore(&self) {
        let mut serving = self.serving.lock().await;
        if serving.is_some() {
            return;
        }
        // The port is ours only while bound: retry in the unlikely case that an outgoing
        // connection took it as its local port meanwhile.
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = eventually(deadline, Duration::from_millis(50), async || {
            TcpListener::bind(self.addr).await.ok()
        })
        .await
        .unwrap_or_else(|| panic!("could not listen on {} again", self.addr));
        *serving = Some(serve(listener, self.upstream));
    }
}

/// Accepts and forwards until `stop`; then closes every connection before it returns (the
/// listener closes with it).
fn serve(listener: TcpListener, upstream: SocketAddr) -> (CancellationToken, JoinHandle<()>) {
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    let accept = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = stopped.cancelled() => break,
                accepted = listener.accept() => {
                    let Ok((client, _)) = accepted else { continue };
                    connections.spawn(forward(client, upstream));
                }
                // Reap finished connections so the set does not grow over a long test.
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        // Aborting a forwarding task drops both of its sockets.
        connections.shutdown().await;
    });
    (stop, accept)
}

async fn forward(mut client: TcpStream, upstream: SocketAddr) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    // The protocol's small messages must not wait for Nagle's algorithm on either hop.
    let _ = client.set_nodelay(true).and(server.set_nodelay(true));
    // Either side closing or failing ends the connection; both sockets close with this task.
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}
