//! What the dgram servers' integration tests share, so that the echo and chat tests start,
//! stop and probe their servers the same way: a server's `run(socket, shutdown, …)` in the
//! test's own runtime ([`InProcess`]), and a server binary run as a container runs it
//! ([`Binary`]: JSON logs, the bound address read from its start line, a health check, a
//! SIGTERM answered by a clean exit within a bound). Only tests use it (a dev-dependency);
//! it panics with a message where a test would.
#![forbid(unsafe_code)]

mod binary;
mod in_process;

pub use binary::{sigterm_and_wait, Binary, Started};
pub use in_process::InProcess;
