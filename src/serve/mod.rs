//! `settle serve`: the hospital counter's settlement service over HTTP/JSON, with every member's
//! claims and settlements kept durably in SQLite or, shared by several instances, PostgreSQL.
//!
//! A claim is settled against everything its member has had settled before: the member's stored
//! claims and the new one are settled together by the engine (by date, id, then arrival), so a
//! claim dated before claims already settled, or a reversal, replays the member's claims; every
//! other claim whose settlement changes is stored anew and returned as an adjustment (before and
//! after), never rewritten silently. The claim id is the idempotency key: the same content again
//! returns the stored settlement, other content under the same id is refused (409) naming the
//! fields that differ. Requests for one member run one at a time; members run in parallel.

mod keys;
mod store;
mod year;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value as Json, json};
use settle_runtime::io::{self, Row};
use settle_runtime::{Claim, Engine};
use tracing::field::Empty;

use miette::GraphicalTheme;
use settle_lang::check_bytes;

use crate::cli::{EXIT_PROBLEMS, EXIT_USAGE};
use crate::files::FileLoader;
use keys::{Keys, Refusal, Scope};
use store::{Adjustment, Changes, Conn, Saved, Store, Stored, Unwritten, Year};

/// Largest request body.
const BODY_LIMIT: usize = 1 << 20;
/// Most claims in one batch request.
const BATCH_LIMIT: usize = 1_000;

/// A policy the service settles under: its engine and the version (content hash) of its file.
struct Loaded {
    engine: Engine,
    version: String,
    /// The file it was read from.
    path: PathBuf,
    /// Its text, kept in the store so that claims settled under it replay under it.
    text: String,
    /// The files it `extends`, nearest first, each by name with its text: kept with it.
    bases: Vec<(String, String)>,
}

/// The policies served, by name: swapped whole by a reload, so that a request holding one settles
/// under exactly one version.
type Policies = HashMap<String, Arc<Loaded>>;

/// Held while a member's claims change.
type MemberLock = Arc<Mutex<()>>;

/// A route's latency: the histogram's bucket counts, the sum of seconds, the count.
type Latency = ([u64; BUCKETS.len()], f64, u64);

/// What every request shares.
struct App {
    /// The directory the policies are read from, at start and on reload.
    dir: PathBuf,
    policies: RwLock<Arc<Policies>>,
    /// Held while the policies are reloaded: one reload at a time.
    reloading: Mutex<()>,
    store: Store,
    /// One lock a member: `(policy, member)`.
    members: Mutex<HashMap<(String, String), MemberLock>>,
    /// Versions no longer served, read back from the store for replays: `(policy, version)`.
    old: Mutex<HashMap<(String, String), Arc<Loaded>>>,
    metrics: Metrics,
    /// The clients' keys; without them every request is served (on a loopback address only).
    keys: Option<Keys>,
}

/// `settle serve --policies DIR --store FILE|URL --listen ADDR [--keys FILE] [--log-json]`.
pub fn main(
    policies: &Path,
    store: &Path,
    listen: &str,
    keys: Option<&Path>,
    log_json: bool,
) -> ExitCode {
    init_logs(log_json);
    let keys = match keys.map(Keys::read).transpose() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: the keys file {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let open = keys.is_none();
    let loaded = match load_policies(policies) {
        Ok(p) => p,
        Err(diagnostics) => {
            eprint!("{diagnostics}");
            return ExitCode::from(EXIT_PROBLEMS);
        }
    };
    for (name, p) in &loaded {
        tracing::info!(policy = %name, file = %p.path.display(), version = %p.version, "policy served");
    }
    let store = match Store::open(store) {
        Ok(s) => s,
        Err(e) => {
            // A PostgreSQL URL may carry a password: not repeated.
            let named = store.to_str().filter(|s| !store::is_postgres(s));
            eprintln!("error: cannot open the store `{}`: {e}", named.unwrap_or("postgres://..."));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    keep_versions(&store, &loaded);
    let app = Arc::new(App {
        dir: policies.to_path_buf(),
        policies: RwLock::new(Arc::new(loaded)),
        reloading: Mutex::new(()),
        store,
        members: Mutex::new(HashMap::new()),
        old: Mutex::new(HashMap::new()),
        metrics: Metrics::default(),
        keys,
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the service: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen on `{listen}`: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        };
        if open && listener.local_addr().map_or(true, |a| !a.ip().is_loopback()) {
            eprintln!(
                "error: without --keys the service listens on a loopback address only, not `{listen}`"
            );
            return ExitCode::from(EXIT_USAGE);
        }
        if let Ok(addr) = listener.local_addr() {
            // The address first, alone on its line: a port of 0 chose one.
            println!("listening on http://{addr}");
            let _ = std::io::Write::flush(&mut std::io::stdout());
        }
        reload_on_hangup(app.clone());
        match axum::serve(listener, router(app)).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: the service stopped: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        }
    })
}

/// Request logs on standard error, one line each, as text or JSON Lines; `SETTLE_LOG` filters
/// them as `RUST_LOG` does (`info` when unset).
fn init_logs(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("SETTLE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // Set once, at start: a second subscriber (none is set elsewhere) is refused, not fatal.
    let _ = if json { logs.json().try_init() } else { logs.try_init() };
}

/// Reload the policies on `SIGHUP`, as `POST /v1/admin/reload` does.
#[cfg(unix)]
fn reload_on_hangup(app: Arc<App>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("no reload on SIGHUP: {e}");
            return;
        }
    };
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let app = app.clone();
            let done = tokio::task::spawn_blocking(move || match app.reload() {
                Ok(served) => {
                    tracing::info!(policies = %served.get("policies").unwrap_or(&Json::Null), "policies reloaded")
                }
                Err(problem) => tracing::warn!(
                    served = %app.served().values().map(|p| p.version.as_str()).collect::<Vec<_>>().join(","),
                    "policies not reloaded:\n{}",
                    problem.detail
                ),
            });
            let _ = done.await;
        }
    });
}

