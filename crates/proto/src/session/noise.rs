//! The session's cryptography, all of it from well-kept crates: the handshake is Noise
//! `Noise_IK_25519_ChaChaPoly_BLAKE2s` (the `snow` crate), and data packets are sealed with
//! ChaCha20-Poly1305 under the two keys of the handshake's split, by `ring` (BoringSSL's
//! assembly, which rustls and so quinn use too). The same algorithm as snow's RustCrypto
//! `chacha20poly1305`, so the bytes on the wire are the same; a profile of `bench/session`
//! measured RustCrypto's at about 4 times ring's time per 1.1 KB packet on this project's
//! machines (its AVX2 Poly1305 dominated), and sealing plus opening was a sixth of the bench's
//! CPU.
//!
//! Why not snow's own transport state: its `StatelessTransportState` takes no associated
//! data, and the data header must be authenticated without being encrypted (the receiver
//! needs the session id and packet number to find the key and the nonce). So the raw split
//! keys (snow's `risky-raw-split` feature) key one AEAD per direction, with the header as
//! associated data and the packet number as the nonce, exactly as Noise's own CipherState
//! encodes it (32 zero bits, then the 64-bit little-endian counter).
//!
//! Nonces never repeat under one key: packet numbers are never reused within a session, and
//! the session ends before they run out (2^32 - 16 packets per direction, see `conn`); a
//! client then joins again with a new handshake, new ephemeral keys and so new packet keys.
//! Every resume is a new handshake too, so a session that moves also rekeys. ChaCha20-Poly1305
//! is safe far beyond 2^32 messages per key, so the packet number is the binding bound.
//!
//! The handshake's randomness (its ephemeral key) comes from a seed the state machine hands
//! in, through a resolver that serves snow's default primitives with a seeded random stream:
//! simulations replay exactly, and real endpoints seed from the system.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use snow::params::{CipherChoice, DHChoice, HashChoice};
use snow::resolvers::{CryptoResolver, DefaultResolver};
use snow::types::{Cipher, Dh, Hash, Random};
use snow::{Builder, HandshakeState};

use super::crypto::Rng;
use super::keys::{Keypair, KEY_LEN};

/// The Noise protocol name: IK (the client knows the server's static key from the cookie or
/// its pin, and sends its own encrypted in the first message), X25519, ChaCha20-Poly1305,
/// BLAKE2s.
pub const NOISE_PARAMS: &str = "Noise_IK_25519_ChaChaPoly_BLAKE2s";

/// Bytes an AEAD tag adds to every sealed packet (and every Noise handshake payload).
pub const TAG_LEN: usize = 16;

/// The first handshake message without payload: ephemeral key, encrypted static key + tag,
/// payload tag.
pub(crate) const MSG1_BASE: usize = KEY_LEN + KEY_LEN + TAG_LEN + TAG_LEN;
/// The second handshake message without payload: ephemeral key, payload tag.
pub(crate) const MSG2_BASE: usize = KEY_LEN + TAG_LEN;

/// snow's random source, fed from our seeded stream.
struct Seeded(Rng);

impl Random for Seeded {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

/// snow's default primitives, with randomness from a seed (asked once per handshake).
struct SeededResolver([u8; 32]);

impl CryptoResolver for SeededResolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        Some(Box::new(Seeded(Rng::from_seed(self.0))))
    }
    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        DefaultResolver.resolve_dh(choice)
    }
    fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
        DefaultResolver.resolve_hash(choice)
    }
    fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        DefaultResolver.resolve_cipher(choice)
    }
}

fn builder(seed: [u8; 32]) -> Option<Builder<'static>> {
    let params = NOISE_PARAMS.parse().ok()?;
    Some(Builder::with_resolver(
        params,
        Box::new(SeededResolver(seed)),
    ))
}

/// The public key of an X25519 private key.
pub(crate) fn public_of(private: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    let mut out = [0u8; KEY_LEN];
    if let Some(mut dh) = DefaultResolver.resolve_dh(&DHChoice::Curve25519) {
        dh.set(private);
        out.copy_from_slice(dh.pubkey());
    }
    out
}

/// The Noise prologue of a handshake: both sides bind the version, the client's nonce and the
/// cookie (so a first message is good only with the cookie minted for its address).
pub(crate) fn prologue(nonce: &[u8], cookie: &[u8]) -> Vec<u8> {
    let mut p = format!("dgram session v{}", super::packet::VERSION).into_bytes();
    p.extend_from_slice(nonce);
    p.extend_from_slice(cookie);
    p
}

/// The two keys of the handshake's split, one per direction.
///
/// Only the 32 key bytes are kept: ring's key object is 544 bytes (sized for AES's key
/// schedule), and tens of thousands of idle sessions would each hold two. For ChaCha20 making
/// one costs a copy of the key, so each packet makes its own.
pub(crate) struct PacketKeys {
    send: [u8; 32],
    recv: [u8; 32],
}

impl std::fmt::Debug for PacketKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PacketKeys(..)")
    }
}

/// Noise's nonce for a counter: 32 zero bits, then the 64-bit little-endian counter.
fn nonce(number: u32) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&u64::from(number).to_le_bytes());
    Nonce::assume_unique_for_key(n)
}

