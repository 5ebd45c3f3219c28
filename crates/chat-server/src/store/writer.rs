//! The writer thread: it owns the database connection and commits the chat core's changes in
//! groups. It blocks for the first batch, takes everything else already waiting (up to a cap),
//! commits it all in one transaction, and reports the highest ticket committed, so that many
//! sessions' messages share one synchronous write. The socket's task never waits on the disk.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use crate::core::{ChangeStore, Op, Submitted, Ticket};

use super::Store;

/// Ops committed together at most.
const GROUP: usize = 4096;

/// What the writer reports back.
#[derive(Debug)]
pub(crate) enum Report {
    /// Everything up to this ticket is on disk.
    Committed(Ticket),
    /// Everything up to this ticket failed to commit, for this reason.
    Failed(Ticket, String),
}

/// The socket task's end: queues ops and knows how many wait.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<(Ticket, Vec<Op>)>,
    backlog: Arc<AtomicUsize>,
}

/// The writer thread, to wait for when the server stops: what was queued is committed first.
pub(crate) type WriterThread = std::thread::JoinHandle<()>;

impl Writer {
    /// Starts the thread; `report` is called on it after every group.
    pub(crate) fn spawn(
        mut store: Store,
        report: impl Fn(Report) + Send + 'static,
    ) -> std::io::Result<(Writer, WriterThread)> {
        let (tx, rx) = mpsc::channel::<(Ticket, Vec<Op>)>();
        let backlog = Arc::new(AtomicUsize::new(0));
        let pending = backlog.clone();
        let thread = std::thread::Builder::new()
            .name("chat-store".into())
            .spawn(move || {
                // A ticket's ops travel together, so a group never splits a ticket and a
                // ticket is reported committed only once all of its ops are.
                while let Ok((mut last, mut ops)) = rx.recv() {
                    while ops.len() < GROUP {
                        match rx.try_recv() {
                            Ok((ticket, more)) => {
                                last = ticket;
                                ops.extend(more);
                            }
                            Err(_) => break,
                        }
                    }
                    let n = ops.len();
                    match store.apply(&ops) {
                        Ok(()) => report(Report::Committed(last)),
                        Err(e) => {
                            tracing::error!(error = %e, ops = n, "cannot commit chat changes");
                            report(Report::Failed(last, e.to_string()));
                        }
                    }
                    pending.fetch_sub(n, Ordering::Relaxed);
                }
            })?;
        Ok((Writer { tx, backlog }, thread))
    }

    /// Queues one ticket's ops; `false` if the writer is gone.
    pub(crate) fn push(&self, ticket: Ticket, ops: Vec<Op>) -> bool {
        self.backlog.fetch_add(ops.len(), Ordering::Relaxed);
        self.tx.send((ticket, ops)).is_ok()
    }

    /// How many ops wait for the disk.
    pub(crate) fn backlog(&self) -> usize {
        self.backlog.load(Ordering::Relaxed)
    }
}

/// SQLite behind the writer thread: changes are committed in groups, and reported back.
impl ChangeStore for Writer {
    fn keeps(&self) -> bool {
        true
    }

    fn submit(&mut self, ticket: Ticket, ops: Vec<Op>) -> Submitted {
        if self.push(ticket, ops) {
            Submitted::Pending
        } else {
            // Nothing more can be committed: the change is taken back.
            Submitted::Refused("the store stopped".to_owned())
        }
    }

    fn backlog(&self) -> usize {
        Writer::backlog(self)
    }
}
