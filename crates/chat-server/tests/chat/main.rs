//! The chat server's integration tests: the real server on 127.0.0.1:0 with several clients,
//! each a real session over loopback; the limits (the per-IP session cap at the handshake
//! too); the layers alone; and the binary.

mod abuse;
mod binary;
mod capture;
mod claims;
mod cluster;
mod cluster_failover;
mod cluster_faults;
mod cluster_lag;
mod core_abuse;
mod core_journal;
mod core_keys;
mod core_presence;
mod core_replica;
mod core_rules;
mod core_support;
mod crash;
mod durable;
mod keys;
mod layers;
mod limits;
mod nats_support;
mod qq;
mod resend;
mod resend_crash;
mod rooms;
mod session_cap;
mod shed;
mod support;