#[cfg(not(unix))]
fn reload_on_hangup(_: Arc<App>) {}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/policies/{policy}/claims", post(settle_claim))
        .route("/v1/policies/{policy}/claims/batch", post(settle_batch))
        .route("/v1/policies/{policy}/claims/{id}", get(read_claim).delete(reverse_claim))
        .route("/v1/policies/{policy}/members/{member}", get(read_member))
        .route("/v1/admin/reload", post(reload))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
}

/// Every policy file under `dir`, checked, by policy name, with its version; else the
/// diagnostics of the files that do not check (or why the directory cannot be read).
fn load_policies(dir: &Path) -> Result<Policies, String> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d)
            .map_err(|e| format!("error: cannot read `{}`: {e}\n", d.display()))?;
        for p in entries.flatten().map(|e| e.path()) {
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "settle") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut out = HashMap::new();
    let mut problems = String::new();
    for path in files {
        let bytes = std::fs::read(&path)
            .map_err(|e| format!("error: cannot read `{}`: {e}\n", path.display()))?;
        let checked = check_bytes(&path.to_string_lossy(), &bytes, &mut FileLoader);
        let Some(policy) = checked.policy else {
            problems.push_str(&checked.problems.render(GraphicalTheme::unicode_nocolor(), 100));
            problems.push_str(&format!(
                "{}: {} errors\n",
                path.display(),
                checked.problems.error_count()
            ));
            continue;
        };
        if checked.problems.warning_count() > 0 {
            tracing::warn!("{}", checked.problems.render(GraphicalTheme::unicode_nocolor(), 100));
        }
        let text = checked.problems.sources.text(0).to_string();
        let bases = bases_of(&checked.problems.sources);
        let version = version_of(&text, &bases);
        let engine = Engine::compiled(policy.clone()).unwrap_or_else(|_| Engine::new(policy));
        out.insert(
            engine.policy().name.clone(),
            Arc::new(Loaded { engine, version, path, text, bases }),
        );
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if out.is_empty() {
        return Err(format!("error: no policy file under `{}`\n", dir.display()));
    }
    Ok(out)
}

