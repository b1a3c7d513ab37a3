//! The Windows receiver for real, under Wine: the release exe, signed with a test
//! code-signing certificate, packed, and run against the stand-ins through Wine's Schannel
//! (mutual TLS with an RSA client key over TLS 1.2, the server's revocation checked against a
//! `file://` CRL).
//!
//! All Wine tests share one prefix and run one at a time: Wine's PKCS#12 import puts every key
//! into the same container (named after the user), so two receivers at once would overwrite
//! each other's key, and comparing the key stores needs a prefix where nothing else happens.
//! Test-only helpers are built from tests/e2e/wine/ with mingw-w64 and never shipped.

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use certdrop::der::Tlv;
use certdrop::download::state::PART_SUFFIX;
use certdrop::standins::{Stack, StackConfig};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::*;
use crate::windows::{assert_verifies, code_signing_identity, sign, windows_stub};

/// The C sources of the test-only helpers.
const SOURCES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/wine");
const MANIFEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/receiver-stub/resources/certdrop-receiver.manifest"
);
const MIB: usize = 1024 * 1024;

/// A Wine prefix made for this run of the tests, and what the tests run in it.
struct Wine {
    prefix: PathBuf,
    /// bcryptprimitives.dll exporting ProcessPrng, which Wine 8 lacks (process_prng.c).
    prng_shim: PathBuf,
    /// Prints an exe's resources through the Windows API (resinfo.c).
    resinfo: PathBuf,
    /// The release receiver stub, signed.
    signed_stub: PathBuf,
    /// The test code-signing certificate: the CA file for `osslsigncode verify`.
    signing_cert: PathBuf,
}

/// The shared prefix, for one test at a time (a failed test does not block the others).
fn wine() -> MutexGuard<'static, Wine> {
    static WINE: OnceLock<Mutex<Wine>> = OnceLock::new();
    WINE.get_or_init(|| Mutex::new(Wine::create()))
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Where this run keeps its prefix: `<target>/tmp/wine-<pid>`, removed when the test binary
/// exits (a prefix is about 700 MB).
static HOME: OnceLock<PathBuf> = OnceLock::new();

impl Wine {
    fn create() -> Wine {
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        remove_stale_homes(&tmp);
        let home = HOME.get_or_init(|| tmp.join(format!("wine-{}", std::process::id())));
        fs::create_dir_all(home).unwrap();
        remove_home_at_exit();

        let (signed_stub, signing_cert) = sign_stub(home);
        let wine = Wine {
            prng_shim: build_prng_shim(home),
            resinfo: build_resinfo(home),
            prefix: home.join("prefix"),
            signed_stub,
            signing_cert,
        };
        wine.start_session();
        wine
    }

    /// Makes the prefix and starts its session for good: a wineserver that stays (as a
    /// Windows session stays up between programs; a cold start costs about 2 s per program),
    /// and the session's services, started with no standard streams. A service started by a
    /// test's program would inherit that program's pipes and keep them open, and reading the
    /// program's output would then never end.
    fn start_session(&self) {
        fs::create_dir_all(&self.prefix).unwrap();
        let server = wine_env(&mut Command::new("wineserver"), &self.prefix)
            .arg("-p")
            .status()
            .expect("wineserver runs (.ci/run installs wine)");
        assert!(server.success(), "wineserver -p: {server}");
        let started = Instant::now();
        let booted = wine_env(&mut Command::new("wineboot"), &self.prefix)
            .arg("-i")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("wineboot runs");
        assert!(booted.success(), "wineboot -i: {booted}");
        eprintln!("wine: prefix made in {:.1?}", started.elapsed());
    }

