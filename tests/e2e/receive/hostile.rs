//! Hostile input and secrets (issue 5): names from the envelope that try to leave the chosen
//! folder or hide what a file is, a server that redirects elsewhere, and a whole transfer
//! logged at trace level without a secret in any output.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use super::*;

/// A content the size of one small part.
const SMALL: usize = 4096;

#[test]
fn hostile_file_names_from_the_envelope_become_safe_names_in_the_chosen_folder() {
    let stack = Stack::start(StackConfig::default()).unwrap();
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("inner").join("out");
    std::fs::create_dir_all(&out).unwrap();
    // The recipient's own file, which a name differing only in case must not replace.
    std::fs::write(out.join("Report.PDF"), b"the recipient's own").unwrap();
    let absolute = format!("/tmp/certdrop-absolute-{}.txt", std::process::id());
    let long_name = format!("{}.zip", "資".repeat(250));
    let long_saved = format!("{}.zip", "資".repeat(65));

    let cases: [(&str, &str); 12] = [
        ("../../x", "x"),
        (&absolute, absolute.trim_start_matches("/tmp/")),
        ("C:\\Windows\\System32\\evil.dll", "evil.dll"),
        ("D:relative.txt", "D_relative.txt"),
        ("CON", "CON_"),
        ("NUL.txt", "NUL_.txt"),
        ("a<b>|c?.txt", "a_b__c_.txt"),
        ("invoice.pdf. . .", "invoice.pdf"),
        ("trailing spaces.txt   ", "trailing spaces.txt"),
        ("annual\u{202E}fdp.exe", "annualfdp.exe"),
        (&long_name, &long_saved),
        ("report.pdf", "report (1).pdf"),
    ];
    for (index, (hostile, saved)) in cases.iter().enumerate() {
        let content = random_bytes(SMALL, 100 + index as u64);
        let client = stack.issue_client("recipient").unwrap();
        let id = client.certificate_id();
        let key = format!("transfers/{id}/object-{index}");
        stack.put_object(&key, &content).unwrap();
        let manifest = manifest_for(&stack, &id, &key, hostile, &content);
        let (_dir, program) = pack_transfer(&manifest, client.cert_pem(), client.key_pem());
        let args = ["--out", out.to_str().unwrap(), "--no-pause"];
        let output = receive(&program, &args, PASSWORD);
        assert_exit(&output, 0, "verified");
        assert!(
            read(&out.join(saved)) == content,
            "{hostile:?} was not saved as {saved:?}: {:?}\n{}",
            file_names(&out),
            text(&output)
        );
    }

    // Every file is in the chosen folder, and nothing was written around it.
    let mut expected: Vec<String> = cases.iter().map(|(_, saved)| saved.to_string()).collect();
    expected.push("Report.PDF".to_owned());
    expected.sort();
    assert_eq!(file_names(&out), expected);
    assert_eq!(read(&out.join("Report.PDF")), b"the recipient's own");
    assert_eq!(file_names(root.path()), ["inner"]);
    assert_eq!(file_names(&root.path().join("inner")), ["out"]);
    assert!(!Path::new(&absolute).exists(), "{absolute} was written");
    assert!(long_saved.len() <= 200, "{} bytes", long_saved.len());
}

#[test]
fn plain_http_endpoints_other_than_loopback_are_refused_when_packing() {
    let stack = Stack::start(StackConfig::default()).unwrap();
    let client = stack.issue_client("recipient").unwrap();
    let id = client.certificate_id();
    let key = format!("transfers/{id}/a.bin");
    let cases = [
        ("s3_endpoint", "http://10.0.0.1:9000"),
        ("s3_endpoint", "http://localhost.example.com"),
        ("credentials_endpoint", "http://192.168.1.10"),
    ];
    for (field, url) in cases {
        let mut manifest = manifest_for(&stack, &id, &key, "a.bin", &[1; 10]);
        manifest[field] = url.into();
        let transfer = Transfer {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(transfer.path("transfer.json"), manifest.to_string()).unwrap();
        std::fs::write(transfer.path("cert.pem"), client.cert_pem()).unwrap();
        std::fs::write(transfer.path("key.pem"), client.key_pem()).unwrap();
        let program = transfer.path("receive");
        let output = transfer.pack(&linux_stub(), &program, &[]);
        let shown = text(&output);
        assert!(!output.status.success(), "{url} was accepted:\n{shown}");
        assert!(
            shown.contains(field) && shown.contains("https://"),
            "the refusal of {url} names neither {field} nor https://:\n{shown}"
        );
        assert!(!program.exists(), "a receiver was written for {url}");
    }
}

#[test]
fn a_server_certificate_the_envelope_does_not_trust_is_refused_with_exit_8() {
    // The envelope trusts another CA than the one that signed the emulator's certificate,
    // and the system's store knows neither: verification is on, so no credentials are asked.
    let other = TestCa::new("a CA the envelope names").unwrap();
    let delivery = Delivery::with(StackConfig::default(), "a.bin", vec![1; 10], |m| {
        m["trust_anchor_pem"] = other.cert_pem().into();
    });
    assert_exit(
        &delivery.receive(),
        8,
        "A secure connection could not be made",
    );
    let served = delivery.stack.requests_served();
    assert_eq!(served, 0, "a request went through");
    assert!(delivery.files().is_empty(), "{:?}", delivery.files());
}

/// A listener on loopback that answers nothing and records what it is sent.
struct Trap {
    port: u16,
    received: Arc<Mutex<Vec<u8>>>,
    connections: Arc<Mutex<u32>>,
}

impl Trap {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let (bytes, count) = (Arc::clone(&received), Arc::clone(&connections));
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                *count.lock().unwrap() += 1;
                let timeout = Some(std::time::Duration::from_millis(500));
                let _ = stream.set_read_timeout(timeout);
                let mut buffer = [0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buffer) {
                    bytes.lock().unwrap().extend_from_slice(&buffer[..n]);
                }
            }
        });
        Trap {
            port,
            received,
            connections,
        }
    }
}

