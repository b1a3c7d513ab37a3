//! Fixtures shared by the end-to-end tests: identities made with OpenSSL, manifests, and
//! running the two programs with a password on standard input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::json;

pub const PASSWORD: &str = "plum-ocean-42-violet";

pub fn certdrop() -> Command {
    Command::new(env!("CARGO_BIN_EXE_certdrop"))
}

pub fn linux_stub() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_certdrop-receiver"))
}

/// The `target` folder this test binary was built in.
pub fn target_dir() -> PathBuf {
    let exe = linux_stub();
    exe.ancestors()
        .nth(2)
        .expect("target/<profile>/certdrop-receiver")
        .to_path_buf()
}

/// Runs a command with `stdin` as its standard input and returns what it did.
pub fn run_with_stdin(command: &mut Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
    let written = child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes());
    // A program that stops before reading its input (a damaged one, say) closes the pipe.
    if let Err(e) = written {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "writing to {command:?}: {e}"
        );
    }
    child.wait_with_output().unwrap()
}

pub fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs a tool that must be installed (`.ci/run` installs it) and must succeed.
pub fn tool(program: &str, args: &[&str], dir: &Path) -> Output {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} is missing ({e}); .ci/run installs it"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}",
        text(&output)
    );
    output
}

/// A folder with a client certificate, its key and a manifest.
pub struct Transfer {
    pub dir: tempfile::TempDir,
}

impl Transfer {
    /// An RSA identity, as AWS IoT issues.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        tool(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
                "-subj",
                "/CN=certdrop test client",
                "-days",
                "2",
            ],
            dir.path(),
        );
        let transfer = Transfer { dir };
        transfer.write_manifest(&manifest_json());
        transfer
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write_manifest(&self, manifest: &serde_json::Value) {
        std::fs::write(self.path("transfer.json"), manifest.to_string()).unwrap();
    }

    /// `certdrop pack` with the password on standard input and a cheap KDF.
    pub fn pack(&self, stub: &Path, out: &Path, extra: &[&str]) -> Output {
        let mut command = certdrop();
        command
            .arg("pack")
            .arg("--stub")
            .arg(stub)
            .arg("--manifest");
        command
            .arg(self.path("transfer.json"))
            .arg("--cert")
            .arg(self.path("cert.pem"));
        command
            .arg("--key")
            .arg(self.path("key.pem"))
            .arg("--out")
            .arg(out);
        command.arg("--password-stdin").args(extra);
        if !extra.contains(&"--kdf-memory-mib") {
            command.args(["--kdf-memory-mib", "8"]);
        }
        run_with_stdin(&mut command, &format!("{PASSWORD}\n"))
    }

    pub fn pack_ok(&self, stub: &Path, out: &Path) {
        let output = self.pack(stub, out, &[]);
        assert!(output.status.success(), "pack failed:\n{}", text(&output));
    }
}

pub fn manifest_json() -> serde_json::Value {
    json!({
        "transfer_id": "0123456789abcdef",
        "credentials_endpoint": "https://127.0.0.1:4443",
        "role_alias": "certdrop-receiver",
        "region": "ap-northeast-1",
        "bucket": "acme-transfers",
        "key": "transfers/0123456789abcdef/見積書 2026.zip",
        "size": 5_000_000,
        "sha256": "0f".repeat(32),
        "file_name": "見積書 2026.zip",
        "expires_at": "2099-01-01T00:00:00Z",
        "sender": "Sato, Example Corp",
        "note": "The drawings we discussed.",
    })
}

/// Runs a packed program as the recipient would, with the password on standard input.
pub fn receive(program: &Path, args: &[&str], password: &str) -> Output {
    let mut command = Command::new(program);
    command
        .args(args)
        .arg("--password-stdin")
        .env("LANG", "en_US.UTF-8");
    run_with_stdin(&mut command, &format!("{password}\n"))
}

/// A minimal HTTP CONNECT proxy on loopback that records where each tunnel went.
pub struct ConnectProxy {
    pub url: String,
    pub tunnels: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ConnectProxy {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let tunnels = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = std::sync::Arc::clone(&tunnels);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let record = std::sync::Arc::clone(&record);
                std::thread::spawn(move || tunnel(client, &record));
            }
        });
        ConnectProxy { url, tunnels }
    }
}