    /// `wine PROGRAM`, for this prefix.
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new("wine");
        wine_env(&mut command, &self.prefix).arg(program);
        command
    }

    /// Runs a packed receiver as the recipient would, with the password on standard input.
    fn receive(&self, program: &Path, args: &[&str], password: &str) -> Output {
        let mut command = self.command(program);
        command.args(args).arg("--password-stdin");
        let started = Instant::now();
        let output = run_with_stdin(&mut command, &format!("{password}\n"));
        eprintln!("wine: {args:?} took {:.1?}", started.elapsed());
        output
    }

    /// `reg query ROOT\Software\Wine\Crypto /s`, as a Windows program sees the registry.
    fn query_crypto_keys(&self, root: &str) -> String {
        let key = format!("{root}\\Software\\Wine\\Crypto");
        let mut command = Command::new("wine");
        wine_env(&mut command, &self.prefix).args(["reg", "query", &key, "/s"]);
        let output = command.output().expect("wine runs");
        // Exit status 1: the key does not exist (no container was ever made).
        assert!(output.status.code().is_some(), "{}", text(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The profile folder of the prefix's user (`C:\users\<user>`).
    fn user_dir(&self) -> PathBuf {
        let users = self.prefix.join("drive_c/users");
        fs::read_dir(&users)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| !p.ends_with("Public"))
            .expect("wineboot made the user's profile")
    }

    /// Wine's key containers (CryptoAPI keys, kept in the registry), the Crypto folders
    /// under the user's profile (where Windows keeps them), and certdrop's crash records.
    fn key_stores(&self) -> KeyStores {
        let registry = ["HKEY_CURRENT_USER", "HKEY_LOCAL_MACHINE"]
            .iter()
            .flat_map(|root| containers(&self.query_crypto_keys(root)))
            .collect();
        let profile = self.user_dir();
        let folders = [
            "AppData/Roaming/Microsoft/Crypto",
            "AppData/Local/Microsoft/Crypto",
            "AppData/Local/certdrop",
        ];
        let files = folders
            .iter()
            .flat_map(|f| files_under(&profile.join(f)))
            .collect();
        KeyStores { registry, files }
    }
}

fn wine_env<'a>(command: &'a mut Command, prefix: &Path) -> &'a mut Command {
    command
        .env("WINEPREFIX", prefix)
        .env(
            "WINEDEBUG",
            std::env::var("CERTDROP_WINEDEBUG").unwrap_or("-all".into()),
        )
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .env("LANG", "C.UTF-8")
}

/// Prefixes of earlier runs whose process is gone (one that was killed, say).
fn remove_stale_homes(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("wine-") else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            remove_home(&entry.path());
        }
    }
}

fn remove_home(home: &Path) {
    let _ = wine_env(&mut Command::new("wineserver"), &home.join("prefix"))
        .arg("-k")
        .stderr(Stdio::null())
        .status();
    let _ = fs::remove_dir_all(home);
}

/// Registers the removal of this run's prefix with the C library's `atexit`: statics are
/// never dropped, and the test harness offers no hook after the last test.
fn remove_home_at_exit() {
    extern "C" {
        fn atexit(callback: extern "C" fn()) -> std::ffi::c_int;
    }
    extern "C" fn remove() {
        if let Some(home) = HOME.get() {
            remove_home(home);
        }
    }
    // SAFETY: `remove` is a function with the C signature atexit expects; it lives as long
    // as the program and never unwinds (it only ignores errors).
    unsafe {
        atexit(remove);
    }
}

fn mingw_gcc(args: &[&str], dir: &Path) {
    tool("x86_64-w64-mingw32-gcc", args, dir);
}

fn build_prng_shim(home: &Path) -> PathBuf {
    let c = format!("{SOURCES}/process_prng.c");
    let def = format!("{SOURCES}/process_prng.def");
    let args = [
        "-shared",
        "-O2",
        "-o",
        "bcryptprimitives.dll",
        &c,
        &def,
        "-lbcrypt",
    ];
    mingw_gcc(&args, home);
    home.join("bcryptprimitives.dll")
}

/// resinfo.exe, with the receiver's manifest as its own.
fn build_resinfo(home: &Path) -> PathBuf {
    fs::write(home.join("resinfo.rc"), format!("1 24 \"{MANIFEST}\"\n")).unwrap();
    let windres = ["-O", "coff", "-i", "resinfo.rc", "-o", "resinfo-res.o"];
    tool("x86_64-w64-mingw32-windres", &windres, home);
    let c = format!("{SOURCES}/resinfo.c");
    let args = [
        "-municode",
        "-O2",
        "-o",
        "resinfo.exe",
        &c,
        "resinfo-res.o",
        "-lversion",
        "-lshell32",
    ];
    mingw_gcc(&args, home);
    home.join("resinfo.exe")
}

/// The release stub signed with a made-up code-signing certificate, as IT signs it once.
fn sign_stub(home: &Path) -> (PathBuf, PathBuf) {
    code_signing_identity(home);
    let signed = home.join("signed-stub.exe");
    sign(home, windows_stub(), &signed);
    (signed, home.join("sign-cert.pem"))
}

