//! `certdrop send` logged at trace level, every library included: no secret it handles reaches
//! a log line. Those secrets are the sender's own AWS keys and session token, the password,
//! the new certificate's private key, the PKCS#12's password, and the temporary credentials
//! the preflight gets.

use std::io::Write;

use certdrop::container;
use certdrop::envelope::Envelope;
use certdrop::secret::Password;

use super::*;
use crate::support::{contains, private_key_forms, tool};

/// A session token, as SSO and assumed roles give (moto takes any).
const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEJr//////////wEaDmFwLW5vcnRoZWFzdC0xtraceonly";

#[test]
fn send_logged_at_trace_level_shows_no_secret() {
    let world = World::start("certdrop-e2e-trace");
    world.init(PROFILE);
    let keys = world.user("traced", &allow_everything());
    world.write_profile("traced", &keys);
    let mut credentials = std::fs::OpenOptions::new()
        .append(true)
        .open(world.path("aws-credentials"))
        .unwrap();
    writeln!(credentials, "aws_session_token = {SESSION_TOKEN}").unwrap();
    drop(credentials);
    copy_settings(&world, "traced");

    let file = world.path("plans.bin");
    random_file(&file, 9 * 1024 * 1024, 4);
    let out = world.path("out");
    std::fs::create_dir_all(&out).unwrap();
    let mut command = world.command("traced");
    command.env("RUST_LOG", "trace").arg("-v");
    command.args(["send", file.to_str().unwrap(), "--platform", "linux-x86_64"]);
    command
        .args(["--json", "--kdf-memory-mib", "8", "--out"])
        .arg(&out);
    let output = run_with_stdin(&mut command, "");
    assert!(output.status.success(), "send failed:\n{}", text(&output));
    let log = output.stderr;
    let shown = String::from_utf8_lossy(&log);
    // Trace lines of the SDK and of its HTTP client, not only certdrop's own.
    for target in ["aws_smithy_runtime", "hyper", "certdrop"] {
        assert!(shown.contains(target), "no {target} trace line:\n{shown}");
    }

    // What the program holds, opened as the recipient would.
    let sent: Value = serde_json::from_slice(&output.stdout).unwrap();
    let password = sent["password"].as_str().unwrap();
    let id = sent["transfer_id"].as_str().unwrap();
    let sealed = container::read_envelope(&program_of(&sent))
        .unwrap()
        .unwrap();
    let payload = Envelope::read(&sealed)
        .unwrap()
        .open(&Password::new(password.to_owned()))
        .unwrap();
    let pkcs12_password = payload.pkcs12_password.expose().to_owned();
    let p12 = world.path("identity.p12");
    std::fs::write(&p12, payload.pkcs12.expose()).unwrap();
    let passin = format!("pass:{pkcs12_password}");
    let args = [
        "pkcs12",
        "-in",
        "identity.p12",
        "-nocerts",
        "-nodes",
        "-passin",
        &passin,
    ];
    let key_pem =
        String::from_utf8(tool("openssl", &args, world.path("").as_path()).stdout).unwrap();
    let key_pem = &key_pem[key_pem.find("-----BEGIN").expect("a private key")..];

    let mut secrets = vec![
        ("the sender's secret access key", keys.secret.clone()),
        ("the sender's session token", SESSION_TOKEN.to_owned()),
        ("the password", password.to_owned()),
        ("the PKCS#12 password", pkcs12_password),
    ];
    let issued = world.stack.store().issued_to(id);
    assert!(!issued.is_empty(), "the preflight got no credentials");
    for credentials in &issued {
        secrets.push((
            "a secret access key",
            credentials.secret_access_key().into(),
        ));
        secrets.push(("a session token", credentials.session_token().into()));
    }
    secrets.extend(private_key_forms(key_pem));
    for (what, secret) in &secrets {
        assert!(
            !contains(&log, secret.as_bytes()),
            "{what} appears in the log"
        );
    }
    assert!(
        !shown.contains("PRIVATE KEY"),
        "a private key appears in the log"
    );
}
