//! `settle serve` as a hospital system calls it, on 127.0.0.1 with a real SQLite store and a real
//! PostgreSQL one (a cluster the tests start): settle, retry, conflict, claims out of order,
//! reversal, reads, hostile bodies, a `kill -9` that loses nothing acknowledged, and two instances
//! settling the same members on one PostgreSQL database.

#![allow(clippy::expect_used, clippy::indexing_slicing, reason = "a test fails by panicking")]

#[path = "serve/hostile.rs"]
mod hostile;
#[path = "serve/pg.rs"]
mod pg;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

const POLICY: &str = "dezhou.employee.inpatient";

/// A running service and its address.
struct Service {
    child: Child,
    addr: String,
}

impl Service {
    fn start(store: &Path) -> Service {
        Service::start_with(store, &[])
    }

    /// The service with more arguments (`--keys FILE`, ...).
    fn start_with(store: &Path, args: &[&Path]) -> Service {
        Service::start_in(Path::new("policies/dezhou"), store, args, Stdio::null())
    }

    /// The service on the policies under `policies`, its standard error (the logs) to `logs`.
    fn start_in(policies: &Path, store: &Path, args: &[&Path], logs: Stdio) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_settle"))
            .args(["serve", "--listen", "127.0.0.1:0", "--policies"])
            .arg(policies)
            .arg("--store")
            .arg(store)
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(logs)
            .spawn()
            .expect("the service starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("a line");
        let addr =
            line.trim().strip_prefix("listening on http://").expect("the address").to_string();
        Service { child, addr }
    }

    /// One request; the status and the body as JSON (or as a string when it is not JSON).
    fn call(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        self.call_as(None, method, path, body)
    }

    /// One request sent with `key` as `Authorization: Bearer KEY`.
    fn call_as(&self, key: Option<&str>, method: &str, path: &str, body: &str) -> (u16, Value) {
        self.try_call_as(key, method, path, body).expect("answered")
    }

    /// One request, or the error of a connection that failed before the whole answer came.
    fn try_call_as(
        &self,
        key: Option<&str>,
        method: &str,
        path: &str,
        body: &str,
    ) -> std::io::Result<(u16, Value)> {
        let mut stream = TcpStream::connect(&self.addr)?;
        let auth = key.map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        stream.write_all(request.as_bytes())?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let cut = || std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        let (head, rest) = response.split_once("\r\n\r\n").ok_or_else(cut)?;
        let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(cut)?;
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            dechunk(rest)
        } else {
            rest.to_string()
        };
        Ok((status, serde_json::from_str(&body).unwrap_or(Value::String(body))))
    }

    fn settle(&self, claim: &Value) -> (u16, Value) {
        self.call("POST", &format!("/v1/policies/{POLICY}/claims"), &claim.to_string())
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&tail[..n]);
        rest = &tail[n + 2..];
    }
    out
}

/// The sample claims as JSON objects, in file order.
fn sample() -> Vec<Value> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/claims/dezhou_employee.csv"),
    )
    .expect("sample");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    lines
        .map(|l| {
            let map: serde_json::Map<String, Value> = header
                .iter()
                .zip(l.split(','))
                .map(|(h, v)| ((*h).to_string(), json!(v)))
                .collect();
            Value::Object(map)
        })
        .collect()
}

/// What `settle run` writes for the sample, as JSON Lines, by claim id (without the line).
fn batch_run() -> std::collections::BTreeMap<String, Value> {
    batch_run_of(Path::new("examples/claims/dezhou_employee.csv"))
}

/// What `settle run` writes for the claims file `claims`, by claim id (without the line).
fn batch_run_of(claims: &Path) -> std::collections::BTreeMap<String, Value> {
    let out = support::settle(&[
        "run",
        "policies/dezhou/employee_inpatient.settle",
        "--claims",
        &claims.to_string_lossy(),
        "--format",
        "jsonl",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).expect("json");
            v.as_object_mut().expect("object").remove("line");
            (v["id"].as_str().expect("id").to_string(), v)
        })
        .collect()
}

fn store(name: &str) -> PathBuf {
    support::scratch("serve-tests", name).join("store.sqlite")
}

