//! Issuing credentials through moto, so that moto's S3 (which checks session tokens and IAM
//! policies in auth mode) judges what the receiver may do.
//!
//! AWS fills `${credentials-iot:AwsCertificateId}` in the shared role's policy with the id
//! of the certificate that authenticated; moto substitutes no policy variables. So, for each
//! certificate, [`MotoIssuer`] creates once a role `certdrop-test-<short id>` whose inline
//! policy is the shared receiver policy with the id written in, then assumes it.
//!
//! The role's trust policy names the account's root, as AWS would need, and also the exact
//! ARN of the caller: moto's trust check reads only `Principal.AWS` and compares it with the
//! caller's ARN literally, so in auth mode a root principal alone lets nobody in.
//!
//! moto speaks the AWS query protocol over plain HTTP and routes each request by the service
//! named in its signature, so every call here is signed with [`crate::sigv4`].

mod process;
mod query;
mod registry;

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;
use tracing::debug;

pub use process::{moto_server_program, MotoServer, MOTO_SERVER_VAR};
#[cfg(test)]
pub(crate) use query::xml_text;
pub use query::MotoClient;
pub use registry::{moto_certificate_id, Authorized, MotoRegistry, Refusal};

use super::credentials::TemporaryCredentials;
use crate::sigv4;

/// moto's default account.
pub const MOTO_ACCOUNT_ID: &str = "123456789012";
/// The region the stand-ins sign IAM and STS calls for.
pub const MOTO_REGION: &str = "us-east-1";
/// The policy variable AWS IoT's credentials provider fills with the certificate id.
pub const CERTIFICATE_ID_VARIABLE: &str = "${credentials-iot:AwsCertificateId}";
/// The name of each per-certificate role's inline policy.
const INLINE_POLICY_NAME: &str = "certdrop-receiver";
/// How many hex digits of the certificate id name the role (role names stop at 64).
const SHORT_ID_LEN: usize = 16;