/// A policy's version: the first 16 hex digits of the SHA-256 of its text, followed (for a
/// policy that `extends` others) by each base's text after a zero byte: a changed base is a new
/// version.
fn version_of(text: &str, bases: &[(String, String)]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(text.as_bytes());
    for (_, base) in bases {
        h.update([0]);
        h.update(base.as_bytes());
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The files a checked policy extends, in the order they were loaded (nearest first).
fn bases_of(sources: &settle_lang::diagnostic::Sources) -> Vec<(String, String)> {
    sources.iter().skip(1).map(|(_, f)| (f.name.clone(), f.text.to_string())).collect()
}

/// The bases kept with a version, handed out in the order they were loaded: a policy extends
/// one base, which extends one, and so on.
struct KeptBases(std::collections::VecDeque<(String, String)>);

impl settle_lang::Loader for KeptBases {
    fn load(&mut self, from: &str, path: &str) -> Result<(String, String), String> {
        let name = io::base_path(from, path).to_string_lossy().into_owned();
        let (_, text) = self.0.pop_front().ok_or_else(|| format!("`{name}` was not kept"))?;
        Ok((name, text))
    }
}

/// Keep the text of every version in `policies` in the store (a failure is a warning in the log:
/// the claims of a version not kept replay under the version served at the time).
fn keep_versions(store: &Store, policies: &Policies) {
    for (name, p) in policies {
        let bases = serde_json::to_string(&p.bases).unwrap_or_default();
        if let Err(e) = store.keep_version(name, &p.version, &p.text, &bases) {
            tracing::warn!(policy = %name, version = %p.version, "version not kept: {e}");
        }
    }
}

/// Each policy served and its version.
fn versions(policies: &Policies) -> Json {
    let mut names: Vec<&String> = policies.keys().collect();
    names.sort();
    Json::Object(names.into_iter().map(|n| (n.clone(), json!(policies[n].version))).collect())
}

/// An RFC 9457 problem document.
#[derive(Debug)]
struct Problem {
    status: StatusCode,
    title: &'static str,
    detail: String,
    /// What the problem is about: a field, the fields that differ, a claim of a batch.
    extra: Option<(&'static str, Json)>,
}

impl Problem {
    fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Problem {
        Problem { status, title, detail: detail.into(), extra: None }
    }

    fn with(mut self, key: &'static str, value: Json) -> Problem {
        self.extra = Some((key, value));
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": "about:blank",
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let (Some((key, value)), Some(map)) = (self.extra, body.as_object_mut()) {
            map.insert(key.to_string(), value);
        }
        let mut response =
            (self.status, [(header::CONTENT_TYPE, "application/problem+json")], body.to_string())
                .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

fn internal(e: String) -> Problem {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "the store failed", e)
}

impl App {
    /// The client a request comes from, when its key (`Authorization: Bearer KEY`) allows
    /// `scope`; `None` when the service has no keys.
    fn authorize(&self, headers: &HeaderMap, scope: Scope) -> Result<Option<String>, Problem> {
        let Some(keys) = &self.keys else { return Ok(None) };
        let key = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match keys.allow(key, scope) {
            Ok(client) => Ok(Some(client.to_string())),
            Err(Refusal::Unknown) => Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "no valid key",
                "send a client's key as `Authorization: Bearer KEY`",
            )),
            Err(Refusal::Outside { client }) => Err(Problem::new(
                StatusCode::FORBIDDEN,
                "outside the key's scope",
                format!("client `{client}` may not {scope}"),
            )
            .with("scope", json!(scope.to_string()))),
        }
    }

    /// The policies now served.
    fn served(&self) -> Arc<Policies> {
        match self.policies.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Read the policies again and serve them, all or none: when a file no longer checks, the
    /// versions served stay and the answer carries the diagnostics.
    fn reload(&self) -> Result<Json, Problem> {
        let _one = match self.reloading.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        match load_policies(&self.dir) {
            Ok(fresh) => {
                keep_versions(&self.store, &fresh);
                let now = versions(&fresh);
                let fresh = Arc::new(fresh);
                match self.policies.write() {
                    Ok(mut p) => *p = fresh,
                    Err(poisoned) => *poisoned.into_inner() = fresh,
                }
                Ok(json!({"reloaded": true, "policies": now}))
            }
            Err(diagnostics) => Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the policies do not check; the versions served stay",
                diagnostics,
            )
            .with("policies", versions(&self.served()))),
        }
    }

    fn policy(&self, name: &str) -> Result<Arc<Loaded>, Problem> {
        self.served().get(name).cloned().ok_or_else(|| {
            Problem::new(
                StatusCode::NOT_FOUND,
                "unknown policy",
                format!("no policy `{name}` is served"),
            )
        })
    }

    /// The engine of `version` of the policy `p` serves: `p` itself, a version served or read
    /// before, or one built from the text the store keeps. `p` when the store keeps no text for
    /// it (a claim stored before versions were kept) or the text no longer checks.
    fn version(
        &self,
        db: &mut Conn<'_>,
        p: &Arc<Loaded>,
        version: &str,
    ) -> Result<Arc<Loaded>, Problem> {
        if p.version == version {
            return Ok(p.clone());
        }
        let name = p.engine.policy().name.clone();
        let key = (name.clone(), version.to_string());
        if let Some(old) = self.old.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(old);
        }
        let Some((text, bases)) = db.version_text(&name, version).map_err(internal)? else {
            return Ok(p.clone());
        };
        // The bases as they were when the version was served (a version kept before its bases
        // were: as the files are now, which the version check below refuses if they changed).
        let from = p.path.to_string_lossy();
        let checked = match bases.and_then(|b| serde_json::from_str(&b).ok()) {
            Some(kept) => check_bytes(&from, text.as_bytes(), &mut KeptBases(kept)),
            None => check_bytes(&from, text.as_bytes(), &mut FileLoader),
        };
        let bases = bases_of(&checked.problems.sources);
        let Some(policy) = checked
            .policy
            .filter(|_| version_of(checked.problems.sources.text(0), &bases) == version)
        else {
            tracing::warn!(policy = %name, version, "a kept version no longer checks; its claims replay under the version served");
            return Ok(p.clone());
        };
        let engine = Engine::compiled(policy.clone()).unwrap_or_else(|_| Engine::new(policy));
        let old = Arc::new(Loaded {
            engine,
            version: version.to_string(),
            path: p.path.clone(),
            text,
            bases,
        });
        if let Ok(mut m) = self.old.lock() {
            m.insert(key, old.clone());
        }
        Ok(old)
    }

    fn member_lock(&self, policy: &str, member: &str) -> MemberLock {
        let mut map = match self.members.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry((policy.to_string(), member.to_string())).or_default().clone()
    }
}

