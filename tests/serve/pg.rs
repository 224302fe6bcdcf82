//! A PostgreSQL server for the store tests: a fresh cluster (`initdb`) in a scratch directory
//! under `target/`, started with `pg_ctl` on 127.0.0.1 and a free port, stopped when dropped.
//!
//! The programs are taken from `SETTLE_PG_BIN` when set, else from `PATH`, else from Debian's
//! `/usr/lib/postgresql/<version>/bin`. PostgreSQL refuses to run as root: as root the cluster
//! belongs to the `postgres` user and its programs run through `runuser`; when that user cannot
//! reach `target/` (a clone under `/root`), the cluster goes to a directory under `/tmp` instead,
//! removed when it stops.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A running cluster.
pub struct Server {
    bin: PathBuf,
    /// A directory outside `target/` to remove when the cluster stops.
    elsewhere: Option<PathBuf>,
    data: PathBuf,
    as_postgres: bool,
    port: u16,
}

/// Where `initdb` and `pg_ctl` are.
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SETTLE_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"));
    let mut debian: Vec<PathBuf> = debian.collect();
    debian.sort();
    debian.reverse();
    on_path.chain(debian).find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Server {
    /// A cluster started in `dir`, or why it cannot be. Under `CI` a PostgreSQL that cannot be
    /// started fails the caller; elsewhere the caller skips the PostgreSQL tests.
    pub fn start(dir: &Path) -> Result<Server, String> {
        let bin = bin_dir().ok_or("no `initdb` and `pg_ctl` (set SETTLE_PG_BIN)")?;
        let as_postgres = is_root();
        let mut elsewhere = None;
        let mut dir = dir.to_path_buf();
        if as_postgres && !reachable(&dir) {
            let tmp =
                std::env::temp_dir().join(format!("settle-serve-tests-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
            dir = tmp.clone();
            elsewhere = Some(tmp);
        }
        let dir = dir.as_path();
        let data = dir.join("data");
        std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
        if as_postgres {
            let owned = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir)
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !owned.success() {
                return Err("cannot give the data directory to the `postgres` user".into());
            }
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let server = Server { bin, elsewhere, data, as_postgres, port };
        server.run("initdb", &["--auth=trust", "--username=postgres", "--encoding=UTF8", "-D"])?;
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = ''\nfsync = on\nmax_connections = 200\n"
        );
        let file = server.data.join("postgresql.conf");
        let mut text =
            std::fs::read_to_string(&file).map_err(|e| format!("postgresql.conf: {e}"))?;
        text.push_str(&conf);
        std::fs::write(&file, text).map_err(|e| format!("postgresql.conf: {e}"))?;
        let log = dir.join("server.log");
        let log = log.to_string_lossy().to_string();
        server.run("pg_ctl", &["start", "-w", "-t", "60", "-l", &log, "-D"])?;
        Ok(server)
    }

    /// Run one of the cluster's programs with `args`, the data directory last.
    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = command
            .args(args)
            .arg(&self.data)
            .current_dir(self.data.parent().unwrap_or(Path::new("/")))
            .output()
            .map_err(|e| format!("{program}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// A new, empty database `settle_NAME`; its URL.
    pub fn database(&self, name: &str) -> String {
        let name = format!("settle_{name}");
        let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let mut client =
            postgres::Client::connect(&admin, postgres::NoTls).expect("the cluster answers");
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).expect("dropped");
        client.batch_execute(&format!("CREATE DATABASE {name}")).expect("created");
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.run("pg_ctl", &["stop", "-m", "fast", "-w", "-D"]);
        if let Some(dir) = &self.elsewhere {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Whether the `postgres` user can reach `dir` (every directory above it searchable).
fn reachable(dir: &Path) -> bool {
    Command::new("runuser")
        .args(["-u", "postgres", "--", "test", "-x"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

/// The cluster for a test, or `None` (with a note) where PostgreSQL cannot be started outside
/// CI; under `CI` a cluster that cannot be started fails the test.
pub fn server(dir: &Path) -> Option<Server> {
    match Server::start(dir) {
        Ok(s) => Some(s),
        Err(why) => {
            assert!(std::env::var_os("CI").is_none(), "PostgreSQL cannot be started: {why}");
            eprintln!("PostgreSQL tests skipped: {why}");
            None
        }
    }
}
