//! The service's durable state: every settled claim with its settlement, and every adjustment a
//! later change made to one. Two stores keep the same tables:
//!
//! - SQLite, one file for one service instance: WAL, reads on connections of their own, changes
//!   written by one writer that commits the changes waiting together, one synchronous commit a
//!   group ([`commit`]), each answered once committed;
//! - PostgreSQL, shared by several instances: a change to a member's claims is one transaction
//!   that first takes a transaction-scoped advisory lock on each member it touches, so that
//!   requests for one member are serialized across instances, and commits before the answer.
//!
//! Each policy version served is kept too (its text, by policy and version), so that a replay
//! settles stored claims under the versions they were settled with. So is each member's saved
//! year to date after their latest claim (`members`), written in the same transaction as the
//! claims: a claim dated after the latest settles from it alone. A member whose claims were
//! stored before it was kept has a row without a state, and their next claim replays.
//!
//! The schema is versioned: [`SQLITE`] and [`POSTGRES`] hold the same steps, run in order, each
//! in its own transaction, from the version the store has (SQLite's `user_version`, a
//! `settle_schema` row in PostgreSQL).

mod commit;

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use postgres::types::Type;
use rusqlite::{Connection, OptionalExtension, params};

/// The PostgreSQL types of the parameters, given with each statement so that it is sent without
/// a separate prepare (one round trip, not three).
const TEXT: Type = Type::TEXT;
const INT4: Type = Type::INT4;

/// The schema in SQLite, one step a version.
const SQLITE: &[&str] = &[
    "
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
",
    "
    CREATE TABLE versions (
        policy TEXT NOT NULL,
        version TEXT NOT NULL,
        text TEXT NOT NULL,
        PRIMARY KEY (policy, version)
    );
",
    "
    CREATE TABLE members (
        policy TEXT NOT NULL,
        member TEXT NOT NULL,
        version TEXT,
        day INTEGER,
        latest TEXT,
        state TEXT,
        PRIMARY KEY (policy, member)
    );
    INSERT INTO members (policy, member) SELECT DISTINCT policy, member FROM claims;
",
    "
    ALTER TABLE versions ADD COLUMN bases TEXT;
",
];

/// The same schema in PostgreSQL, step for step (`arrival` is SQLite's `rowid`).
const POSTGRES: &[&str] = &[
    "
    CREATE TABLE claims (
        policy TEXT NOT NULL,
        id TEXT NOT NULL,
        member TEXT NOT NULL,
        body TEXT NOT NULL,
        version TEXT NOT NULL,
        settlement TEXT NOT NULL,
        arrival BIGSERIAL,
        PRIMARY KEY (policy, id)
    );
    CREATE INDEX claims_by_member ON claims (policy, member);
    CREATE TABLE adjustments (
        seq BIGSERIAL PRIMARY KEY,
        policy TEXT NOT NULL,
        id TEXT NOT NULL,
        member TEXT NOT NULL,
        cause TEXT NOT NULL,
        before TEXT NOT NULL,
        after TEXT
    );
",
    "
    CREATE TABLE versions (
        policy TEXT NOT NULL,
        version TEXT NOT NULL,
        text TEXT NOT NULL,
        PRIMARY KEY (policy, version)
    );
",
    "
    CREATE TABLE members (
        policy TEXT NOT NULL,
        member TEXT NOT NULL,
        version TEXT,
        day INTEGER,
        latest TEXT,
        state TEXT,
        PRIMARY KEY (policy, member)
    );
    INSERT INTO members (policy, member) SELECT DISTINCT policy, member FROM claims;
",
    "
    ALTER TABLE versions ADD COLUMN bases TEXT;
",
];

/// The advisory lock key under which PostgreSQL migrations run (one instance at a time).
const MIGRATING: i64 = 0x5e77_1e00;

/// Most connections one instance opens to PostgreSQL.
const POOL: usize = 16;

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

/// A member's year to date after their latest stored claim, as saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The policy version the latest claim was settled under.
    pub version: String,
    /// The latest claim in the engine's order: its day and id; `None` when every claim of the
    /// member was reversed.
    pub latest: Option<(i32, String)>,
    /// The `MemberState` as JSON.
    pub state: String,
}

