//! dgram-proxy's one error type.

/// What can go wrong in the proxy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A proxy setting is out of range; the message says which and why.
    #[error("invalid proxy setting: {0}")]
    Setting(String),
    /// The proxy's listening socket failed in a way that stops the proxy.
    #[error("proxy: {what}")]
    Socket {
        /// What the proxy was doing.
        what: &'static str,
        /// What the system reported.
        #[source]
        source: std::io::Error,
    },
}
