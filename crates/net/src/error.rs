//! dgram-net's one error type.

/// What can go wrong in dgram-net.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A proxy setting is out of range; the message says which and why.
    #[error("invalid proxy setting: {0}")]
    ProxySetting(String),
    /// The proxy's listening socket failed in a way that stops the proxy.
    #[error("proxy: {what}")]
    ProxySocket {
        /// What the proxy was doing.
        what: &'static str,
        /// What the system reported.
        #[source]
        source: std::io::Error,
    },
}
