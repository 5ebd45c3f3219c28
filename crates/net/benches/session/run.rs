//! One run's settings, shared by every protocol's runner.

use std::time::Duration;

use crate::path::Path;

/// What one run does: `count` reliable messages of SIZE bytes from a client to a server, at most
/// WINDOW unacknowledged, with `loss` of the datagrams each end receives dropped, over `path`;
/// it ends when all are delivered or after `limit`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run {
    pub(crate) count: usize,
    pub(crate) loss: f64,
    pub(crate) limit: Duration,
    pub(crate) path: Path,
}
