//! The path between a client and its server: straight over loopback, or through dgram-proxy
//! running in this process (the bottleneck rows), so that every protocol crosses the same one.

use std::net::SocketAddr;

use dgram_proxy::{Impairment, ProxyStats};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Which way the client reaches its server.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Path {
    /// Straight to the server's socket.
    Direct,
    /// Through an in-process dgram-proxy with these impairments.
    Proxy(Impairment),
}

/// An open path: where the client sends, and the proxy to stop afterwards, if any.
pub(crate) struct Route {
    pub(crate) addr: SocketAddr,
    proxy: Option<(CancellationToken, JoinHandle<Option<ProxyStats>>)>,
}

impl Path {
    /// Opens the path to `server`: for a proxy, binds it on loopback and starts it.
    pub(crate) async fn open(&self, server: SocketAddr) -> Route {
        let Path::Proxy(impairment) = *self else {
            return Route {
                addr: server,
                proxy: None,
            };
        };
        let listen = UdpSocket::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listen.local_addr().expect("proxy addr");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                match dgram_proxy::run(listen, server, impairment, shutdown).await {
                    Ok(stats) => Some(stats),
                    Err(err) => {
                        eprintln!("proxy failed: {err}");
                        None
                    }
                }
            }
        });
        Route {
            addr,
            proxy: Some((shutdown, task)),
        }
    }
}

impl Route {
    /// Stops the proxy, if any, and returns what it counted.
    pub(crate) async fn close(self) -> Option<ProxyStats> {
        let (shutdown, task) = self.proxy?;
        shutdown.cancel();
        task.await.ok().flatten()
    }
}
