//! The sender's AWS commands against moto: `certdrop init`, `send`, `list`, `status`,
//! `revoke`, `delete` and `sweep`, run as the real binary with moto as AWS (authentication
//! on: every call is signed and checked against IAM policies) and the project's credentials
//! emulator reading moto's IoT registry, so the packed receiver really downloads.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use certdrop::sigv4::Credentials;
use certdrop::standins::moto::{MotoClient, MotoIssuerConfig, MotoServer, MOTO_REGION};
use certdrop::standins::{signed, Stack, StackConfig};
use serde_json::Value;

use crate::support::{certdrop, file_names, receive, run_with_stdin, text, SmallDisk};

mod secrets;
mod uploads;

const PROFILE: &str = "e2e";

/// moto with auth on, the credentials emulator reading moto's registry, and a home folder
/// with an AWS profile for the `certdrop` binary.
struct World {
    runtime: tokio::runtime::Runtime,
    moto: MotoServer,
    admin: MotoClient,
    stack: Stack,
    home: tempfile::TempDir,
    bucket: String,
    /// Keys that may read everything, to check what the commands left in moto.
    inspector: Credentials,
}

/// Keys of a moto IAM user, in the clear: only for the test's AWS credentials file.
struct UserKeys {
    id: String,
    secret: String,
}

impl World {
    fn start(bucket: &str) -> World {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let moto = MotoServer::start().unwrap_or_else(|e| panic!("{e}"));
        let bootstrap = Credentials::new("AKIAIOSFODNN7EXAMPLE", "bootstrap");
        let anyone = MotoClient::new(moto.endpoint(), bootstrap).unwrap();
        let emulator_keys = runtime
            .block_on(anyone.create_admin_user("certdrop-emulator"))
            .unwrap();
        let admin = MotoClient::new(moto.endpoint(), emulator_keys.clone()).unwrap();
        let config = StackConfig {
            bucket: bucket.to_owned(),
            credential_lifetime: std::time::Duration::from_secs(900),
            moto: Some(MotoIssuerConfig {
                endpoint: moto.endpoint().to_owned(),
                admin: emulator_keys,
                receiver_policy: shipped_receiver_policy(bucket),
            }),
            moto_registry: true,
            ..StackConfig::default()
        };
        let stack = Stack::start(config).unwrap();
        let world = World {
            runtime,
            moto,
            admin,
            stack,
            home: tempfile::tempdir().unwrap(),
            bucket: bucket.to_owned(),
            inspector: Credentials::new("unset", "unset"),
        };
        let inspector = world.user("test-inspector", &allow_everything());
        let mut world = world;
        world.inspector = Credentials::new(inspector.id, inspector.secret);
        let it = world.user("it-admin", &allow_everything());
        world.write_profile(PROFILE, &it);
        std::fs::write(world.path("ca.pem"), world.stack.ca_pem()).unwrap();
        world
    }

    /// Switches moto's checking of signatures and IAM policies on or off.
    ///
    /// Limitation: moto recomputes a signature from the form fields it parsed whenever a
    /// request's body is empty (and for large form bodies), so it answers
    /// SignatureDoesNotMatch to correctly signed POST and PUT requests that carry their
    /// parameters in the query string: CreateKeysAndCertificate (`?setAsActive=true`),
    /// UpdateCertificate (`?newStatus=...`), and CreateStack with the whole template. Those
    /// commands run with checking off; the receiver's downloads, receipts and the sender's
    /// read-only calls run with it on.
    fn auth(&self, on: bool) {
        let body = if on { "0" } else { "inf" };
        let url = format!("{}/moto-api/reset-auth", self.moto.endpoint());
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let status = self.runtime.block_on(async {
            let sent = http
                .post(url)
                .header("content-type", "text/plain")
                .body(body);
            sent.send().await.unwrap().status()
        });
        assert!(status.is_success(), "reset-auth {body}: {status}");
    }

    fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    /// An IAM user with one inline policy; its new access key.
    fn user(&self, name: &str, policy: &str) -> UserKeys {
        let call = |action: &str, params: &[(&str, &str)]| {
            self.runtime
                .block_on(self.admin.call("iam", action, params))
                .unwrap_or_else(|e| panic!("{action}: {e}"))
        };
        call("CreateUser", &[("UserName", name)]);
        let params = [
            ("UserName", name),
            ("PolicyName", "p"),
            ("PolicyDocument", policy),
        ];
        call("PutUserPolicy", &params);
        let answer = call("CreateAccessKey", &[("UserName", name)]);
        UserKeys {
            id: xml(&answer, "AccessKeyId"),
            secret: xml(&answer, "SecretAccessKey"),
        }
    }