/// `members` members with `each` claims apiece, dated through 2021 in no order, as JSON objects;
/// the same for the same `seed`.
fn generated(members: usize, each: usize, seed: u64) -> Vec<Value> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = move |n: u64| {
        state =
            state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let mut out = Vec::new();
    for m in 0..members {
        for k in 0..each {
            let total = 2_000 + next(150_000);
            let self_paid = next(total / 10 + 1);
            let level = ["level1", "level2", "level3"][usize::try_from(next(3)).unwrap_or(0)];
            let prepay = next(self_paid + 1);
            let special = next(total / 4 + 1);
            out.push(json!({
                "id": format!("g{seed}-{m:03}-{k:02}"),
                "member": format!("gm{seed}-{m:03}"),
                "admitted": format!("2021-{:02}-{:02}", 1 + next(12), 1 + next(28)),
                "level": level,
                "total": format!("{total}.{:02}", next(100)),
                "self_paid": format!("{self_paid}.00"),
                "prepay": format!("{prepay}.00"),
                "special_drugs": format!("{special}.00"),
                "rare_disease_drugs": format!("{}.00", next(special + 1)),
                "tcm": format!("{}.00", next(2_000)),
            }));
        }
    }
    out
}

/// Claims written as a CSV claims file in `dir`; its path.
fn claims_file(dir: &Path, claims: &[Value]) -> PathBuf {
    let fields = [
        "id",
        "member",
        "admitted",
        "level",
        "total",
        "self_paid",
        "prepay",
        "special_drugs",
        "rare_disease_drugs",
        "tcm",
    ];
    let mut text = fields.join(",");
    text.push('\n');
    for c in claims {
        let row: Vec<&str> = fields.iter().map(|f| c[*f].as_str().expect("a text field")).collect();
        text.push_str(&row.join(","));
        text.push('\n');
    }
    let path = dir.join("claims.csv");
    std::fs::write(&path, text).expect("claims written");
    path
}

/// Eight clients settle 400 claims of 40 members; the service is killed with SIGKILL once 120
/// are acknowledged, started again, and every claim not acknowledged is sent again. Then every
/// claim is stored exactly once, with the settlement `settle run` gives for the whole file.
#[test]
fn kill_9_under_load_loses_nothing_and_counts_nothing_twice() {
    let path = store("kill-under-load");
    let dir = path.parent().expect("a directory").to_path_buf();
    let claims = generated(40, 10, 11);
    let expected = batch_run_of(&claims_file(&dir, &claims));
    let queue = std::sync::Mutex::new(claims.clone());
    let unacknowledged = std::sync::Mutex::new(Vec::new());
    let acknowledged = std::sync::atomic::AtomicUsize::new(0);
    let started = std::time::Instant::now();
    // Send what is in `queue` from eight clients; a claim whose answer does not come is kept in
    // `unacknowledged`, and its client stops.
    let load = |service: &Service, kill_at: Option<usize>| {
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    loop {
                        let Some(claim) = queue.lock().expect("queue").pop() else { break };
                        let path = format!("/v1/policies/{POLICY}/claims");
                        match service.try_call_as(None, "POST", &path, &claim.to_string()) {
                            Ok((status, body)) => {
                                assert!(status == 201 || status == 200, "{status} {body}");
                                let n =
                                    acknowledged.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                if Some(n + 1) == kill_at {
                                    let killed = Command::new("kill")
                                        .args(["-KILL", &service.child.id().to_string()])
                                        .status()
                                        .expect("kill runs");
                                    assert!(killed.success());
                                }
                            }
                            Err(_) => {
                                unacknowledged.lock().expect("list").push(claim);
                                break;
                            }
                        }
                    }
                });
            }
        });
    };
    let service = Service::start(&path);
    load(&service, Some(120));
    service.kill();
    let lost = std::mem::take(&mut *unacknowledged.lock().expect("list"));
    assert!(!lost.is_empty(), "the service was killed under load");
    assert!(!queue.lock().expect("queue").is_empty(), "the service was killed before the end");
    queue.lock().expect("queue").extend(lost);
    let service = Service::start(&path);
    load(&service, None);
    assert!(unacknowledged.lock().expect("list").is_empty());
    for (id, want) in &expected {
        let (status, body) = service.call("GET", &format!("/v1/policies/{POLICY}/claims/{id}"), "");
        assert_eq!(status, 200, "{id}: {body}");
        assert_eq!(&body["settlement"], want, "claim {id}");
    }
    service.kill();
    let db = rusqlite::Connection::open(&path).expect("the store opens");
    let (rows, ids): (i64, i64) = db
        .query_row("SELECT count(*), count(DISTINCT id) FROM claims", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("counted");
    assert_eq!((rows, ids), (400, 400), "each claim stored exactly once");
    assert!(started.elapsed().as_secs() < 60, "bounded in time: {:?}", started.elapsed());
}