/// What the store knows of a member's year to date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Year {
    /// No claim of the member was ever stored.
    Fresh,
    /// Claims are stored but no state is saved for them: the next claim replays.
    Unknown,
    Saved(Saved),
}

/// What one request changes, written in one transaction: `new` claims inserted, the
/// settlements of `changed` ones replaced, `removed` ones deleted, `adjustments` recorded
/// (each with its member), and each member's year to date `saved` (`None`: not known).
#[derive(Debug, Default)]
pub struct Changes<'a> {
    pub new: &'a [Stored],
    pub changed: &'a [Stored],
    pub removed: &'a [String],
    pub adjustments: &'a [(String, Adjustment)],
    pub saved: &'a [(String, Option<Saved>)],
}

/// Columns of a `members` row: version, day, latest id, state.
type YearRow = (Option<String>, Option<i32>, Option<String>, Option<String>);

fn year_of(row: Option<YearRow>) -> Year {
    match row {
        None => Year::Fresh,
        Some((Some(version), day, latest, Some(state))) => {
            Year::Saved(Saved { version, latest: day.zip(latest), state })
        }
        Some(_) => Year::Unknown,
    }
}

/// The columns a saved year to date is written as.
fn year_columns(saved: Option<&Saved>) -> YearRow {
    match saved {
        None => (None, None, None, None),
        Some(s) => (
            Some(s.version.clone()),
            s.latest.as_ref().map(|l| l.0),
            s.latest.as_ref().map(|l| l.1.clone()),
            Some(s.state.clone()),
        ),
    }
}

const SAVE_SQLITE: &str = "INSERT INTO members (policy, member, version, day, latest, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
     ON CONFLICT (policy, member) DO UPDATE SET version = excluded.version, day = excluded.day, latest = excluded.latest, state = excluded.state";
const SAVE_POSTGRES: &str = "INSERT INTO members (policy, member, version, day, latest, state) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (policy, member) DO UPDATE SET version = excluded.version, day = excluded.day, latest = excluded.latest, state = excluded.state";

/// Why a change was not written.
#[derive(Debug)]
pub enum Unwritten {
    /// A new claim's id is stored already (for another member: a member's own requests are
    /// serialized): the change is not written.
    Taken(String),
    Failed(String),
}

/// The store.
#[derive(Debug)]
pub enum Store {
    /// The service's own member locks serialize a member's requests.
    Sqlite(Lite),
    Postgres(Pool),
}

/// A SQLite store: idle read connections, and the one writer.
#[derive(Debug)]
pub struct Lite {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    writer: commit::Writer,
}

/// Most idle read connections kept: more than the requests under way at once under load (32
/// clients), so that a request does not open one of its own.
const READERS: usize = 64;

impl Lite {
    /// A read connection: an idle one, else a new one.
    fn take(&self) -> rusqlite::Result<Connection> {
        if let Some(db) = self.readers.lock().ok().and_then(|mut r| r.pop()) {
            return Ok(db);
        }
        let db = Connection::open(&self.path)?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(db)
    }

    fn give(&self, db: Connection) {
        if let Ok(mut idle) = self.readers.lock() {
            if idle.len() < READERS {
                idle.push(db);
            }
        }
    }
}

