//! One transfer on the stand-ins, reached through the fault proxy, and the Linux receiver run
//! against it as a child process that a scenario can watch, kill and start again.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use certdrop::standins::{Stack, StackConfig};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::gate::Gate;
use super::proxy::{FaultProxy, Plan};
use crate::support::{linux_stub, Transfer, PASSWORD};

/// The longest one receiver run may take in any scenario.
pub const RUN_DEADLINE: Duration = Duration::from_secs(120);

/// A transfer set up on the stand-ins, with the proxy in front of S3 and the gate in front of
/// the credentials emulator.
pub struct Setup {
    pub stack: Stack,
    pub proxy: FaultProxy,
    pub gate: Gate,
    pub key: String,
    pub name: String,
    pub content: Vec<u8>,
    pub program: PathBuf,
    /// Where the receiver saves the file.
    pub out: PathBuf,
    _dir: tempfile::TempDir,
}

impl Setup {
    pub fn new(config: StackConfig, content: Vec<u8>, plan: Plan) -> Self {
        Self::saving_into(config, content, plan, None)
    }

    /// A transfer whose file goes into `out` (a small disk, say) instead of a new folder.
    pub fn saving_into(
        config: StackConfig,
        content: Vec<u8>,
        plan: Plan,
        out: Option<PathBuf>,
    ) -> Self {
        let stack = Stack::start(config).expect("the stand-ins start");
        let proxy = FaultProxy::start(s3_address(&stack), plan);
        let gate = Gate::start(([127, 0, 0, 1], stack.credentials_port()).into());
        let client = stack
            .issue_client("recipient")
            .expect("a client certificate");
        let name = "faults.bin".to_owned();
        let key = format!("transfers/{}/{name}", client.certificate_id());
        stack
            .put_object(&key, &content)
            .expect("the object is stored");

        // The manifest names the proxy as the S3 endpoint: it is the host the receiver signs.
        let manifest = json!({
            "transfer_id": client.certificate_id(),
            "credentials_endpoint": gate.endpoint(),
            "role_alias": stack.role_alias(),
            "region": stack.region(),
            "bucket": stack.bucket(),
            "key": key,
            "s3_endpoint": proxy.endpoint(),
            "size": content.len(),
            "sha256": hex::encode(Sha256::digest(&content)),
            "file_name": name,
            "expires_at": "2099-01-01T00:00:00Z",
            "sender": "Fault injection",
            "trust_anchor_pem": stack.ca_pem(),
        });
        let transfer = Transfer {
            dir: tempfile::tempdir().expect("a temporary folder"),
        };
        std::fs::write(transfer.path("transfer.json"), manifest.to_string()).unwrap();
        std::fs::write(transfer.path("cert.pem"), client.cert_pem()).unwrap();
        std::fs::write(transfer.path("key.pem"), client.key_pem()).unwrap();
        let program = transfer.path("receive");
        transfer.pack_ok(&linux_stub(), &program);
        let out = out.unwrap_or_else(|| transfer.path("downloads"));
        std::fs::create_dir_all(&out).unwrap();
        Setup {
            stack,
            proxy,
            gate,
            key,
            name,
            content,
            program,
            out,
            _dir: transfer.dir,
        }
    }