/// The store tests on PostgreSQL, each on its own database of one cluster started for them.
#[test]
fn store_tests_on_postgresql() {
    let dir = support::scratch("serve-tests", "postgres");
    let Some(server) = pg::server(&dir) else { return };
    claims_in_any_order(Path::new(&server.database("order")));
    retries_and_reversals(Path::new(&server.database("retry")));
    batches_and_kill_9(Path::new(&server.database("kill")));
    replays_under_old_versions(Path::new(&server.database("versions")), "versions-postgres");
    saved_state_after_a_reload(Path::new(&server.database("saved")), "saved-postgres");
    one_id_two_members(Path::new(&server.database("taken")));
    bases_kept_with_versions(Path::new(&server.database("bases")), "bases-postgres");
    two_instances_share_members(&server.database("shared"), &dir);
}

/// Two instances on one PostgreSQL database, eight clients sending the claims of three members to
/// either of them in a shuffled order: every claim is stored once,
/// and its settlement is what `settle run` gives for the whole file.
fn two_instances_share_members(url: &str, dir: &Path) {
    let one = Service::start(Path::new(url));
    let two = Service::start(Path::new(url));
    // Readiness asks the store: on PostgreSQL from the blocking pool, not a service worker.
    for service in [&one, &two] {
        assert_eq!(service.call("GET", "/readyz", "").0, 200, "ready on PostgreSQL");
    }
    let mut claims = generated(3, 20, 7);
    let expected = batch_run_of(&claims_file(dir, &claims));
    // Shuffled: three members, eight clients, so a member's claims are mostly in flight on both
    // instances at once.
    claims.sort_by_key(|c| {
        use sha2::Digest;
        sha2::Sha256::digest(c["id"].as_str().expect("id").as_bytes()).to_vec()
    });
    let queue = std::sync::Mutex::new(claims.into_iter().enumerate().collect::<Vec<_>>());
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                loop {
                    let Some((i, claim)) = queue.lock().expect("queue").pop() else { break };
                    let service = if i % 2 == 0 { &one } else { &two };
                    let (status, body) = service.settle(&claim);
                    assert_eq!(status, 201, "{body}");
                }
            });
        }
    });
    for (id, want) in &expected {
        let (status, body) = one.call("GET", &format!("/v1/policies/{POLICY}/claims/{id}"), "");
        assert_eq!(status, 200, "{id}: {body}");
        assert_eq!(&body["settlement"], want, "claim {id}");
    }
}

/// Claims sent in reverse order, one at a time: each late-dated claim is adjusted as earlier ones
/// arrive, and at the end every stored settlement is what `settle run` gives for the file.
#[test]
fn claims_in_any_order_end_where_the_batch_run_does() {
    claims_in_any_order(&store("order"));
}

fn claims_in_any_order(store: &Path) {
    let service = Service::start(store);
    let mut claims = sample();
    claims.reverse();
    let mut adjusted = 0;
    for claim in &claims {
        let (status, body) = service.settle(claim);
        assert_eq!(status, 201, "{body}");
        adjusted += body["adjustments"].as_array().expect("adjustments").len();
    }
    assert!(adjusted > 0, "earlier-dated claims adjust later ones");
    let expected = batch_run();
    for (id, want) in &expected {
        let (status, body) = service.call("GET", &format!("/v1/policies/{POLICY}/claims/{id}"), "");
        assert_eq!(status, 200);
        assert_eq!(&body["settlement"], want, "claim {id}");
    }
    let (_, member) = service.call("GET", &format!("/v1/policies/{POLICY}/members/m03"), "");
    assert!(member["claims"].as_array().expect("history").len() >= 3, "{member}");
    assert!(member["state"]["year_start"].is_string(), "{member}");
}

/// The claim id is the idempotency key: the same claim again returns what was stored, other
/// values under the same id are a conflict naming them; a reversal adjusts the member's later
/// claims; the metrics count it all.
#[test]
fn retries_conflicts_and_reversals() {
    retries_and_reversals(&store("retry"));
}

