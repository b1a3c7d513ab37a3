//! AWS IoT's registry, read from moto: which certificate authenticated, whether it is
//! ACTIVE, whether a policy attached to it allows `iot:AssumeRoleWithCertificate` on the role
//! alias, and how long that alias's credentials live. With it, the credentials emulator
//! serves the certificates that `certdrop send` creates in moto, and `certdrop revoke`
//! (UpdateCertificate INACTIVE in moto) stops them, as on AWS.
//!
//! moto names a certificate by the SHA-256 of its PEM text (not of its DER, as AWS does), so
//! the id is computed from the PEM that moto wrote: base64 in 64-character lines.

use std::time::Duration;

use reqwest::Method;
use sha2::{Digest, Sha256};
use tracing::debug;

use super::{MotoClient, MotoError};
use crate::sigv4;

/// Why the registry refuses a certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    #[error("the certificate is not registered")]
    NotRegistered,
    #[error("the certificate is not active")]
    Inactive,
    #[error("no policy attached to the certificate allows the role alias")]
    NotAllowed,
    #[error("the role alias {0} does not exist")]
    NoRoleAlias(String),
    #[error(transparent)]
    Moto(MotoError),
}

/// A certificate the registry lets through, with the alias's credential lifetime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorized {
    pub certificate_id: String,
    pub lifetime: Duration,
}

/// Reads moto's IoT registry with an admin's keys.
#[derive(Debug)]
pub struct MotoRegistry {
    client: MotoClient,
    /// One lookup at a time, so that each restores the auth setting it found.
    lock: tokio::sync::Mutex<()>,
}

impl MotoRegistry {
    pub fn new(endpoint: &str, admin: sigv4::Credentials) -> Result<Self, MotoError> {
        Ok(MotoRegistry {
            client: MotoClient::new(endpoint, admin)?,
            lock: tokio::sync::Mutex::new(()),
        })
    }

    /// What AWS IoT checks before the credentials provider assumes the alias's role.
    ///
    /// Limitation: moto 5.2 verifies no IoT request's signature correctly in auth mode (it
    /// answers SignatureDoesNotMatch even to botocore), so its checks are switched off for
    /// the few reads below and switched back on after them. An S3 request another client
    /// sends in that moment is not checked; the receive tests that pin S3 policies do not
    /// use this registry.
    pub async fn authorize(&self, cert_der: &[u8], alias: &str) -> Result<Authorized, Refusal> {
        let _guard = self.lock.lock().await;
        let previous = self
            .client
            .set_unchecked_requests("inf")
            .await
            .map_err(Refusal::Moto)?;
        let result = self.lookup(cert_der, alias).await;
        let restored = self.client.set_unchecked_requests(&previous).await;
        restored.map_err(Refusal::Moto)?;
        result
    }

    async fn lookup(&self, cert_der: &[u8], alias: &str) -> Result<Authorized, Refusal> {
        let id = moto_certificate_id(cert_der);
        let arn = self.active_certificate(&id).await?;
        let (alias_arn, lifetime) = self.role_alias(alias).await?;
        if !self.allows(&arn, &alias_arn).await? {
            return Err(Refusal::NotAllowed);
        }
        debug!(
            certificate_id = id,
            alias, "moto's registry lets the certificate in"
        );
        Ok(Authorized {
            certificate_id: id,
            lifetime,
        })
    }

    /// The certificate's ARN if moto has it ACTIVE.
    async fn active_certificate(&self, id: &str) -> Result<String, Refusal> {
        let answer = match self.json(&format!("/certificates/{id}"), Method::GET).await {
            Ok(answer) => answer,
            Err(MotoError::Refused { status: 404, .. }) => return Err(Refusal::NotRegistered),
            Err(error) => return Err(Refusal::Moto(error)),
        };
        let description = &answer["certificateDescription"];
        if description["status"] != "ACTIVE" {
            return Err(Refusal::Inactive);
        }
        let arn = description["certificateArn"].as_str().unwrap_or_default();
        Ok(arn.to_owned())
    }

