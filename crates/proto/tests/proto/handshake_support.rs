//! Hand-made handshake packets for the session security tests, as an attacker (or another
//! implementation) would make them: the Noise first message comes from `snow` directly, not
//! from dgram's own handshake code, so these tests also check that the wire format is plain
//! Noise IK.

use std::net::SocketAddr;
use std::time::Duration;

use dgram_proto::session::{Config, Keypair, NOISE_PARAMS};

use crate::sim::{LinkSpec, Sim};

pub(crate) const CLIENT: &str = "10.0.0.2:40000";
pub(crate) const VICTIM: &str = "10.0.0.9:5000";
pub(crate) const ATTACKER: &str = "10.6.6.6:6666";

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

/// A Hello of version `2` with the given nonce byte, padded.
pub(crate) fn hello(nonce: u8) -> Vec<u8> {
    hello_of_version(2, nonce)
}

/// A padded Hello as a client of protocol version `version` writes it.
pub(crate) fn hello_of_version(version: u8, nonce: u8) -> Vec<u8> {
    let mut p = vec![0xFF, b'S', version << 4];
    p.extend([nonce; 16]);
    p.resize(1200, 0);
    p
}

/// A Join from the attacker's own key pair to the server whose static key is `server_key`:
/// a real Noise IK first message, carrying a new-session or a resume request.
pub(crate) fn join(
    nonce: u8,
    cookie: [u8; 16],
    server_key: [u8; 32],
    resume: Option<(u32, u32, [u8; 16])>,
) -> Vec<u8> {
    let attacker = Keypair::from_seed([0xA7; 32]);
    let mut prologue = b"dgram session v2".to_vec();
    prologue.extend([nonce; 16]);
    prologue.extend(cookie);
    let mut state = snow::Builder::new(NOISE_PARAMS.parse().expect("params"))
        .local_private_key(&attacker.private)
        .and_then(|b| b.remote_public_key(&server_key))
        .and_then(|b| b.prologue(&prologue))
        .and_then(|b| b.build_initiator())
        .expect("an initiator");
    let mut payload = Vec::new();
    match resume {
        None => payload.push(0),
        Some((session, counter, proof)) => {
            payload.push(1);
            payload.extend(session.to_le_bytes());
            payload.extend(counter.to_le_bytes());
            payload.extend(proof);
        }
    }
    let mut msg1 = [0u8; 256];
    let len = state.write_message(&payload, &mut msg1).expect("msg1");
    let mut p = vec![0xFF, b'S', 0x22];
    p.extend([nonce; 16]);
    p.extend(cookie);
    p.extend((len as u16).to_le_bytes());
    p.extend(&msg1[..len]);
    p.resize(1200, 0);
    p
}

fn cookie_packet_to(sim: &Sim, to: SocketAddr) -> Option<&[u8]> {
    sim.sent
        .iter()
        .rev()
        .find(|(from, dest, b)| *from == sim.server_addr && *dest == to && b[2] == 0x21)
        .map(|(_, _, b)| b.as_slice())
}

/// The cookie the server sent to `to` (recorded), if any.
pub(crate) fn cookie_sent_to(sim: &Sim, to: SocketAddr) -> Option<[u8; 16]> {
    cookie_packet_to(sim, to).map(|b| b[19..35].try_into().expect("16 bytes"))
}

/// The server key that came with the cookie to `to`.
pub(crate) fn server_key_sent_to(sim: &Sim, to: SocketAddr) -> Option<[u8; 32]> {
    cookie_packet_to(sim, to).map(|b| b[35..67].try_into().expect("32 bytes"))
}

/// A simulation with one client connected over a perfect link, recording every datagram.
pub(crate) fn connected() -> (Sim, usize) {
    let mut sim = Sim::new(21, Config::default(), LinkSpec::PERFECT);
    sim.record = true;
    let c = sim.add_client(CLIENT, Config::default());
    sim.run_for(Duration::from_secs(1));
    assert!(sim.session_of(c).is_some());
    (sim, c)
}