fn retries_and_reversals(store: &Path) {
    let service = Service::start(store);
    let claims = sample();
    let m01: Vec<&Value> = claims.iter().filter(|c| c["member"] == "m01").collect();
    assert!(m01.len() >= 2);
    let (status, first) = service.settle(m01[0]);
    assert_eq!(status, 201, "{first}");
    let (status, again) = service.settle(m01[0]);
    assert_eq!(status, 200);
    assert_eq!(again["replayed"], true);
    assert_eq!(again["settlement"], first["settlement"]);
    let mut changed = m01[0].clone();
    changed["total"] = json!("99999.99");
    changed["level"] = json!("level1");
    let (status, conflict) = service.settle(&changed);
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["fields"], json!(["level", "total"]));
    assert_eq!(service.settle(m01[1]).0, 201);
    let id = m01[0]["id"].as_str().expect("id");
    let (status, reversed) =
        service.call("DELETE", &format!("/v1/policies/{POLICY}/claims/{id}"), "");
    assert_eq!(status, 200, "{reversed}");
    let adjustments = reversed["adjustments"].as_array().expect("adjustments");
    assert!(adjustments.iter().any(|a| a["id"] == json!(id) && a["after"].is_null()));
    assert!(
        adjustments.iter().any(|a| a["id"] == m01[1]["id"]),
        "the later claim moves: {reversed}"
    );
    assert_eq!(service.call("GET", &format!("/v1/policies/{POLICY}/claims/{id}"), "").0, 404);
    let (status, metrics) = service.call("GET", "/metrics", "");
    assert_eq!(status, 200);
    let text = metrics.as_str().expect("text");
    assert!(text.contains("settle_requests_total{route=\"settle\",status=\"409\"} 1"), "{text}");
    assert!(text.contains("settle_settlements_total 2"), "{text}");
}

/// Hostile requests are 4xx problem documents naming what is wrong, and the service stays up.
#[test]
fn hostile_requests_are_problems_not_failures() {
    let service = Service::start(&store("hostile"));
    let claims = sample();
    let path = format!("/v1/policies/{POLICY}/claims");
    let mut missing = claims[0].clone();
    missing.as_object_mut().expect("object").remove("total");
    let mut wrong = claims[0].clone();
    wrong["level"] = json!("level9");
    let mut early = claims[0].clone();
    early["admitted"] = json!("1990-01-01");
    let cases: Vec<(String, String, u16, Option<&str>)> = vec![
        (path.clone(), "{not json".into(), 400, None),
        (path.clone(), "[1, 2]".into(), 400, None),
        (path.clone(), missing.to_string(), 422, Some("total")),
        (path.clone(), wrong.to_string(), 422, Some("level")),
        (path.clone(), early.to_string(), 422, None),
        ("/v1/policies/nope/claims".into(), claims[0].to_string(), 404, None),
        (format!("{path}/batch"), "{}".into(), 400, None),
        (path.clone(), "x".repeat(2 << 20), 413, None),
    ];
    for (at, body, status, field) in cases {
        let (got, problem) = service.call("POST", &at, &body);
        assert_eq!(got, status, "{at} {:.60}: {problem}", body);
        if status != 413 {
            assert_eq!(problem["status"], status, "{problem}");
            assert!(problem["detail"].is_string(), "{problem}");
        }
        if let Some(f) = field {
            assert_eq!(problem["field"], f, "{problem}");
        }
    }
    assert_eq!(service.settle(&claims[0]).0, 201, "the service is still up");
    assert_eq!(service.call("GET", "/readyz", "").0, 200);
}

/// Generated hostile bodies (`tests/serve/hostile.rs`): each a 4xx problem document naming the
/// field to blame, never a 5xx, and the service stays up.
#[test]
fn hostile_bodies_generated_are_problems_naming_the_field() {
    let service = Service::start(&store("hostile-generated"));
    let claim = sample()[0].clone();
    let one = format!("/v1/policies/{POLICY}/claims");
    let batch = format!("{one}/batch");
    let checked = hostile::check(claim.clone(), 160, |is_batch, body| {
        service.call("POST", if is_batch { &batch } else { &one }, body)
    });
    assert!(checked.is_ok(), "{}", checked.err().unwrap_or_default());
    assert_eq!(service.call("GET", "/healthz", "").0, 200);
    assert_eq!(service.settle(&claim).0, 201, "the service is still up");
}

/// A batch is all or nothing; a service killed with SIGKILL keeps every acknowledged claim.
#[test]
fn batches_are_whole_and_acknowledged_claims_survive_kill_9() {
    batches_and_kill_9(&store("kill"));
}

