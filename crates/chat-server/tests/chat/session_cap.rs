//! The per-IP session cap at the session layer: an attacker on 127.0.0.2 (and one on
//! 127.0.0.3) handshaking from many ports gets no more than its share of sessions, refused
//! before a session exists, so the server-wide limit stays out of its reach and a legitimate
//! client on 127.0.0.1 still joins and chats.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use chat_server::Settings;
use dgram_net::session::{drive, now};
use dgram_proto::chat::{ClientMsg, ServerMsg};
use dgram_proto::session::{self, Client, Delivery, Event};
use dgram_proto::Name;
use tokio_util::sync::CancellationToken;

/// The answer to one raw handshake (Hello, then Join with the cookie) from a fresh port on
/// `ip`: the packet type of the answer to the Join (`hs(3)` welcome, `hs(4)` reject) and its bytes,
/// and the socket, which the caller keeps so that no later handshake gets the same port (a
/// Join from an address that has a session replaces that session).
/// The third byte of a handshake packet of type `ty` of this protocol version.
fn hs(ty: u8) -> u8 {
    (session::packet::VERSION << 4) | ty
}

fn handshake(server: SocketAddr, ip: &str, nonce: u8) -> (u8, Vec<u8>, UdpSocket) {
    let socket = UdpSocket::bind((ip, 0)).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut hello = vec![0xFF, b'S', hs(0)];
    hello.extend([nonce; 16]);
    hello.resize(1200, 0);
    socket.send_to(&hello, server).expect("send hello");
    let mut buf = [0u8; 1500];
    let (n, _) = socket.recv_from(&mut buf).expect("a cookie");
    assert_eq!((n, buf[2]), (67, hs(1)), "a cookie with the server's key");
    // The Noise IK first message, made with snow directly, from a key of this handshake's own.
    let me = session::Keypair::from_seed([nonce; 32]);
    let mut prologue = format!("dgram session v{}", session::packet::VERSION).into_bytes();
    prologue.extend([nonce; 16]);
    prologue.extend_from_slice(&buf[19..35]);
    let mut noise = snow::Builder::new(session::NOISE_PARAMS.parse().expect("params"))
        .local_private_key(&me.private)
        .and_then(|b| b.remote_public_key(&buf[35..67]))
        .and_then(|b| b.prologue(&prologue))
        .and_then(|b| b.build_initiator())
        .expect("an initiator");
    let mut msg1 = [0u8; 256];
    let len = noise.write_message(&[0], &mut msg1).expect("msg1");
    let mut join = vec![0xFF, b'S', hs(2)];
    join.extend([nonce; 16]);
    join.extend_from_slice(&buf[19..35]);
    join.extend((len as u16).to_le_bytes());
    join.extend_from_slice(&msg1[..len]);
    join.resize(1200, 0);
    socket.send_to(&join, server).expect("send join");
    let (n, _) = socket.recv_from(&mut buf).expect("an answer to the join");
    (buf[2], buf[..n].to_vec(), socket)
}

/// A real session client on 127.0.0.1 that says hello as `who`; the server's answer.
async fn chat_hello(server: SocketAddr, who: &str) -> ServerMsg {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let client = Client::new(
        session::Config::default(),
        [7; 32],
        server,
        now(),
        session::Keypair::from_seed([8; 32]),
        session::ServerPin::Any,
    );
    let (commands, rx) = tokio::sync::mpsc::channel(16);
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let driver = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            let on_event = move |_: &mut Client, _, e| {
                let _ = tx.send(e);
            };
            drive(&socket, client, rx, on_event, shutdown).await
        }
    });
    let hello = ClientMsg::Hello {
        name: Name::new(who).expect("valid"),
        key: None,
        send_only: false,
    }
    .encode()
    .expect("encodes");
    let answer = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match events.recv().await.expect("driver running") {
                Event::Connected { .. } => {
                    let hello = hello.clone();
                    let send: dgram_net::session::Command<Client> = Box::new(move |c, now| {
                        let _ = c.send(now, 0, hello, Delivery::Reliable);
                    });
                    commands.send(send).await.expect("driver running");
                }
                Event::Message { data, .. } => {
                    return ServerMsg::decode(&data).expect("chat");
                }
                _ => {}
            }
        }
    })
    .await
    .expect("an answer within 5 s");
    shutdown.cancel();
    let _ = driver.await;
    answer
}

#[tokio::test]
async fn one_address_cannot_fill_the_server_and_a_legitimate_client_still_joins() {
    let settings = Settings {
        seed: Some([3; 32]),
        // Room for two attackers' shares and then some, not for a thousand handshakes.
        session: session::Config {
            max_sessions: 40,
            ..session::Config::default()
        },
        ..Settings::default()
    };
    let cap = settings.max_sessions_per_ip;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = socket.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(chat_server::run(socket, shutdown.clone(), settings));

    let attempts = 200;
    let answers = tokio::task::spawn_blocking(move || {
        ["127.0.0.2", "127.0.0.3"].map(|ip| {
            (0..attempts)
                .map(|i| handshake(addr, ip, i as u8))
                .collect::<Vec<_>>()
        })
    })
    .await
    .expect("attacker");
    for (ip, answers) in ["127.0.0.2", "127.0.0.3"].iter().zip(&answers) {
        let welcomed = answers.iter().filter(|(ty, ..)| *ty == hs(3)).count();
        let busy = answers
            .iter()
            .filter(|(ty, b, _)| *ty == hs(4) && b.get(19) == Some(&3))
            .count();
        println!("{ip}: {attempts} handshakes, {welcomed} sessions, {busy} refused busy");
        // One session past the chat cap, whose hello is told "too many sessions"; the rest
        // are refused at the handshake.
        assert_eq!(welcomed, cap + 1, "{ip}");
        assert_eq!(busy, attempts - cap - 1, "{ip}");
    }
    let answer = chat_hello(addr, "legit").await;
    assert!(
        matches!(answer, ServerMsg::Welcome { .. }),
        "the legitimate client joins: {answer:?}"
    );
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("stops within a second")
        .expect("joins")
        .expect("ends cleanly");
}