/// Why moto could not be started or did not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MotoError {
    #[error(
        "moto_server is missing ({0}): set {MOTO_SERVER_VAR} to its path or put it on PATH \
         (.ci/run installs moto[server]==5.2.x)"
    )]
    NotInstalled(String),
    #[error("moto_server stopped or never became ready: {0}")]
    Exited(String),
    #[error("moto: {0}")]
    Io(#[source] io::Error),
    #[error("the request to moto failed: {0}")]
    Request(#[from] super::signed::SignedRequestError),
    #[error("moto refused {action} with HTTP {status} ({code}): {message}")]
    Refused {
        action: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("moto's answer to {action} lacks {field}")]
    MalformedAnswer { action: String, field: &'static str },
}

/// The receiver policy of DESIGN.md ("How it works on AWS"), with the certificate id still a
/// variable, for `bucket`.
///
/// Limitation: this is written here from DESIGN.md because the shared policy document under
/// `templates/` does not exist yet; once it does, pass its text as
/// [`MotoIssuerConfig::receiver_policy`] so that the test checks the shipped policy.
pub fn receiver_policy(bucket: &str) -> String {
    let id = CERTIFICATE_ID_VARIABLE;
    let statement = |action: &str, prefix: &str| {
        let resource = format!("arn:aws:s3:::{bucket}/{prefix}/{id}/*");
        serde_json::json!({ "Effect": "Allow", "Action": action, "Resource": resource })
    };
    let statements = [
        statement("s3:GetObject", "transfers"),
        statement("s3:PutObject", "receipts"),
    ];
    serde_json::json!({ "Version": "2012-10-17", "Statement": statements }).to_string()
}

/// How [`MotoIssuer`] reaches moto.
#[derive(Clone)]
pub struct MotoIssuerConfig {
    /// `http://127.0.0.1:PORT` of a running moto.
    pub endpoint: String,
    /// Keys allowed to create roles and assume them: any key while moto's auth is off; in
    /// auth mode, those of an IAM user created first ([`MotoClient::create_admin_user`]).
    pub admin: sigv4::Credentials,
    /// The receiver policy, with [`CERTIFICATE_ID_VARIABLE`] where the id goes.
    pub receiver_policy: String,
}

impl fmt::Debug for MotoIssuerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MotoIssuerConfig")
            .field("endpoint", &self.endpoint)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

/// Issues credentials for a certificate by assuming, in moto, a role scoped to it.
#[derive(Debug)]
pub struct MotoIssuer {
    client: MotoClient,
    receiver_policy: String,
    /// Roles this issuer made (or found) already.
    roles: Mutex<HashSet<String>>,
    /// The ARN of the admin keys' identity, learnt on first use.
    caller_arn: OnceCell<String>,
}

impl MotoIssuer {
    pub fn new(config: MotoIssuerConfig) -> Result<Self, MotoError> {
        Ok(MotoIssuer {
            client: MotoClient::new(&config.endpoint, config.admin)?,
            receiver_policy: config.receiver_policy,
            roles: Mutex::new(HashSet::new()),
            caller_arn: OnceCell::new(),
        })
    }

    /// Credentials of the certificate's role, valid for `lifetime`.
    pub async fn issue(
        &self,
        certificate_id: &str,
        lifetime: Duration,
    ) -> Result<TemporaryCredentials, MotoError> {
        let role_name = role_name(certificate_id);
        self.ensure_role(&role_name, certificate_id).await?;
        let role_arn = format!("arn:aws:iam::{MOTO_ACCOUNT_ID}:role/{role_name}");
        let session = format!("certdrop-{}", short_id(certificate_id));
        let seconds = lifetime.as_secs().to_string();
        let params = [
            ("RoleArn", role_arn.as_str()),
            ("RoleSessionName", &session),
            ("DurationSeconds", &seconds),
        ];
        let answer = self.client.call("sts", "AssumeRole", &params).await?;
        assumed_credentials(&answer, certificate_id)
    }

    /// Creates the role and its inline policy unless this issuer did already.
    async fn ensure_role(&self, role_name: &str, certificate_id: &str) -> Result<(), MotoError> {
        if self.known_roles().contains(role_name) {
            return Ok(());
        }
        let trust = trust_policy(self.caller_arn().await?);
        let params = [
            ("RoleName", role_name),
            ("AssumeRolePolicyDocument", &trust),
        ];
        match self.client.call("iam", "CreateRole", &params).await {
            Ok(_) => debug!(role_name, "role created in moto"),
            Err(MotoError::Refused { code, .. }) if code == "EntityAlreadyExists" => {}
            Err(other) => return Err(other),
        }
        let policy = self
            .receiver_policy
            .replace(CERTIFICATE_ID_VARIABLE, certificate_id);
        let params = [
            ("RoleName", role_name),
            ("PolicyName", INLINE_POLICY_NAME),
            ("PolicyDocument", policy.as_str()),
        ];
        self.client.call("iam", "PutRolePolicy", &params).await?;
        self.known_roles().insert(role_name.to_owned());
        Ok(())
    }

    /// `sts:GetCallerIdentity`, which moto answers whatever the policies say.
    async fn caller_arn(&self) -> Result<&str, MotoError> {
        let ask = || async {
            let answer = self.client.call("sts", "GetCallerIdentity", &[]).await?;
            query::xml_text(&answer, "Arn").ok_or_else(|| MotoError::MalformedAnswer {
                action: "GetCallerIdentity".to_owned(),
                field: "Arn",
            })
        };
        self.caller_arn
            .get_or_try_init(ask)
            .await
            .map(String::as_str)
    }

    fn known_roles(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.roles.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `certdrop-test-<first 16 hex digits of the id>`.
pub fn role_name(certificate_id: &str) -> String {
    format!("certdrop-test-{}", short_id(certificate_id))
}

fn short_id(certificate_id: &str) -> &str {
    let end = certificate_id.len().min(SHORT_ID_LEN);
    certificate_id.get(..end).unwrap_or(certificate_id)
}

/// Trusts the account's root (for AWS) and `caller_arn` (for moto's literal comparison).
fn trust_policy(caller_arn: &str) -> String {
    let root = format!("arn:aws:iam::{MOTO_ACCOUNT_ID}:root");
    let statement = serde_json::json!({
        "Effect": "Allow",
        "Principal": { "AWS": [root, caller_arn] },
        "Action": "sts:AssumeRole",
    });
    serde_json::json!({ "Version": "2012-10-17", "Statement": [statement] }).to_string()
}

/// Reads `AssumeRoleResult/Credentials` from STS's XML.
fn assumed_credentials(xml: &str, certificate_id: &str) -> Result<TemporaryCredentials, MotoError> {
    let field = |name: &'static str| {
        query::xml_text(xml, name).ok_or_else(|| MotoError::MalformedAnswer {
            action: "AssumeRole".to_owned(),
            field: name,
        })
    };
    let expiration = field("Expiration")?;
    let expiration = DateTime::parse_from_rfc3339(&expiration)
        .map_err(|_| MotoError::MalformedAnswer {
            action: "AssumeRole".to_owned(),
            field: "Expiration",
        })?
        .with_timezone(&Utc);
    Ok(TemporaryCredentials::new(
        field("AccessKeyId")?,
        field("SecretAccessKey")?,
        field("SessionToken")?,
        expiration,
        certificate_id.to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receiver_policy_scopes_both_prefixes_to_the_certificate_variable() {
        let policy: serde_json::Value = serde_json::from_str(&receiver_policy("drop")).unwrap();
        let resources: Vec<&str> = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Resource"].as_str().unwrap())
            .collect();
        assert_eq!(
            resources,
            [
                "arn:aws:s3:::drop/transfers/${credentials-iot:AwsCertificateId}/*",
                "arn:aws:s3:::drop/receipts/${credentials-iot:AwsCertificateId}/*",
            ]
        );
    }

    #[test]
    fn role_name_uses_a_short_prefix_of_the_id() {
        let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(role_name(id), "certdrop-test-0123456789abcdef");
    }

    #[test]
    fn assume_role_answer_becomes_credentials_for_the_certificate() {
        let xml = "<AssumeRoleResponse><AssumeRoleResult><Credentials>\
            <AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>s/k+y</SecretAccessKey>\
            <SessionToken>t&amp;k</SessionToken>\
            <Expiration>2026-12-03T19:03:21.540695Z</Expiration>\
            </Credentials></AssumeRoleResult></AssumeRoleResponse>";
        let creds = assumed_credentials(xml, "c1").unwrap();
        assert_eq!(creds.access_key_id(), "ASIAEXAMPLE");
        assert_eq!(creds.secret_access_key(), "s/k+y");
        assert_eq!(creds.session_token(), "t&k");
        assert_eq!(creds.certificate_id(), "c1");
        assert_eq!(
            creds.expiration().to_rfc3339(),
            "2026-12-03T19:03:21.540695+00:00"
        );
    }
}