/// `Z:\...`: how a Windows program under Wine names a path of this machine.
fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

/// What the prefix holds of keys; compared before and after runs.
#[derive(Debug, PartialEq, Eq)]
struct KeyStores {
    /// Wine's key containers: registry keys under `Software\Wine\Crypto`, with their values.
    registry: Vec<String>,
    /// Files under the Crypto folders and certdrop's record folder.
    files: Vec<String>,
}

impl KeyStores {
    fn has_rsa_container(&self) -> bool {
        let rsa = "HKEY_CURRENT_USER\\Software\\Wine\\Crypto\\RSA\\";
        self.registry.iter().any(|line| line.starts_with(rsa))
    }

    fn records(&self) -> Vec<&String> {
        let record = |f: &&String| f.contains("certdrop/keys-") && f.ends_with(".json");
        self.files.iter().filter(record).collect()
    }
}

/// The containers in `reg query ...\Crypto /s`: the keys `Crypto\<provider>\<container>` and
/// their values (the encrypted key pairs). A provider's own key stays once made; it holds
/// nothing.
fn containers(query: &str) -> Vec<String> {
    let mut inside = false;
    let mut lines = Vec::new();
    for line in query.lines().filter(|l| !l.trim().is_empty()) {
        if line.starts_with("HKEY_") {
            let below = line.split_once("\\Crypto\\").map_or("", |(_, rest)| rest);
            inside = below.contains('\\');
        }
        if inside {
            lines.push(line.trim().to_owned());
        }
    }
    lines
}

fn files_under(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path.display().to_string());
        }
    }
    files.sort();
    files
}

/// A transfer on the stand-ins, set up for Wine's Schannel, packed into the signed stub.
struct WineDelivery {
    stack: Stack,
    dir: tempfile::TempDir,
    transfer_id: String,
    program: PathBuf,
    content: Vec<u8>,
    /// Sits between the receiver and S3 when the test needs to stall the download.
    proxy: Option<StallingProxy>,
}

impl WineDelivery {
    fn new(wine: &Wine, file_name: &str, content: Vec<u8>) -> Self {
        Self::build(wine, file_name, content, None)
    }

    /// The download stalls once `budget` bytes of S3's answers have passed.
    fn stalling_after(wine: &Wine, file_name: &str, content: Vec<u8>, budget: u64) -> Self {
        Self::build(wine, file_name, content, Some(budget))
    }

    fn build(wine: &Wine, file_name: &str, content: Vec<u8>, stall: Option<u64>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let stack = wine_stack(dir.path());
        let client = stack
            .issue_client_for_key("wine recipient", &client_key(dir.path()))
            .unwrap();
        let transfer_id = client.certificate_id();
        let key = format!("transfers/{transfer_id}/{file_name}");
        stack.put_object(&key, &content).unwrap();
        let proxy = stall.map(|budget| StallingProxy::start(stack.s3_port(), budget));
        let s3_endpoint = match &proxy {
            Some(proxy) => format!("http://{}", proxy.addr),
            None => stack.s3_endpoint(),
        };

        let manifest = json!({
            "transfer_id": transfer_id,
            "credentials_endpoint": credentials_endpoint(&stack),
            "role_alias": stack.role_alias(),
            "region": stack.region(),
            "bucket": stack.bucket(),
            "key": key,
            "s3_endpoint": s3_endpoint,
            "size": content.len(),
            "sha256": hex::encode(Sha256::digest(&content)),
            "file_name": file_name,
            "expires_at": "2099-01-01T00:00:00Z",
            "sender": "Sato, Example Corp",
            "trust_anchor_pem": stack.ca_pem(),
        });
        let transfer = Transfer { dir };
        transfer.write_manifest(&manifest);
        fs::write(transfer.path("cert.pem"), client.cert_pem()).unwrap();
        fs::write(transfer.path("key.pem"), client.key_pem()).unwrap();

        let program = transfer.path("receive.exe");
        transfer.pack_ok(&wine.signed_stub, &program);
        assert_signature_verifies(wine, &program);
        fs::copy(&wine.prng_shim, transfer.path("bcryptprimitives.dll")).unwrap();
        fs::create_dir(transfer.path("downloads")).unwrap();
        WineDelivery {
            stack,
            dir: transfer.dir,
            transfer_id,
            program,
            content,
            proxy,
        }
    }

