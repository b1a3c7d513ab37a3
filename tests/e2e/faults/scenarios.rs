//! The scenarios. Each takes its seed and returns the bytes it lost (which must be 0), or
//! why it failed.

use std::time::{Duration, Instant};

use certdrop::standins::StackConfig;

use super::harness::{tail, Setup, RUN_DEADLINE};
use super::proxy::{Fault, Plan};
use super::seeded::Seeded;
use crate::support::SmallDisk;

const MIB: usize = 1024 * 1024;
const VERIFIED: &str = "Done. The file is verified";
/// The default number of connections, and so the parts in flight at any moment.
const CONNECTIONS: u64 = 8;
const TWO_CONNECTIONS: [&str; 2] = ["--connections", "2"];

pub type Result = std::result::Result<u64, String>;

/// The receiver's debug line for a credentials request that found no server.
const WAITING_FOR_CREDENTIALS: &str = "credentials provider unavailable; waiting";

/// A content of about `mib` MiB (a few odd bytes more, so the last part is short).
fn content(rng: &mut Seeded, mib: usize) -> Vec<u8> {
    let extra = rng.between(1, 4096) as usize;
    rng.bytes(mib * MIB + extra)
}

/// A download through `faults` ends verified, with nothing left but the file.
pub fn network(seed: u64, faults: &[Fault], probability: f64, max: u32) -> Result {
    let mut rng = Seeded::new(seed);
    let plan = Plan::faults(seed, faults, probability, max);
    let setup = Setup::new(StackConfig::default(), content(&mut rng, 12), plan);
    let started = Instant::now();
    let outcome = setup.run(&[]);
    outcome.expect(0, VERIFIED)?;
    let tally = setup.proxy.tally();
    if tally.injected_total() == 0 {
        return Err("no fault was injected: the scenario tested nothing".to_owned());
    }
    if setup.files() != [setup.name.clone()] {
        return Err(format!("files left behind: {:?}", setup.files()));
    }
    let expired = |f: &Fault| matches!(f, Fault::ExpiredToken | Fault::ExpiredTokenForbidden);
    if faults.iter().all(expired) && setup.stack.requests_served() < 2 {
        return Err("an expired token did not make the receiver fetch credentials".to_owned());
    }
    eprintln!(
        "  seed {seed:#x}: {:?} injected, {:.1} s",
        tally.injected,
        started.elapsed().as_secs_f64()
    );
    Ok(setup.lost_in_final())
}

/// The object is replaced under the same key mid-download: 412 on the next ranged GET, then
/// the new version fails the envelope's SHA-256, so the receiver ends with exit 10 and no file
/// under the real name. Odd seeds replace it with a longer object, which HEAD catches.
pub fn object_replaced(seed: u64) -> Result {
    let mut rng = Seeded::new(seed);
    let plan = Plan::clean(seed).paced(MIB as u64);
    let setup = Setup::new(StackConfig::default(), content(&mut rng, 6), plan);
    // Two connections, so that most parts are still to be asked for when the object changes.
    let mut running = setup.spawn(&TWO_CONNECTIONS);
    setup.wait_for_parts(&mut running, 1)?;
    let mut replacement = rng.bytes(setup.content.len() + (seed % 2) as usize);
    replacement[0] ^= 1;
    setup
        .stack
        .put_object(&setup.key, &replacement)
        .map_err(|e| e.to_string())?;
    let outcome = running.wait(RUN_DEADLINE);
    outcome.expect(10, "does not match the sender's file")?;
    if setup.final_path().exists() {
        return Err("a file appeared under the real name".to_owned());
    }
    let tally = setup.proxy.tally();
    if tally.statuses.get(&412).copied().unwrap_or(0) == 0 {
        return Err(format!("no 412 reached the receiver: {:?}", tally.statuses));
    }
    // A same-size replacement is downloaded, fails verification, and is discarded. A longer
    // one is refused by HEAD before anything is fetched again: the partial download is kept,
    // as after any stop, though its parts belong to the old version.
    let left = setup.files();
    let kept = left.iter().all(|f| f.contains(".certdrop-"));
    if (seed.is_multiple_of(2) && !left.is_empty()) || !kept {
        return Err(format!("files left behind: {left:?}"));
    }
    Ok(0)
}

