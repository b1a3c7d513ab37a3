//! Upload throughput of `certdrop send`'s uploader (sender/upload.rs, the same code) next to
//! `aws s3 cp`, both against one s3s-fs server (the in-process S3 stand-in, which checks
//! every SigV4 signature) on this computer. Prints MB/s for each and their ratio; no timing
//! is asserted anywhere.
//!
//! cargo run --release --example upload_throughput -- [SIZE_MIB] [RUNS] [PARALLEL]
//!
//! The two uploaders alternate, RUNS times each (default 3), certdrop with PARALLEL parts at
//! once (default: `certdrop send`'s own default); the figures are medians. The
//! last line, `result: certdrop_mb_s=... aws_mb_s=... ratio=...`, is what bench/run reads.
//!
//! `aws` comes from AWS_CLI, or the venv .ci/run makes, or PATH.

#[path = "../sender/aws.rs"]
#[allow(dead_code)]
mod aws;
#[path = "../sender/upload.rs"]
#[allow(dead_code)]
mod upload;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use certdrop::standins::credentials::CredentialStore;
use certdrop::standins::s3::{self, AdminKey, DiskBucket, S3StandinConfig};

const BUCKET: &str = "throughput";
const KEY_ID: &str = "AKIDTHROUGHPUTBENCH";
const SECRET: &str = "throughput-bench-secret-not-a-real-one";

fn main() {
    let mut args = std::env::args().skip(1);
    let size_mib: u64 = args.next().map_or(512, |a| a.parse().expect("SIZE_MIB"));
    let runs: usize = args.next().map_or(3, |a| a.parse().expect("RUNS"));
    let parallel = args
        .next()
        .map_or(upload::DEFAULT_PARALLEL, |a| a.parse().expect("PARALLEL"));

    let dir = tempfile::tempdir().expect("a temporary folder");
    let root = dir.path().join("s3");
    std::fs::create_dir_all(&root).unwrap();
    DiskBucket::new(&root, BUCKET).create().unwrap();
    let file = dir.path().join("sample.bin");
    write_sample(&file, size_mib);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = S3StandinConfig {
        root,
        bucket: BUCKET.to_owned(),
        admin: AdminKey::new(KEY_ID, SECRET),
        store: CredentialStore::new(),
    };
    let server = runtime.block_on(s3::serve(&config)).expect("s3s-fs starts");
    let endpoint = format!("http://{}", server.addr());
    let bytes = size_mib * 1024 * 1024;
    println!(
        "{size_mib} MiB to s3s-fs at {endpoint}, certdrop with {parallel} parts at once, \
         {runs} run(s) each, alternating"
    );

    let rate = |seconds: f64| bytes as f64 / seconds / 1e6;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let seconds = runtime.block_on(certdrop_upload(&endpoint, &file, parallel));
        println!(
            "  certdrop send uploader {seconds:6.2} s {:6.0} MB/s",
            rate(seconds)
        );
        ours.push(seconds);
        let seconds = aws_cli_upload(&endpoint, &file);
        println!(
            "  aws s3 cp              {seconds:6.2} s {:6.0} MB/s",
            rate(seconds)
        );
        theirs.push(seconds);
    }
    let (ours, theirs) = (median(ours), median(theirs));
    println!(
        "result: certdrop_mb_s={:.1} aws_mb_s={:.1} ratio={:.3}",
        rate(ours),
        rate(theirs),
        theirs / ours
    );
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn write_sample(path: &Path, size_mib: u64) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..size_mib {
        getrandom::getrandom(&mut block).unwrap();
        out.write_all(&block).unwrap();
    }
    out.flush().unwrap();
}

/// The sender's uploader, with an SDK client built the way sender/aws.rs builds it.
async fn certdrop_upload(endpoint: &str, file: &Path, parallel: usize) -> f64 {
    std::env::set_var("AWS_ACCESS_KEY_ID", KEY_ID);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET);
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::set_var("AWS_ENDPOINT_URL", endpoint);
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    let aws = aws::Aws::load(&aws::AwsArgs::default(), None)
        .await
        .expect("the SDK loads");
    let destination = upload::Destination {
        s3: aws.s3.clone(),
        bucket: BUCKET.to_owned(),
        key: "certdrop.bin".to_owned(),
        tagging: None,
        expires_at: chrono::Utc::now(),
        parallel,
    };
    let progress = indicatif::ProgressBar::hidden();
    let started = Instant::now();
    upload::upload_file(&destination, file, &progress)
        .await
        .expect("the upload succeeds");
    started.elapsed().as_secs_f64()
}

fn aws_cli_upload(endpoint: &str, file: &Path) -> f64 {
    let program = aws_cli();
    let started = Instant::now();
    let status = Command::new(&program)
        .args(["s3", "cp", "--only-show-errors", "--endpoint-url", endpoint])
        .arg(file)
        .arg(format!("s3://{BUCKET}/aws-cli.bin"))
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .status()
        .unwrap_or_else(|e| panic!("{} is missing ({e}): run .ci/run", program.display()));
    assert!(status.success(), "aws s3 cp failed");
    started.elapsed().as_secs_f64()
}

fn aws_cli() -> PathBuf {
    if let Some(path) = std::env::var_os("AWS_CLI") {
        return PathBuf::from(path);
    }
    let venv =
        Path::new("/var/tmp/certdrop-ci/venv-moto-5.2.1-cfn-lint-1.58.0/bin/aws").to_path_buf();
    if venv.exists() {
        return venv;
    }
    PathBuf::from("aws")
}