    /// The alias's ARN and credential lifetime.
    async fn role_alias(&self, alias: &str) -> Result<(String, Duration), Refusal> {
        let path = format!("/role-aliases/{}", sigv4::uri_encode(alias));
        let answer = match self.json(&path, Method::GET).await {
            Ok(answer) => answer,
            Err(MotoError::Refused { status: 404, .. }) => {
                return Err(Refusal::NoRoleAlias(alias.to_owned()))
            }
            Err(error) => return Err(Refusal::Moto(error)),
        };
        let description = &answer["roleAliasDescription"];
        let arn = description["roleAliasArn"].as_str().unwrap_or_default();
        let seconds = description["credentialDurationSeconds"]
            .as_u64()
            .unwrap_or(3600);
        Ok((arn.to_owned(), Duration::from_secs(seconds)))
    }

    /// Whether a policy that allows `iot:AssumeRoleWithCertificate` on the alias is
    /// attached to the certificate.
    async fn allows(&self, certificate_arn: &str, alias_arn: &str) -> Result<bool, Refusal> {
        let policies = self
            .json("/policies", Method::GET)
            .await
            .map_err(Refusal::Moto)?;
        let names = policies["policies"].as_array().cloned().unwrap_or_default();
        for name in names.iter().filter_map(|p| p["policyName"].as_str()) {
            let encoded = sigv4::uri_encode(name);
            let policy = self
                .json(&format!("/policies/{encoded}"), Method::GET)
                .await
                .map_err(Refusal::Moto)?;
            // AWS gives the document as a JSON string; moto, for a policy that CloudFormation
            // made, as the JSON object itself.
            let document = match &policy["policyDocument"] {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            if !grants_alias(&document, alias_arn) {
                continue;
            }
            let targets = self
                .json(&format!("/policy-targets/{encoded}"), Method::POST)
                .await
                .map_err(Refusal::Moto)?;
            let attached = targets["targets"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == certificate_arn));
            if attached {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn json(&self, path: &str, method: Method) -> Result<serde_json::Value, MotoError> {
        let text = self.client.iot(method, path).await?;
        Ok(serde_json::from_str(&text).unwrap_or_default())
    }
}

/// Whether an IoT policy document allows `iot:AssumeRoleWithCertificate` on `alias_arn`.
fn grants_alias(document: &str, alias_arn: &str) -> bool {
    let Ok(policy) = serde_json::from_str::<serde_json::Value>(document) else {
        return false;
    };
    let statements = match &policy["Statement"] {
        serde_json::Value::Array(list) => list.clone(),
        one => vec![one.clone()],
    };
    let listed = |value: &serde_json::Value, wanted: &str| match value {
        serde_json::Value::String(s) => s == wanted || s == "*",
        serde_json::Value::Array(list) => list.iter().any(|s| s == wanted || s == "*"),
        _ => false,
    };
    statements.iter().any(|s| {
        s["Effect"] == "Allow"
            && listed(&s["Action"], "iot:AssumeRoleWithCertificate")
            && listed(&s["Resource"], alias_arn)
    })
}

/// moto's id for a certificate: the SHA-256 of the PEM text it stores.
pub fn moto_certificate_id(der: &[u8]) -> String {
    let base64 = base64_simd::STANDARD.encode_to_string(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in base64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    hex::encode(Sha256::digest(pem.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_must_allow_assume_role_with_certificate_on_the_alias() {
        let alias = "arn:aws:iot:us-east-1:123456789012:rolealias/certdrop-receiver";
        let doc = |action: &str, resource: &str| {
            serde_json::json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": action, "Resource": resource}]})
            .to_string()
        };
        assert!(grants_alias(
            &doc("iot:AssumeRoleWithCertificate", alias),
            alias
        ));
        assert!(grants_alias(
            &doc("iot:AssumeRoleWithCertificate", "*"),
            alias
        ));
        assert!(!grants_alias(&doc("iot:Connect", alias), alias));
        assert!(!grants_alias(
            &doc("iot:AssumeRoleWithCertificate", "arn:x"),
            alias
        ));
        assert!(!grants_alias("not json", alias));
    }
}