/// An "S3" that answers every request with a redirect to `location`.
fn redirector(location: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    port
}

#[test]
fn redirects_to_hosts_the_envelope_does_not_name_are_not_followed() {
    // Followed, a redirect would carry the session token (which no redirect policy strips)
    // to a host the envelope does not name, and trust the envelope's anchor there.
    let trap = Trap::start();
    let port = redirector(format!("http://127.0.0.1:{}/stolen", trap.port));
    let delivery = Delivery::with(StackConfig::default(), "a.bin", vec![1; 10], |m| {
        m["s3_endpoint"] = format!("http://127.0.0.1:{port}").into();
    });
    let output = delivery.receive();
    assert_exit(&output, 8, "The server kept failing");
    let received = String::from_utf8_lossy(&trap.received.lock().unwrap()).into_owned();
    assert_eq!(
        *trap.connections.lock().unwrap(),
        0,
        "the receiver followed the redirect and sent:\n{received}"
    );
    assert!(delivery.files().is_empty(), "{:?}", delivery.files());
}

#[test]
fn a_whole_transfer_logged_at_trace_level_shows_no_secret() {
    let stack = Stack::start(StackConfig::default()).unwrap();
    let client = stack.issue_client("recipient").unwrap();
    let id = client.certificate_id();
    let key = format!("transfers/{id}/secret-plans.bin");
    let content = random_bytes(3 * 1024 * 1024 + 5, 12);
    stack.put_object(&key, &content).unwrap();
    let manifest = manifest_for(&stack, &id, &key, "secret-plans.bin", &content);
    let (dir, program) = pack_transfer(&manifest, client.cert_pem(), client.key_pem());
    let out = dir.path().join("downloads");

    // The password goes to standard input only; -vv and RUST_LOG ask for every trace line.
    let mut child = Command::new(&program)
        .args(["--out", out.to_str().unwrap(), "--no-pause"])
        .args(["--password-stdin", "-vv", "--lang", "en"])
        .env("RUST_LOG", "trace")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{PASSWORD}").unwrap();
    drop(stdin);

    // While it runs, the password is in neither its arguments nor its environment, nor in
    // those of any process it starts.
    let mut looked = 0;
    while child.try_wait().unwrap().is_none() {
        for process in process_tree(pid) {
            for what in ["cmdline", "environ"] {
                let Ok(bytes) = std::fs::read(format!("/proc/{process}/{what}")) else {
                    continue;
                };
                looked += 1;
                assert!(
                    !contains(&bytes, PASSWORD.as_bytes()),
                    "the password is in /proc/{process}/{what}"
                );
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert!(
        looked > 0,
        "the receiver ended before it could be looked at"
    );
    let output = child.wait_with_output().unwrap();
    assert_exit(&output, 0, "verified");
    let log = text(&output);
    assert!(
        log.contains("sending a signed S3 request"),
        "no trace line was logged:\n{log}"
    );

    // Every output: both streams, the receipt, and anything left in the folder.
    let mut outputs = vec![("the output".to_owned(), log.into_bytes())];
    for receipt in stack.list(&format!("receipts/{id}/")).unwrap() {
        let bytes = stack.get_object(&receipt).unwrap().unwrap();
        outputs.push((format!("receipt {receipt}"), bytes));
    }
    assert!(outputs.len() > 1, "no receipt was written");
    for name in file_names(&out) {
        if name != "secret-plans.bin" {
            outputs.push((name.clone(), read(&out.join(name))));
        }
    }

    let issued = stack.store().issued_to(&id);
    assert!(!issued.is_empty(), "no credentials were issued");
    let mut secrets = vec![("the password", PASSWORD.to_owned())];
    for credentials in &issued {
        secrets.push((
            "a secret access key",
            credentials.secret_access_key().into(),
        ));
        secrets.push(("a session token", credentials.session_token().into()));
    }
    secrets.extend(private_key_forms(client.key_pem()));
    for (what, secret) in &secrets {
        for (place, bytes) in &outputs {
            assert!(
                !contains(bytes, secret.as_bytes()),
                "{what} appears in {place}"
            );
        }
    }
}

/// `pid` and its descendants.
fn process_tree(pid: u32) -> Vec<u32> {
    let mut tree = vec![pid];
    let mut index = 0;
    while index < tree.len() {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", tree[index]));
        for task in tasks.into_iter().flatten().flatten() {
            let children = std::fs::read_to_string(task.path().join("children"));
            let children = children.unwrap_or_default();
            tree.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
        index += 1;
    }
    tree
}
