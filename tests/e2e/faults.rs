//! Fault injection (issue 5): the Linux receiver downloads through a proxy that breaks the
//! S3 traffic in every way a network can, from a credentials provider that misbehaves, while
//! it is killed, and onto a disk that fills up. Every scenario ends with the exact file, or
//! with the documented exit code and message and a download that resumes.
//!
//! One test runs them all, a few at a time, and prints one summary line. The seeds change on
//! every run; `CERTDROP_FAULT_SEED=<base seed>` (printed with every failure) replays a run's
//! contents, fault choices and kill times (the machine's timing still varies).
//!
//! Limitation: the receiver's read timeout (`certdrop::net::READ_TIMEOUT`, 30 s) has no
//! override, and adding one only for tests would put a test hook in the product; so each
//! stall holds its part for those 30 s, and the two stall runs cost about 35 s of the suite
//! (side by side with the other scenarios).

mod gate;
mod harness;
mod proxy;
mod scenarios;
mod seeded;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proxy::Fault;
use scenarios::Result;
use seeded::Seeded;

/// Scenarios run at once: most of their time is spent waiting on paced or stalled traffic.
const PARALLEL: usize = 3;

struct Scenario {
    name: &'static str,
    seeds: usize,
    run: fn(u64) -> Result,
}

fn scenarios() -> Vec<Scenario> {
    use scenarios::*;
    let scenario = |name, seeds, run| Scenario { name, seeds, run };
    vec![
        // The long ones first, so the others fill the time beside them.
        scenario("stalled connection", 2, |s| {
            network(s, &[Fault::Stall], 1.0, 1)
        }),
        scenario("SIGKILL at least 10 times", 2, killed_repeatedly),
        scenario("reset inside bodies", 3, |s| {
            network(s, &[Fault::Reset], 0.4, 8)
        }),
        scenario("truncated bodies", 3, |s| {
            network(s, &[Fault::Truncate], 0.4, 8)
        }),
        scenario("slow drip", 2, |s| network(s, &[Fault::Drip], 0.5, 6)),
        scenario("wrong Content-Length", 3, |s| {
            network(s, &[Fault::LongLength, Fault::ShortLength], 0.4, 8)
        }),
        scenario("wrong Content-Range", 2, |s| {
            network(s, &[Fault::WrongRange], 0.4, 8)
        }),
        scenario("500 InternalError", 2, |s| {
            network(s, &[Fault::ServerError], 0.4, 8)
        }),
        scenario("503 SlowDown", 2, |s| {
            network(s, &[Fault::SlowDown], 0.4, 8)
        }),
        scenario("503 SlowDown with Retry-After", 2, |s| {
            network(s, &[Fault::SlowDownRetryAfter], 0.4, 6)
        }),
        scenario("400 and 403 ExpiredToken", 2, |s| {
            let expired = [Fault::ExpiredToken, Fault::ExpiredTokenForbidden];
            network(s, &expired, 0.4, 8)
        }),
        scenario("every network fault at once", 3, |s| {
            let faults: Vec<Fault> = Fault::ALL
                .into_iter()
                .filter(|f| *f != Fault::Stall)
                .collect();
            network(s, &faults, 0.4, 10)
        }),
        scenario("object replaced mid-download (412)", 2, object_replaced),
        scenario("credentials provider closes connections", 2, |s| {
            credentials_trouble(s, true)
        }),
        scenario(
            "credentials provider refuses connections",
            2,
            credentials_refused,
        ),
        scenario("credentials provider answers 500", 2, |s| {
            credentials_trouble(s, false)
        }),
        scenario(
            "credentials expire every second",
            2,
            credentials_expire_every_second,
        ),
        scenario("disk fills up mid-download", 2, disk_fills_up),
    ]
}

/// One scenario to run with one seed.
type Job = (&'static str, u64, fn(u64) -> Result);

/// The outcome of one scenario run with one seed.
struct Run {
    name: &'static str,
    seed: u64,
    result: Result,
    took: Duration,
}

#[test]
fn fault_injection_suite() {
    let base = std::env::var("CERTDROP_FAULT_SEED")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(time_seed);
    let mut seeds = Seeded::new(base);
    let mut jobs = Vec::new();
    for scenario in scenarios() {
        for _ in 0..scenario.seeds {
            jobs.push((scenario.name, seeds.next_u64(), scenario.run));
        }
    }
    let started = Instant::now();
    let runs = run_all(jobs);

    // One line per run, then the summary.
    let mut lost = 0;
    let mut failures = Vec::new();
    for run in &runs {
        let verdict = match &run.result {
            Ok(0) => "ok".to_owned(),
            Ok(bytes) => format!("LOST {bytes} bytes"),
            Err(_) => "FAILED".to_owned(),
        };
        eprintln!(
            "fault scenario {:<40} seed {:#018x}  {:>5.1} s  {verdict}",
            run.name,
            run.seed,
            run.took.as_secs_f64()
        );
        if let Ok(bytes) = &run.result {
            lost += bytes;
        }
        if !matches!(run.result, Ok(0)) {
            failures.push(run);
        }
    }
    let passed = runs.len() - failures.len();
    // Written past the test harness's capture, so that it shows in every run.
    let summary = format!(
        "fault injection: {} scenarios run, {passed} passed, {lost} bytes lost \
         (base seed {base}, {:.0} s)\n",
        runs.len(),
        started.elapsed().as_secs_f64()
    );
    let _ = std::io::stdout().lock().write_all(summary.as_bytes());
    let report: Vec<String> = failures
        .iter()
        .map(|run| match &run.result {
            Err(why) => format!("{} (seed {:#x}): {why}", run.name, run.seed),
            Ok(bytes) => format!("{} (seed {:#x}): {bytes} bytes lost", run.name, run.seed),
        })
        .collect();
    assert!(
        report.is_empty(),
        "replay with CERTDROP_FAULT_SEED={base}\n{}",
        report.join("\n\n")
    );
}

/// Runs the jobs on [`PARALLEL`] threads; a panic fails its run, not the others.
fn run_all(jobs: Vec<Job>) -> Vec<Run> {
    let queue = Arc::new(Mutex::new(jobs.into_iter()));
    let runs = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..PARALLEL)
        .map(|_| {
            let (queue, runs) = (Arc::clone(&queue), Arc::clone(&runs));
            std::thread::spawn(move || loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                let Some((name, seed, run)) = next else {
                    return;
                };
                let started = Instant::now();
                let result = std::panic::catch_unwind(|| run(seed))
                    .unwrap_or_else(|panic| Err(panic_text(panic.as_ref())));
                let took = started.elapsed();
                let run = Run {
                    name,
                    seed,
                    result,
                    took,
                };
                runs.lock().unwrap_or_else(|e| e.into_inner()).push(run);
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a scenario thread catches its panics");
    }
    let mut runs = std::mem::take(&mut *runs.lock().unwrap_or_else(|e| e.into_inner()));
    runs.sort_by_key(|r| r.name);
    runs
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
    format!("panicked: {}", text.unwrap_or_default())
}

fn time_seed() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(1, |d| d.as_nanos() as u64)
}