fn tunnel(mut client: std::net::TcpStream, record: &std::sync::Mutex<Vec<String>>) {
    use std::io::{Read, Write};
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let Some(target) = head
        .strip_prefix("CONNECT ")
        .and_then(|r| r.split(' ').next())
    else {
        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
        return;
    };
    record.lock().unwrap().push(target.to_owned());
    let Ok(server) = std::net::TcpStream::connect(target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
        return;
    };
    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
    let (mut client_read, mut server_write) =
        (client.try_clone().unwrap(), server.try_clone().unwrap());
    let upstream = std::thread::spawn(move || std::io::copy(&mut client_read, &mut server_write));
    let (mut server_read, mut client_write) = (server, client);
    let _ = std::io::copy(&mut server_read, &mut client_write);
    let _ = upstream.join();
}

/// moto with an admin user and a bucket, and a stand-in stack that issues credentials
/// through moto (per-certificate roles, AssumeRole). Authentication is still off: the caller
/// puts its objects, then calls `admin.enable_auth()`.
pub struct MotoSetup {
    pub moto: certdrop::standins::moto::MotoServer,
    pub admin: certdrop::standins::moto::MotoClient,
    pub stack: certdrop::standins::Stack,
}

pub async fn moto_setup(bucket: &str) -> MotoSetup {
    use certdrop::standins::moto::{receiver_policy, MotoClient, MotoIssuerConfig, MotoServer};
    let moto = MotoServer::start().unwrap_or_else(|e| panic!("{e}"));
    let bootstrap = certdrop::sigv4::Credentials::new("AKIAIOSFODNN7EXAMPLE", "bootstrap");
    let anyone = MotoClient::new(moto.endpoint(), bootstrap).unwrap();
    let credentials = anyone.create_admin_user("certdrop-admin").await.unwrap();
    let admin = MotoClient::new(moto.endpoint(), credentials.clone()).unwrap();
    admin.create_bucket(bucket).await.unwrap();
    let config = certdrop::standins::StackConfig {
        bucket: bucket.to_owned(),
        credential_lifetime: std::time::Duration::from_secs(900),
        moto: Some(MotoIssuerConfig {
            endpoint: moto.endpoint().to_owned(),
            admin: credentials,
            receiver_policy: receiver_policy(bucket),
        }),
        ..certdrop::standins::StackConfig::default()
    };
    let stack = certdrop::standins::Stack::start(config).unwrap();
    MotoSetup { moto, admin, stack }
}

/// Bytes that look random, the same for the same seed.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// The program ended with `code` and said `message`.
pub fn assert_exit(output: &Output, code: i32, message: &str) {
    let shown = text(output);
    assert_eq!(output.status.code(), Some(code), "{shown}");
    assert!(shown.contains(message), "missing {message:?} in\n{shown}");
}

/// The names in a folder, sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A small tmpfs, unmounted on drop (the tests run as root, as CI does).
pub struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    pub fn mount(mib: u32) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| e.to_string())?;
        if !output.status.success() {
            let error = String::from_utf8_lossy(&output.stderr);
            return Err(format!("mounting a tmpfs (needs root): {error}"));
        }
        Ok(SmallDisk { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `name` until the disk is full; returns the bytes written.
    pub fn fill(&self, name: &str) -> u64 {
        let mut file = std::fs::File::create(self.path().join(name)).expect("creating the filler");
        let block = vec![0xa5u8; 64 * 1024];
        let mut written = 0;
        for size in [block.len(), 4096, 512, 1] {
            while file.write_all(&block[..size]).is_ok() {
                written += size as u64;
            }
        }
        let _ = file.sync_all();
        written
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// The private key as PEM, its DER in base64 on one line, and each line of that base64.
pub fn private_key_forms(pem: &str) -> Vec<(&'static str, String)> {
    let lines: Vec<&str> = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect();
    let mut forms = vec![
        ("the private key (PEM)", pem.trim().to_owned()),
        ("the private key (DER, base64)", lines.concat()),
    ];
    for line in lines.iter().filter(|l| l.len() >= 32) {
        forms.push(("a line of the private key", line.to_string()));
    }
    forms
}

/// Whether `needle` (not empty) occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