/// PostgreSQL connections kept open for reuse, at most [`POOL`] at once.
pub struct Pool {
    url: String,
    idle: Mutex<(Vec<postgres::Client>, usize)>,
    freed: Condvar,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

fn err(e: rusqlite::Error) -> String {
    format!("store: {e}")
}

fn pg(e: postgres::Error) -> String {
    format!("store: {e}")
}

/// Whether `url` names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl Store {
    /// Open the store `at` (a `postgres://` URL, else a SQLite file, created if absent) and
    /// bring its schema up to date.
    pub fn open(at: &Path) -> Result<Store, String> {
        if let Some(url) = at.to_str().filter(|u| is_postgres(u)) {
            let pool = Pool {
                url: url.to_string(),
                idle: Mutex::new((Vec::new(), 0)),
                freed: Condvar::new(),
            };
            pool.take()?.run(migrate_postgres)?;
            return Ok(Store::Postgres(pool));
        }
        let mut db = Connection::open(at).map_err(err)?;
        db.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        db.pragma_update(None, "synchronous", "FULL").map_err(err)?;
        db.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
        let version: i64 =
            db.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(err)?;
        let done = usize::try_from(version).unwrap_or(0);
        for (n, step) in (0i64..).zip(SQLITE).skip(done) {
            let tx = db.transaction().map_err(err)?;
            tx.execute_batch(step).map_err(err)?;
            tx.pragma_update(None, "user_version", n + 1).map_err(err)?;
            tx.commit().map_err(err)?;
        }
        let writer = commit::Writer::start(db)?;
        Ok(Store::Sqlite(Lite { path: at.to_path_buf(), readers: Mutex::new(Vec::new()), writer }))
    }

    /// A connection for one request.
    pub fn conn(&self) -> Result<Conn<'_>, String> {
        match self {
            Store::Sqlite(db) => Ok(Conn::Sqlite(db)),
            Store::Postgres(pool) => pool.take().map(|c| Conn::Postgres(Box::new(c))),
        }
    }

    /// Keep the text of a policy version (once: a version is its text's hash).
    pub fn keep_version(
        &self,
        policy: &str,
        version: &str,
        text: &str,
        bases: &str,
    ) -> Result<(), String> {
        match self.conn()? {
            Conn::Sqlite(db) => lite(db, |db| {
                db.execute(
                    "INSERT OR IGNORE INTO versions (policy, version, text, bases) VALUES (?1, ?2, ?3, ?4)",
                    params![policy, version, text, bases],
                )
            })
            .map(|_| ()),
            Conn::Postgres(mut c) => c
                .run(|c| {
                    c.execute(
                        "INSERT INTO versions (policy, version, text, bases) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                        &[&policy, &version, &text, &bases],
                    )
                })
                .map(|_| ()),
        }
    }

    /// Whether the store answers.
    pub fn ready(&self) -> bool {
        match self.conn() {
            Ok(Conn::Sqlite(db)) => {
                lite(db, |db| db.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))).is_ok()
            }
            Ok(Conn::Postgres(mut c)) => c.run(|c| c.simple_query("SELECT 1")).is_ok(),
            Err(_) => false,
        }
    }
}

/// Bring a PostgreSQL database's schema up to date, one step a transaction, under an advisory
/// lock so that instances starting together migrate once.
fn migrate_postgres(db: &mut postgres::Client) -> Result<(), postgres::Error> {
    for (n, step) in (1i32..).zip(POSTGRES) {
        let mut tx = db.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATING])?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS settle_schema (version INTEGER NOT NULL)")?;
        let at: Option<i32> =
            tx.query_opt("SELECT version FROM settle_schema", &[])?.map(|r| r.get(0));
        if at.unwrap_or(0) >= n {
            tx.commit()?;
            continue;
        }
        tx.batch_execute(step)?;
        tx.execute("DELETE FROM settle_schema", &[])?;
        tx.execute("INSERT INTO settle_schema (version) VALUES ($1)", &[&n])?;
        tx.commit()?;
    }
    Ok(())
}

impl Pool {
    /// An idle connection, a new one while fewer than [`POOL`] are open, else wait for one.
    fn take(&self) -> Result<Pooled<'_>, String> {
        let mut idle = self.idle.lock().map_err(|_| "store: the pool failed".to_string())?;
        loop {
            if let Some(client) = idle.0.pop() {
                return Ok(Pooled {
                    pool: self,
                    client: Some(client),
                    in_tx: false,
                    broken: false,
                });
            }
            if idle.1 < POOL {
                idle.1 += 1;
                drop(idle);
                return match postgres::Client::connect(&self.url, postgres::NoTls) {
                    Ok(client) => {
                        Ok(Pooled { pool: self, client: Some(client), in_tx: false, broken: false })
                    }
                    Err(e) => {
                        self.forget();
                        Err(pg(e))
                    }
                };
            }
            idle = self.freed.wait(idle).map_err(|_| "store: the pool failed".to_string())?;
        }
    }

    /// One connection fewer is open.
    fn forget(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.1 = idle.1.saturating_sub(1);
        }
        self.freed.notify_one();
    }
}

