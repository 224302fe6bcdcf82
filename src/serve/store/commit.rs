//! SQLite's group commit. One writer thread owns the connection that writes: it takes every
//! change waiting, writes each in its own savepoint of one transaction, commits them all with one
//! synchronous commit (one fsync of the log), and only then answers each request. A change that
//! cannot be written (a new claim's id held by another member) is rolled back to its savepoint
//! alone; a commit that fails fails every change of the group, none of which was answered yet.
//!
//! The requests of one member never meet in a group: the service holds the member's lock until
//! the change is answered, so groups are made of different members' changes.

use std::sync::mpsc;

use rusqlite::Connection;

use super::{Adjustment, Changes, Saved, Stored, Unwritten, err, write_sqlite};

/// Most changes committed together.
const GROUP: usize = 256;

/// A change sent to the writer: what [`Changes`] borrows, owned.
struct Job {
    policy: String,
    new: Vec<Stored>,
    changed: Vec<Stored>,
    removed: Vec<String>,
    adjustments: Vec<(String, Adjustment)>,
    saved: Vec<(String, Option<Saved>)>,
    /// Where the writer answers once the group is committed.
    done: mpsc::SyncSender<Result<(), Unwritten>>,
}

impl Job {
    fn changes(&self) -> Changes<'_> {
        Changes {
            new: &self.new,
            changed: &self.changed,
            removed: &self.removed,
            adjustments: &self.adjustments,
            saved: &self.saved,
        }
    }
}

/// The writer's queue.
#[derive(Debug)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
}

impl Writer {
    /// Start the writer thread on `db`.
    pub fn start(db: Connection) -> Result<Writer, String> {
        let (queue, jobs) = mpsc::channel();
        std::thread::Builder::new()
            .name("settle-store-writer".to_string())
            .spawn(move || run(db, &jobs))
            .map_err(|e| format!("store: cannot start the writer: {e}"))?;
        Ok(Writer { queue })
    }

    /// Write `changes` and return once they are committed (or refused).
    pub fn write(&self, policy: &str, changes: &Changes<'_>) -> Result<(), Unwritten> {
        let (done, answer) = mpsc::sync_channel(1);
        let job = Job {
            policy: policy.to_string(),
            new: changes.new.to_vec(),
            changed: changes.changed.to_vec(),
            removed: changes.removed.to_vec(),
            adjustments: changes.adjustments.to_vec(),
            saved: changes.saved.to_vec(),
            done,
        };
        let stopped = || Unwritten::Failed("store: the writer stopped".to_string());
        self.queue.send(job).map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }
}

/// Commit the changes waiting, a group at a time, until every sender is gone.
fn run(mut db: Connection, jobs: &mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let results = commit(&mut db, &group);
        for (job, result) in group.iter().zip(results) {
            // A request that gave up waiting is not answered.
            let _ = job.done.send(result);
        }
    }
}

/// Write a group in one transaction, each change in its own savepoint; each change's result.
fn commit(db: &mut Connection, group: &[Job]) -> Vec<Result<(), Unwritten>> {
    let all_failed = |e: rusqlite::Error| -> Vec<Result<(), Unwritten>> {
        let message = err(e);
        group.iter().map(|_| Err(Unwritten::Failed(message.clone()))).collect()
    };
    if let Err(e) = db.execute_batch("BEGIN IMMEDIATE") {
        return all_failed(e);
    }
    let mut results = Vec::with_capacity(group.len());
    for job in group {
        let written = db
            .execute_batch("SAVEPOINT change")
            .map_err(|e| Unwritten::Failed(err(e)))
            .and_then(|()| write_sqlite(db, &job.policy, &job.changes()))
            .and_then(|()| {
                db.execute_batch("RELEASE change").map_err(|e| Unwritten::Failed(err(e)))
            });
        if written.is_err() {
            // Undo this change alone; the others of the group stay.
            if let Err(e) = db.execute_batch("ROLLBACK TO change; RELEASE change") {
                let _ = db.execute_batch("ROLLBACK");
                return all_failed(e);
            }
        }
        results.push(written);
    }
    if let Err(e) = db.execute_batch("COMMIT") {
        let _ = db.execute_batch("ROLLBACK");
        return all_failed(e);
    }
    results
}