    fn downloads(&self) -> PathBuf {
        self.dir.path().join("downloads")
    }

    /// The recipient's arguments, in `lang`, with `extra` ones.
    fn args(&self, lang: &str, extra: &[&str]) -> Vec<String> {
        let out = windows_path(&self.downloads());
        let base = ["--out", &out, "--no-pause", "--lang", lang];
        base.iter().chain(extra).map(|a| a.to_string()).collect()
    }

    fn receive(&self, wine: &Wine, lang: &str, password: &str) -> Output {
        self.receive_with(wine, lang, &[], password)
    }

    fn receive_with(&self, wine: &Wine, lang: &str, extra: &[&str], password: &str) -> Output {
        let args = self.args(lang, extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        wine.receive(&self.program, &args, password)
    }

    fn saved(&self, name: &str) -> Vec<u8> {
        let path = self.downloads().join(name);
        fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn files(&self) -> Vec<String> {
        file_names(&self.downloads())
    }
}

/// The stand-ins as Wine's Schannel accepts them: an RSA server key, a CRL distribution point
/// that Wine can read, and no ECDSA signature that Wine 8 fails to verify.
///
/// Wine 8's Schannel checks revocation and rejects a CA-issued server certificate without a
/// CRL it can fetch (0x800B010E, CRYPT_E_REVOCATION_OFFLINE); an `http://` point fails. Its
/// file retrieval takes `file:///Z:/...` (the drive path after a third slash).
fn wine_stack(dir: &Path) -> Stack {
    let crl_path = dir.join("stack.crl");
    let config = StackConfig {
        server_key_pem: Some(rsa_key(dir)),
        crl_url: Some(format!("file:///Z:{}", crl_path.display())),
        ..StackConfig::default()
    };
    let stack = loop {
        let stack = Stack::start(config.clone()).expect("the stand-ins start");
        if signatures_wine_verifies(&stack) {
            break stack;
        }
    };
    fs::write(&crl_path, &stack.crl().der).unwrap();
    stack
}

/// Whether Wine 8 can verify the stand-in CA's ECDSA signatures. It fails on a signature whose
/// r or s is shorter than the curve's 32 bytes (`CNG_VerifySignature` reports c000a000 and the
/// handshake fails with CRYPT_E_NOT_FOUND), which the CA draws about once in 128 signatures;
/// real Windows verifies them. Measured for the CA's own certificate and the server's; the CRL
/// is held to the same rule, though a short one passed.
fn signatures_wine_verifies(stack: &Stack) -> bool {
    let signed = [
        stack.ca().cert_der().to_vec(),
        server_certificate(stack),
        stack.crl().der.clone(),
    ];
    signed.iter().all(|der| ecdsa_signature_is_full_length(der))
}

/// The emulator's TLS certificate, as a client receives it (through OpenSSL).
fn server_certificate(stack: &Stack) -> Vec<u8> {
    let probe = stack.issue_client("certificate probe").unwrap();
    let (cert, key) = (probe.cert_pem().as_bytes(), probe.key_pem().as_bytes());
    let ca = native_tls::Certificate::from_pem(stack.ca_pem().as_bytes()).unwrap();
    let connector = native_tls::TlsConnector::builder()
        .identity(native_tls::Identity::from_pkcs8(cert, key).unwrap())
        .add_root_certificate(ca)
        .disable_built_in_roots(true)
        .build()
        .unwrap();
    let stream = TcpStream::connect(("127.0.0.1", stack.credentials_port())).unwrap();
    let tls = connector.connect("localhost", stream).unwrap();
    tls.peer_certificate().unwrap().unwrap().to_der().unwrap()
}

/// Whether the ECDSA signature of a certificate or CRL (its third element, a BIT STRING
/// holding `SEQUENCE { r INTEGER, s INTEGER }`) has an r and an s of 32 bytes each.
fn ecdsa_signature_is_full_length(signed: &[u8]) -> bool {
    let (outer, _) = Tlv::read(signed).unwrap();
    let value = outer.children().nth(2).unwrap().unwrap();
    let (signature, _) = Tlv::read(&value.content[1..]).unwrap();
    signature
        .children()
        .all(|integer| significant_bytes(integer.unwrap().content) == 32)
}

fn significant_bytes(integer: &[u8]) -> usize {
    integer.iter().skip_while(|b| **b == 0).count()
}

/// The emulator by name: Wine's Schannel matches the server's name against the certificate's
/// DNS names only, and refuses an address named by an IP address entry (0x800B010F,
/// CERT_E_CN_NO_MATCH). AWS's endpoints are names, so nothing real depends on that.
fn credentials_endpoint(stack: &Stack) -> String {
    format!("https://localhost:{}", stack.credentials_port())
}

/// A fresh RSA key as PKCS#8 PEM.
fn rsa_key(dir: &Path) -> String {
    let args = [
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
    ];
    String::from_utf8(tool("openssl", &args, dir).stdout).unwrap()
}

/// An RSA client key (Wine's PKCS#12 import takes no other kind) that Wine 8's Schannel signs
/// with correctly. Wine copies each private component into a fixed-size field of a CryptoAPI
/// key blob (d as long as the modulus, p, q, dp, dq and qinv half of it) and reads a shorter
/// one from before its start. Measured on 120 OpenSSL keys: all 116 whose components fill
/// their fields worked; of the 4 others (a d one byte short, or a short dp or qinv) 2 failed
/// every handshake: "GnuTLS error: Public key signing has failed", SEC_E_INTERNAL_ERROR.
/// Real Windows signs with any valid key.
fn client_key(dir: &Path) -> String {
    loop {
        let key = rsa_key(dir);
        if private_components_fill_their_fields(&key) {
            return key;
        }
    }
}

/// A PKCS#8 `PrivateKeyInfo` holding `RSAPrivateKey { version, n, e, d, p, q, dp, dq, qinv }`.
fn private_components_fill_their_fields(pkcs8_pem: &str) -> bool {
    let der = pem::parse(pkcs8_pem).unwrap();
    let (info, _) = Tlv::read(der.contents()).unwrap();
    let key = info.children().nth(2).unwrap().unwrap();
    let (rsa, _) = Tlv::read(key.content).unwrap();
    let lengths: Vec<usize> = rsa
        .children()
        .map(|integer| significant_bytes(integer.unwrap().content))
        .collect();
    let (modulus, half) = (lengths[1], lengths[1].div_ceil(2));
    lengths[3] == modulus && lengths[4..].iter().all(|len| *len == half)
}

fn assert_signature_verifies(wine: &Wine, program: &Path) {
    let home = wine
        .signing_cert
        .parent()
        .expect("the certificate is in the run's folder");
    assert_verifies(home, program);
}

/// A TCP relay to S3 that passes the first `budget` bytes of S3's answers, then forwards
/// nothing more while keeping every connection open: a download that stalls half-way, for as
/// long as the test needs, until [`StallingProxy::release`].
struct StallingProxy {
    addr: SocketAddr,
    budget: Arc<Budget>,
}

struct Budget {
    limit: AtomicU64,
    passed: AtomicU64,
}

impl Budget {
    /// Whether `bytes` more may pass.
    fn take(&self, bytes: usize) -> bool {
        let before = self.passed.fetch_add(bytes as u64, Ordering::SeqCst);
        before + bytes as u64 <= self.limit.load(Ordering::SeqCst)
    }
}

impl StallingProxy {
    fn start(upstream_port: u16, budget: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let budget = Arc::new(Budget {
            limit: AtomicU64::new(budget),
            passed: AtomicU64::new(0),
        });
        let shared = budget.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                // Without S3 the client's connection closes, as it would in front of a
                // server that is down; the proxy goes on serving.
                if let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)) {
                    relay(client, upstream, shared.clone());
                }
            }
        });
        StallingProxy { addr, budget }
    }

    fn stalled(&self) -> bool {
        let budget = &self.budget;
        budget.passed.load(Ordering::SeqCst) >= budget.limit.load(Ordering::SeqCst)
    }

    /// New connections pass everything from now on.
    fn release(&self) {
        self.budget.limit.store(u64::MAX, Ordering::SeqCst);
    }
}