    /// Adds a profile to the test's AWS files (appending: several profiles coexist).
    fn write_profile(&self, profile: &str, keys: &UserKeys) {
        use std::io::Write;
        let mut credentials = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("aws-credentials"))
            .unwrap();
        writeln!(
            credentials,
            "[{profile}]\naws_access_key_id = {}\naws_secret_access_key = {}",
            keys.id, keys.secret
        )
        .unwrap();
        let mut config = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("aws-config"))
            .unwrap();
        let section = match profile {
            "default" => "[default]".to_owned(),
            other => format!("[profile {other}]"),
        };
        writeln!(config, "{section}\nregion = {MOTO_REGION}").unwrap();
    }

    /// `certdrop` with this world's AWS files, endpoint and config folder, and `profile`.
    fn command(&self, profile: &str) -> Command {
        let mut command = certdrop();
        for name in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL_S3",
            "AWS_CA_BUNDLE",
        ] {
            command.env_remove(name);
        }
        command
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("AWS_CONFIG_FILE", self.path("aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.path("aws-credentials"))
            .env("AWS_PROFILE", profile)
            .env("AWS_ENDPOINT_URL", self.moto.endpoint())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_PROXY", "127.0.0.1,localhost");
        command
    }

    fn run(&self, profile: &str, args: &[&str]) -> Output {
        let output = self.command(profile).args(args).output().unwrap();
        output
    }

    fn run_ok(&self, profile: &str, args: &[&str]) -> Output {
        let output = self.run(profile, args);
        assert!(
            output.status.success(),
            "certdrop {args:?} failed:\n{}",
            text(&output)
        );
        output
    }

    /// `certdrop init` creating the bucket, pointing receivers at the emulator.
    fn init(&self, profile: &str) -> Output {
        let args = self.init_args("--create-bucket", &self.bucket);
        self.run_ok(
            profile,
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    }

    /// `certdrop init --bucket NAME`: adopting a bucket that exists.
    fn adopt(&self, bucket: &str) -> Output {
        let args = self.init_args("--bucket", bucket);
        self.run(
            PROFILE,
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    }

    /// `init BUCKET_OPTION BUCKET`, pointing receivers at the emulator.
    fn init_args(&self, bucket_option: &str, bucket: &str) -> Vec<String> {
        let ca = self.path("ca.pem");
        let args = [
            "init",
            bucket_option,
            bucket,
            "--credentials-endpoint",
            &self.stack.credentials_endpoint(),
            "--ca-file",
            ca.to_str().unwrap(),
        ];
        args.map(str::to_owned).to_vec()
    }

    /// The ids of the bucket's lifecycle rules.
    fn lifecycle_rules(&self, bucket: &str) -> Vec<String> {
        let (status, body) = self.s3("GET", &format!("/{bucket}?lifecycle"));
        assert_eq!(status, 200, "{body}");
        xml_all(&body, "ID")
    }

    /// `certdrop send FILE --json` for a Linux receiver, generated password.
    fn send(&self, profile: &str, file: &str, extra: &[&str]) -> Output {
        self.send_through(profile, file, &[], extra)
    }

    /// `send`, with services reached elsewhere than moto's own address: `endpoints` are
    /// pairs of a service's endpoint variable (`AWS_ENDPOINT_URL_S3`, say) and its URL.
    fn send_through(
        &self,
        profile: &str,
        file: &str,
        endpoints: &[(&str, &str)],
        extra: &[&str],
    ) -> Output {
        let out = self.path("out");
        std::fs::create_dir_all(&out).unwrap();
        let mut command = self.command(profile);
        command.envs(endpoints.iter().copied());
        command.args(["send", file, "--platform", "linux-x86_64", "--json"]);
        command.args(["--kdf-memory-mib", "8", "--out"]).arg(&out);
        command.args(extra);
        run_with_stdin(&mut command, "")
    }

    /// After a failed send: no certificate, object, open upload or program is left.
    fn assert_nothing_left(&self, program_name: &str) {
        let certificates = self.certificates();
        assert!(certificates.is_empty(), "{certificates:?}");
        assert!(self.policy_targets().is_empty());
        assert!(self.keys("transfers/").is_empty());
        let uploads = self.open_uploads();
        assert!(uploads.is_empty(), "{uploads:?}");
        assert!(!self.path("out").join(program_name).exists());
    }

    fn send_ok(&self, profile: &str, file: &str, extra: &[&str]) -> Value {
        let output = self.send(profile, file, extra);
        assert!(output.status.success(), "send failed:\n{}", text(&output));
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("send --json printed no JSON ({e}):\n{}", text(&output)))
    }

    /// The keys under `prefix` in moto's bucket.
    fn keys(&self, prefix: &str) -> Vec<String> {
        let query = format!("list-type=2&prefix={}", certdrop::sigv4::uri_encode(prefix));
        let (status, body) = self.s3("GET", &format!("/{}?{query}", self.bucket));
        assert_eq!(status, 200, "{body}");
        xml_all(&body, "Key")
    }

    /// Multipart uploads still open in the bucket.
    fn open_uploads(&self) -> Vec<String> {
        let (status, body) = self.s3("GET", &format!("/{}?uploads", self.bucket));
        assert_eq!(status, 200, "{body}");
        xml_all(&body, "UploadId")
    }

    fn tags(&self, key: &str) -> Vec<(String, String)> {
        let path = format!(
            "/{}{}?tagging",
            self.bucket,
            certdrop::sigv4::s3_key_path(key)
        );
        let (status, body) = self.s3("GET", &path);
        assert_eq!(status, 200, "{body}");
        xml_all(&body, "Key")
            .into_iter()
            .zip(xml_all(&body, "Value"))
            .collect()
    }

    fn s3(&self, method: &str, path_and_query: &str) -> (u16, String) {
        self.s3_with_body(method, path_and_query, Vec::new())
    }

    fn s3_with_body(&self, method: &str, path_and_query: &str, body: Vec<u8>) -> (u16, String) {
        self.s3_request(method, path_and_query, &[], body)
    }

    /// A signed S3 request with the inspector's keys, as an administrator would make it.
    fn s3_request(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, String) {
        let url =
            reqwest::Url::parse(&format!("{}{path_and_query}", self.moto.endpoint())).unwrap();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let settings = signed::s3_settings(MOTO_REGION, &body);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.runtime.block_on(async {
            let keys = self.inspector.clone();
            let response = signed::send(&http, &keys, &settings, method, url, headers, body)
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        })
    }

    /// moto's certificates: (id, status).
    fn certificates(&self) -> Vec<(String, String)> {
        let answer = self
            .runtime
            .block_on(self.admin.iot(reqwest::Method::GET, "/certificates"))
            .unwrap();
        let answer: Value = serde_json::from_str(&answer).unwrap();
        answer["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let field = |name: &str| c[name].as_str().unwrap().to_owned();
                (field("certificateId"), field("status"))
            })
            .collect()
    }

    /// The certificate ARNs carrying certdrop's IoT policy.
    fn policy_targets(&self) -> Vec<String> {
        let path = "/policy-targets/certdrop-receiver";
        let answer = self
            .runtime
            .block_on(self.admin.iot(reqwest::Method::POST, path))
            .unwrap();
        let answer: Value = serde_json::from_str(&answer).unwrap();
        let targets = answer["targets"].as_array().unwrap();
        targets
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect()
    }
}

