//! The AWS side of the sender: loading the SDK's configuration (profile, region, endpoints)
//! with an HTTP client on rustls and ring, and turning the SDK's errors into sentences that
//! name the action, the resource and, when access is denied, the permission to ask IT for.

use std::fmt;

use anyhow::{anyhow, Context, Result};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// The error and its causes on one line.
pub use certdrop::net::error_chain;

/// The AWS options every command that talks to AWS takes.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct AwsArgs {
    /// The AWS profile (default: AWS_PROFILE, else `default`).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// The AWS region (default: the profile's, or AWS_REGION).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
}

impl AwsArgs {
    /// The profile name the local config file is kept under.
    pub fn profile_name(&self) -> String {
        self.profile
            .clone()
            .or_else(|| std::env::var("AWS_PROFILE").ok())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "default".to_owned())
    }
}

/// The loaded configuration and one client per service.
pub struct Aws {
    pub config: SdkConfig,
    pub s3: aws_sdk_s3::Client,
    pub iot: aws_sdk_iot::Client,
    pub cloudformation: aws_sdk_cloudformation::Client,
}

impl Aws {
    /// Loads the standard chain (arguments, environment, profile files, SSO) with certdrop's
    /// HTTP client, which both the SDK clients and the credential providers use. Where the
    /// chain names no region, `init_region` (the one `certdrop init` set up) is used.
    pub async fn load(args: &AwsArgs, init_region: Option<&str>) -> Result<Aws> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client());
        if let Some(profile) = &args.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &args.region {
            loader = loader.region(Region::new(region.clone()));
        }
        let mut config = loader.load().await;
        if let (None, Some(region)) = (config.region(), init_region) {
            config = config
                .into_builder()
                .region(Region::new(region.to_owned()))
                .build();
        }
        if config.region().is_none() {
            anyhow::bail!(
                "no AWS region is set; pass --region, set AWS_REGION, or give the profile a \
                 region (`aws configure set region ap-northeast-1`)"
            );
        }
        let custom_endpoint = config.endpoint_url().is_some() || s3_endpoint_env().is_some();
        let s3 = s3_client(aws_sdk_s3::config::Builder::from(&config), custom_endpoint);
        Ok(Aws {
            s3,
            iot: aws_sdk_iot::Client::new(&config),
            cloudformation: aws_sdk_cloudformation::Client::new(&config),
            config,
        })
    }

    pub fn region(&self) -> &str {
        self.config
            .region()
            .map(Region::as_ref)
            .expect("load() refuses a configuration without a region")
    }

    /// The S3 endpoint the receiver must use when it is not AWS's own (tests, private S3).
    pub fn custom_s3_endpoint(&self) -> Option<String> {
        s3_endpoint_env().or_else(|| self.config.endpoint_url().map(str::to_owned))
    }
}

/// The SDK's HTTP client on rustls and ring (no aws-lc to build).
pub fn http_client() -> aws_sdk_s3::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// An S3 client with certdrop's settings on top of `builder`.
pub fn s3_client(
    builder: aws_sdk_s3::config::Builder,
    custom_endpoint: bool,
) -> aws_sdk_s3::Client {
    let config = builder
        // Custom endpoints (moto, MinIO, a VPC endpoint by IP) need path-style addressing.
        .force_path_style(custom_endpoint)
        // Our own per-part SHA-256 checksums replace the SDK's default CRC32.
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// `AWS_ENDPOINT_URL_S3`, as the SDK reads it for the S3 client.
fn s3_endpoint_env() -> Option<String> {
    std::env::var("AWS_ENDPOINT_URL_S3")
        .ok()
        .filter(|v| !v.is_empty())
}

/// What was being done when AWS answered with an error: the IAM action (which is also the
/// permission to ask for) and the resource it was done on.
#[derive(Clone, Debug)]
pub struct Call {
    pub action: &'static str,
    pub resource: String,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.action, self.resource)
    }
}

pub fn call(action: &'static str, resource: impl Into<String>) -> Call {
    Call {
        action,
        resource: resource.into(),
    }
}

/// The error code AWS gave, if it gave one.
pub fn error_code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// A sentence for a failed call: what failed, why, and what the person can do.
pub fn explain<E>(error: SdkError<E, HttpResponse>, call: &Call) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let status = service.raw().status().as_u16();
            let (code, message) = match (err.code(), err.message()) {
                (Some(code), message) => (code.to_owned(), message.unwrap_or_default().to_owned()),
                // Some endpoints (proxies, S3-compatible servers) answer in another shape.
                (None, _) => code_from_body(service.raw()),
            };
            // HEAD answers carry no body: a bare 403 is a denial too.
            let denied = is_access_denied(&code) || (status == 403 && code.is_empty());
            let code = if code.is_empty() {
                format!("HTTP {status}")
            } else {
                code
            };
            if denied {
                return anyhow!(
                    "AWS denied {call} ({code}: {message}); ask IT to grant you `{}` (the \
                     certdrop sender policy created by `certdrop init` has it)",
                    call.action
                );
            }
            anyhow!("AWS refused {call} ({code}: {message})")
        }
        SdkError::DispatchFailure(_) => {
            let source = error_chain(&error);
            if source.contains("credentials") {
                return anyhow!(
                    "no usable AWS credentials for {call}: {source}; sign in (`aws sso login`) \
                     or choose a profile with --profile"
                );
            }
            anyhow!(
                "could not reach AWS for {call}: {source}; check the network (and \
                 AWS_ENDPOINT_URL if set)"
            )
        }
        SdkError::TimeoutError(_) => {
            anyhow!("AWS did not answer {call} in time; check the network and try again")
        }
        _ => {
            let chain = error_chain(&error);
            anyhow!("{call} failed: {chain}")
        }
    }
}

/// The `<Code>` and `<Message>` of an XML error body the SDK did not parse.
fn code_from_body(response: &HttpResponse) -> (String, String) {
    let body = response
        .body()
        .bytes()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&format!("</{name}>"))?;
        Some(body[start..start + end].to_owned())
    };
    (
        tag("Code").unwrap_or_default(),
        tag("Message").unwrap_or_default(),
    )
}

pub fn is_access_denied(code: &str) -> bool {
    matches!(
        code,
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "Forbidden"
    ) || code.contains("AccessDenied")
}

/// A tokio runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
