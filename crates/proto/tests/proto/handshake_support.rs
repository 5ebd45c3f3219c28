//! Hand-made handshake packets for the session security tests, as an attacker (or another
//! implementation) would make them: the Noise first message comes from `snow` directly, not
//! from dgram's own handshake code, so these tests also check that the wire format is plain
//! Noise IK.

use std::net::SocketAddr;
use std::time::Duration;

use dgram_proto::session::packet::VERSION;
use dgram_proto::session::{Config, Keypair, NOISE_PARAMS};

use crate::sim::{LinkSpec, Sim};

pub(crate) const CLIENT: &str = "10.0.0.2:40000";
pub(crate) const VICTIM: &str = "10.0.0.9:5000";
pub(crate) const ATTACKER: &str = "10.6.6.6:6666";

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

/// The third byte of a handshake packet of type `ty` of this version.
pub(crate) fn hs(ty: u8) -> u8 {
    (VERSION << 4) | ty
}

/// Whether a datagram is a handshake packet of type `ty` of this version.
pub(crate) fn is_hs(b: &[u8], ty: u8) -> bool {
    b.len() > 2 && b[0] == 0xFF && b[1] == b'S' && b[2] == hs(ty)
}

/// Whether a datagram is a data packet (version 3's short header, flags `0xF8` to `0xFB`).
pub(crate) fn is_data(b: &[u8]) -> bool {
    b.first().is_some_and(|f| f & 0xFC == 0xF8)
}

/// A data header as version 3 writes it, with a 2-byte packet number.
pub(crate) fn data_header(session: u32, number: u16) -> Vec<u8> {
    let mut p = vec![0xF9];
    p.extend(session.to_le_bytes());
    p.extend(number.to_le_bytes());
    p
}

/// A Hello of this version with the given nonce byte, padded.
pub(crate) fn hello(nonce: u8) -> Vec<u8> {
    hello_of_version(VERSION, nonce)
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
    let mut prologue = format!("dgram session v{VERSION}").into_bytes();
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
    let mut p = vec![0xFF, b'S', hs(2)];
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
        .find(|(from, dest, b)| *from == sim.server_addr && *dest == to && is_hs(b, 1))
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