fn allow_everything() -> String {
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#
        .to_owned()
}

/// templates/receiver-policy.json for `bucket`: the shipped policy, not a copy.
fn shipped_receiver_policy(bucket: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/receiver-policy.json");
    std::fs::read_to_string(path)
        .unwrap()
        .replace("${Partition}", "aws")
        .replace("${Bucket}", bucket)
}

/// templates/sender-policy.json for moto, without the statement whose Sid is `without` and
/// without `drop_action`. moto authorizes IoT and CloudFormation calls against the resource
/// `*` only (and reads no `s3:prefix` condition), so those statements get `*` here; the S3
/// statements keep their real resources.
fn sender_policy_for_moto(bucket: &str, drop_action: Option<&str>) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/sender-policy.json");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("${Partition}", "aws")
        .replace("${Bucket}", bucket)
        .replace("${Region}", MOTO_REGION)
        .replace("${AccountId}", "123456789012")
        .replace("${StackName}", "certdrop");
    let mut policy: Value = serde_json::from_str(&text).unwrap();
    for statement in policy["Statement"].as_array_mut().unwrap() {
        let object = statement.as_object_mut().unwrap();
        object.remove("Condition");
        let actions: Vec<Value> = match &object["Action"] {
            Value::Array(list) => list.clone(),
            one => vec![one.clone()],
        };
        let actions: Vec<Value> = actions
            .into_iter()
            .filter(|a| Some(a.as_str().unwrap()) != drop_action)
            .collect();
        let is_s3 = actions
            .iter()
            .all(|a| a.as_str().unwrap().starts_with("s3:"));
        if !is_s3 {
            object.insert("Resource".into(), "*".into());
        }
        object.insert("Action".into(), Value::Array(actions));
    }
    policy.to_string()
}

fn xml(text: &str, tag: &str) -> String {
    xml_all(text, tag)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no <{tag}> in {text}"))
}

fn xml_all(text: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        found.push(
            after[..end]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&amp;", "&"),
        );
        rest = &after[end..];
    }
    found
}

