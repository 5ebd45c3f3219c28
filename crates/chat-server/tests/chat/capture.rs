//! What an eavesdropper on the path sees (issue 12): a recording relay on loopback between the
//! clients and the server captures every datagram of a chat exchange (a claimed name, DMs both
//! ways, a room, and a resume after the relay moves one client to a new source port), and none
//! holds a message text or a claim key.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dgram_proto::chat::{ClientMsg, Room, ServerMsg, Target};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::support::{name, server, settings, txn, Chat};

pub(crate) type Seen = Arc<Mutex<Vec<Vec<u8>>>>;

/// A UDP relay that records every datagram both ways; `rebind` gives a client a new upstream
/// socket, as a NAT that forgot its mapping would.
pub(crate) struct Relay {
    pub(crate) addr: SocketAddr,
    pub(crate) seen: Seen,
    rebind: tokio::sync::mpsc::UnboundedSender<SocketAddr>,
    pub(crate) stop: CancellationToken,
}

type Flow = (Arc<UdpSocket>, tokio::task::JoinHandle<()>);

/// A flow's own upstream socket, and the task that relays its replies (aborted on a rebind:
/// what the server sends to a forgotten mapping reaches nobody).
async fn upstream(front: Arc<UdpSocket>, client: SocketAddr, to: SocketAddr, seen: Seen) -> Flow {
    let up = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
    up.connect(to).await.expect("connect");
    let reader = up.clone();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok(n) = reader.recv(&mut buf).await {
            seen.lock().expect("lock").push(buf[..n].to_vec());
            let _ = front.send_to(&buf[..n], client).await;
        }
    });
    (up, task)
}

impl Relay {
    pub(crate) async fn start(to: SocketAddr) -> Relay {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
        let addr = front.local_addr().expect("addr");
        let seen: Seen = Arc::default();
        let stop = CancellationToken::new();
        let (rebind, mut rebinds) = tokio::sync::mpsc::unbounded_channel::<SocketAddr>();
        let (s, st) = (seen.clone(), stop.clone());
        tokio::spawn(async move {
            let mut flows: HashMap<SocketAddr, Flow> = HashMap::new();
            let mut buf = vec![0u8; 65_536];
            loop {
                tokio::select! {
                    () = st.cancelled() => break,
                    Some(client) = rebinds.recv() => {
                        if let Some((_, task)) = flows.remove(&client) {
                            task.abort();
                        }
                    }
                    got = front.recv_from(&mut buf) => {
                        let Ok((n, client)) = got else { break };
                        s.lock().expect("lock").push(buf[..n].to_vec());
                        let up = match flows.get(&client) {
                            Some((up, _)) => up.clone(),
                            None => {
                                let flow = upstream(front.clone(), client, to, s.clone()).await;
                                let up = flow.0.clone();
                                flows.insert(client, flow);
                                up
                            }
                        };
                        let _ = up.send(&buf[..n]).await;
                    }
                }
            }
        });
        Relay {
            addr,
            seen,
            rebind,
            stop,
        }
    }
}

fn dm(c: &mut Chat, to: &str, text: &str) -> ClientMsg {
    ClientMsg::Send {
        req: c.req(),
        txn: txn(),
        to: Target::User(name(to)),
        text: text.into(),
    }
}

async fn got_text(c: &mut Chat, text: &str) {
    let text = text.to_owned();
    let m = c
        .until(move |m| matches!(m, ServerMsg::Message(p) if p.text == text))
        .await;
    assert!(matches!(m, ServerMsg::Message(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eavesdropper_sees_no_text_and_no_key() {
    let srv = server(settings()).await;
    let relay = Relay::start(srv.addr).await;
    let (mut alex, _) = Chat::join(relay.addr, "alex", None).await;
    // Alex's key material: the identity's private half (a name's only proof).
    let key = alex.identity.private;
    let (mut egon, _) = Chat::join(relay.addr, "egon", None).await;

    let texts = [
        "the eagle lands at noon",
        "bring the blue folder",
        "room words stay secret",
        "said from a new port",
    ];
    let msg = dm(&mut alex, "egon", texts[0]);
    alex.send(msg).await;
    got_text(&mut egon, texts[0]).await;
    let msg = dm(&mut egon, "alex", texts[1]);
    egon.send(msg).await;
    got_text(&mut alex, texts[1]).await;

    let room = Room::new("#ops").expect("room");
    for c in [&mut alex, &mut egon] {
        let req = c.req();
        c.send(ClientMsg::Join {
            req,
            room: room.clone(),
        })
        .await;
        c.until(|m| matches!(m, ServerMsg::History { .. })).await;
    }
    let req = alex.req();
    alex.send(ClientMsg::Send {
        req,
        txn: txn(),
        to: Target::Room(room),
        text: texts[2].into(),
    })
    .await;
    got_text(&mut egon, texts[2]).await;

    // The relay forgets alex's mapping: the server sees a new source port, and the session
    // resumes from there (proved inside a new Noise handshake).
    let before = relay.seen.lock().expect("lock").len();
    relay.rebind.send(alex.addr).expect("relay running");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let msg = dm(&mut alex, "egon", texts[3]);
    alex.send(msg).await;
    // The resume waits out the session's 3 s of silence first: give it time before reading
    // (egon's link buffers what arrives meanwhile).
    tokio::time::sleep(Duration::from_secs(6)).await;
    got_text(&mut egon, texts[3]).await;

    relay.stop.cancel();
    let seen = relay.seen.lock().expect("lock").clone();
    assert!(seen.len() > 20, "{} datagrams", seen.len());
    assert!(
        seen[before..].iter().any(|d| d.starts_with(&[
            0xFF,
            b'S',
            (dgram_proto::session::packet::VERSION << 4) | 2
        ])),
        "no resume Join after the move"
    );
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    for d in &seen {
        for text in texts {
            assert!(
                !d.windows(text.len()).any(|w| w == text.as_bytes()),
                "{text:?} in clear"
            );
        }
        assert!(
            !d.windows(key.len()).any(|w| w == key),
            "the private key in clear"
        );
        assert!(
            !d.windows(hex.len()).any(|w| w == hex.as_bytes()),
            "the private key in hex"
        );
        assert!(
            !d.windows(4).any(|w| w == b"alex"),
            "even the name is not in clear"
        );
    }
}