    /// Starts the receiver with the password on its standard input.
    pub fn spawn(&self, extra: &[&str]) -> Running {
        let mut child = Command::new(&self.program)
            .arg("--out")
            .arg(&self.out)
            .args(["--no-pause", "--password-stdin", "--lang", "en", "-v"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the receiver starts");
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let _ = writeln!(stdin, "{PASSWORD}");
        drop(stdin);
        let stdout = collect(child.stdout.take().expect("stdout is piped"));
        let stderr = collect(child.stderr.take().expect("stderr is piped"));
        Running {
            child,
            stdout,
            stderr,
            started: Instant::now(),
        }
    }

    /// Runs the receiver to its end.
    pub fn run(&self, extra: &[&str]) -> Outcome {
        self.spawn(extra).wait(RUN_DEADLINE)
    }

    pub fn final_path(&self) -> PathBuf {
        self.out.join(&self.name)
    }

    pub fn part_path(&self) -> PathBuf {
        self.out.join(format!("{}.certdrop-part", self.name))
    }

    pub fn state_path(&self) -> PathBuf {
        self.out.join(format!("{}.certdrop-state", self.name))
    }

    /// The resume state's `done` string and part size, if there is a readable state.
    pub fn state(&self) -> Option<(String, u64)> {
        let text = std::fs::read_to_string(self.state_path()).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        Some((
            json["done"].as_str()?.to_owned(),
            json["part_size"].as_u64()?,
        ))
    }

    /// Bytes of the parts the state calls done that the partial file does not hold.
    pub fn lost_in_partial(&self, done: &str, part_size: u64) -> u64 {
        let partial = std::fs::read(self.part_path()).unwrap_or_default();
        let mut lost = 0;
        for (index, flag) in done.bytes().enumerate() {
            let start = (index as u64 * part_size) as usize;
            let end = (start + part_size as usize).min(self.content.len());
            if flag == b'1' && partial.get(start..end) != Some(&self.content[start..end]) {
                lost += (end - start) as u64;
            }
        }
        lost
    }

    /// Waits until the state records at least `parts` finished parts.
    pub fn wait_for_parts(&self, running: &mut Running, parts: usize) -> Result<(), String> {
        let deadline = Instant::now() + RUN_DEADLINE;
        loop {
            let done = self.state().map_or(0, |(d, _)| d.matches('1').count());
            if done >= parts {
                return Ok(());
            }
            if running.has_exited() || Instant::now() > deadline {
                return Err(format!(
                    "the receiver ended before {parts} part(s) were done (state: {:?}):\n{}",
                    self.state(),
                    tail(&running.stderr.so_far())
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Bytes of the saved file that differ from the content: all of it when it is missing.
    pub fn lost_in_final(&self) -> u64 {
        match std::fs::read(self.final_path()) {
            Ok(bytes) if bytes == self.content => 0,
            _ => self.content.len() as u64,
        }
    }

    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.out)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// The S3 stand-in's socket address.
fn s3_address(stack: &Stack) -> std::net::SocketAddr {
    let endpoint = stack.s3_endpoint();
    let authority = endpoint.trim_start_matches("http://");
    authority
        .parse()
        .expect("the S3 stand-in listens on an IP address")
}

/// A receiver that is running.
pub struct Running {
    child: Child,
    stdout: Collected,
    stderr: Collected,
    pub started: Instant,
}

/// What a pipe has carried so far, and the thread that reads it to its end.
struct Collected {
    bytes: Arc<Mutex<Vec<u8>>>,
    thread: JoinHandle<()>,
}

impl Collected {
    fn so_far(&self) -> String {
        let bytes = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn finish(self) -> String {
        let Collected { bytes, thread } = self;
        let _ = thread.join();
        let bytes = bytes.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// How a receiver run ended.
pub struct Outcome {
    /// `None` when a signal ended it.
    pub code: Option<i32>,
    pub output: String,
}

impl Outcome {
    /// Checks the exit code and that the output holds `message`.
    pub fn expect(&self, code: i32, message: &str) -> Result<(), String> {
        if self.code != Some(code) || !self.output.contains(message) {
            return Err(format!(
                "expected exit {code} with {message:?}, got exit {:?}:\n{}",
                self.code,
                tail(&self.output)
            ));
        }
        Ok(())
    }

    /// The parts already done when the run resumed (its "resuming" debug line), 0 without one.
    pub fn resumed_parts(&self) -> usize {
        let line = self
            .output
            .lines()
            .find(|l| l.contains("resuming the download"));
        line.and_then(|l| l.split("parts_done=").nth(1))
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

impl Running {
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits until the receiver's standard error holds `text`.
    pub fn wait_for_log(&mut self, text: &str) -> Result<(), String> {
        let deadline = self.started + RUN_DEADLINE;
        while !self.stderr.so_far().contains(text) {
            if self.has_exited() || Instant::now() > deadline {
                return Err(format!("the receiver never logged {text:?}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// SIGKILL, as a crash or a closed laptop lid would end it.
    pub fn kill(mut self) -> Outcome {
        let _ = self.child.kill();
        self.finish()
    }

    /// Waits for the end, killing the receiver after `deadline`.
    pub fn wait(mut self, deadline: Duration) -> Outcome {
        while !self.has_exited() {
            if self.started.elapsed() > deadline {
                let mut outcome = self.kill();
                outcome.output.push_str("\n(killed: the run took too long)");
                return outcome;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.finish()
    }

    fn finish(mut self) -> Outcome {
        let status = self.child.wait().expect("waiting for the receiver");
        let stdout = self.stdout.finish();
        let stderr = self.stderr.finish();
        Outcome {
            code: status.code(),
            output: format!("--- stdout\n{stdout}--- stderr\n{stderr}"),
        }
    }
}

fn collect(mut pipe: impl Read + Send + 'static) -> Collected {
    let bytes = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&bytes);
    let thread = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = pipe.read(&mut chunk) {
            let mut sink = sink.lock().unwrap_or_else(|e| e.into_inner());
            sink.extend_from_slice(&chunk[..n]);
        }
    });
    Collected { bytes, thread }
}

/// The last lines of a long output, for failure messages.
pub fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
