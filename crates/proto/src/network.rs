//! A client network, the unit that limits per address hold per: an IPv4 address, or an IPv6
//! /64 (what one subscriber is usually given, so cycling through its addresses buys nothing).
//! Shared by the session layer's per-IP session cap and the chat server's quotas.

use std::net::{IpAddr, Ipv6Addr};

/// A client network: an IPv4 address, or the first 64 bits of an IPv6 address; an IPv4-mapped
/// IPv6 address counts as the IPv4 address it maps. The limits that hold per address hold per
/// network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Network(IpAddr);

impl Network {
    /// The network `ip` belongs to.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !u128::from(u64::MAX);
                    Self(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_slash_64_is_one_network_and_a_mapped_ipv4_is_its_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(Network::of(a), Network::of(b));
        assert_ne!(Network::of(a), Network::of(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        let v4: IpAddr = "192.0.2.7".parse().expect("ip");
        assert_eq!(Network::of(mapped), Network::of(v4));
        assert_eq!(Network::of(a).to_string(), "2001:db8:1:2::/64");
    }
}
