//! `settle lsp` as editors run it, over standard input and output: the diagnostics it publishes
//! for a file are those `settle check --format json` reports for the same file.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking"
)]

mod support;

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use lsp_server::{Message, Notification, Request, RequestId};
use lsp_types::notification::{
    DidCloseTextDocument, DidOpenTextDocument, Exit, Initialized, Notification as _,
    PublishDiagnostics,
};
use lsp_types::request::{DocumentSymbolRequest, Initialize, Request as _, Shutdown};
use lsp_types::{
    Diagnostic, DidCloseTextDocumentParams, DidOpenTextDocumentParams, DocumentSymbolParams,
    InitializeParams, InitializedParams, NumberOrString, PublishDiagnosticsParams,
    TextDocumentIdentifier, TextDocumentItem, Url,
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// `settle lsp` running as a child process.
struct Server {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Message>,
    next_id: i32,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_settle"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("settle lsp starts");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (send, messages) = channel();
        std::thread::spawn(move || {
            while let Ok(Some(message)) = Message::read(&mut stdout) {
                if send.send(message).is_err() {
                    break;
                }
            }
        });
        let mut server = Server { child, stdin, messages, next_id: 0 };
        server.request(Initialize::METHOD, InitializeParams::default());
        server.notify(Initialized::METHOD, InitializedParams {});
        server
    }

    fn send(&mut self, message: Message) {
        message.write(&mut self.stdin).expect("the server reads");
    }

    fn notify(&mut self, method: &str, params: impl serde::Serialize) {
        self.send(Notification::new(method.into(), params).into());
    }

    /// Send a request and wait for its answer; return the notifications received meanwhile.
    fn request(&mut self, method: &str, params: impl serde::Serialize) -> Vec<Notification> {
        self.next_id += 1;
        let id = RequestId::from(self.next_id);
        self.send(Request::new(id.clone(), method.into(), params).into());
        let mut notifications = Vec::new();
        loop {
            match self.messages.recv_timeout(WAIT).expect("the server answers") {
                Message::Response(r) if r.id == id => return notifications,
                Message::Notification(n) => notifications.push(n),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// Open a file and return every diagnostic published because of it, by URI: the last
    /// publication of each URI.
    fn open(&mut self, path: &Path) -> BTreeMap<Url, Vec<Diagnostic>> {
        let uri = Url::from_file_path(path).expect("an absolute path");
        let text = std::fs::read_to_string(path).expect("the file");
        self.notify(
            DidOpenTextDocument::METHOD,
            DidOpenTextDocumentParams {
                text_document: TextDocumentItem {
                    uri: uri.clone(),
                    language_id: "settle".into(),
                    version: 1,
                    text,
                },
            },
        );
        let published = self.barrier(&uri);
        let mut out = BTreeMap::new();
        for n in published {
            if n.method == PublishDiagnostics::METHOD {
                let p: PublishDiagnosticsParams =
                    serde_json::from_value(n.params).expect("diagnostics");
                out.insert(p.uri, p.diagnostics);
            }
        }
        out
    }

    /// Close a file; return what was published because of it.
    fn close(&mut self, path: &Path) -> Vec<Notification> {
        let uri = Url::from_file_path(path).expect("an absolute path");
        let params = DidCloseTextDocumentParams {
            text_document: TextDocumentIdentifier { uri: uri.clone() },
        };
        self.notify(DidCloseTextDocument::METHOD, params);
        self.barrier(&uri)
    }

    /// A request answered after every notification sent before it.
    fn barrier(&mut self, uri: &Url) -> Vec<Notification> {
        let params = DocumentSymbolParams {
            text_document: TextDocumentIdentifier { uri: uri.clone() },
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        };
        self.request(DocumentSymbolRequest::METHOD, params)
    }

    fn stop(mut self) {
        self.request(Shutdown::METHOD, ());
        self.notify(Exit::METHOD, ());
        let status = self.child.wait().expect("the server exits");
        assert!(status.success(), "settle lsp exits with 0 after shutdown and exit: {status}");
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `settle check --format json` of one file: its problems by the URI of the file each is in.
fn check(path: &Path) -> BTreeMap<Url, Vec<Value>> {
    let out = Command::new(env!("CARGO_BIN_EXE_settle"))
        .args(["check", "--format", "json"])
        .arg(path)
        .output()
        .expect("settle check runs");
    let report: Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
    let mut by_file: BTreeMap<Url, Vec<Value>> = BTreeMap::new();
    for problem in report["files"][0]["problems"].as_array().expect("problems") {
        let file = Path::new(problem["file"].as_str().expect("a file"));
        let file = std::fs::canonicalize(file).expect("the file exists");
        let uri = Url::from_file_path(&file).expect("an absolute path");
        let text = std::fs::read_to_string(&file).expect("the file");
        by_file.entry(uri).or_default().push(expected(problem, &text));
    }
    by_file
}

/// What the server must publish for a problem of `settle check --format json`: lines and
/// character columns from 1 become lines from 0 and UTF-16 columns.
fn expected(problem: &Value, text: &str) -> Value {
    let position = |line: &Value, column: &Value| {
        let line = line.as_u64().expect("a line") as usize - 1;
        let column = column.as_u64().expect("a column") as usize - 1;
        let text_line = text.split('\n').nth(line).unwrap_or("");
        let units: usize = text_line.chars().take(column).map(char::len_utf16).sum();
        json!({ "line": line, "character": units })
    };
    let range = |r: &Value| {
        json!({
            "start": position(&r["line"], &r["column"]),
            "end": position(&r["end_line"], &r["end_column"]),
        })
    };
    let message = match problem["help"].as_str() {
        Some(help) => format!("{}\nhelp: {help}", problem["message"].as_str().expect("a message")),
        None => problem["message"].as_str().expect("a message").to_string(),
    };
    let labels: Vec<Value> = problem["labels"]
        .as_array()
        .expect("labels")
        .iter()
        .filter(|l| l["text"] != "")
        .map(|l| json!({ "range": range(&l["range"]), "message": l["text"] }))
        .collect();
    json!({
        "range": range(&problem["range"]),
        "severity": if problem["severity"] == "error" { 1 } else { 2 },
        "code": problem["code"],
        "message": message,
        "labels": labels,
    })
}

/// A published diagnostic in the shape of [`expected`]: related information in its own file.
fn shape(uri: &Url, d: &Diagnostic) -> Value {
    let labels: Vec<Value> = d
        .related_information
        .iter()
        .flatten()
        .filter(|r| r.location.uri == *uri)
        .map(|r| json!({ "range": r.location.range, "message": r.message }))
        .collect();
    let code = match &d.code {
        Some(NumberOrString::String(c)) => c.clone(),
        other => panic!("a string code, not {other:?}"),
    };
    json!({
        "range": d.range,
        "severity": d.severity,
        "code": code,
        "message": d.message,
        "labels": labels,
    })
}

fn scratch(name: &str) -> PathBuf {
    support::scratch("lsp-tests", name)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("directory");
    std::fs::write(&path, text).expect("write");
    path
}

/// Broken policies, each mistake of a kind: types, names, syntax, warnings, columns after
/// Chinese text, a broken base read through `extends`, a base that cannot be read.
fn broken_files(dir: &Path) -> Vec<PathBuf> {
    let dezhou = std::fs::read_to_string(repo().join("policies/dezhou/employee_inpatient.settle"))
        .expect("policy");
    let base = std::fs::read_to_string(repo().join("policies/shandong/resident_base.settle"))
        .expect("policy");
    let city =
        std::fs::read_to_string(repo().join("policies/weihai/resident.settle")).expect("policy");
    vec![
        write(
            dir,
            "types.settle",
            "policy broken.example \"示例：类型错误\"
input claim { id: text, member: text, date: date, total: money }
param ratio: rate = 85
param 奖励: rate = 5%
stage basic (pay: money) {
    pay = claim.total * ratoi + claim.total
}
balance claim.total = basic.pay
",
        ),
        write(
            dir,
            "syntax.settle",
            "policy syntax.example
input claim { id: text, member: text, date: date, total: money
let 说明 = \"未结束
rule due: money
    default 1_000 +
    when claim.total > 0 -> 0
",
        ),
        write(
            dir,
            "dezhou_broken.settle",
            &dezhou
                .replace("default deductible[claim.level]", "default deductable[claim.level]")
                .replace("from 2021-07-01 assumed 850_000", "from 2021-07-01 assumed 850_000%"),
        ),
        write(
            dir,
            "shandong/resident_base.settle",
            &base.replace(
                "yearly basic_paid = sum(basic.pay)",
                "yearly basic_paid = sum(basic.pya)",
            ),
        ),
        write(
            dir,
            "weihai/resident.settle",
            &city.replace(
                "when claim.referral == downward -> 0",
                "when claim.referral == down -> 0",
            ),
        ),
        write(dir, "orphan.settle", "policy orphan\nextends \"../nowhere/base.settle\"\n"),
    ]
}

#[test]
fn published_diagnostics_are_settle_check_json_for_every_file() {
    let dir = scratch("equal");
    let mut files: Vec<PathBuf> = Vec::new();
    for folder in ["policies", "examples"] {
        for entry in walk(&repo().join(folder)) {
            if entry.extension().is_some_and(|e| e == "settle") {
                files.push(entry);
            }
        }
    }
    let clean = files.len();
    files.extend(broken_files(&dir));
    let mut server = Server::start();
    let mut problems = 0;
    for path in &files {
        let published = server.open(path);
        let expected = check(path);
        let own = Url::from_file_path(path).expect("an absolute path");
        assert!(published.contains_key(&own), "{}: diagnostics published", path.display());
        for (uri, diagnostics) in &published {
            let got: Vec<Value> = diagnostics.iter().map(|d| shape(uri, d)).collect();
            let want = expected.get(uri).cloned().unwrap_or_default();
            assert_eq!(got, want, "{} (published for {uri})", path.display());
            problems += got.len();
        }
        for uri in expected.keys() {
            assert!(published.contains_key(uri), "{}: nothing published for {uri}", path.display());
        }
        server.close(path);
    }
    server.stop();
    assert!(clean >= 8, "every policy and example: {clean}");
    assert!(problems >= 12, "the broken files' problems compared: {problems}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).expect("a directory").map(|e| e.expect("an entry").path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn a_base_broken_on_disk_is_reported_in_the_base_and_cleared_on_close() {
    let dir = scratch("base");
    let files = broken_files(&dir);
    let city = files.iter().find(|p| p.ends_with("weihai/resident.settle")).expect("the city");
    let base = Url::from_file_path(dir.join("shandong/resident_base.settle")).expect("a path");
    let mut server = Server::start();
    let published = server.open(city);
    let in_base = published.get(&base).expect("the base's problem is published for the base");
    assert_eq!(in_base.len(), 1);
    assert!(in_base[0].message.starts_with("`basic` has no output `pya`"));
    let cleared = server.close(city);
    let cleared_base = cleared.iter().any(|n| {
        serde_json::from_value::<PublishDiagnosticsParams>(n.params.clone())
            .is_ok_and(|p| p.uri == base && p.diagnostics.is_empty())
    });
    assert!(cleared_base, "closing the city clears what its check published for the base");
    server.stop();
}

impl Server {
    /// Send a request and return its result; notifications received meanwhile are dropped.
    fn call(&mut self, method: &str, params: impl serde::Serialize) -> Value {
        self.next_id += 1;
        let id = RequestId::from(self.next_id);
        self.send(Request::new(id.clone(), method.into(), params).into());
        loop {
            match self.messages.recv_timeout(WAIT).expect("the server answers") {
                Message::Response(r) if r.id == id => match r.response_result {
                    Ok(result) => return result,
                    Err(e) => panic!("{method} failed: {}", e.message),
                },
                Message::Notification(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

/// Over standard input and output, on every policy of the repository: each test run from its
/// lens passes, inlay hints answer, a parameter's rename edits exactly the places its
/// references list, and a policy without problems has no quick fix.
#[test]
fn lenses_hints_renames_and_fixes_answer_on_every_policy() {
    let mut server = Server::start();
    let mut policies: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(repo().join("policies")).expect("policies") {
        for file in std::fs::read_dir(entry.expect("an entry").path()).expect("a folder") {
            let path = file.expect("a file").path();
            if path.extension().is_some_and(|e| e == "settle") {
                policies.push(std::fs::canonicalize(path).expect("exists"));
            }
        }
    }
    policies.sort();
    assert!(policies.len() >= 6);
    let (mut tests_run, mut hints) = (0, 0);
    for path in &policies {
        let published = server.open(path);
        let uri = Url::from_file_path(path).expect("an absolute path");
        assert_eq!(published.get(&uri).map(Vec::len), Some(0), "{} checks", path.display());
        let document = json!({ "uri": uri });

        for lens in server
            .call("textDocument/codeLens", json!({ "textDocument": document }))
            .as_array()
            .expect("lenses")
        {
            let command = &lens["command"];
            assert_eq!(command["command"], "settle.runTest");
            let params =
                json!({ "command": command["command"], "arguments": command["arguments"] });
            let outcome = server.call("workspace/executeCommand", params);
            assert_eq!(outcome["passed"], true, "{}: {}", path.display(), command["arguments"]);
            tests_run += 1;
        }

        let whole = json!({ "start": { "line": 0, "character": 0 }, "end": { "line": 100000, "character": 0 } });
        let found = server
            .call("textDocument/inlayHint", json!({ "textDocument": document, "range": whole }));
        hints += found.as_array().map_or(0, Vec::len);

        let actions = server.call(
            "textDocument/codeAction",
            json!({ "textDocument": document, "range": whole, "context": { "diagnostics": [] } }),
        );
        assert_eq!(actions, json!([]), "{}", path.display());

        let text = std::fs::read_to_string(path).expect("the policy");
        let Some((line, column)) = text.lines().enumerate().find_map(|(i, l)| {
            let at = l.find("param ")?;
            l.starts_with("param ").then_some((i, at + "param ".len()))
        }) else {
            continue;
        };
        let at = json!({ "line": line, "character": column });
        let refs = server.call(
            "textDocument/references",
            json!({ "textDocument": document, "position": at, "context": { "includeDeclaration": true } }),
        );
        let edit = server.call(
            "textDocument/rename",
            json!({ "textDocument": document, "position": at, "newName": "renamed_parameter" }),
        );
        let mut edited: Vec<Value> = edit["changes"]
            .as_object()
            .expect("changes")
            .iter()
            .flat_map(|(u, edits)| {
                edits.as_array().expect("edits").iter().map(move |e| {
                    assert_eq!(e["newText"], "renamed_parameter");
                    json!({ "uri": u, "range": e["range"] })
                })
            })
            .collect();
        let mut listed: Vec<Value> = refs.as_array().expect("references").clone();
        let key = |v: &Value| v.to_string();
        edited.sort_by_key(key);
        listed.sort_by_key(key);
        assert_eq!(edited, listed, "{}", path.display());
        server.close(path);
    }
    assert!(tests_run >= 10, "{tests_run} tests run");
    assert!(hints > 0);
    server.stop();
}