fn batches_and_kill_9(path: &Path) {
    let service = Service::start(path);
    let claims = sample();
    let batch = format!("/v1/policies/{POLICY}/claims/batch");
    let mut bad = claims.clone();
    bad[5]["total"] = json!("12.345");
    let (status, problem) = service.call("POST", &batch, &Value::Array(bad).to_string());
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["index"], 5, "{problem}");
    assert_eq!(
        service
            .call(
                "GET",
                &format!("/v1/policies/{POLICY}/claims/{}", claims[0]["id"].as_str().expect("id")),
                ""
            )
            .0,
        404,
        "nothing of a refused batch is stored"
    );
    let (half, rest) = claims.split_at(7);
    let (status, body) = service.call("POST", &batch, &Value::Array(half.to_vec()).to_string());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["settled"].as_array().expect("settled").len(), 7);
    service.kill();
    let service = Service::start(path);
    for c in rest {
        assert_eq!(service.settle(c).0, 201);
    }
    // Sent again after the restart: stored once, as acknowledged.
    let (status, body) = service.call("POST", &batch, &Value::Array(half.to_vec()).to_string());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["replayed"].as_array().expect("replayed").len(), 7);
    let expected = batch_run();
    for (id, want) in &expected {
        let (_, body) = service.call("GET", &format!("/v1/policies/{POLICY}/claims/{id}"), "");
        assert_eq!(&body["settlement"], want, "claim {id}");
    }
}

fn sha256_hex(key: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// With `--keys`, a request needs a client's key with the route's scope: none or a wrong one is
/// 401, a valid one outside its scope 403, both problem documents; health and metrics stay open.
#[test]
fn keys_and_scopes() {
    let path = store("keys");
    let keys = path.with_file_name("keys.txt");
    let (counter, bureau) = ("counter-key-0001", "bureau-key-00002");
    std::fs::write(
        &keys,
        format!(
            "# client scopes sha256\ncounter settle,read {}\nbureau reverse,read,admin {}\n",
            sha256_hex(counter),
            sha256_hex(bureau)
        ),
    )
    .expect("keys written");
    let service = Service::start_with(&path, &[Path::new("--keys"), &keys]);
    let claim = sample()[0].clone();
    let id = claim["id"].as_str().expect("id").to_string();
    let claims = format!("/v1/policies/{POLICY}/claims");
    let one = format!("{claims}/{id}");
    let body = claim.to_string();
    // A wrong key of the right length, no key at all, a key without `Bearer`.
    let wrong = "counter-key-0002";
    assert_eq!(wrong.len(), counter.len());
    for key in [None, Some(wrong), Some("")] {
        let (status, problem) = service.call_as(key, "POST", &claims, &body);
        assert_eq!(status, 401, "{key:?}: {problem}");
        assert_eq!(problem["status"], 401, "{problem}");
    }
    assert_eq!(service.call_as(None, "GET", &one, "").0, 401);
    // Each scope: allowed where granted, 403 elsewhere.
    let (status, problem) = service.call_as(Some(bureau), "POST", &claims, &body);
    assert_eq!(status, 403, "{problem}");
    assert_eq!(problem["scope"], "settle", "{problem}");
    let (status, settled) = service.call_as(Some(counter), "POST", &claims, &body);
    assert_eq!(status, 201, "{settled}");
    assert_eq!(service.call_as(Some(counter), "GET", &one, "").0, 200);
    assert_eq!(service.call_as(Some(bureau), "GET", &one, "").0, 200);
    let (status, problem) = service.call_as(Some(counter), "DELETE", &one, "");
    assert_eq!(status, 403, "{problem}");
    assert_eq!(problem["scope"], "reverse", "{problem}");
    assert_eq!(service.call_as(Some(counter), "GET", &one, "").0, 200, "not reversed");
    assert_eq!(service.call_as(Some(bureau), "DELETE", &one, "").0, 200);
    let (status, problem) = service.call_as(Some(counter), "POST", "/v1/admin/reload", "");
    assert_eq!(status, 403, "{problem}");
    assert_eq!(problem["scope"], "admin", "{problem}");
    let (status, reloaded) = service.call_as(Some(bureau), "POST", "/v1/admin/reload", "");
    assert_eq!(status, 200, "{reloaded}");
    for open in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(service.call("GET", open, "").0, 200, "{open}");
    }
}