/// The credentials provider closes connections (or answers 500) at the start and again
/// mid-download, while credentials last one second.
pub fn credentials_trouble(seed: u64, close: bool) -> Result {
    let mut rng = Seeded::new(seed);
    let config = StackConfig {
        credential_lifetime: Duration::from_secs(1),
        ..StackConfig::default()
    };
    let plan = Plan::clean(seed).paced(MIB as u64);
    let setup = Setup::new(config, content(&mut rng, 8), plan);
    let trouble = |count: u32| match close {
        true => setup.stack.close_next_requests(count),
        false => setup.stack.fail_next_requests(count),
    };

    // At the start the receiver tries four times before telling the recipient.
    let at_start = rng.between(1, 4) as u32;
    trouble(at_start);
    // Two connections asking for a new part every second, each with new credentials.
    let mut running = setup.spawn(&TWO_CONNECTIONS);
    setup.wait_for_parts(&mut running, 1)?;
    let before = setup.stack.requests_served();
    let midway = rng.between(2, 5) as u32;
    trouble(midway);
    let outcome = running.wait(RUN_DEADLINE);
    outcome.expect(0, VERIFIED)?;
    let served = setup.stack.requests_served();
    if served < before + u64::from(midway) + 1 {
        return Err(format!(
            "the provider failed {midway} request(s) mid-download, \
             but only {} came after the first part",
            served - before
        ));
    }
    eprintln!("  seed {seed:#x}: {at_start} at the start, {midway} midway, {served} requests");
    Ok(setup.lost_in_final())
}

/// The credentials endpoint refuses connections (nothing listens on its port). Refused from
/// the start, the recipient is told plainly within seconds and nothing is written; refused
/// for a few seconds mid-download, while credentials last one second, the receiver waits it
/// out and finishes.
pub fn credentials_refused(seed: u64) -> Result {
    let mut rng = Seeded::new(seed);
    let config = StackConfig {
        credential_lifetime: Duration::from_secs(1),
        ..StackConfig::default()
    };
    let plan = Plan::clean(seed).paced(MIB as u64);
    let setup = Setup::new(config, content(&mut rng, 12), plan);

    // Refused from the start: no network, and nothing to resume yet.
    setup.gate.refuse(true);
    let outcome = setup.run(&TWO_CONNECTIONS);
    outcome.expect(8, "Could not reach the server")?;
    if !setup.files().is_empty() {
        return Err(format!(
            "files written without a server: {:?}",
            setup.files()
        ));
    }

    // Refused mid-download, until the receiver has met the refusal and for a while longer:
    // credentials living one second, every new part asks for new ones.
    setup.gate.refuse(false);
    let mut running = setup.spawn(&TWO_CONNECTIONS);
    setup.wait_for_parts(&mut running, 1)?;
    setup.gate.refuse(true);
    let met = running.wait_for_log(WAITING_FOR_CREDENTIALS);
    let longer = Duration::from_millis(rng.between(200, 3000));
    std::thread::sleep(longer);
    setup.gate.refuse(false);
    let outcome = running.wait(RUN_DEADLINE);
    met.map_err(|e| format!("{e}:\n{}", tail(&outcome.output)))?;
    outcome.expect(0, VERIFIED)?;
    eprintln!("  seed {seed:#x}: refused mid-download, {longer:?} after the first refusal");
    Ok(setup.lost_in_final())
}

/// Credentials that expire every second carry a download of several seconds.
pub fn credentials_expire_every_second(seed: u64) -> Result {
    let mut rng = Seeded::new(seed);
    let config = StackConfig {
        credential_lifetime: Duration::from_secs(1),
        ..StackConfig::default()
    };
    let plan = Plan::clean(seed).paced(384 * 1024);
    let setup = Setup::new(config, content(&mut rng, 12), plan);
    let started = Instant::now();
    setup.run(&[]).expect(0, VERIFIED)?;
    let seconds = started.elapsed().as_secs_f64();
    let served = setup.stack.requests_served();
    if seconds < 3.0 || served < 3 {
        return Err(format!("{served} credential request(s) in {seconds:.1} s"));
    }
    eprintln!("  seed {seed:#x}: {served} credential requests in {seconds:.1} s");
    Ok(setup.lost_in_final())
}

