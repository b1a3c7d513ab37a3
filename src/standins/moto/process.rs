//! Running `moto_server` for a test: found through `MOTO_SERVER` or `PATH`, started on a
//! free port of 127.0.0.1, stopped when dropped.

use std::env;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::MotoError;

/// The variable that names the `moto_server` program (`.ci/run` sets it).
pub const MOTO_SERVER_VAR: &str = "MOTO_SERVER";
/// The program looked up on `PATH` when the variable is not set.
const PROGRAM_NAME: &str = "moto_server";
/// moto is usually ready within a second or two; a loaded machine may need more.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const READY_POLL: Duration = Duration::from_millis(100);

/// Where `moto_server` is: `MOTO_SERVER` when set, else the first `moto_server` on `PATH`.
pub fn moto_server_program() -> Result<PathBuf, MotoError> {
    if let Some(path) = env::var_os(MOTO_SERVER_VAR).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(MotoError::NotInstalled(format!(
                "{MOTO_SERVER_VAR}={} is no file",
                path.display()
            )))
        };
    }
    let on_path = env::var_os("PATH").and_then(|paths| {
        env::split_paths(&paths)
            .map(|dir| dir.join(PROGRAM_NAME))
            .find(|candidate| candidate.is_file())
    });
    on_path.ok_or_else(|| MotoError::NotInstalled(format!("no {PROGRAM_NAME} on PATH")))
}

/// A `moto_server` child process. Dropping it kills the process.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    endpoint: String,
    log: PathBuf,
}

impl MotoServer {
    /// Starts the `moto_server` that [`moto_server_program`] finds and waits until it
    /// accepts connections.
    pub fn start() -> Result<MotoServer, MotoError> {
        MotoServer::start_program(&moto_server_program()?)
    }

    pub fn start_program(program: &Path) -> Result<MotoServer, MotoError> {
        let port = free_port()?;
        let log = env::temp_dir().join(format!("certdrop-moto-{port}.log"));
        let log_file = File::create(&log).map_err(MotoError::Io)?;
        let stderr = log_file.try_clone().map_err(MotoError::Io)?;
        let child = Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(stderr)
            .spawn()
            .map_err(|e| MotoError::NotInstalled(format!("{}: {e}", program.display())))?;
        let mut server = MotoServer {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_until_ready(port)?;
        Ok(server)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The file that holds moto's output, for a failing test to show.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    fn wait_until_ready(&mut self, port: u16) -> Result<(), MotoError> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = self.log.display();
                return Err(MotoError::Exited(format!("{status}; see {log}")));
            }
            if TcpStream::connect_timeout(&addr, READY_POLL).is_ok() {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(MotoError::Exited(format!(
                    "not ready after {READY_TIMEOUT:?}"
                )));
            }
            thread::sleep(READY_POLL);
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A port nobody listens on right now.
///
/// Limitation: the port is released before moto binds it, so another process could take it
/// in between; moto then fails to start and the test says so rather than hanging.
fn free_port() -> Result<u16, MotoError> {
    let probe = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(MotoError::Io)?;
    Ok(probe.local_addr().map_err(MotoError::Io)?.port())
}