/// Without `--keys` the service refuses to listen beyond the loopback address.
#[test]
fn without_keys_only_loopback() {
    let out = Command::new(env!("CARGO_BIN_EXE_settle"))
        .args(["serve", "--policies", "policies/dezhou", "--listen", "0.0.0.0:0", "--store"])
        .arg(store("open"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loopback"), "{err}");
}

/// A reload (the endpoint or SIGHUP) serves the policy file as it now is, under its new version;
/// a file that no longer checks keeps the version served, and the answer carries its diagnostics.
#[test]
fn reload_swaps_versions_and_keeps_the_old_on_errors() {
    let path = store("reload");
    let dir = path.with_file_name("policies");
    std::fs::create_dir_all(&dir).expect("policies directory");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/dezhou");
    for name in ["employee_inpatient.settle", "resident_inpatient.settle"] {
        std::fs::copy(source.join(name), dir.join(name)).expect("copied");
    }
    let file = dir.join("employee_inpatient.settle");
    let text = std::fs::read_to_string(&file).expect("policy");
    let log = path.with_file_name("service.log");
    let logs = std::fs::File::create(&log).expect("log file");
    let service = Service::start_in(&dir, &path, &[], Stdio::from(logs));
    let claims = sample();
    let (status, first) = service.settle(&claims[0]);
    assert_eq!(status, 201, "{first}");
    let old = first["version"].as_str().expect("version").to_string();

    std::fs::write(&file, format!("{text}\n// Reloaded.\n")).expect("edited");
    let (status, reloaded) = service.call("POST", "/v1/admin/reload", "");
    assert_eq!(status, 200, "{reloaded}");
    let new = reloaded["policies"][POLICY].as_str().expect("version").to_string();
    assert_ne!(new, old, "{reloaded}");
    let (status, second) = service.settle(&claims[1]);
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["version"], new.as_str(), "settled under the new version");
    let (_, stored) = service.call(
        "GET",
        &format!("/v1/policies/{POLICY}/claims/{}", claims[0]["id"].as_str().expect("id")),
        "",
    );
    assert_eq!(stored["version"], old.as_str(), "the first claim keeps its version");

    std::fs::write(&file, format!("{text}\n// Reloaded on a hangup.\n")).expect("edited");
    let hup = Command::new("kill")
        .args(["-HUP", &service.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(hup.success());
    let waited = std::time::Instant::now();
    while !std::fs::read_to_string(&log).expect("logs").contains("policies reloaded") {
        assert!(waited.elapsed().as_secs() < 10, "no reload logged after SIGHUP");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (status, hung) = service.settle(&claims[3]);
    assert_eq!(status, 201, "{hung}");
    let new = hung["version"].as_str().expect("version").to_string();
    assert!(new != old && new != second["version"], "a third version: {hung}");

    std::fs::write(&file, format!("{text}\nthis does not parse\n")).expect("broken");
    let (status, problem) = service.call("POST", "/v1/admin/reload", "");
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"].as_str().expect("diagnostics").contains("employee_inpatient"),
        "{problem}"
    );
    assert_eq!(problem["policies"][POLICY], new.as_str(), "{problem}");
    let (status, third) = service.settle(&claims[2]);
    assert_eq!(status, 201, "{third}");
    assert_eq!(third["version"], new.as_str(), "the broken file is not served");
}

/// A claim settled under one version replays under it after a reload: a claim dated before it,
/// settled under the new version, adjusts it with the old version's rules, and it keeps its
/// version; the new claim is settled under the new one.
#[test]
fn replays_settle_claims_under_the_versions_they_were_settled_with() {
    replays_under_old_versions(&store("versions"), "versions-sqlite");
}

/// The test above on `store`, its policies and claims files in the scratch directory `scratch`.
fn replays_under_old_versions(store: &Path, scratch: &str) {
    let dir = support::scratch("serve-tests", scratch);
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).expect("policies directory");
    let source =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/dezhou/employee_inpatient.settle");
    let text = std::fs::read_to_string(&source).expect("policy");
    let file = policies.join("employee_inpatient.settle");
    std::fs::write(&file, &text).expect("copied");
    let service = Service::start_in(&policies, store, &[], Stdio::null());
    let claims = sample();
    // m01: c001 (February, level 2) and c003 (May, level 3).
    let (c001, c003) = (&claims[0], &claims[2]);
    assert_eq!((c001["id"].as_str(), c003["id"].as_str()), (Some("c001"), Some("c003")));
    let (status, later) = service.settle(c003);
    assert_eq!(status, 201, "{later}");
    let old = later["version"].as_str().expect("version").to_string();
    // The new version pays level-3 hospitals 70 % instead of 80 %: c001 (level 2) settles alike
    // under both, c003 does not.
    let changed = text.replace("level3: 80% assumed", "level3: 70% assumed");
    assert_ne!(changed, text);
    std::fs::write(&file, changed).expect("edited");
    let (status, reloaded) = service.call("POST", "/v1/admin/reload", "");
    assert_eq!(status, 200, "{reloaded}");
    let (status, earlier) = service.settle(c001);
    assert_eq!(status, 201, "{earlier}");
    let new = earlier["version"].as_str().expect("version").to_string();
    assert_ne!(new, old);
    let adjustments = earlier["adjustments"].as_array().expect("adjustments");
    assert!(adjustments.iter().any(|a| a["id"] == "c003"), "c003 replayed: {earlier}");
    // Both as `settle run` gives them under the first version, which settles c001 as the new one.
    let expected = batch_run_of(&claims_file(&dir, &[c001.clone(), c003.clone()]));
    let (_, stored) = service.call("GET", &format!("/v1/policies/{POLICY}/claims/c003"), "");
    assert_eq!(stored["version"], old.as_str(), "c003 keeps its version: {stored}");
    assert_eq!(stored["settlement"], expected["c003"], "c003 under its own version");
    assert_eq!(earlier["settlement"], expected["c001"]);
    // A restart forgets the versions it read, not the store: reversing c001 replays c003 under
    // the first version again.
    drop(service);
    let service = Service::start_in(&policies, store, &[], Stdio::null());
    let (status, reversed) =
        service.call("DELETE", &format!("/v1/policies/{POLICY}/claims/c001"), "");
    assert_eq!(status, 200, "{reversed}");
    let alone = batch_run_of(&claims_file(&dir, std::slice::from_ref(c003)));
    let (_, stored) = service.call("GET", &format!("/v1/policies/{POLICY}/claims/c003"), "");
    assert_eq!(stored["version"], old.as_str(), "{stored}");
    assert_eq!(stored["settlement"], alone["c003"], "c003 alone, under its own version");
}

/// A member's claims sent in date order, the policy changed and reloaded half-way: the state the
/// service saved after the last claim (from which the next one settles without a replay) is the
/// year to date a replay of every stored claim under its version ends with.
#[test]
fn the_saved_state_is_the_replayed_one_after_a_reload() {
    saved_state_after_a_reload(&store("saved"), "saved-sqlite");
}

/// The test above on `store`, its policies in the scratch directory `scratch`.
fn saved_state_after_a_reload(store: &Path, scratch: &str) {
    let dir = support::scratch("serve-tests", scratch);
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).expect("policies directory");
    let source =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/dezhou/employee_inpatient.settle");
    let text = std::fs::read_to_string(&source).expect("policy");
    let file = policies.join("employee_inpatient.settle");
    std::fs::write(&file, &text).expect("copied");
    let service = Service::start_in(&policies, store, &[], Stdio::null());
    let mut claims = generated(1, 8, 23);
    claims.sort_by_key(|c| (c["admitted"].to_string(), c["id"].to_string()));
    let member = claims[0]["member"].as_str().expect("member").to_string();
    let read = |service: &Service| {
        let (status, body) =
            service.call("GET", &format!("/v1/policies/{POLICY}/members/{member}"), "");
        assert_eq!(status, 200, "{body}");
        body
    };
    for claim in &claims[..4] {
        let (status, body) = service.settle(claim);
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["adjustments"], json!([]), "in date order: {body}");
    }
    let before = read(&service);
    assert!(before["saved"]["state"]["year_start"].is_string(), "{before}");
    assert_eq!(before["saved"]["state"], before["state"], "{before}");
    let changed = text.replace("level3: 80% assumed", "level3: 70% assumed");
    assert_ne!(changed, text);
    std::fs::write(&file, changed).expect("edited");
    let (status, reloaded) = service.call("POST", "/v1/admin/reload", "");
    assert_eq!(status, 200, "{reloaded}");
    let new = reloaded["policies"][POLICY].as_str().expect("version").to_string();
    for claim in &claims[4..] {
        let (status, body) = service.settle(claim);
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["version"], new.as_str());
    }
    let after = read(&service);
    assert_eq!(after["saved"]["version"], new.as_str(), "{after}");
    assert_ne!(after["state"], before["state"], "the year went on");
    assert_eq!(after["saved"]["state"], after["state"], "saved and replayed agree: {after}");
}

