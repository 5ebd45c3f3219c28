//! Load shedding end to end: a server that falls behind its socket (here, stopped with SIGSTOP
//! while a flood fills its receive queue) refuses the DMs it then reads with an error that
//! says to try again, rather than leaving them to the kernel to drop; once it has caught up, a
//! DM goes through as before.

use std::net::SocketAddr;
use std::process::{Child, Command};
use std::time::Duration;

use dgram_proto::chat::{ErrorKind, ServerMsg};
use dgram_proto::RequestId;

use crate::binary::spawn;
use crate::support::{dm, Chat};

/// Tiny datagrams (the kernel counts each as about 830 bytes), enough to fill even an 8 MiB
/// receive queue; what does not fit is dropped by the kernel, which is the point.
const FLOOD: usize = 12_000;

fn signal(child: &Child, which: &str) {
    let status = Command::new("kill")
        .args([which, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {which}");
}

/// Fills the server's receive queue with datagrams it will find malformed.
fn flood(server: SocketAddr) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    for i in 0..FLOOD {
        // A full send buffer is possible under load: that datagram is skipped, not retried.
        let _ = socket.send_to(&[(i % 251) as u8], server);
    }
}

/// Whether `m` is the server's answer (taken or refused) to request `req`.
fn answers(m: &ServerMsg, req: RequestId) -> bool {
    match m {
        ServerMsg::Error { req: Some(r), .. } | ServerMsg::Accepted { req: r, .. } => *r == req,
        _ => false,
    }
}

#[tokio::test]
async fn a_server_behind_its_socket_refuses_new_messages_with_an_error_then_recovers() {
    let data = tempfile::tempdir().expect("tempdir");
    let off = ["--rate", "0", "--name-rate", "0", "--ip-rate", "0"];
    let (mut server, addr) = spawn(data.path(), "127.0.0.1:0", &off);
    let (mut alex, _) = Chat::join(addr, "alex", None).await;
    let (mut egon, _) = Chat::join(addr, "egon", None).await;

    // The server stops reading; alex's DM is first in its queue, a flood behind it.
    signal(&server, "-STOP");
    let req = alex.req();
    alex.send(dm(req, "egon", "sent into a full queue")).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    flood(addr);
    signal(&server, "-CONT");

    let answer = alex.until(|m| answers(m, req)).await;
    let ServerMsg::Error { kind, message, .. } = answer else {
        panic!("read with a queue full behind it, the DM was taken: {answer:?}");
    };
    assert_eq!(kind, ErrorKind::Unavailable);
    assert!(message.contains("try again"), "{message}");
    let seen = egon.drain(Duration::from_millis(300)).await;
    assert!(
        !seen.iter().any(|m| matches!(m, ServerMsg::Message(_))),
        "a refused DM is not delivered: {seen:?}"
    );

    // Caught up (the flood is all read by now), the server takes messages again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let req = alex.req();
    alex.send(dm(req, "egon", "after the flood")).await;
    let answer = alex.until(|m| answers(m, req)).await;
    assert!(matches!(answer, ServerMsg::Accepted { .. }), "{answer:?}");
    let got = egon
        .until(|m| matches!(m, ServerMsg::Message(p) if p.text == "after the flood"))
        .await;
    assert!(matches!(got, ServerMsg::Message(_)));
    server.kill().expect("SIGKILL");
    server.wait().expect("reap");
}