fn random_file(path: &Path, size: usize, seed: u8) -> Vec<u8> {
    let mut content = vec![0u8; size];
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
    for byte in &mut content {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        *byte = state as u8;
    }
    std::fs::write(path, &content).unwrap();
    content
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn program_of(sent: &Value) -> PathBuf {
    PathBuf::from(sent["programs"][0].as_str().unwrap())
}

fn receive_into(world: &World, sent: &Value, folder: &str) -> Output {
    let out = world.path(folder);
    let password = sent["password"].as_str().unwrap();
    receive(
        &program_of(sent),
        &["--out", out.to_str().unwrap(), "--no-pause"],
        password,
    )
}

#[test]
fn init_send_receive_status_revoke_delete_on_moto() {
    let world = World::start("certdrop-e2e-main");

    // init deploys, and a second run (checked by moto's IAM) changes nothing.
    let first = world.init(PROFILE);
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("is set up"),
        "{}",
        text(&first)
    );
    world.auth(true);
    let second = world.init(PROFILE);
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("no change"),
        "{}",
        text(&second)
    );
    world.auth(false);

    // Without --credentials-endpoint and --ca-file, the ones given earlier are kept (moto
    // mis-verifies IoT signatures in auth mode: World::auth).
    let bare = ["init", "--create-bucket", "certdrop-e2e-main"];
    let third = world.run_ok(PROFILE, &bare);
    assert!(
        String::from_utf8_lossy(&third.stdout).contains("no change"),
        "{}",
        text(&third)
    );
    assert!(
        stderr(&third).contains("keeping the credentials endpoint given earlier"),
        "{}",
        text(&third)
    );

    // send, as a sender with the sender policy: a 20 MiB file (3 parts) whose name has UTF-8
    // and spaces.
    let sender = world.user("sender", &sender_policy_for_moto("certdrop-e2e-main", None));
    world.write_profile("sender", &sender);
    copy_settings(&world, "sender");
    let file = world.path("見積書 2026 final.bin");
    let content = random_file(&file, 20 * 1024 * 1024 + 5, 1);
    let sent = world.send_ok(
        "sender",
        file.to_str().unwrap(),
        &["--to", "Tanaka, ACME", "--expires", "36h", "--from", "Sato"],
    );
    let id = sent["transfer_id"].as_str().unwrap().to_owned();
    let key = format!("transfers/{id}/見積書 2026 final.bin");
    assert_eq!(sent["key"], key.as_str());
    assert_eq!(sent["size"], content.len() as u64);
    assert_eq!(world.keys("transfers/"), std::slice::from_ref(&key));
    assert_eq!(
        world.tags(&key),
        [("certdrop-ttl".to_owned(), "3d".to_owned())]
    );
    assert_eq!(world.certificates(), [(id.clone(), "ACTIVE".to_owned())]);
    let arn_end = format!("cert/{id}");
    assert!(world.policy_targets().iter().any(|t| t.ends_with(&arn_end)));
    let program = program_of(&sent);
    assert_eq!(program.file_name().unwrap(), "receive-見積書 2026 final");
    assert!(world.open_uploads().is_empty());

    // The recipient's program downloads, verifies, and leaves a receipt.
    //
    // Limitation: moto in auth mode re-encodes an already percent-encoded path when it checks
    // a signature, so it refuses every signed request for a key outside ASCII; this download
    // runs with its checks off. The ASCII transfer below is downloaded with them on.
    let output = receive_into(&world, &sent, "downloads");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let received = std::fs::read(world.path("downloads/見積書 2026 final.bin")).unwrap();
    assert!(received == content, "the received file differs");

    // moto's S3 judges the receiver by the shipped receiver policy: its own transfer only.
    let ascii = world.path("drawings v2.zip");
    let ascii_content = random_file(&ascii, 3 * 1024 * 1024, 9);
    let other = world.send_ok("sender", ascii.to_str().unwrap(), &[]);
    world.auth(true);
    let output = receive_into(&world, &other, "downloads-ascii");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let received = std::fs::read(world.path("downloads-ascii/drawings v2.zip")).unwrap();
    assert!(received == ascii_content, "the received file differs");
    world.auth(false);
    world.run_ok(
        "sender",
        &["delete", other["transfer_id"].as_str().unwrap()],
    );
    // A deleted transfer's program is refused like a revoked one.
    let output = receive_into(&world, &other, "downloads-deleted");
    assert_eq!(output.status.code(), Some(6), "{}", text(&output));
    assert!(text(&output).contains("The sender has cancelled this transfer"));
    let folder = world.path("downloads-deleted");
    assert!(!folder.exists() || file_names(&folder).is_empty());

    // list and status show it, with the receipt and the recipient's name.
    let listed = world.run_ok("sender", &["list", "--json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["transfer_id"], id.as_str());
    assert_eq!(listed[0]["state"], "active");
    assert_eq!(listed[0]["recipient"], "Tanaka, ACME");
    let status = world.run_ok("sender", &["status", &id[..12], "--json"]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["receipts"][0]["verified"], true, "{status}");
    let shown = world.run_ok("sender", &["status", &id]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("downloaded, verified"));

    // revoke: the program is refused, plainly.
    let revoked = world.run_ok("sender", &["revoke", &id]);
    assert!(String::from_utf8_lossy(&revoked.stdout).contains("until they expire"));
    let output = receive_into(&world, &sent, "downloads-again");
    assert_eq!(output.status.code(), Some(6), "{}", text(&output));
    assert!(text(&output).contains("The sender has cancelled this transfer"));
    let listed = world.run_ok("sender", &["list", "--json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["state"], "revoked");

    // delete leaves nothing behind: no certificate, object, receipt or record.
    world.run_ok("sender", &["delete", &id]);
    assert!(world.certificates().is_empty());
    assert!(world.keys("transfers/").is_empty());
    assert!(world.keys("receipts/").is_empty());
    let records = world.path("config/certdrop/transfers/sender");
    let left = std::fs::read_dir(&records).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "local records left in {}", records.display());
}

/// `command` run through `setpriv` without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so that
/// file permissions apply to it even when the tests run as root.
fn without_permission_override(command: Command) -> Command {
    let mut wrapped = Command::new("setpriv");
    wrapped.args(["--bounding-set=-dac_override,-dac_read_search", "--"]);
    wrapped.arg(command.get_program()).args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(name, value),
            None => wrapped.env_remove(name),
        };
    }
    wrapped
}

/// The endpoint variable of the S3 client, for [`World::send_through`].
const S3: &str = "AWS_ENDPOINT_URL_S3";

/// The settings `init` wrote for the IT profile, for another profile of the same account.
fn copy_settings(world: &World, profile: &str) {
    let profiles = world.path("config/certdrop/profiles");
    std::fs::copy(
        profiles.join(format!("{PROFILE}.json")),
        profiles.join(format!("{profile}.json")),
    )
    .unwrap();
}