/// The AEAD for `key`; `None` never happens for a 32-byte key, but is not unwrapped.
fn aead(key: &[u8; 32]) -> Option<LessSafeKey> {
    UnboundKey::new(&CHACHA20_POLY1305, key)
        .ok()
        .map(LessSafeKey::new)
}

impl PacketKeys {
    fn new(send: [u8; 32], recv: [u8; 32]) -> Self {
        Self { send, recv }
    }

    /// Seals the data packet of `len` bytes at the start of `buf` in place (its `header_len`
    /// bytes of header stay clear as associated data, the frames are encrypted, the tag
    /// appended); the new length, or `None` if `buf` has no room for the tag.
    pub(crate) fn seal(
        &self,
        buf: &mut [u8],
        len: usize,
        header_len: usize,
        number: u32,
    ) -> Option<usize> {
        if len < header_len || buf.len() < len + TAG_LEN {
            return None;
        }
        let (header, rest) = buf.split_at_mut(header_len);
        let body = &mut rest[..len - header_len];
        let tag = aead(&self.send)?
            .seal_in_place_separate_tag(nonce(number), Aad::from(&*header), body)
            .ok()?;
        buf[len..len + TAG_LEN].copy_from_slice(tag.as_ref());
        Some(len + TAG_LEN)
    }

    /// Opens a sealed data packet (its first `header_len` bytes the header, `number` its full
    /// packet number) into `out`; its frames, or `None` if anything in it (header, frames or
    /// tag) is not exactly what the peer sealed.
    pub(crate) fn open<'a>(
        &self,
        datagram: &[u8],
        header_len: usize,
        number: u32,
        out: &'a mut [u8],
    ) -> Option<&'a [u8]> {
        if datagram.len() < header_len + TAG_LEN {
            return None;
        }
        let (header, sealed) = datagram.split_at(header_len);
        let out = out.get_mut(..sealed.len())?;
        out.copy_from_slice(sealed);
        let plain = aead(&self.recv)?
            .open_in_place(nonce(number), Aad::from(header), out)
            .ok()?;
        Some(plain)
    }
}

/// The client's half of a handshake, between its first message and the server's answer.
pub(crate) struct Initiator {
    state: HandshakeState,
    /// The first message, kept to be sent again unchanged while no answer comes.
    pub(crate) msg1: Vec<u8>,
}

impl std::fmt::Debug for Initiator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Initiator(..)")
    }
}

impl Initiator {
    /// Starts a handshake with the server whose static key is `server`, carrying `payload`
    /// (encrypted) in the first message.
    pub(crate) fn start(
        identity: &Keypair,
        server: &[u8; KEY_LEN],
        prologue: &[u8],
        seed: [u8; 32],
        payload: &[u8],
    ) -> Option<Self> {
        let mut state = builder(seed)?
            .local_private_key(&identity.private)
            .ok()?
            .remote_public_key(server)
            .ok()?
            .prologue(prologue)
            .ok()?
            .build_initiator()
            .ok()?;
        let mut msg1 = vec![0u8; MSG1_BASE + payload.len()];
        let len = state.write_message(payload, &mut msg1).ok()?;
        msg1.truncate(len);
        Some(Self { state, msg1 })
    }

    /// Reads the server's answer: its payload and the session's packet keys, or `None` if
    /// it was not made by the holder of the server key for this very handshake.
    pub(crate) fn finish(mut self, msg2: &[u8]) -> Option<(Vec<u8>, PacketKeys)> {
        let mut payload = vec![0u8; msg2.len()];
        let len = self.state.read_message(msg2, &mut payload).ok()?;
        payload.truncate(len);
        let (to_server, to_client) = self.state.dangerously_get_raw_split();
        Some((payload, PacketKeys::new(to_server, to_client)))
    }
}

/// The server's half of a handshake, after it read the client's first message.
pub(crate) struct Responder {
    state: HandshakeState,
    /// The client's static key, authenticated by the first message.
    pub(crate) client_key: [u8; KEY_LEN],
    /// What the client sent in the first message.
    pub(crate) payload: Vec<u8>,
}

impl Responder {
    /// Reads a client's first message; `None` if it is not a valid one for this server.
    pub(crate) fn read(
        identity: &Keypair,
        prologue: &[u8],
        seed: [u8; 32],
        msg1: &[u8],
    ) -> Option<Self> {
        let mut state = builder(seed)?
            .local_private_key(&identity.private)
            .ok()?
            .prologue(prologue)
            .ok()?
            .build_responder()
            .ok()?;
        let mut payload = vec![0u8; msg1.len()];
        let len = state.read_message(msg1, &mut payload).ok()?;
        payload.truncate(len);
        let client_key = state.get_remote_static()?.try_into().ok()?;
        Some(Self {
            state,
            client_key,
            payload,
        })
    }

    /// Answers with `payload` (encrypted): the second message and the session's packet keys.
    pub(crate) fn reply(mut self, payload: &[u8]) -> Option<(Vec<u8>, PacketKeys)> {
        let mut msg2 = vec![0u8; MSG2_BASE + payload.len()];
        let len = self.state.write_message(payload, &mut msg2).ok()?;
        msg2.truncate(len);
        let (to_server, to_client) = self.state.dangerously_get_raw_split();
        Some((msg2, PacketKeys::new(to_client, to_server)))
    }
}