/// A claim read from a request body: the claim, its id, its member and its body.
struct Incoming {
    claim: Claim,
    id: String,
    member: String,
    body: String,
}

fn parse_claim(p: &Loaded, body: &Json) -> Result<Incoming, Problem> {
    if !body.is_object() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "not a claim",
            "a claim is a JSON object",
        ));
    }
    let text = body.to_string();
    let claim = p.engine.claim_from_json(&text).map_err(|e| {
        let problem = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "a field cannot be read",
            e.message.clone(),
        );
        match e.field {
            Some(f) => problem.with("field", json!(f)),
            None => problem,
        }
    })?;
    let id = p.engine.id_of(&claim).to_string();
    let member = p.engine.member_of(&claim).to_string();
    Ok(Incoming { claim, id, member, body: text })
}

/// The input fields whose values differ between two claims.
fn differing(p: &Loaded, a: &Claim, b: &Claim) -> Vec<String> {
    let fields = p.engine.policy().input_record().map(|r| r.fields.clone()).unwrap_or_default();
    fields
        .iter()
        .zip(a.fields.iter().zip(&b.fields))
        .filter(|(_, (x, y))| x != y)
        .map(|(f, _)| f.name.clone())
        .collect()
}

/// Settle a member's claims together; each claim's settlement as `settle run` writes its row in
/// JSON Lines (without the line), by id.
fn settle_member(p: &Loaded, claims: Vec<Claim>) -> Vec<(String, Json)> {
    let ids: Vec<String> = claims.iter().map(|c| p.engine.id_of(c).to_string()).collect();
    let rows: Vec<Row> = claims.into_iter().map(Row::Claim).collect();
    let outcomes = io::by_row(&rows, p.engine.settle_batch(&io::claims_of(&rows)));
    let mut out = Vec::new();
    if io::write_jsonl(p.engine.policy(), &rows, &outcomes, &mut out).is_err() {
        return Vec::new();
    }
    let lines = String::from_utf8_lossy(&out);
    ids.into_iter()
        .zip(lines.lines())
        .map(|(id, line)| {
            let mut v: Json = serde_json::from_str(line).unwrap_or(Json::Null);
            if let Some(map) = v.as_object_mut() {
                map.remove("line");
            }
            (id, v)
        })
        .collect()
}

/// The outcome of a change to one member's claims.
struct Change {
    new: Vec<Stored>,
    changed: Vec<Stored>,
    adjustments: Vec<(String, Adjustment)>,
    /// Each new claim's settlement.
    settled: Vec<(String, Json)>,
    /// Each member's year to date after the change (`None`: not known).
    saved: Vec<(String, Option<Saved>)>,
}

impl Change {
    /// What to write: the new and changed claims, `removed` ones, the adjustments.
    fn changes<'a>(&'a self, removed: &'a [String]) -> Changes<'a> {
        Changes {
            new: &self.new,
            changed: &self.changed,
            removed,
            adjustments: &self.adjustments,
            saved: &self.saved,
        }
    }
}

