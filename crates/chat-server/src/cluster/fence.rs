//! Reading one's own (and everyone's) writes: a DM to a name this replica does not know may
//! be to one claimed through another instance a moment ago, whose claim entry the follower has
//! not applied here yet (issue 14). The claim is in the log before its claimer hears
//! `Welcome`, so the log's last sequence, asked for now, covers it: once the follower has
//! applied everything up to that sequence, the core answers the request again from a state
//! that holds every name claimed before it was sent, and a name still unknown then does not
//! exist. The request goes back through the command queue the follower's entries go through,
//! so it is answered after them. A replica that cannot catch up in [`FENCE_WAIT`] (NATS out
//! of reach, the follower far behind) refuses the message as not sent, never accepts it and
//! loses it.

use std::time::Duration;

use async_nats::jetstream::Context;
use tokio::sync::{mpsc, watch};

use super::{Commands, STREAM};
use crate::core::Fence;
use crate::endpoint::ChatEndpoint;
use crate::server::Limits;

/// How long a request may wait for this replica to catch up.
const FENCE_WAIT: Duration = Duration::from_secs(2);

/// Holds each request until the follower has applied the log as far as it went when the
/// request came; ends once the store is dropped. `seen` is the last stream sequence the
/// follower handed to the endpoint.
pub(super) async fn run(
    mut fences: mpsc::UnboundedReceiver<Fence>,
    js: Context,
    seen: watch::Receiver<u64>,
    commands: Commands,
) {
    while let Some(fence) = fences.recv().await {
        // Each waits on its own: one slow fence holds up no other request.
        let (js, mut seen, commands) = (js.clone(), seen.clone(), commands.clone());
        tokio::spawn(async move {
            let caught_up = match tokio::time::timeout(FENCE_WAIT, caught_up(&js, &mut seen)).await
            {
                Ok(r) => r,
                Err(_) => Err(format!("not caught up with the log in {FENCE_WAIT:?}")),
            };
            if let Err(why) = &caught_up {
                tracing::warn!(session = fence.session, %why, "cannot check the cluster for a name");
            }
            let command: dgram_net::session::Command<ChatEndpoint<Limits>> =
                Box::new(move |ep: &mut ChatEndpoint<Limits>, now| {
                    ep.fenced(now, fence, caught_up)
                });
            // Closed only when the server is stopping.
            let _ = commands.send(command).await;
        });
    }
}

/// Waits until the follower has applied the log up to its last sequence as of now.
async fn caught_up(js: &Context, seen: &mut watch::Receiver<u64>) -> Result<(), String> {
    let stream = js
        .get_stream(STREAM)
        .await
        .map_err(|e| format!("cannot read the chat log's state: {e}"))?;
    let last = stream.cached_info().state.last_sequence;
    seen.wait_for(|&s| s >= last)
        .await
        .map(|_| ())
        .map_err(|_| "the chat log is no longer followed".to_owned())
}