#[test]
fn send_rolls_back_everything_when_a_step_fails_halfway() {
    let world = World::start("certdrop-e2e-rollback");
    world.init(PROFILE);
    let file = world.path("report.zip");
    random_file(&file, 9 * 1024 * 1024, 2);

    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);

    // IoT unreachable: CreateKeysAndCertificate, the first step, fails; nothing was made.
    let iot = [("AWS_ENDPOINT_URL_IOT", dead_url.as_str())];
    let output = world.send_through(PROFILE, file.to_str().unwrap(), &iot, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let message = stderr(&output);
    assert!(
        message.contains("could not reach AWS for iot:CreateKeysAndCertificate"),
        "{message}"
    );
    world.assert_nothing_left("receive-report");

    // S3 unreachable: the certificate is created and the policy attached, then the upload
    // fails; the certificate goes away again.
    let output = world.send_through(PROFILE, file.to_str().unwrap(), &[(S3, &dead_url)], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let message = stderr(&output);
    assert!(
        message.contains("could not reach AWS for s3:PutObject"),
        "{message}"
    );
    assert!(message.contains("rolled back"), "{message}");
    world.assert_nothing_left("receive-report");

    // The preflight fails (nothing serves the credentials endpoint): the uploaded object,
    // the written program and the certificate are all removed.
    let profiles = world.path("config/certdrop/profiles/e2e.json");
    let original = std::fs::read_to_string(&profiles).unwrap();
    let mut settings: Value = serde_json::from_str(&original).unwrap();
    settings["credentials_endpoint"] = dead_url.replace("http://", "https://").into();
    std::fs::write(&profiles, settings.to_string()).unwrap();
    let output = world.send(PROFILE, file.to_str().unwrap(), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let message = stderr(&output);
    assert!(message.contains("preflight failed"), "{message}");
    assert!(message.contains("rolled back"), "{message}");
    world.assert_nothing_left("receive-report");

    // AttachPolicy fails (the IoT policy is gone): the certificate just created goes away.
    settings["iot_policy"] = "no-such-policy".into();
    std::fs::write(&profiles, settings.to_string()).unwrap();
    let output = world.send(PROFILE, file.to_str().unwrap(), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let message = stderr(&output);
    assert!(message.contains("iot:AttachPolicy"), "{message}");
    assert!(message.contains("rolled back"), "{message}");
    world.assert_nothing_left("receive-report");

    // Writing the program fails (its folder is on a full disk), after the certificate and
    // the upload: both go away, and no partial program is left in the folder.
    std::fs::write(&profiles, &original).unwrap();
    let disk = SmallDisk::mount(2).unwrap();
    std::fs::remove_dir(world.path("out")).unwrap();
    std::os::unix::fs::symlink(disk.path(), world.path("out")).unwrap();
    let output = world.send(PROFILE, file.to_str().unwrap(), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let message = stderr(&output);
    assert!(message.contains("the disk is full"), "{message}");
    assert!(message.contains("rolled back"), "{message}");
    world.assert_nothing_left("receive-report");
    assert!(
        file_names(disk.path()).is_empty(),
        "{:?}",
        file_names(disk.path())
    );

    // The program fits and its zip does not: the zip step (after the preflight) fails, and
    // the program written before goes too.
    let stub = std::fs::metadata(crate::support::linux_stub())
        .unwrap()
        .len();
    let disk = SmallDisk::mount(stub.div_ceil(1024 * 1024) as u32 + 2).unwrap();
    std::fs::remove_file(world.path("out")).unwrap();
    std::os::unix::fs::symlink(disk.path(), world.path("out")).unwrap();
    let output = world.send(PROFILE, file.to_str().unwrap(), &["--zip", "--link"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let message = stderr(&output);
    assert!(message.contains("receive-report.zip"), "{message}");
    assert!(message.contains("the disk is full"), "{message}");
    assert!(message.contains("rolled back"), "{message}");
    world.assert_nothing_left("receive-report");
    assert!(world.keys("receivers/").is_empty());
    assert!(
        file_names(disk.path()).is_empty(),
        "{:?}",
        file_names(disk.path())
    );
}

#[test]
fn bad_inputs_are_refused_before_anything_is_created() {
    let world = World::start("certdrop-e2e-inputs");

    // Before init: the advice is to run it.
    let file = world.path("a.bin");
    random_file(&file, 1000, 3);
    let output = world.send(PROFILE, file.to_str().unwrap(), &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("run `certdrop init`"),
        "{}",
        text(&output)
    );

    world.init(PROFILE);
    let folder = world.path("a folder");
    std::fs::create_dir_all(&folder).unwrap();
    let unreadable = world.path("secret.bin");
    random_file(&unreadable, 10, 4);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&unreadable, std::fs::Permissions::from_mode(0o000)).unwrap();
    let missing = world.path("missing.bin");
    let cases = [
        (missing.to_str().unwrap().to_owned(), "does not exist"),
        (folder.to_str().unwrap().to_owned(), "is a folder"),
        ("s3://bucket-only".to_owned(), "s3://BUCKET/KEY"),
        (
            "s3://certdrop-e2e-inputs/transfers/none.bin".to_owned(),
            "s3:GetObject",
        ),
    ];
    for (source, expected) in &cases {
        let output = world.send(PROFILE, source, &[]);
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        assert!(
            stderr(&output).contains(expected),
            "{source}: {}",
            text(&output)
        );
    }
    // A file its user may not read. Root reads any file, so as root (as CI runs) send runs
    // without the capabilities that override file permissions, as any other user would.
    let mut command = without_permission_override(world.command(PROFILE));
    command.args([
        "send",
        unreadable.to_str().unwrap(),
        "--platform",
        "linux-x86_64",
    ]);
    let output = run_with_stdin(&mut command, "");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(stderr(&output).contains("cannot read"), "{}", text(&output));
    assert!(world.certificates().is_empty());

    for (expires, expected) in [("31d", "at most 30 days"), ("soon", "hours or days")] {
        let output = world.send(PROFILE, file.to_str().unwrap(), &["--expires", expires]);
        assert!(stderr(&output).contains(expected), "{}", text(&output));
    }

    // A chosen weak password is refused.
    let mut command = world.command(PROFILE);
    command.args(["send", file.to_str().unwrap(), "--platform", "linux-x86_64"]);
    command
        .args(["--password-stdin", "--out"])
        .arg(world.path("out"));
    std::fs::create_dir_all(world.path("out")).unwrap();
    let output = run_with_stdin(&mut command, "password1\n");
    assert!(
        stderr(&output).contains("too easy to guess"),
        "{}",
        text(&output)
    );
    assert!(
        world.certificates().is_empty(),
        "{:?}",
        world.certificates()
    );
    assert!(world.keys("transfers/").is_empty());

    // A sender without s3:GetObject is told which permission to ask IT for (moto checks
    // S3 signatures and policies; see World::auth for why not IoT's).
    let denied = world.user(
        "no-get",
        &sender_policy_for_moto("certdrop-e2e-inputs", Some("s3:GetObject")),
    );
    world.write_profile("no-get", &denied);
    copy_settings(&world, "no-get");
    world.auth(true);
    let source = "s3://certdrop-e2e-inputs/transfers/elsewhere/source.bin";
    let output = world.send("no-get", source, &[]);
    world.auth(false);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let message = stderr(&output);
    assert!(message.contains("AWS denied s3:GetObject"), "{message}");
    assert!(
        message.contains("ask IT to grant you `s3:GetObject`"),
        "{message}"
    );
    assert!(
        world.certificates().is_empty(),
        "{:?}",
        world.certificates()
    );
}

#[test]
fn sweep_deletes_only_expired_transfers_and_dry_run_deletes_nothing() {
    let world = World::start("certdrop-e2e-sweep");
    world.init(PROFILE);

    // A profile without a region works in the region init set up.
    let mut list = world.command(PROFILE);
    list.env("AWS_CONFIG_FILE", "/dev/null")
        .args(["list", "--json"]);
    let output = list.output().unwrap();
    assert!(output.status.success(), "{}", text(&output));

    let file = world.path("small.txt");
    random_file(&file, 4096, 5);
    let keep = world.send_ok(PROFILE, file.to_str().unwrap(), &["--expires", "2h"]);
    std::fs::remove_file(program_of(&keep)).unwrap();
    let expire = world.send_ok(PROFILE, file.to_str().unwrap(), &["--expires", "1h"]);
    let expire_id = expire["transfer_id"].as_str().unwrap();
    let keep_id = keep["transfer_id"].as_str().unwrap();

    // Make one transfer expired: its object's expiry metadata says an hour ago.
    let key = expire["key"].as_str().unwrap();
    let past = (chrono::Utc::now() - chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let path = format!("/{}{}", world.bucket, certdrop::sigv4::s3_key_path(key));
    let url = reqwest::Url::parse(&format!("{}{path}", world.moto.endpoint())).unwrap();
    let source = path[1..].to_owned();
    let headers = [
        ("x-amz-copy-source", source.as_str()),
        ("x-amz-metadata-directive", "REPLACE"),
        ("x-amz-meta-certdrop-expires", past.as_str()),
    ];
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let status = world.runtime.block_on(async {
        let settings = signed::s3_settings(MOTO_REGION, b"");
        let method = reqwest::Method::PUT;
        let sent = signed::send(
            &http,
            &world.inspector,
            &settings,
            method,
            url,
            &headers,
            vec![],
        );
        sent.await.unwrap().status()
    });
    assert!(status.is_success(), "{status}");

    let dry = world.run_ok(PROFILE, &["sweep", "--dry-run"]);
    let dry = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(dry.contains(&format!("would delete {expire_id}")), "{dry}");
    assert!(!dry.contains(keep_id), "{dry}");
    assert_eq!(world.certificates().len(), 2);

    let swept = world.run_ok(PROFILE, &["sweep"]);
    let swept = String::from_utf8_lossy(&swept.stdout).into_owned();
    assert!(swept.contains(&format!("deleted {expire_id}")), "{swept}");
    assert_eq!(
        world.certificates(),
        [(keep_id.to_owned(), "ACTIVE".to_owned())]
    );
    assert_eq!(
        world.keys("transfers/"),
        [keep["key"].as_str().unwrap().to_owned()]
    );

    // The swept transfer's program is refused: its certificate is gone.
    world.auth(true);
    let output = receive_into(&world, &expire, "swept");
    assert_eq!(output.status.code(), Some(6), "{}", text(&output));
    assert!(text(&output).contains("The sender has cancelled this transfer"));
    world.auth(false);

    // delete --keep-object removes the certificate only.
    world.run_ok(PROFILE, &["delete", keep_id, "--keep-object"]);
    assert!(world.certificates().is_empty());
    assert_eq!(world.keys("transfers/").len(), 1);
}

/// `--zip` and `--link`, for mail that refuses an exe: the zip holds the program and the
/// read-me and opens with another implementation (Python's zipfile); the link serves the zip
/// from `receivers/<id>/`, lives 7 days at most, and `delete` removes the copy.
#[test]
fn send_zip_and_link_hand_the_program_over_and_delete_removes_them() {
    let world = World::start("certdrop-e2e-link");
    world.init(PROFILE);
    let file = world.path("drawings.bin");
    let content = random_file(&file, 2 * 1024 * 1024, 4);
    let before = chrono::Utc::now();
    let sent = world.send_ok(
        PROFILE,
        file.to_str().unwrap(),
        &["--zip", "--link", "--expires", "10d"],
    );
    let id = sent["transfer_id"].as_str().unwrap();
    let program = program_of(&sent);
    let zip = PathBuf::from(sent["zips"][0].as_str().unwrap());
    assert_eq!(zip.file_name().unwrap(), "receive-drawings.zip");

    // The zip, as another reader sees it: two entries, intact, the program unchanged.
    let extracted = world.path("extracted");
    let script = "import sys, zipfile\n\
                  z = zipfile.ZipFile(sys.argv[1])\n\
                  assert z.testzip() is None\n\
                  print('\\n'.join(z.namelist()))\n\
                  z.extractall(sys.argv[2])\n";
    let python = Command::new("python3")
        .args(["-c", script])
        .arg(&zip)
        .arg(&extracted)
        .output()
        .expect("python3 runs");
    assert!(python.status.success(), "{}", text(&python));
    let names = String::from_utf8(python.stdout).unwrap();
    assert_eq!(
        names.lines().collect::<Vec<_>>(),
        ["receive-drawings", "README.txt"]
    );
    let inside = std::fs::read(extracted.join("receive-drawings")).unwrap();
    assert!(
        inside == std::fs::read(&program).unwrap(),
        "the zipped program differs"
    );
    let readme = std::fs::read_to_string(extracted.join("README.txt")).unwrap();
    assert!(readme.contains("ファイルの受け取り方") && readme.contains("password"));

    // The program from the zip works.
    use std::os::unix::fs::PermissionsExt;
    let unzipped = extracted.join("receive-drawings");
    std::fs::set_permissions(&unzipped, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = world.path("downloads");
    let password = sent["password"].as_str().unwrap();
    let args = ["--out", out.to_str().unwrap(), "--no-pause"];
    let output = receive(&unzipped, &args, password);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(std::fs::read(out.join("drawings.bin")).unwrap() == content);

    // The link: a copy of the zip under receivers/<id>/, with the transfer's lifecycle tag,
    // signed for 7 days (the transfer lasts 10).
    let copy = format!("receivers/{id}/receive-drawings.zip");
    assert_eq!(world.keys("receivers/"), std::slice::from_ref(&copy));
    assert_eq!(
        world.tags(&copy),
        [("certdrop-ttl".to_owned(), "14d".to_owned())]
    );
    let url = sent["links"][0]["url"].as_str().unwrap();
    assert!(url.contains("X-Amz-Expires=604800"), "{url}");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(sent["links"][0]["expires_at"].clone()).unwrap();
    let week = chrono::Duration::days(7);
    assert!(expires >= before + week && expires <= chrono::Utc::now() + week);
    // --json says why the link ends before the transfer, as the text output does.
    assert_eq!(sent["links"][0]["cut_short_by"], "seven_day_limit");
    let note = sent["links"][0]["note"].as_str().unwrap();
    assert!(note.contains("7 days at most"), "{note}");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let served = world.runtime.block_on(async {
        let response = http.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap()
    });
    assert!(
        served == std::fs::read(&zip).unwrap(),
        "the link serves other bytes"
    );

    // delete removes the copy with the rest.
    world.run_ok(PROFILE, &["delete", id]);
    assert!(world.keys("receivers/").is_empty());
    assert!(world.keys("transfers/").is_empty());
}

/// `init --bucket` on a bucket the company already has: its own lifecycle rules stay, a second
/// run adds nothing, and a bucket whose policy makes it public is refused.
#[test]
fn init_adopts_an_existing_bucket_keeping_its_rules_and_refuses_a_public_one() {
    let world = World::start("certdrop-e2e-adopt");
    let bucket = "certdrop-e2e-adopt";
    let (status, body) = world.s3("PUT", &format!("/{bucket}"));
    assert_eq!(status, 200, "{body}");
    let owners = "<LifecycleConfiguration><Rule><ID>owner-logs</ID><Filter><Prefix>logs/\
                  </Prefix></Filter><Status>Enabled</Status><Expiration><Days>90</Days>\
                  </Expiration></Rule></LifecycleConfiguration>";
    let path = format!("/{bucket}?lifecycle");
    let (status, body) = world.s3_with_body("PUT", &path, owners.as_bytes().to_vec());
    assert_eq!(status, 200, "{body}");

    let first = world.adopt(bucket);
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        stderr(&first).contains("kept its 1 own rule(s)"),
        "{}",
        text(&first)
    );
    let rules = world.lifecycle_rules(bucket);
    assert_eq!(rules[0], "owner-logs", "{rules:?}");
    let ours: Vec<&String> = rules
        .iter()
        .filter(|r| r.starts_with("certdrop-"))
        .collect();
    assert!(
        ours.len() >= 5,
        "certdrop's rules were not added: {rules:?}"
    );

    let second = world.adopt(bucket);
    assert!(second.status.success(), "{}", text(&second));
    assert_eq!(
        world.lifecycle_rules(bucket),
        rules,
        "a second run changes nothing"
    );

    // A bucket anyone may read.
    let public = "certdrop-e2e-public";
    let (status, body) = world.s3("PUT", &format!("/{public}"));
    assert_eq!(status, 200, "{body}");
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{public}/*"),
        }],
    })
    .to_string();
    let path = format!("/{public}?policy");
    let (status, body) = world.s3_with_body("PUT", &path, policy.into_bytes());
    assert!(status == 200 || status == 204, "{status}: {body}");
    let refused = world.adopt(public);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let message = stderr(&refused);
    assert!(
        message.contains("open to the public (its policy"),
        "{message}"
    );

    // A bucket whose ACL lets anyone read it.
    let listed = "certdrop-e2e-public-acl";
    let (status, body) = world.s3("PUT", &format!("/{listed}"));
    assert_eq!(status, 200, "{body}");
    let acl = [("x-amz-acl", "public-read"), ("content-length", "0")];
    let (status, body) = world.s3_request("PUT", &format!("/{listed}?acl"), &acl, Vec::new());
    assert_eq!(status, 200, "{body}");
    let refused = world.adopt(listed);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let message = stderr(&refused);
    assert!(message.contains("open to the public (its ACL"), "{message}");
}

/// `send s3://bucket/key`: an object already in S3 is copied server side into the transfer,
/// and the recipient gets exactly its bytes.
#[test]
fn send_copies_an_object_already_in_s3_and_the_recipient_gets_its_bytes() {
    let world = World::start("certdrop-e2e-copy");
    world.init(PROFILE);
    let content = random_file(&world.path("source.bin"), 9 * 1024 * 1024 + 3, 6);
    let path = "/certdrop-e2e-copy/exports/quarterly%20report.bin";
    let (status, body) = world.s3_with_body("PUT", path, content.clone());
    assert_eq!(status, 200, "{body}");

    let source = "s3://certdrop-e2e-copy/exports/quarterly report.bin";
    let sent = world.send_ok(PROFILE, source, &[]);
    let id = sent["transfer_id"].as_str().unwrap();
    let key = format!("transfers/{id}/quarterly report.bin");
    assert_eq!(sent["key"], key.as_str());
    assert_eq!(sent["size"], content.len() as u64);
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&content));
    assert_eq!(sent["sha256"], digest.as_str());
    assert_eq!(world.keys("transfers/"), [key]);

    let output = receive_into(&world, &sent, "downloads");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let received = std::fs::read(world.path("downloads/quarterly report.bin")).unwrap();
    assert!(received == content, "the received file differs");
}

/// `send` for a Windows recipient, with the stub IT signed: the program is named like a
/// Windows program, its Authenticode signature still verifies, and it opens with the password.
#[test]
fn send_packs_the_signed_windows_stub_and_the_signature_stays_valid() {
    use crate::windows::{assert_verifies, code_signing_identity, sign, windows_stub};

    let world = World::start("certdrop-e2e-windows");
    world.init(PROFILE);
    code_signing_identity(world.home.path());
    let stub = world.path("certdrop-receiver.exe");
    sign(world.home.path(), windows_stub(), &stub);
    let file = world.path("見積書.pdf");
    random_file(&file, 1024 * 1024, 10);

    let out = world.path("windows-out");
    std::fs::create_dir_all(&out).unwrap();
    let mut command = world.command(PROFILE);
    command.args([
        "send",
        file.to_str().unwrap(),
        "--json",
        "--platform",
        "windows-x86_64",
    ]);
    command.args(["--kdf-memory-mib", "8", "--stub"]).arg(&stub);
    command.arg("--out").arg(&out);
    let output = run_with_stdin(&mut command, "");
    assert!(output.status.success(), "{}", text(&output));
    let sent: Value = serde_json::from_slice(&output.stdout).unwrap();
    let program = program_of(&sent);
    assert_eq!(program.file_name().unwrap(), "receive-見積書.exe");

    assert_verifies(world.home.path(), &program);
    let report = world.run_ok(PROFILE, &["inspect", program.to_str().unwrap()]);
    let report = text(&report);
    for expected in [
        "format:     PE",
        "Authenticode, structurally valid (PE checksum matches)",
        "inside the Authenticode signature",
    ] {
        assert!(
            report.contains(expected),
            "missing {expected:?} in\n{report}"
        );
    }
    let mut unlock = certdrop();
    unlock
        .args(["inspect", "--unlock", "--password-stdin"])
        .arg(&program);
    let password = sent["password"].as_str().unwrap();
    let unlocked = text(&run_with_stdin(&mut unlock, &format!("{password}\n")));
    let id = sent["transfer_id"].as_str().unwrap();
    assert!(unlocked.contains(id), "{unlocked}");
}