/// A connection taken from the pool. Dropped, it goes back to the pool, its transaction (and
/// with it the members' locks) rolled back if one is open; a connection on which a statement
/// failed is closed instead, so that no lock or half transaction outlives a failure.
pub struct Pooled<'a> {
    pool: &'a Pool,
    client: Option<postgres::Client>,
    /// A transaction is open.
    in_tx: bool,
    /// A statement failed on it.
    broken: bool,
}

impl Pooled<'_> {
    /// Run `f` on the connection; a failure marks it broken.
    fn run<T>(
        &mut self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error>,
    ) -> Result<T, String> {
        let Some(client) = self.client.as_mut() else {
            return Err("store: the connection was closed".to_string());
        };
        f(client).map_err(|e| {
            self.broken = true;
            pg(e)
        })
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if self.in_tx && !self.broken {
            let _ = self.run(|c| c.batch_execute("ROLLBACK"));
        }
        match self.client.take() {
            Some(client) if !self.broken && !client.is_closed() => {
                if let Ok(mut idle) = self.pool.idle.lock() {
                    idle.0.push(client);
                }
                self.pool.freed.notify_one();
            }
            _ => self.pool.forget(),
        }
    }
}

/// One request's connection to the store.
pub enum Conn<'a> {
    Sqlite(&'a Lite),
    Postgres(Box<Pooled<'a>>),
}

impl std::fmt::Debug for Conn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conn::Sqlite(_) => "Conn::Sqlite",
            Conn::Postgres(_) => "Conn::Postgres",
        })
    }
}