/// Kills the receiver (SIGKILL) at random moments, at least ten times, then lets it finish.
/// Parts recorded as done must stay done and hold the right bytes after every kill.
pub fn killed_repeatedly(seed: u64) -> Result {
    const KILLS: u32 = 12;
    let mut rng = Seeded::new(seed);
    let per_connection = MIB as u64;
    let plan = Plan::clean(seed).paced(per_connection);
    let setup = Setup::new(StackConfig::default(), content(&mut rng, 24), plan);
    let (mut lost, mut kills, mut recorded) = (0u64, 0u32, String::new());
    let mut part_size = MIB as u64;

    while kills < KILLS {
        // A part takes about a second: once few are left, kill before one can finish, so
        // the download outlives every kill.
        let left = recorded.matches('0').count();
        let window = match recorded.is_empty() || left > 2 * CONNECTIONS as usize {
            true => (100, 1800),
            false => (50, 600),
        };
        let asked_before = setup.proxy.tally().range_starts.len();
        let mut running = setup.spawn(&[]);
        std::thread::sleep(Duration::from_millis(rng.between(window.0, window.1)));
        if running.has_exited() {
            let outcome = running.wait(RUN_DEADLINE);
            return Err(format!(
                "the receiver ended after {kills} kill(s), before the next one:\n{}",
                outcome.output
            ));
        }
        running.kill();
        kills += 1;
        refetched(&setup, asked_before, &recorded, part_size)?;

        // What the state recorded must be on disk, and nothing recorded may be forgotten.
        let Some((done, size)) = setup.state() else {
            continue;
        };
        part_size = size;
        lost += setup.lost_in_partial(&done, size);
        let forgotten = recorded
            .bytes()
            .zip(done.bytes())
            .filter(|(before, now)| *before == b'1' && *now == b'0')
            .count();
        lost += forgotten as u64 * size;
        recorded = done;
    }

    let asked_before = setup.proxy.tally().range_starts.len();
    let outcome = setup.run(&[]);
    outcome.expect(0, VERIFIED)?;
    refetched(&setup, asked_before, &recorded, part_size)?;
    let was_done = recorded.matches('1').count();
    if outcome.resumed_parts() < was_done {
        return Err(format!(
            "resumed with {} part(s) although {was_done} were recorded",
            outcome.resumed_parts()
        ));
    }

    // Every kill may lose the parts in flight (at most one per connection), nothing else.
    let fetched = setup.proxy.tally().range_bytes;
    let allowed = setup.content.len() as u64 + u64::from(kills) * CONNECTIONS * part_size;
    if fetched > allowed {
        return Err(format!(
            "{fetched} bytes fetched for {} after {kills} kills (at most {allowed})",
            setup.content.len()
        ));
    }
    if setup.files() != [setup.name.clone()] {
        return Err(format!("files left behind: {:?}", setup.files()));
    }
    eprintln!("  seed {seed:#x}: {kills} kills, {was_done} parts recorded before the last run");
    Ok(lost + setup.lost_in_final())
}

/// Fails when a run started after the `from`-th ranged GET asked again for a part that the
/// state it started from (`recorded`) calls done: only parts in flight may be fetched again.
fn refetched(setup: &Setup, from: usize, recorded: &str, part_size: u64) -> Result {
    let starts = setup.proxy.tally().range_starts;
    let again: Vec<u64> = starts[from.min(starts.len())..]
        .iter()
        .map(|start| start / part_size)
        .filter(|&part| recorded.as_bytes().get(part as usize) == Some(&b'1'))
        .collect();
    if !again.is_empty() {
        return Err(format!(
            "parts recorded as done were fetched again: {again:?}"
        ));
    }
    Ok(0)
}

/// The destination fills up mid-download: exit 9 with a plain message, the partial download
/// kept, and a run with space again resumes and completes it.
pub fn disk_fills_up(seed: u64) -> Result {
    let mut rng = Seeded::new(seed);
    let disk = SmallDisk::mount(24)?;
    let plan = Plan::clean(seed).paced(MIB as u64);
    let out = Some(disk.path().join("downloads"));
    let setup = Setup::saving_into(StackConfig::default(), content(&mut rng, 16), plan, out);
    let mut running = setup.spawn(&[]);
    setup.wait_for_parts(&mut running, 1 + rng.between(0, 4) as usize)?;
    disk.fill("filler.bin");
    let outcome = running.wait(RUN_DEADLINE);
    outcome.expect(9, "Not enough free space")?;
    // Regression: the message once said "0 bytes needed" for a disk that filled up.
    if outcome.output.contains("(0 bytes needed") {
        return Err(format!("the message gives no size:\n{}", outcome.output));
    }

    // A resumable state, whose finished parts are in the partial file.
    let (done, part_size) = setup.state().ok_or("no resume state was kept")?;
    if !setup.part_path().exists() || setup.final_path().exists() {
        return Err(format!("expected only a partial file: {:?}", setup.files()));
    }
    let lost = setup.lost_in_partial(&done, part_size);

    // Space again: the next run resumes and completes.
    std::fs::remove_file(disk.path().join("filler.bin")).map_err(|e| e.to_string())?;
    let asked_before = setup.proxy.tally().range_starts.len();
    let outcome = setup.run(&[]);
    outcome.expect(0, VERIFIED)?;
    refetched(&setup, asked_before, &done, part_size)?;
    let was_done = done.matches('1').count();
    if outcome.resumed_parts() < was_done {
        return Err(format!(
            "resumed with {} part(s) although {was_done} were recorded",
            outcome.resumed_parts()
        ));
    }
    eprintln!("  seed {seed:#x}: disk full with {was_done} part(s) done; resumed");
    Ok(lost + setup.lost_in_final())
}
