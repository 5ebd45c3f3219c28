//! Server keys (issue 12): the first connection to a server records its key in the home's
//! `known_hosts`, a server that comes back with another key is refused loudly with the way to
//! accept a legitimate change, and `--server-key` pins a key out of band.

use std::time::Duration;

use dgram_proto::session::{fingerprint, public_key_hex, Keypair};

use super::{send, text, ChatServer, Home};

#[test]
fn a_client_records_the_first_key_and_refuses_another_until_told() {
    let first = Keypair::from_seed([0x11; 32]);
    let server = ChatServer::start_keyed("127.0.0.1:0".parse().expect("literal"), first.clone());
    let addr = server.addr();
    let home = Home::new("pin");
    let out = send(addr, "alex", &home, &["--to", "alex", "first"]);
    assert!(out.status.success(), "{out:?}");
    let hosts = std::fs::read_to_string(home.path().join("known_hosts")).expect("known_hosts");
    assert!(hosts.contains(&public_key_hex(&first.public)), "{hosts}");
    assert!(hosts.starts_with(&addr.to_string()), "{hosts}");

    // The same address, another key: refused, saying what changed and how to accept it.
    server.stop();
    std::thread::sleep(Duration::from_millis(200));
    let second = Keypair::from_seed([0x22; 32]);
    let server = ChatServer::start_keyed(addr, second.clone());
    let out = send(addr, "alex", &home, &["--to", "alex", "second"]);
    assert!(!out.status.success(), "{out:?}");
    let err = text(&out.stderr);
    assert!(err.contains("key changed"), "{err}");
    assert!(err.contains(&fingerprint(&first.public)), "{err}");
    assert!(err.contains(&fingerprint(&second.public)), "{err}");
    assert!(err.contains("sed -i"), "{err}");

    // Pinned out of band to the new key, it goes through (and records nothing).
    let pin = fingerprint(&second.public);
    let out = send(
        addr,
        "alex",
        &home,
        &["--server-key", &pin, "--to", "alex", "third"],
    );
    assert!(out.status.success(), "{out:?}");
    // A wrong pin is refused even where known_hosts has nothing.
    let fresh = Home::new("fresh");
    let wrong = fingerprint(&first.public);
    let out = send(
        addr,
        "egon",
        &fresh,
        &["--server-key", &wrong, "--to", "alex", "x"],
    );
    assert!(!out.status.success(), "{out:?}");
    assert!(text(&out.stderr).contains("key changed"), "{out:?}");
    server.stop();
}