/// Requests pass freely; answers pass while the budget lasts.
fn relay(client: TcpStream, upstream: TcpStream, budget: Arc<Budget>) {
    let (mut client_in, mut upstream_out) =
        (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut upstream_out);
        let _ = upstream_out.shutdown(Shutdown::Both);
    });
    thread::spawn(move || forward_answers(upstream, client, &budget));
}

fn forward_answers(mut upstream: TcpStream, mut client: TcpStream, budget: &Budget) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let read = match upstream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if !budget.take(read) {
            // Stall: the client's connection stays open (the other thread holds it) and
            // receives nothing more.
            return;
        }
        if client.write_all(&buffer[..read]).is_err() {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Write);
}

/// Polls `condition` every 20 ms for up to `limit`.
fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn signed_receiver_downloads_verifies_and_leaves_no_key_under_wine() {
    let wine = wine();
    let started = Instant::now();
    let delivery = WineDelivery::new(&wine, "drawings.zip", random_bytes(6 * MIB + 5, 1));
    let before = wine.key_stores();

    let output = delivery.receive_with(&wine, "en", &["-v"], PASSWORD);
    assert_exit(&output, 0, "Done. The file is verified");
    // The log (-v) shows that the import made a container and that it was deleted.
    assert_exit(&output, 0, "deleted the key container");
    assert_eq!(
        delivery.files(),
        ["drawings.zip"],
        "no partial or state file"
    );
    assert!(
        delivery.saved("drawings.zip") == delivery.content,
        "the bytes differ"
    );

    let prefix = format!("receipts/{}/", delivery.transfer_id);
    let receipts = delivery.stack.list(&prefix).unwrap();
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    let receipt = delivery.stack.get_object(&receipts[0]).unwrap().unwrap();
    let receipt: serde_json::Value = serde_json::from_slice(&receipt).unwrap();
    assert_eq!(receipt["verified"], true);
    let client = receipt["client"].as_str().unwrap();
    assert!(
        client.ends_with("(windows)"),
        "written by the Windows exe: {client}"
    );

    assert_eq!(wine.key_stores(), before, "the key store is as it was");
    eprintln!("wine: download test took {:.1?}", started.elapsed());
}

