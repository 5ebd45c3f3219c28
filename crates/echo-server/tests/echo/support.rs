//! Shared helpers: a server on 127.0.0.1:0 in this process (the testkit's, as for chat), and a
//! blocking test client.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use dgram_proto::{Body, Echo, Envelope, Name, MAX_DATAGRAM};
use dgram_testkit::InProcess;
use echo_server::{Settings, Totals};

pub(crate) type Running = InProcess<Totals, echo_server::Error>;

pub(crate) async fn start(settings: Settings) -> Running {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    InProcess::start(socket, |socket, shutdown| {
        echo_server::run(socket, shutdown, settings)
    })
}

/// A blocking client socket on loopback; tests call it from `spawn_blocking`.
pub(crate) struct Client {
    socket: UdpSocket,
    server: SocketAddr,
}

impl Client {
    pub(crate) fn new(server: SocketAddr) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
        socket
            .set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        Self { socket, server }
    }

    pub(crate) fn send(&self, datagram: &[u8]) {
        self.socket.send_to(datagram, self.server).expect("send");
    }

    /// The next datagram from the server, or `None` after the read timeout.
    pub(crate) fn recv(&self) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 65_536];
        match self.socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                assert_eq!(from, self.server);
                buf.truncate(n);
                Some(buf)
            }
            Err(_) => None,
        }
    }

    pub(crate) fn ask(&self, datagram: &[u8]) -> Option<Vec<u8>> {
        self.send(datagram);
        self.recv()
    }
}

pub(crate) fn echo_request(id: u64, text: &str) -> Vec<u8> {
    Envelope::new(
        Name::new("黎诗").expect("valid"),
        Body::EchoRequest(Echo {
            request_id: id,
            text: text.into(),
        }),
    )
    .encode()
    .expect("encodes")
}

pub(crate) const BIG: usize = MAX_DATAGRAM + 100;
