//! The session layer's two uses of BLAKE3: a keyed MAC (the server's stateless cookies, with
//! their rotating keys, and resume proofs) and a deterministic random stream expanded from a
//! seed the caller hands in, so that the state machines read no system randomness and
//! simulations replay exactly.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::packet::{Nonce, Secret};
use super::SessionId;

/// A deterministic random stream: BLAKE3's extendable output, keyed by the seed. Public so
/// that the chat server's claim keys come from the same stream rather than a second copy.
pub struct Rng(blake3::OutputReader);

impl Rng {
    /// The stream for `seed` (the caller's only source of randomness).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let mut hasher = blake3::Hasher::new_keyed(&seed);
        hasher.update(b"dgram session rng v1");
        Self(hasher.finalize_xof())
    }

    /// Fills `buf` with the stream's next bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
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

/// The server's cookie keys. A cookie is a MAC of the client's address and nonce and the time
/// window, so the server keeps nothing per client until a Join proves the address.
#[derive(Debug)]
pub(crate) struct Cookies {
    epoch: Instant,
    window_secs: u64,
    keys: [[u8; 32]; 2],
    key_window: u64,
}

impl Cookies {
    pub(crate) fn new(rng: &mut Rng, now: Instant, window: Duration) -> Self {
        Self {
            epoch: now,
            window_secs: window.as_secs().max(1),
            keys: [rng.key(), rng.key()],
            key_window: 0,
        }
    }

    fn window(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs() / self.window_secs
    }

    /// Every other cookie window the older key is replaced, so a leaked key ages out. After a
    /// quiet spell of more than one key period both are new: the one that would have been kept
    /// is older than any cookie still good.
    pub(crate) fn rotate(&mut self, now: Instant, rng: &mut Rng) {
        let epoch = self.window(now) / 2;
        if epoch > self.key_window {
            self.keys[1] = if epoch == self.key_window + 1 {
                self.keys[0]
            } else {
                rng.key()
            };
            self.keys[0] = rng.key();
            self.key_window = epoch;
        }
    }

    /// The cookie for `from` and `nonce` now.
    pub(crate) fn mint(&self, from: SocketAddr, nonce: &Nonce, now: Instant) -> Secret {
        self.mac(from, nonce, self.window(now), 0)
    }

    /// A cookie is good in the window it was minted in and the next, under either key.
    pub(crate) fn check(
        &self,
        from: SocketAddr,
        nonce: &Nonce,
        cookie: &Secret,
        now: Instant,
    ) -> bool {
        let window = self.window(now);
        [window, window.wrapping_sub(1)]
            .into_iter()
            .any(|w| (0..2).any(|k| same(&self.mac(from, nonce, w, k), cookie)))
    }

    fn mac(&self, from: SocketAddr, nonce: &Nonce, window: u64, key: usize) -> Secret {
        mac(
            &self.keys[key],
            &[&addr_bytes(from), nonce, &window.to_le_bytes()],
        )
    }
}

/// What a client sends to prove it holds a session's token without revealing it; the counter
/// makes every proof single-use.
pub(crate) fn resume_proof(token: &Secret, session: SessionId, counter: u32) -> Secret {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(token);
    mac(
        &key,
        &[b"resume", &session.to_le_bytes(), &counter.to_le_bytes()],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_from_before_a_quiet_spell_makes_no_good_cookie_after_it() {
        let mut rng = Rng::from_seed([7; 32]);
        let t0 = Instant::now();
        let window = Duration::from_secs(10);
        let mut cookies = Cookies::new(&mut rng, t0, window);
        let from: SocketAddr = ([10, 0, 0, 2], 40000).into();
        let nonce = [3; 16];

        // Across one regular rotation a cookie from the window before still checks.
        let minted = cookies.mint(from, &nonce, t0 + Duration::from_secs(15));
        cookies.rotate(t0 + Duration::from_secs(21), &mut rng);
        assert!(cookies.check(from, &nonce, &minted, t0 + Duration::from_secs(21)));

        // A key that leaked before a long quiet spell must not mint cookies after it.
        let leaked = cookies.keys[0];
        let later = t0 + Duration::from_secs(1000);
        cookies.rotate(later, &mut rng);
        let window_now = cookies.window(later).to_le_bytes();
        let forged = mac(&leaked, &[&addr_bytes(from), &nonce, &window_now]);
        assert!(!cookies.check(from, &nonce, &forged, later));
        assert!(cookies.check(from, &nonce, &cookies.mint(from, &nonce, later), later));
    }
}