#[test]
fn wrong_password_exits_3_under_wine_in_both_languages() {
    let wine = wine();
    let delivery = WineDelivery::new(&wine, "a.bin", random_bytes(1000, 2));
    let english = delivery.receive(&wine, "en", "not the password");
    assert_exit(&english, 3, "The password is wrong.");

    // On a pipe, Rust's standard library writes the UTF-8 bytes as they are.
    let japanese = delivery.receive(&wine, "ja", "not the password");
    assert_exit(&japanese, 3, "パスワードが違います。");
    assert!(delivery.files().is_empty(), "{:?}", delivery.files());
}

#[test]
fn revoked_transfer_exits_6_and_leaves_no_key_under_wine() {
    let wine = wine();
    let delivery = WineDelivery::new(&wine, "a.bin", random_bytes(1000, 3));
    delivery.stack.revoke(&delivery.transfer_id);
    let before = wine.key_stores();
    let output = delivery.receive(&wine, "en", PASSWORD);
    assert_exit(&output, 6, "The sender has cancelled this transfer");
    assert!(delivery.files().is_empty(), "{:?}", delivery.files());
    // The key was imported for the handshake; failing leaves it behind no more than success.
    assert_eq!(wine.key_stores(), before, "the key store is as it was");
}

#[test]
fn existing_file_is_kept_and_the_new_one_saved_beside_it_under_wine() {
    let wine = wine();
    let delivery = WineDelivery::new(&wine, "report.pdf", random_bytes(200_000, 4));
    let own = b"the recipient's own report";
    fs::write(delivery.downloads().join("report.pdf"), own).unwrap();
    let output = delivery.receive(&wine, "en", PASSWORD);
    assert_exit(&output, 0, "report (1).pdf");
    assert_eq!(delivery.saved("report.pdf"), own);
    assert!(delivery.saved("report (1).pdf") == delivery.content);
}

