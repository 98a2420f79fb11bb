//! Group commit for the audit log: many callers' audit rows (and the key
//! uses they count) share one durable transaction.
//!
//! Callers [`submit`](AuditBatcher::submit) an event, or
//! [`record_use`](AuditBatcher::record_use) a signature's event with its key
//! use, and wait until the transaction holding their row has committed. One
//! writer task takes what is queued (at most [`BatchSettings::max_batch`]
//! entries), commits it with
//! [`Store::record_audit_batch`](cryptobot_store::Store::record_audit_batch),
//! and answers every caller; while it commits, the next batch queues up. The
//! queue is bounded ([`BatchSettings::queue`]): when it is full, callers
//! wait (back-pressure), nothing is dropped. A failed commit fails every
//! caller of that batch and is logged once.

use cryptobot_store::{AuditEntry, AuditEvent, KeyUse, Store, Usage};
use tokio::sync::{mpsc, oneshot};

/// Sizes of the writer.
#[derive(Debug, Clone, Copy)]
pub struct BatchSettings {
    /// Entries waiting at most (memory bound; callers wait beyond it).
    pub queue: usize,
    /// Entries per transaction at most.
    pub max_batch: usize,
}

impl Default for BatchSettings {
    fn default() -> Self {
        BatchSettings {
            queue: 4096,
            max_batch: 512,
        }
    }
}

/// Why an audit row was not written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditWriteError {
    /// The batch's transaction failed; nothing of it was written.
    #[error("the audit batch could not be committed: {0}")]
    Commit(String),
    /// The database could not be reached (or was full or restarting) for
    /// the batch's transaction; nothing of it was written, and a retry may
    /// succeed.
    #[error("the audit batch could not be committed, the database is unavailable: {0}")]
    Unavailable(String),
    /// The writer has stopped (the service is shutting down).
    #[error("the audit writer has stopped")]
    Stopped,
}

type Reply = oneshot::Sender<Result<Option<Usage>, AuditWriteError>>;

struct Job {
    entry: AuditEntry,
    reply: Reply,
}

/// Handle on the writer task; cheap to clone. The task ends when every
/// handle is dropped and the queue is drained.
#[derive(Clone)]
pub struct AuditBatcher {
    tx: mpsc::Sender<Job>,
}

impl std::fmt::Debug for AuditBatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditBatcher").finish_non_exhaustive()
    }
}

impl AuditBatcher {
    /// Starts the writer task on the current Tokio runtime.
    pub fn start(store: Store, settings: BatchSettings) -> AuditBatcher {
        let (tx, rx) = mpsc::channel(settings.queue.max(1));
        tokio::spawn(run(store, rx, settings.max_batch.max(1)));
        AuditBatcher { tx }
    }

    async fn send(&self, entry: AuditEntry) -> Result<Option<Usage>, AuditWriteError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { entry, reply })
            .await
            .map_err(|_| AuditWriteError::Stopped)?;
        answer.await.map_err(|_| AuditWriteError::Stopped)?
    }

    /// Writes an audit event; returns once it is committed.
    pub async fn submit(&self, event: AuditEvent) -> Result<(), AuditWriteError> {
        self.send(AuditEntry {
            event,
            key_use: None,
        })
        .await
        .map(|_| ())
    }

    /// Writes a signature's audit event and counts one use of `key_id` in
    /// `hour`; returns, once committed, the counts spike detection needs.
    pub async fn record_use(
        &self,
        event: AuditEvent,
        key_id: &str,
        hour: i64,
    ) -> Result<Usage, AuditWriteError> {
        let usage = self
            .send(AuditEntry {
                event,
                key_use: Some(KeyUse {
                    key_id: key_id.to_string(),
                    hour,
                }),
            })
            .await?;
        usage.ok_or_else(|| AuditWriteError::Commit("no usage count was returned".into()))
    }
}

/// The writer task: one batch at a time, each one transaction.
async fn run(store: Store, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    let mut jobs: Vec<Job> = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut jobs, max_batch).await > 0 {
        let (entries, replies): (Vec<AuditEntry>, Vec<Reply>) =
            jobs.drain(..).map(|j| (j.entry, j.reply)).unzip();
        match store.record_audit_batch(&entries).await {
            Ok(usages) => {
                for (reply, usage) in replies.into_iter().zip(usages) {
                    // A caller that went away still has its row written.
                    let _ = reply.send(Ok(usage));
                }
            }
            Err(e) => {
                let err = if e.is_unavailable() {
                    tracing::warn!(error = %e, rows = entries.len(), "audit batch not committed, the database is unavailable; every caller in it gets an error");
                    AuditWriteError::Unavailable(e.to_string())
                } else {
                    tracing::error!(error = %e, rows = entries.len(), "audit batch not committed; every caller in it gets an error");
                    AuditWriteError::Commit(e.to_string())
                };
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }
}