/// The same claim id sent for two members, one after the other and both at once: one is
/// settled, the other is a conflict naming the member, on either store.
#[test]
fn one_id_for_two_members_is_a_conflict() {
    one_id_two_members(&store("taken"));
}

fn one_id_two_members(store: &Path) {
    let service = Service::start(store);
    let claims = generated(2, 12, 31);
    let (first, second) = claims.split_at(12);
    let twin = |k: usize| {
        let mut other = second[k].clone();
        other["id"] = first[k]["id"].clone();
        other
    };
    let (status, body) = service.settle(&first[0]);
    assert_eq!(status, 201, "{body}");
    let (status, conflict) = service.settle(&twin(0));
    assert_eq!(status, 409, "{conflict}");
    assert!(
        conflict["fields"].as_array().expect("fields").contains(&json!("member")),
        "{conflict}"
    );
    for (k, claim) in first.iter().enumerate().skip(1) {
        let answers: Vec<(u16, Value)> = std::thread::scope(|s| {
            let one = s.spawn(|| service.settle(claim));
            let two = s.spawn(|| service.settle(&twin(k)));
            vec![one.join().expect("answered"), two.join().expect("answered")]
        });
        let mut statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "{answers:?}");
    }
}

/// A policy that extends a base, the base changed and reloaded: the claims settled before keep
/// the base they were settled with, and a reversal replays them under it.
#[test]
fn a_reversal_replays_under_the_base_a_claim_was_settled_with() {
    bases_kept_with_versions(&store("bases"), "bases-sqlite");
}