/// A killed receiver cannot delete its key; the next start must, even one that goes no
/// further than a wrong password.
#[test]
fn key_left_by_a_killed_receiver_is_removed_at_the_next_start() {
    let wine = wine();
    let content = random_bytes(6 * MIB, 5);
    let delivery = WineDelivery::stalling_after(&wine, "big.iso", content, 2 * MIB as u64);
    let before = wine.key_stores();

    // Start the download and kill Wine's process once it is stuck half-way. Its log goes to
    // a file, to say why if it never gets there.
    let log_path = delivery.dir.path().join("killed-run.log");
    let log = fs::File::create(&log_path).unwrap();
    let mut child = wine
        .command(&delivery.program)
        .args(delivery.args("en", &["-v"]))
        .arg("--password-stdin")
        .stdin(Stdio::piped())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    let proxy = delivery.proxy.as_ref().unwrap();
    let partial = || delivery.files().iter().any(|f| f.ends_with(PART_SUFFIX));
    let mut exited = None;
    let stuck = wait_until(Duration::from_secs(180), || {
        exited = child.try_wait().unwrap();
        exited.is_some() || (proxy.stalled() && partial())
    }) && exited.is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        stuck,
        "the download never reached the stall (exit: {exited:?}, files: {:?}):\n{}",
        delivery.files(),
        fs::read_to_string(&log_path).unwrap_or_default()
    );

    // The key is still in the prefix, and recorded.
    let killed = wine.key_stores();
    assert!(killed.has_rsa_container(), "no key container: {killed:#?}");
    assert_eq!(killed.records().len(), 1, "{killed:#?}");

    // The next start removes it, though it stops at the password.
    let wrong = delivery.receive(&wine, "en", "not the password");
    assert_exit(&wrong, 3, "The password is wrong.");
    assert_eq!(wine.key_stores(), before, "the key is gone");

    // And the download resumes and completes, leaving nothing behind either.
    proxy.release();
    let resumed = delivery.receive(&wine, "en", PASSWORD);
    assert_exit(&resumed, 0, "Done. The file is verified");
    assert!(delivery.saved("big.iso") == delivery.content);
    assert_eq!(wine.key_stores(), before);
}

/// A double-clicked receiver writes to a console: Rust's standard library then uses the
/// console's UTF-16 API (WriteConsoleW), whatever the code page. Under a pseudo-terminal Wine
/// gives the program such a console and renders it as UTF-8 with terminal escapes.
#[test]
fn japanese_reaches_a_console_and_sets_its_title_under_wine() {
    let wine = wine();
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("certdrop-receiver.exe");
    fs::copy(&wine.signed_stub, &program).unwrap();
    fs::copy(&wine.prng_shim, dir.path().join("bcryptprimitives.dll")).unwrap();

    let command_line = format!("wine '{}' --lang ja --no-pause", program.display());
    let mut script = Command::new("script");
    script.args(["-qec", &command_line, "/dev/null"]);
    let output = wine_env(&mut script, &wine.prefix).output().unwrap();
    let shown = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        shown.contains("これは中身の入っていない certdrop 受信プログラムです。"),
        "{shown}"
    );
    // SetConsoleTitleW reaches the terminal as its title.
    assert!(
        shown.contains("\x1b]0;certdrop ファイルの受け取り\x07"),
        "{shown:?}"
    );
    // Wine's console drew it (cursor escapes), so it did not go through a plain pipe.
    assert!(shown.contains("\x1b[?25l"), "{shown:?}");
}

#[test]
fn receiver_exe_carries_version_icon_and_manifest_as_windows_reads_them() {
    let wine = wine();
    let mut command = wine.command(&wine.resinfo);
    let output = command
        .arg(windows_path(&wine.signed_stub))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let shown = String::from_utf8(output.stdout).unwrap();
    let (fields, manifest) = shown.split_once("manifest=\n").expect("a manifest");

    let version = env!("CARGO_PKG_VERSION");
    let fixed = format!(
        "fixed={}.{}.{}.0",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH")
    );
    let expected = [
        "icons=1".to_owned(),
        "FileDescription=certdrop file receiver".to_owned(),
        format!("FileVersion={version}"),
        "ProductName=certdrop".to_owned(),
        format!("ProductVersion={version}"),
        "OriginalFilename=certdrop-receiver.exe".to_owned(),
        fixed,
    ];
    for line in &expected {
        assert!(
            fields.lines().any(|l| l == line),
            "missing {line} in\n{fields}"
        );
    }
    assert_eq!(manifest, fs::read_to_string(MANIFEST).unwrap());
    // resinfo.exe carries the same manifest: Wine honours its UTF-8 code page.
    assert!(fields.lines().any(|l| l == "acp=65001"), "{fields}");
}