/// Settle `member`'s stored claims, less `removed`, with `incoming`; what changes. A stored
/// claim is settled again under the version it was settled with (when the store keeps its text),
/// an incoming one under `p`, the version served.
fn replay(
    app: &App,
    db: &mut Conn<'_>,
    policy: &str,
    p: &Arc<Loaded>,
    member: &str,
    incoming: &[Incoming],
    removed: Option<&str>,
) -> Result<Change, Problem> {
    let stored = db.member(policy, member).map_err(internal)?;
    let kept: Vec<&Stored> = stored.iter().filter(|s| Some(s.id.as_str()) != removed).collect();
    let mut claims = Vec::with_capacity(kept.len() + incoming.len());
    let mut under: Vec<Arc<Loaded>> = Vec::with_capacity(kept.len() + incoming.len());
    for s in &kept {
        let v = app.version(db, p, &s.version)?;
        let body: Json = serde_json::from_str(&s.body).unwrap_or(Json::Null);
        claims.push(
            parse_claim(&v, &body)
                .map_err(|e| internal(format!("stored claim `{}`: {}", s.id, e.detail)))?
                .claim,
        );
        under.push(v);
    }
    claims.extend(incoming.iter().map(|i| i.claim.clone()));
    under.extend(incoming.iter().map(|_| p.clone()));
    let (settled, saved) = if year::keeps_state(p) {
        year::settle_in_order(p, &under, &claims, member)
    } else if under.iter().all(|v| v.version == p.version) {
        (settle_member(p, claims), None)
    } else {
        (year::settle_in_order(p, &under, &claims, member).0, None)
    };
    let cause =
        incoming.first().map_or_else(|| removed.unwrap_or_default().to_string(), |i| i.id.clone());
    let mut change = Change {
        new: Vec::new(),
        changed: Vec::new(),
        adjustments: Vec::new(),
        settled: Vec::new(),
        saved: vec![(member.to_string(), saved)],
    };
    for (id, settlement) in settled {
        let text = settlement.to_string();
        if let Some((k, old)) = kept.iter().enumerate().find(|(_, s)| s.id == id) {
            if old.settlement != text {
                change.adjustments.push((
                    member.to_string(),
                    Adjustment {
                        id: id.clone(),
                        cause: cause.clone(),
                        before: old.settlement.clone(),
                        after: Some(text.clone()),
                    },
                ));
                let version = under.get(k).map_or_else(|| p.version.clone(), |v| v.version.clone());
                change.changed.push(Stored { settlement: text, version, ..(*old).clone() });
            }
        } else if let Some(inc) = incoming.iter().find(|i| i.id == id) {
            year::refuse_failed(&id, &settlement)?;
            change.new.push(Stored {
                id: id.clone(),
                member: member.to_string(),
                body: inc.body.clone(),
                version: p.version.clone(),
                settlement: text,
            });
            change.settled.push((id, settlement));
        }
    }
    if let Some(gone) = removed.and_then(|r| stored.iter().find(|s| s.id == r)) {
        change.adjustments.push((
            member.to_string(),
            Adjustment { id: gone.id.clone(), cause, before: gone.settlement.clone(), after: None },
        ));
    }
    Ok(change)
}

fn adjustments_json(list: &[(String, Adjustment)]) -> Json {
    Json::Array(
        list.iter()
            .map(|(_, a)| {
                let parse = |s: &str| serde_json::from_str::<Json>(s).unwrap_or(Json::Null);
                json!({
                    "id": a.id,
                    "cause": a.cause,
                    "before": parse(&a.before),
                    "after": a.after.as_deref().map_or(Json::Null, parse),
                })
            })
            .collect(),
    )
}

fn parse_body(body: &Bytes) -> Result<Json, Problem> {
    serde_json::from_slice(body)
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "malformed JSON", e.to_string()))
}

/// Run a request's work on a blocking thread, timing it for the metrics.
///
/// Each request is logged in one line when it ends: method, route, status, latency, and the
/// client, member and claim where known (the work records them in its span).
async fn blocking(
    app: Arc<App>,
    route: &'static str,
    access: (Method, &HeaderMap, Scope),
    work: impl FnOnce(&App) -> Result<(StatusCode, Json), Problem> + Send + 'static,
) -> Response {
    let started = Instant::now();
    let (method, headers, scope) = access;
    let span = tracing::info_span!(
        "request",
        method = %method,
        route,
        client = Empty,
        member = Empty,
        claim = Empty
    );
    let response = match app.authorize(headers, scope) {
        Err(problem) => problem.into_response(),
        Ok(client) => {
            if let Some(c) = &client {
                span.record("client", c.as_str());
            }
            let worker = app.clone();
            let inner = span.clone();
            let result =
                tokio::task::spawn_blocking(move || inner.in_scope(|| work(&worker))).await;
            match result {
                Ok(Ok((status, body))) => (status, axum::Json(body)).into_response(),
                Ok(Err(problem)) => problem.into_response(),
                Err(e) => internal(format!("the request failed: {e}")).into_response(),
            }
        }
    };
    let took = started.elapsed();
    let status = response.status().as_u16();
    app.metrics.record(route, status, took);
    span.in_scope(|| {
        tracing::info!(status, latency_ms = took.as_secs_f64() * 1e3, "request");
    });
    response
}

/// Name the member and the claim a request is about in its log line.
fn log_subject(member: &str, claim: &str) {
    let span = tracing::Span::current();
    span.record("member", member);
    span.record("claim", claim);
}