fn bases_kept_with_versions(store: &Path, scratch: &str) {
    let dir = support::scratch("serve-tests", scratch);
    let (bases, policies) = (dir.join("base"), dir.join("policies"));
    std::fs::create_dir_all(&bases).expect("base directory");
    std::fs::create_dir_all(&policies).expect("policies directory");
    let source =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/dezhou/employee_inpatient.settle");
    let text = std::fs::read_to_string(&source)
        .expect("policy")
        .replace("policy dezhou.employee.inpatient ", "policy dezhou.employee.base ");
    let base = bases.join("base.settle");
    std::fs::write(&base, &text).expect("base written");
    std::fs::write(
        policies.join("inpatient.settle"),
        format!("policy {POLICY} \"extends a base\"\nextends \"../base/base.settle\"\n"),
    )
    .expect("policy written");
    let service = Service::start_in(&policies, store, &[], Stdio::null());
    let claims = sample();
    // m01: c001 (February, level 2) and c003 (May, level 3).
    let (c001, c003) = (&claims[0], &claims[2]);
    assert_eq!((c001["id"].as_str(), c003["id"].as_str()), (Some("c001"), Some("c003")));
    let (status, first) = service.settle(c001);
    assert_eq!(status, 201, "{first}");
    let (status, later) = service.settle(c003);
    assert_eq!(status, 201, "{later}");
    let old = later["version"].as_str().expect("version").to_string();
    let changed = text.replace("level3: 80% assumed", "level3: 70% assumed");
    assert_ne!(changed, text);
    std::fs::write(&base, changed).expect("base edited");
    let (status, reloaded) = service.call("POST", "/v1/admin/reload", "");
    assert_eq!(status, 200, "{reloaded}");
    assert_ne!(reloaded["policies"][POLICY], old.as_str(), "a changed base is a new version");
    // A restart forgets the engines it built: the old version is read back from the store.
    drop(service);
    let service = Service::start_in(&policies, store, &[], Stdio::null());
    let (status, reversed) =
        service.call("DELETE", &format!("/v1/policies/{POLICY}/claims/c001"), "");
    assert_eq!(status, 200, "{reversed}");
    let alone = batch_run_of(&claims_file(&dir, std::slice::from_ref(c003)));
    let (_, stored) = service.call("GET", &format!("/v1/policies/{POLICY}/claims/c003"), "");
    assert_eq!(stored["version"], old.as_str(), "{stored}");
    assert_eq!(
        stored["settlement"], alone["c003"],
        "c003 alone, under the base it was settled with"
    );
}

/// With `--log-json`, each request is one JSON line on standard error naming its method, route,
/// status, latency, member and claim.
#[test]
fn one_json_log_line_per_request() {
    let path = store("logs");
    let log = path.with_file_name("service.log");
    let file = std::fs::File::create(&log).expect("log file");
    let service = Service::start_in(
        Path::new("policies/dezhou"),
        &path,
        &[Path::new("--log-json")],
        Stdio::from(file),
    );
    let claim = sample()[0].clone();
    assert_eq!(service.settle(&claim).0, 201);
    assert_eq!(service.call("POST", &format!("/v1/policies/{POLICY}/claims"), "{").0, 400);
    service.kill();
    let text = std::fs::read_to_string(&log).expect("logs");
    let requests: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 2, "{text}");
    let settled = &requests[0];
    assert_eq!(settled["fields"]["status"], 201, "{settled}");
    assert!(settled["fields"]["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{settled}");
    assert_eq!(settled["span"]["method"], "POST", "{settled}");
    assert_eq!(settled["span"]["route"], "settle", "{settled}");
    assert_eq!(settled["span"]["member"], claim["member"], "{settled}");
    assert_eq!(settled["span"]["claim"], claim["id"], "{settled}");
    assert_eq!(requests[1]["fields"]["status"], 400, "{}", requests[1]);
}
