//! The sender's upload under network failures (issue 5): a relay in front of moto's S3 resets
//! the connections of chosen part uploads. A reset part is sent again and the transfer
//! completes; parts that never get through end the send with the multipart upload aborted and
//! everything else rolled back.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use super::*;

/// An HTTP/1.1 relay to moto that resets the first `budget` UploadPart requests and forwards
/// everything else, one request per connection (it asks both sides for `Connection: close`).
/// The `Connection` header is not signed, so the relayed requests keep their signatures.
struct PartBreaker {
    addr: SocketAddr,
    resets: Arc<AtomicUsize>,
}

impl PartBreaker {
    fn start(upstream: &str, budget: usize) -> PartBreaker {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .parse()
            .expect("moto listens on an address");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let resets = Arc::new(AtomicUsize::new(0));
        let budget = Arc::new(AtomicUsize::new(budget));
        let counted = resets.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (budget, resets) = (budget.clone(), counted.clone());
                thread::spawn(move || relay(client, upstream, &budget, &resets));
            }
        });
        PartBreaker { addr, resets }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn resets(&self) -> usize {
        self.resets.load(Ordering::SeqCst)
    }
}

fn relay(mut client: TcpStream, upstream: SocketAddr, budget: &AtomicUsize, resets: &AtomicUsize) {
    let Some((head, rest)) = read_head(&mut client) else {
        return;
    };
    let is_part = head.starts_with("PUT ") && head.lines().next().unwrap().contains("partNumber=");
    let take = |n: usize| n.checked_sub(1);
    if is_part
        && budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, take)
            .is_ok()
    {
        resets.fetch_add(1, Ordering::SeqCst);
        // Close with the part's bytes still unread: the kernel answers with a reset.
        let mut some = [0u8; 64 * 1024];
        let _ = client.read(&mut some);
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    let head = with_connection_close(&head);
    if server.write_all(head.as_bytes()).is_err() || server.write_all(&rest).is_err() {
        return;
    }
    let (mut from_client, mut to_server) =
        (client.try_clone().unwrap(), server.try_clone().unwrap());
    thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut to_server);
    });
    let _ = std::io::copy(&mut server, &mut client);
    let _ = client.shutdown(Shutdown::Both);
}

/// The request head (through the blank line) and whatever of the body came with it.
fn read_head(client: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let read = client.read(&mut chunk).ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buffer.split_off(end + 4);
            return Some((String::from_utf8(buffer).ok()?, rest));
        }
    }
}

fn with_connection_close(head: &str) -> String {
    let kept: Vec<&str> = head
        .trim_end()
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    format!("{}\r\nConnection: close\r\n\r\n", kept.join("\r\n"))
}

#[test]
fn send_sends_a_reset_part_again_and_the_transfer_completes() {
    let world = World::start("certdrop-e2e-part-retry");
    world.init(PROFILE);
    let breaker = PartBreaker::start(world.moto.endpoint(), 2);
    let file = world.path("survey.bin");
    let content = random_file(&file, 20 * 1024 * 1024 + 11, 7);

    let endpoint = breaker.endpoint();
    let output = world.send_through(PROFILE, file.to_str().unwrap(), &[(S3, &endpoint)], &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(breaker.resets(), 2, "the relay reset two part uploads");
    let sent: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(world.open_uploads().is_empty());

    // The object has exactly the file's bytes: the recipient's program says so.
    let output = receive_into(&world, &sent, "downloads");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(std::fs::read(world.path("downloads/survey.bin")).unwrap() == content);
}

#[test]
fn send_aborts_the_upload_and_rolls_back_when_parts_never_get_through() {
    let world = World::start("certdrop-e2e-part-abort");
    world.init(PROFILE);
    let breaker = PartBreaker::start(world.moto.endpoint(), usize::MAX);
    let file = world.path("survey.bin");
    random_file(&file, 20 * 1024 * 1024, 8);

    let endpoint = breaker.endpoint();
    let output = world.send_through(PROFILE, file.to_str().unwrap(), &[(S3, &endpoint)], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let message = stderr(&output);
    assert!(message.contains("s3:PutObject"), "{message}");
    assert!(message.contains("rolled back"), "{message}");
    assert!(
        breaker.resets() >= 4,
        "parts were tried again: {}",
        breaker.resets()
    );

    // Nothing is left: no open multipart upload, object, certificate or program.
    world.assert_nothing_left("receive-survey");
}

/// More parts than upload slots: the parts that finish while the file is still being read
/// must reach CompleteMultipartUpload too (they were once dropped, and S3 refused the list).
#[test]
fn send_with_more_parts_than_slots_lists_every_part() {
    let world = World::start("certdrop-e2e-many-parts");
    world.init(PROFILE);
    let file = world.path("archive.bin");
    let content = random_file(&file, 5 * 8 * 1024 * 1024 + 17, 9);
    let sent = world.send_ok(PROFILE, file.to_str().unwrap(), &["--parallel", "1"]);
    assert_eq!(sent["size"], content.len() as u64);
    assert!(world.open_uploads().is_empty());
    let output = receive_into(&world, &sent, "downloads");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(std::fs::read(world.path("downloads/archive.bin")).unwrap() == content);
}