async fn settle_claim(
    State(app): State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
    UrlPath(policy): UrlPath<String>,
    body: Bytes,
) -> Response {
    blocking(app, "settle", (method, &headers, Scope::Settle), move |app| {
        // One version for the whole request, whatever a reload does meanwhile.
        let served = app.policy(&policy)?;
        let p: &Loaded = &served;
        let incoming = parse_claim(p, &parse_body(&body)?)?;
        log_subject(&incoming.member, &incoming.id);
        let lock = app.member_lock(&policy, &incoming.member);
        let _held = lock.lock().map_err(|_| internal("a request for this member failed".into()))?;
        let member = incoming.member.clone();
        let mut db = app.store.conn().map_err(internal)?;
        db.lock(&policy, std::slice::from_ref(&member)).map_err(internal)?;
        if let Some(stored) = db.claim(&policy, &incoming.id).map_err(internal)? {
            return repeated(p, &stored, &incoming).map(|body| (StatusCode::OK, body));
        }
        let change = match year::start(p, &db.year(&policy, &member).map_err(internal)?, &incoming)
        {
            Some(state) => year::settle_latest(p, state, &incoming)?,
            None => replay(
                app,
                &mut db,
                &policy,
                &served,
                &member,
                std::slice::from_ref(&incoming),
                None,
            )?,
        };
        db.apply(&policy, &change.changes(&[]))
            .map_err(|e| unwritten(app, &policy, p, std::slice::from_ref(&incoming), e))?;
        app.metrics.settled.fetch_add(1, Ordering::Relaxed);
        let settlement = change.settled.into_iter().next().map_or(Json::Null, |(_, s)| s);
        Ok((
            StatusCode::CREATED,
            json!({
                "policy": policy,
                "version": p.version,
                "id": incoming.id,
                "settlement": settlement,
                "adjustments": adjustments_json(&change.adjustments),
            }),
        ))
    })
    .await
}

/// The problem of a change not written: a new claim whose id another member's claim took
/// meanwhile is a conflict naming the fields that differ, as when it was stored before.
fn unwritten(app: &App, policy: &str, p: &Loaded, incoming: &[Incoming], e: Unwritten) -> Problem {
    let id = match e {
        Unwritten::Failed(message) => return internal(message),
        Unwritten::Taken(id) => id,
    };
    let conflict = Problem::new(
        StatusCode::CONFLICT,
        "another claim has this id",
        format!("claim `{id}` is settled for another member"),
    );
    let Some(inc) = incoming.iter().find(|i| i.id == id) else { return conflict };
    match app.store.conn().and_then(|mut db| db.claim(policy, &id)) {
        Ok(Some(stored)) => repeated(p, &stored, inc).err().unwrap_or(conflict),
        _ => conflict,
    }
}

/// A claim sent again: its stored settlement when the content is the same, else a conflict
/// naming the fields that differ.
fn repeated(p: &Loaded, stored: &Stored, incoming: &Incoming) -> Result<Json, Problem> {
    let body: Json = serde_json::from_str(&stored.body).unwrap_or(Json::Null);
    let before = parse_claim(p, &body)?;
    let differ = differing(p, &before.claim, &incoming.claim);
    if !differ.is_empty() {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "another claim has this id",
            format!(
                "claim `{}` was settled with other values of {}",
                incoming.id,
                differ.join(", ")
            ),
        )
        .with("fields", json!(differ)));
    }
    Ok(json!({
        "policy": p.engine.policy().name,
        "version": stored.version,
        "id": stored.id,
        "settlement": serde_json::from_str::<Json>(&stored.settlement).unwrap_or(Json::Null),
        "replayed": true,
    }))
}

