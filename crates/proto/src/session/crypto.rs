//! The session layer's two uses of BLAKE3: a keyed MAC (cookies and resume proofs) and a
//! deterministic random stream expanded from a seed the caller hands in, so that the state
//! machines read no system randomness and simulations replay exactly.

use std::net::SocketAddr;

use super::packet::Secret;

/// A deterministic random stream: BLAKE3's extendable output, keyed by the seed.
pub(crate) struct Rng(blake3::OutputReader);

impl Rng {
    pub(crate) fn from_seed(seed: [u8; 32]) -> Self {
        let mut hasher = blake3::Hasher::new_keyed(&seed);
        hasher.update(b"dgram session rng v1");
        Self(hasher.finalize_xof())
    }

    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill(buf);
    }

    pub(crate) fn secret(&mut self) -> Secret {
        let mut s = [0u8; 16];
        self.fill(&mut s);
        s
    }

    pub(crate) fn key(&mut self) -> [u8; 32] {
        let mut k = [0u8; 32];
        self.fill(&mut k);
        k
    }

    pub(crate) fn u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill(&mut b);
        u32::from_le_bytes(b)
    }
}

impl std::fmt::Debug for Rng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rng(..)")
    }
}

/// A 128-bit keyed MAC over the concatenation of `parts`.
pub(crate) fn mac(key: &[u8; 32], parts: &[&[u8]]) -> Secret {
    let mut hasher = blake3::Hasher::new_keyed(key);
    for part in parts {
        hasher.update(part);
    }
    let mut out = [0u8; 16];
    hasher.finalize_xof().fill(&mut out);
    out
}

/// Compares secrets in constant time, so timing tells an attacker nothing about a near miss.
pub(crate) fn same(a: &Secret, b: &Secret) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An address as bytes for a MAC: the IPv6 form of the IP (IPv4 mapped) and the port.
pub(crate) fn addr_bytes(addr: SocketAddr) -> [u8; 18] {
    let ip = match addr {
        SocketAddr::V4(a) => a.ip().to_ipv6_mapped(),
        SocketAddr::V6(a) => *a.ip(),
    };
    let mut out = [0u8; 18];
    out[..16].copy_from_slice(&ip.octets());
    out[16..].copy_from_slice(&addr.port().to_le_bytes());
    out
}