/// Run `f` on a read connection of `db` (or a write of its own, such as a version kept).
fn lite<T>(db: &Lite, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, String> {
    let mut conn = db.take().map_err(err)?;
    let out = f(&mut conn).map_err(err);
    db.give(conn);
    out
}

/// Whether a statement failed on a key already stored.
fn duplicate(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

/// Write `changes` to `db` in the transaction open on it.
fn write_sqlite(db: &Connection, policy: &str, changes: &Changes<'_>) -> Result<(), Unwritten> {
    let failed = |e: rusqlite::Error| Unwritten::Failed(err(e));
    for c in changes.new {
        db.execute(
            "INSERT INTO claims (policy, id, member, body, version, settlement) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![policy, c.id, c.member, c.body, c.version, c.settlement],
        )
        .map_err(|e| if duplicate(&e) { Unwritten::Taken(c.id.clone()) } else { failed(e) })?;
    }
    for c in changes.changed {
        db.execute(
            "UPDATE claims SET settlement = ?3, version = ?4 WHERE policy = ?1 AND id = ?2",
            params![policy, c.id, c.settlement, c.version],
        )
        .map_err(failed)?;
    }
    for id in changes.removed {
        db.execute("DELETE FROM claims WHERE policy = ?1 AND id = ?2", params![policy, id])
            .map_err(failed)?;
    }
    for (member, a) in changes.adjustments {
        db.execute(
            "INSERT INTO adjustments (policy, id, member, cause, before, after) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![policy, a.id, member, a.cause, a.before, a.after],
        )
        .map_err(failed)?;
    }
    for (member, saved) in changes.saved {
        let (version, day, latest, state) = year_columns(saved.as_ref());
        db.execute(SAVE_SQLITE, params![policy, member, version, day, latest, state])
            .map_err(failed)?;
    }
    Ok(())
}

/// The advisory lock key of a member: the first 8 bytes of the SHA-256 of policy and member.
/// Two members sharing a key only wait on each other.
fn member_key(policy: &str, member: &str) -> i64 {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(policy.as_bytes());
    h.update([0]);
    h.update(member.as_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 8];
    for (b, d) in bytes.iter_mut().zip(digest.iter()) {
        *b = *d;
    }
    i64::from_be_bytes(bytes)
}

impl Conn<'_> {
    /// Start the change of `members`' claims: in PostgreSQL a transaction holding each member's
    /// advisory lock (taken in key order, so that two requests never wait on each other) until
    /// [`Conn::apply`] commits it or the connection is dropped. In SQLite nothing: the service's
    /// member locks serialize a member's requests in its one process.
    pub fn lock(&mut self, policy: &str, members: &[String]) -> Result<(), String> {
        let Conn::Postgres(c) = self else { return Ok(()) };
        let mut keys: Vec<i64> = members.iter().map(|m| member_key(policy, m)).collect();
        keys.sort_unstable();
        keys.dedup();
        // One round trip: the keys are numbers, written into the statement.
        let mut begin = String::from("BEGIN;");
        for k in keys {
            begin.push_str(&format!(" SELECT pg_advisory_xact_lock({k});"));
        }
        c.in_tx = true;
        c.run(|c| c.batch_execute(&begin))
    }

    /// The text of a policy version, when kept, and its bases (a JSON array of name and text,
    /// nearest first; `None` for a version kept before its bases were).
    pub fn version_text(
        &mut self,
        policy: &str,
        version: &str,
    ) -> Result<Option<(String, Option<String>)>, String> {
        match self {
            Conn::Sqlite(db) => lite(db, |db| {
                db.query_row(
                    "SELECT text, bases FROM versions WHERE policy = ?1 AND version = ?2",
                    params![policy, version],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
            }),
            Conn::Postgres(c) => c
                .run(|c| {
                    c.query_opt(
                        "SELECT text, bases FROM versions WHERE policy = $1 AND version = $2",
                        &[&policy, &version],
                    )
                })
                .map(|r| r.map(|r| (r.get(0), r.get(1)))),
        }
    }

    /// A stored claim.
    pub fn claim(&mut self, policy: &str, id: &str) -> Result<Option<Stored>, String> {
        match self {
            Conn::Sqlite(db) => lite(db, |db| {
                db.query_row(
                    "SELECT id, member, body, version, settlement FROM claims WHERE policy = ?1 AND id = ?2",
                    params![policy, id],
                    row,
                )
                .optional()
            }),
            Conn::Postgres(c) => {
                let found = c.run(|c| {
                    c.query_typed_opt(
                        "SELECT id, member, body, version, settlement FROM claims WHERE policy = $1 AND id = $2",
                        &[(&policy, TEXT), (&id, TEXT)],
                    )
                })?;
                Ok(found.map(|r| pg_row(&r)))
            }
        }
    }

    /// A member's stored claims, in the order they were stored.
    pub fn member(&mut self, policy: &str, member: &str) -> Result<Vec<Stored>, String> {
        match self {
            Conn::Sqlite(db) => lite(db, |db| {
                let mut q = db.prepare(
                    "SELECT id, member, body, version, settlement FROM claims
                     WHERE policy = ?1 AND member = ?2 ORDER BY rowid",
                )?;
                let rows = q.query_map(params![policy, member], row)?;
                rows.collect()
            }),
            Conn::Postgres(c) => {
                let rows = c.run(|c| {
                    c.query_typed(
                        "SELECT id, member, body, version, settlement FROM claims
                         WHERE policy = $1 AND member = $2 ORDER BY arrival",
                        &[(&policy, TEXT), (&member, TEXT)],
                    )
                })?;
                Ok(rows.iter().map(pg_row).collect())
            }
        }
    }

    /// What the store knows of a member's year to date.
    pub fn year(&mut self, policy: &str, member: &str) -> Result<Year, String> {
        match self {
            Conn::Sqlite(db) => lite(db, |db| {
                db.query_row(
                    "SELECT version, day, latest, state FROM members WHERE policy = ?1 AND member = ?2",
                    params![policy, member],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()
            })
            .map(year_of),
            Conn::Postgres(c) => {
                let found = c.run(|c| {
                    c.query_typed_opt(
                        "SELECT version, day, latest, state FROM members WHERE policy = $1 AND member = $2",
                        &[(&policy, TEXT), (&member, TEXT)],
                    )
                })?;
                Ok(year_of(found.map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))))
            }
        }
    }

    /// A member's adjustments, oldest first.
    pub fn adjustments(&mut self, policy: &str, member: &str) -> Result<Vec<Adjustment>, String> {
        match self {
            Conn::Sqlite(db) => lite(db, |db| {
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
            }),
            Conn::Postgres(c) => {
                let rows = c.run(|c| {
                    c.query(
                        "SELECT id, cause, before, after FROM adjustments
                         WHERE policy = $1 AND member = $2 ORDER BY seq",
                        &[&policy, &member],
                    )
                })?;
                Ok(rows
                    .iter()
                    .map(|r| Adjustment {
                        id: r.get(0),
                        cause: r.get(1),
                        before: r.get(2),
                        after: r.get(3),
                    })
                    .collect())
            }
        }
    }

    /// Write `changes` in one transaction and commit it (in PostgreSQL the one [`Conn::lock`]
    /// began, releasing the members' locks; in SQLite with the changes of other requests waiting
    /// then); answered once committed.
    pub fn apply(&mut self, policy: &str, changes: &Changes<'_>) -> Result<(), Unwritten> {
        match self {
            Conn::Sqlite(db) => db.writer.write(policy, changes),
            Conn::Postgres(c) => {
                if !c.in_tx {
                    c.run(|c| c.batch_execute("BEGIN")).map_err(Unwritten::Failed)?;
                    c.in_tx = true;
                }
                let mut taken = None;
                c.run(|tx| {
                    for s in changes.new {
                        let inserted = tx.execute_typed(
                            "INSERT INTO claims (policy, id, member, body, version, settlement) VALUES ($1, $2, $3, $4, $5, $6)",
                            &[
                                (&policy, TEXT),
                                (&s.id, TEXT),
                                (&s.member, TEXT),
                                (&s.body, TEXT),
                                (&s.version, TEXT),
                                (&s.settlement, TEXT),
                            ],
                        );
                        if let Err(e) = inserted {
                            if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) {
                                taken = Some(s.id.clone());
                            }
                            return Err(e);
                        }
                    }
                    for s in changes.changed {
                        tx.execute_typed(
                            "UPDATE claims SET settlement = $3, version = $4 WHERE policy = $1 AND id = $2",
                            &[(&policy, TEXT), (&s.id, TEXT), (&s.settlement, TEXT), (&s.version, TEXT)],
                        )?;
                    }
                    for id in changes.removed {
                        tx.execute_typed(
                            "DELETE FROM claims WHERE policy = $1 AND id = $2",
                            &[(&policy, TEXT), (id, TEXT)],
                        )?;
                    }
                    for (member, a) in changes.adjustments {
                        tx.execute_typed(
                            "INSERT INTO adjustments (policy, id, member, cause, before, after) VALUES ($1, $2, $3, $4, $5, $6)",
                            &[
                                (&policy, TEXT),
                                (&a.id, TEXT),
                                (member, TEXT),
                                (&a.cause, TEXT),
                                (&a.before, TEXT),
                                (&a.after, TEXT),
                            ],
                        )?;
                    }
                    for (member, saved) in changes.saved {
                        let (version, day, latest, state) = year_columns(saved.as_ref());
                        tx.execute_typed(
                            SAVE_POSTGRES,
                            &[
                                (&policy, TEXT),
                                (member, TEXT),
                                (&version, TEXT),
                                (&day, INT4),
                                (&latest, TEXT),
                                (&state, TEXT),
                            ],
                        )?;
                    }
                    tx.batch_execute("COMMIT")
                })
                .map_err(|e| taken.map_or(Unwritten::Failed(e), Unwritten::Taken))?;
                c.in_tx = false;
                Ok(())
            }
        }
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

fn pg_row(r: &postgres::Row) -> Stored {
    Stored {
        id: r.get(0),
        member: r.get(1),
        body: r.get(2),
        version: r.get(3),
        settlement: r.get(4),
    }
}