async fn settle_batch(
    State(app): State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
    UrlPath(policy): UrlPath<String>,
    body: Bytes,
) -> Response {
    blocking(app, "batch", (method, &headers, Scope::Settle), move |app| {
        // One version for the whole request, whatever a reload does meanwhile.
        let served = app.policy(&policy)?;
        let p: &Loaded = &served;
        let Json::Array(items) = parse_body(&body)? else {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "not a batch",
                "a batch is a JSON array of claims",
            ));
        };
        if items.len() > BATCH_LIMIT {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "batch too large",
                format!("{} claims; at most {BATCH_LIMIT} in one request", items.len()),
            ));
        }
        let mut incoming = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            incoming.push(parse_claim(p, item).map_err(|e| e.with("index", json!(i)))?);
        }
        // Members locked in one order, so that two batches never wait on each other.
        let mut members: Vec<String> = incoming.iter().map(|i| i.member.clone()).collect();
        members.sort();
        members.dedup();
        let locks: Vec<Arc<Mutex<()>>> =
            members.iter().map(|m| app.member_lock(&policy, m)).collect();
        let _held: Vec<_> = locks
            .iter()
            .map(|l| l.lock().map_err(|_| internal("a request for this member failed".into())))
            .collect::<Result<_, _>>()?;
        let mut db = app.store.conn().map_err(internal)?;
        db.lock(&policy, &members).map_err(internal)?;
        let mut results = Vec::new();
        let mut fresh: Vec<Incoming> = Vec::new();
        for inc in incoming {
            match db.claim(&policy, &inc.id).map_err(internal)? {
                Some(stored) => results.push(repeated(p, &stored, &inc)?),
                None if fresh.iter().any(|f| f.id == inc.id) => {
                    return Err(Problem::new(
                        StatusCode::CONFLICT,
                        "an id twice in the batch",
                        format!("claim `{}`", inc.id),
                    ));
                }
                None => fresh.push(inc),
            }
        }
        let mut all = Change {
            new: Vec::new(),
            changed: Vec::new(),
            adjustments: Vec::new(),
            settled: Vec::new(),
            saved: Vec::new(),
        };
        let mut sent: Vec<Incoming> = Vec::new();
        for member in &members {
            let (mine, rest): (Vec<Incoming>, Vec<Incoming>) =
                std::mem::take(&mut fresh).into_iter().partition(|i| &i.member == member);
            fresh = rest;
            if mine.is_empty() {
                continue;
            }
            let c = replay(app, &mut db, &policy, &served, member, &mine, None)?;
            all.new.extend(c.new);
            all.changed.extend(c.changed);
            all.adjustments.extend(c.adjustments);
            all.settled.extend(c.settled);
            all.saved.extend(c.saved);
            sent.extend(mine);
        }
        db.apply(&policy, &all.changes(&[])).map_err(|e| unwritten(app, &policy, p, &sent, e))?;
        app.metrics.settled.fetch_add(all.new.len() as u64, Ordering::Relaxed);
        let settled: Vec<Json> =
            all.settled.into_iter().map(|(id, s)| json!({"id": id, "settlement": s})).collect();
        Ok((
            StatusCode::OK,
            json!({
                "policy": policy,
                "version": p.version,
                "settled": settled,
                "replayed": results,
                "adjustments": adjustments_json(&all.adjustments),
            }),
        ))
    })
    .await
}

async fn reverse_claim(
    State(app): State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
    UrlPath((policy, id)): UrlPath<(String, String)>,
) -> Response {
    blocking(app, "reverse", (method, &headers, Scope::Reverse), move |app| {
        // One version for the whole request, whatever a reload does meanwhile.
        let served = app.policy(&policy)?;
        let not_found = || Problem::new(StatusCode::NOT_FOUND, "no such claim", format!("no claim `{id}` is settled"));
        // The connection of the look-up is given back before the member's lock is waited for.
        let stored = app.store.conn().and_then(|mut db| db.claim(&policy, &id)).map_err(internal)?.ok_or_else(not_found)?;
        log_subject(&stored.member, &id);
        let lock = app.member_lock(&policy, &stored.member);
        let _held = lock.lock().map_err(|_| internal("a request for this member failed".into()))?;
        let mut db = app.store.conn().map_err(internal)?;
        db.lock(&policy, std::slice::from_ref(&stored.member)).map_err(internal)?;
        // Read again under the lock: another request may have reversed it meanwhile.
        db.claim(&policy, &id).map_err(internal)?.ok_or_else(not_found)?;
        let change = replay(app, &mut db, &policy, &served, &stored.member, &[], Some(&id))?;
        db.apply(&policy, &change.changes(std::slice::from_ref(&id))).map_err(|e| unwritten(app, &policy, &served, &[], e))?;
        Ok((StatusCode::OK, json!({"policy": policy, "id": id, "reversed": true, "adjustments": adjustments_json(&change.adjustments)})))
    })
    .await
}

async fn read_claim(
    State(app): State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
    UrlPath((policy, id)): UrlPath<(String, String)>,
) -> Response {
    blocking(app, "read", (method, &headers, Scope::Read), move |app| {
        tracing::Span::current().record("claim", id.as_str());
        app.policy(&policy)?;
        let mut db = app.store.conn().map_err(internal)?;
        let stored = db.claim(&policy, &id).map_err(internal)?.ok_or_else(|| {
            Problem::new(StatusCode::NOT_FOUND, "no such claim", format!("no claim `{id}` is settled"))
        })?;
        Ok((
            StatusCode::OK,
            json!({
                "policy": policy,
                "version": stored.version,
                "id": stored.id,
                "member": stored.member,
                "claim": serde_json::from_str::<Json>(&stored.body).unwrap_or(Json::Null),
                "settlement": serde_json::from_str::<Json>(&stored.settlement).unwrap_or(Json::Null),
            }),
        ))
    })
    .await
}

