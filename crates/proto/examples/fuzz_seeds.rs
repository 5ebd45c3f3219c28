//! Writes starting corpora for the cargo-fuzz targets in `fuzz/` (see `fuzz/seed`): valid
//! session packets of every type, chat messages both ways, and scripts that take a live
//! session through its handshake and some traffic.
//!
//! `cargo run -p dgram-proto --features fuzzing --example fuzz_seeds -- fuzz/corpus`

use std::path::Path;

use dgram_proto::chat::{ClientMsg, ErrorKind, Room, ServerMsg, Target};
use dgram_proto::Name;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args()
        .nth(1)
        .ok_or("usage: fuzz_seeds CORPUS_DIR")?;
    let root = Path::new(&root);
    let write = |target: &str, name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)
    };
    for (name, bytes) in dgram_proto::fuzzing::session_seeds() {
        write("session_packet", name, &bytes)?;
        // The handshake target reads a Join's or Welcome's Noise message; a data packet whole.
        let noise = match name {
            "join" | "join-resume" => bytes.get(37..).unwrap_or_default(),
            "welcome" => bytes.get(25..).unwrap_or_default(),
            _ => &bytes,
        };
        write("session_handshake", name, noise)?;
    }
    let (alex, room) = (Name::new("alex")?, Room::new("rust")?);
    let client = [
        ClientMsg::Hello {
            name: Name::new("黎诗")?,
            key: Some([3; 16]),
            send_only: false,
        },
        ClientMsg::Send {
            req: 1,
            txn: 0x5EED,
            to: Target::User(alex.clone()),
            text: "hello, 瞎驴".into(),
        },
        ClientMsg::Join {
            req: 2,
            room: room.clone(),
        },
        ClientMsg::History {
            req: 3,
            with: Target::Room(room),
            since: Some(9),
            before: None,
            limit: 50,
        },
    ];
    for (i, msg) in client.iter().enumerate() {
        write("chat_msg", &format!("client-{i}"), &msg.encode()?)?;
    }
    let server = [
        ServerMsg::Accepted {
            req: 1,
            id: 42,
            ts: 1_700_000_000,
        },
        ServerMsg::NotDelivered {
            id: 42,
            reason: "expired".into(),
        },
        ServerMsg::Error {
            req: Some(2),
            kind: ErrorKind::RateLimited,
            message: "slow down".into(),
        },
    ];
    for (i, msg) in server.iter().enumerate() {
        write("chat_msg", &format!("server-{i}"), &msg.encode()?)?;
    }
    // session_live scripts: a seed byte, then actions (see fuzz_targets/session_live.rs):
    // 0/1 deliver to the server/client, 12 let time pass, 16/17 a reliable message each way.
    let handshake = [7, 0, 1, 0, 1];
    let traffic = [
        &handshake[..],
        &[16, 2, 1, b'h', b'i', b'!', b'?', 0, 1, 17, 1, 2],
    ]
    .concat();
    let idle = [&traffic[..], &[1, 0, 12, 255, 0, 1, 12, 255, 12, 255]].concat();
    write("session_live", "handshake", &handshake)?;
    write("session_live", "traffic", &traffic)?;
    write("session_live", "idle", &idle)?;
    Ok(())
}
