//! The service's durable state in SQLite: every settled claim with its settlement, and every
//! adjustment a later change made to one; one file, WAL, each change one synchronous transaction.
//!
//! The schema is versioned by SQLite's `user_version`: [`MIGRATIONS`] run in order, each in its
//! own transaction, from the version the file has.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

/// The schema, one step a version.
const MIGRATIONS: &[&str] = &["
    CREATE TABLE claims (
        policy TEXT NOT NULL,
        id TEXT NOT NULL,
        member TEXT NOT NULL,
        body TEXT NOT NULL,
        version TEXT NOT NULL,
        settlement TEXT NOT NULL,
        PRIMARY KEY (policy, id)
    );
    CREATE INDEX claims_by_member ON claims (policy, member);
    CREATE TABLE adjustments (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        policy TEXT NOT NULL,
        id TEXT NOT NULL,
        member TEXT NOT NULL,
        cause TEXT NOT NULL,
        before TEXT NOT NULL,
        after TEXT
    );
"];

/// A claim as stored: its body as received (the idempotency key's content), the policy version
/// it was settled under, and its settlement (a JSON object, as `settle run` writes a row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub id: String,
    pub member: String,
    pub body: String,
    pub version: String,
    pub settlement: String,
}

/// A change to a stored claim's settlement caused by another claim of its member.
#[derive(Debug, Clone)]
pub struct Adjustment {
    pub id: String,
    /// The claim whose arrival or reversal caused it.
    pub cause: String,
    pub before: String,
    /// `None` when the claim itself was reversed.
    pub after: Option<String>,
}

/// The store: one connection, used by one request at a time (SQLite serializes writers anyway).
#[derive(Debug)]
pub struct Store {
    db: Mutex<Connection>,
}

fn err(e: rusqlite::Error) -> String {
    format!("store: {e}")
}

impl Store {
    /// Open (or create) the store at `path` and bring its schema up to date.
    pub fn open(path: &Path) -> Result<Store, String> {
        let mut db = Connection::open(path).map_err(err)?;
        db.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        db.pragma_update(None, "synchronous", "FULL").map_err(err)?;
        db.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
        let version: i64 =
            db.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(err)?;
        let done = usize::try_from(version).unwrap_or(0);
        for (n, step) in (0i64..).zip(MIGRATIONS).skip(done) {
            let tx = db.transaction().map_err(err)?;
            tx.execute_batch(step).map_err(err)?;
            tx.pragma_update(None, "user_version", n + 1).map_err(err)?;
            tx.commit().map_err(err)?;
        }
        Ok(Store { db: Mutex::new(db) })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, String> {
        let mut db = self.db.lock().map_err(|_| "store: a request failed mid-way".to_string())?;
        f(&mut db).map_err(err)
    }

    /// Whether the store answers.
    pub fn ready(&self) -> bool {
        self.with(|db| db.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))).is_ok()
    }

    /// A stored claim.
    pub fn claim(&self, policy: &str, id: &str) -> Result<Option<Stored>, String> {
        self.with(|db| {
            db.query_row(
                "SELECT id, member, body, version, settlement FROM claims WHERE policy = ?1 AND id = ?2",
                params![policy, id],
                row,
            )
            .optional()
        })
    }

    /// A member's stored claims, in the order they were stored.
    pub fn member(&self, policy: &str, member: &str) -> Result<Vec<Stored>, String> {
        self.with(|db| {
            let mut q = db.prepare(
                "SELECT id, member, body, version, settlement FROM claims
                 WHERE policy = ?1 AND member = ?2 ORDER BY rowid",
            )?;
            let rows = q.query_map(params![policy, member], row)?;
            rows.collect()
        })
    }

    /// A member's adjustments, oldest first: `(claim, cause, before, after)`.
    pub fn adjustments(&self, policy: &str, member: &str) -> Result<Vec<Adjustment>, String> {
        self.with(|db| {
            let mut q = db.prepare(
                "SELECT id, cause, before, after FROM adjustments
                 WHERE policy = ?1 AND member = ?2 ORDER BY seq",
            )?;
            let rows = q.query_map(params![policy, member], |r| {
                Ok(Adjustment {
                    id: r.get(0)?,
                    cause: r.get(1)?,
                    before: r.get(2)?,
                    after: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    /// In one transaction: insert `new` claims, replace the settlements of `changed` ones,
    /// delete `removed` ones, and record `adjustments`.
    pub fn apply(
        &self,
        policy: &str,
        new: &[Stored],
        changed: &[Stored],
        removed: &[String],
        adjustments: &[(String, Adjustment)],
    ) -> Result<(), String> {
        self.with(|db| {
            let tx = db.transaction()?;
            for c in new {
                tx.execute(
                    "INSERT INTO claims (policy, id, member, body, version, settlement) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![policy, c.id, c.member, c.body, c.version, c.settlement],
                )?;
            }
            for c in changed {
                tx.execute(
                    "UPDATE claims SET settlement = ?3, version = ?4 WHERE policy = ?1 AND id = ?2",
                    params![policy, c.id, c.settlement, c.version],
                )?;
            }
            for id in removed {
                tx.execute("DELETE FROM claims WHERE policy = ?1 AND id = ?2", params![policy, id])?;
            }
            for (member, a) in adjustments {
                tx.execute(
                    "INSERT INTO adjustments (policy, id, member, cause, before, after) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![policy, a.id, member, a.cause, a.before, a.after],
                )?;
            }
            tx.commit()
        })
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Stored> {
    Ok(Stored {
        id: r.get(0)?,
        member: r.get(1)?,
        body: r.get(2)?,
        version: r.get(3)?,
        settlement: r.get(4)?,
    })
}