async fn read_member(
    State(app): State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
    UrlPath((policy, member)): UrlPath<(String, String)>,
) -> Response {
    blocking(app, "member", (method, &headers, Scope::Read), move |app| {
        tracing::Span::current().record("member", member.as_str());
        // One version for the whole request, whatever a reload does meanwhile.
        let served = app.policy(&policy)?;
        let p: &Loaded = &served;
        let mut db = app.store.conn().map_err(internal)?;
        let stored = db.member(&policy, &member).map_err(internal)?;
        let mut claims = Vec::new();
        let mut under = Vec::new();
        for s in &stored {
            let v = app.version(&mut db, &served, &s.version)?;
            let body: Json = serde_json::from_str(&s.body).unwrap_or(Json::Null);
            claims.push(parse_claim(&v, &body)?.claim);
            under.push(v);
        }
        // The year to date after the member's last claim: the claims settled one at a time in
        // the engine's order, each under its version, as a counter would.
        let order = p.engine.member_history(&claims, &member);
        let mut state = settle_runtime::MemberState::default();
        for (i, c) in &order {
            if let Some(v) = under.get(*i) {
                let _ = v.engine.settle_one(c, &mut state);
            }
        }
        let history: Vec<Json> = order
            .iter()
            .filter_map(|(i, _)| stored.get(*i))
            .map(|s| json!({"id": s.id, "version": s.version, "settlement": serde_json::from_str::<Json>(&s.settlement).unwrap_or(Json::Null)}))
            .collect();
        let adjustments = db.adjustments(&policy, &member).map_err(internal)?;
        let adjustments: Vec<(String, Adjustment)> = adjustments.into_iter().map(|a| (member.clone(), a)).collect();
        // The state the member's next claim settles from when it comes after their latest.
        let saved = match db.year(&policy, &member).map_err(internal)? {
            Year::Saved(s) => json!({"version": s.version, "state": serde_json::from_str::<Json>(&s.state).unwrap_or(Json::Null)}),
            Year::Fresh | Year::Unknown => Json::Null,
        };
        Ok((
            StatusCode::OK,
            json!({
                "policy": policy,
                "member": member,
                "state": serde_json::to_value(&state).unwrap_or(Json::Null),
                "saved": saved,
                "claims": history,
                "adjustments": adjustments_json(&adjustments),
            }),
        ))
    })
    .await
}

async fn ready(State(app): State<Arc<App>>) -> Response {
    // The store's clients block (PostgreSQL's runs a runtime of its own, which must not start on
    // one of the service's workers): ask on the blocking pool, as every other store call does.
    let ready = tokio::task::spawn_blocking(move || app.store.ready()).await.unwrap_or(false);
    if ready {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "the store does not answer\n").into_response()
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render()).into_response()
}

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 8] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5];

/// Counters in the Prometheus text format.
#[derive(Debug, Default)]
struct Metrics {
    settled: AtomicU64,
    /// (route, status) -> requests; route -> (bucket counts, sum of seconds, count).
    requests: Mutex<HashMap<(&'static str, u16), u64>>,
    latency: Mutex<HashMap<&'static str, Latency>>,
}

impl Metrics {
    fn record(&self, route: &'static str, status: u16, took: std::time::Duration) {
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((route, status)).or_default() += 1;
        }
        if let Ok(mut l) = self.latency.lock() {
            let entry = l.entry(route).or_insert(([0; BUCKETS.len()], 0.0, 0));
            let secs = took.as_secs_f64();
            for (count, bound) in entry.0.iter_mut().zip(BUCKETS) {
                if secs <= bound {
                    *count += 1;
                }
            }
            entry.1 += secs;
            entry.2 += 1;
        }
    }

    fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(out, "# TYPE settle_settlements_total counter");
        let _ = writeln!(out, "settle_settlements_total {}", self.settled.load(Ordering::Relaxed));
        let _ = writeln!(out, "# TYPE settle_requests_total counter");
        if let Ok(r) = self.requests.lock() {
            let mut rows: Vec<_> = r.iter().collect();
            rows.sort();
            for ((route, status), n) in rows {
                let _ = writeln!(
                    out,
                    "settle_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        let _ = writeln!(out, "# TYPE settle_request_seconds histogram");
        if let Ok(l) = self.latency.lock() {
            let mut rows: Vec<_> = l.iter().collect();
            rows.sort_by_key(|(route, _)| **route);
            for (route, (buckets, sum, count)) in rows {
                for (n, bound) in buckets.iter().zip(BUCKETS) {
                    let _ = writeln!(
                        out,
                        "settle_request_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}"
                    );
                }
                let _ = writeln!(
                    out,
                    "settle_request_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}"
                );
                let _ = writeln!(out, "settle_request_seconds_sum{{route=\"{route}\"}} {sum}");
                let _ = writeln!(out, "settle_request_seconds_count{{route=\"{route}\"}} {count}");
            }
        }
        out
    }
}

async fn reload(State(app): State<Arc<App>>, method: Method, headers: HeaderMap) -> Response {
    blocking(app, "reload", (method, &headers, Scope::Admin), |app| {
        app.reload().map(|body| (StatusCode::OK, body))
    })
    .await
}
