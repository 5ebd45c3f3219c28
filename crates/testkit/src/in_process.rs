//! A server's `run` on a loopback socket in the test's runtime, stopped the way `main` stops
//! it: by cancelling its shutdown token.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a cancelled server may take to end.
const STOP_WITHIN: Duration = Duration::from_secs(1);

/// A server running as a task; `T` is what its `run` returns when it ends cleanly.
#[derive(Debug)]
pub struct InProcess<T, E> {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Cancelled to stop it.
    pub shutdown: CancellationToken,
    /// The server's task.
    pub task: JoinHandle<Result<T, E>>,
}

impl<T, E> InProcess<T, E>
where
    T: Send + 'static,
    E: std::fmt::Debug + Send + 'static,
{
    /// Spawns `run(socket, shutdown)` on the current runtime.
    pub fn start<F, Fut>(socket: UdpSocket, run: F) -> Self
    where
        F: FnOnce(UdpSocket, CancellationToken) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let addr = socket.local_addr().expect("local addr");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(socket, shutdown.clone()));
        Self {
            addr,
            shutdown,
            task,
        }
    }

    /// Cancels the server and returns what it ended with; panics unless it ends cleanly
    /// within a second.
    pub async fn stop(self) -> T {
        self.shutdown.cancel();
        tokio::time::timeout(STOP_WITHIN, self.task)
            .await
            .expect("stops within a second")
            .expect("task joins")
            .expect("server ends cleanly")
    }
}
