//! `settle-load`: a load generator for `settle serve`. `--clients` threads, each on one kept-alive
//! HTTP/1.1 connection, settle generated claims of the Dezhou employee inpatient policy (each
//! claim once, members spread over the clients) until `--claims` are sent or `--seconds` pass;
//! then the throughput, the latency percentiles and the answers by status are printed. A member's
//! claims are dated in the order they are sent, as at a hospital counter; with `--any-order`
//! they are dated at random, so that about half arrive before a claim dated after them.
//!
//! ```sh
//! settle serve --policies policies/dezhou --store /tmp/load.sqlite --listen 127.0.0.1:8080 &
//! settle-load --addr 127.0.0.1:8080 --clients 32 --claims 20000
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Settle generated claims against `settle serve` with concurrent clients")]
struct Args {
    /// The service's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Concurrent clients, one connection each.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Claims to settle in all.
    #[arg(long, default_value_t = 20_000)]
    claims: usize,
    /// Claims per member.
    #[arg(long, default_value_t = 4)]
    per_member: usize,
    /// Stop sending after this many seconds, whatever is left.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Distinguishes the claim ids and members of one run from another's on the same store.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The policy the claims are settled under.
    #[arg(long, default_value = "dezhou.employee.inpatient")]
    policy: String,
    /// A client key, sent as `Authorization: Bearer KEY`.
    #[arg(long)]
    key: Option<String>,
    /// Date a member's claims at random rather than in the order they are sent.
    #[arg(long)]
    any_order: bool,
}

/// The `n`th generated claim: member `n / per_member`, dated through 2021: at random with
/// `any_order`, else in a month after the member's claims before it (while there are months).
fn claim(seed: u64, n: usize, per_member: usize, any_order: bool) -> String {
    let mut state = (n as u64).wrapping_add(seed << 32).wrapping_mul(6_364_136_223_846_793_005);
    let mut next = move |bound: u64| {
        state =
            state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % bound
    };
    let total = 2_000 + next(150_000);
    let self_paid = next(total / 10 + 1);
    let level = match next(3) {
        0 => "level1",
        1 => "level2",
        _ => "level3",
    };
    let per_member = per_member.max(1);
    let member = n / per_member;
    let prepay = next(self_paid + 1);
    let special = next(total / 4 + 1);
    let month = if any_order {
        1 + next(12)
    } else {
        // The year cut in `per_member` spans, the `k`th claim in the `k`th.
        let k = (n % per_member) as u64;
        let span = (12 / per_member as u64).max(1);
        (1 + k * 12 / per_member as u64 + next(span)).min(12)
    };
    format!(
        r#"{{"id":"L{seed}-{n}","member":"LM{seed}-{member}","admitted":"2021-{:02}-{:02}","level":"{level}","total":"{total}.{:02}","self_paid":"{self_paid}.00","prepay":"{}.00","special_drugs":"{special}.00","rare_disease_drugs":"{}.00","tcm":"{}.00"}}"#,
        month,
        1 + next(28),
        next(100),
        prepay,
        next(special + 1),
        next(2_000),
    )
}

/// One kept-alive connection.
struct Client {
    reader: BufReader<TcpStream>,
    head: String,
}

impl Client {
    fn connect(addr: &str) -> std::io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Client { reader: BufReader::new(stream), head: String::new() })
    }

    /// POST `body` to `path`; the status.
    fn post(&mut self, addr: &str, path: &str, auth: &str, body: &str) -> std::io::Result<u16> {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.reader.get_mut().write_all(request.as_bytes())?;
        let mut status = 0;
        let mut length = 0usize;
        let mut first = true;
        loop {
            self.head.clear();
            if self.reader.read_line(&mut self.head)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let line = self.head.trim_end();
            if first {
                status = line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                first = false;
            } else if line.is_empty() {
                break;
            } else if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        Ok(status)
    }
}

/// What the clients found.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    statuses: std::collections::BTreeMap<u16, usize>,
    failures: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let path = format!("/v1/policies/{}/claims", args.policy);
    let auth =
        args.key.as_ref().map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
    let clients = args.clients.max(1);
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let tally = Mutex::new(Tally::default());
    // Claims are dealt out by member, so that a member's claims come from one client in turn and
    // members run in parallel.
    let members = args.claims.div_ceil(args.per_member.max(1));
    let dealt = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..clients {
            s.spawn(|| {
                let mut mine = Tally::default();
                let mut client = Client::connect(&args.addr).ok();
                loop {
                    let member = dealt.fetch_add(1, Ordering::Relaxed);
                    if member >= members || Instant::now() > deadline {
                        break;
                    }
                    for k in 0..args.per_member {
                        let n = member * args.per_member + k;
                        if n >= args.claims {
                            break;
                        }
                        let body = claim(args.seed, n, args.per_member, args.any_order);
                        let sent = Instant::now();
                        let status = match client.as_mut() {
                            Some(c) => c.post(&args.addr, &path, &auth, &body),
                            None => Err(std::io::ErrorKind::NotConnected.into()),
                        };
                        match status {
                            Ok(status) => {
                                mine.latencies.push(sent.elapsed());
                                *mine.statuses.entry(status).or_default() += 1;
                            }
                            Err(_) => {
                                mine.failures += 1;
                                client = Client::connect(&args.addr).ok();
                            }
                        }
                    }
                }
                if let Ok(mut all) = tally.lock() {
                    all.latencies.extend(mine.latencies);
                    for (status, n) in mine.statuses {
                        *all.statuses.entry(status).or_default() += n;
                    }
                    all.failures += mine.failures;
                }
            });
        }
    });
    let took = started.elapsed();
    let Ok(mut tally) = tally.into_inner() else {
        eprintln!("error: a client failed");
        return ExitCode::FAILURE;
    };
    tally.latencies.sort();
    let answered = tally.latencies.len();
    let at = |q: f64| -> f64 {
        let i = ((answered as f64 * q).ceil() as usize).clamp(1, answered.max(1)) - 1;
        tally.latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let statuses: Vec<String> = tally.statuses.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    println!(
        "{answered} requests in {:.2} s by {clients} clients: {:.0} a second; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; statuses {}; {} failed connections",
        took.as_secs_f64(),
        answered as f64 / took.as_secs_f64().max(1e-9),
        at(0.50),
        at(0.99),
        at(1.0),
        statuses.join(", "),
        tally.failures,
    );
    if tally.failures > 0 || tally.statuses.keys().any(|s| !(200..300).contains(s)) {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
