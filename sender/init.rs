//! `certdrop init`: deploys the CloudFormation template under `templates/` (embedded), looks
//! up the credentials endpoint and writes the profile's settings. Running it again changes
//! nothing when nothing differs.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use aws_sdk_cloudformation::types::{Capability, Parameter, Stack, StackStatus};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleAndOperator, LifecycleRuleFilter, Tag,
};
use include_dir::{include_dir, Dir};
use tracing::debug;

use crate::aws::{self, call, Aws};
use crate::config::{ConfigDir, Settings};
use crate::InitArgs;

/// The reviewed files IT deploys: the template, its policies and the recipient's read-me.
pub static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// The tag `send` puts on each object; the template's lifecycle rules match its values.
pub const TTL_TAG: &str = "certdrop-ttl";
/// The time-to-live tag values, in days, that have a lifecycle rule.
pub const TTL_DAYS: [u32; 5] = [1, 3, 7, 14, 30];

/// How long a stack may take to deploy before init gives up waiting.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(30 * 60);

pub fn template() -> &'static str {
    TEMPLATES
        .get_file("certdrop.yaml")
        .and_then(|f| f.contents_utf8())
        .expect("templates/certdrop.yaml is embedded and UTF-8")
}

pub fn run(args: &InitArgs) -> Result<()> {
    if args.print_template {
        print!("{}", template());
        return Ok(());
    }
    let config_dir = ConfigDir::new(&args.aws.profile_name())?;
    let ca_pem = match &args.ca_file {
        Some(path) => Some(read_ca(path)?),
        None => None,
    };
    aws::runtime()?.block_on(async {
        let previous = config_dir.load_existing();
        let previous_region = previous.as_ref().map(|p| p.region.as_str());
        let aws = Aws::load(&args.aws, previous_region).await?;
        let deployed = deploy(&aws, args, previous.as_ref()).await?;
        let credentials_endpoint = match &args.credentials_endpoint {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let named = credentials_endpoint(&aws).await?;
                // One given earlier (a private or test endpoint) stays until another is given.
                match previous.as_ref().filter(|p| p.region == aws.region()) {
                    Some(earlier) if earlier.credentials_endpoint != named => {
                        eprintln!(
                            "keeping the credentials endpoint given earlier, {} (AWS names \
                             {named}; pass --credentials-endpoint to change it)",
                            earlier.credentials_endpoint
                        );
                        earlier.credentials_endpoint.clone()
                    }
                    _ => named,
                }
            }
        };
        certdrop::transfer::Endpoint::parse(&credentials_endpoint)
            .with_context(|| format!("the credentials endpoint {credentials_endpoint}"))?;
        let settings = Settings {
            stack_name: args.stack_name.clone(),
            region: aws.region().to_owned(),
            bucket: deployed.bucket,
            role_alias: deployed.role_alias,
            iot_policy: deployed.iot_policy,
            credentials_endpoint,
            ca_pem: ca_pem.or_else(|| previous.as_ref().and_then(|p| p.ca_pem.clone())),
            stub_dir: args
                .stub_dir
                .clone()
                .or_else(|| previous.as_ref().and_then(|p| p.stub_dir.clone())),
        };
        let wrote = config_dir.save(&settings)?;
        report(
            &settings,
            deployed.changed || wrote,
            &deployed.sender_policy,
        );
        eprintln!("settings: {}", config_dir.settings_path().display());
        Ok(())
    })
}

fn read_ca(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the CA file {}", path.display()))?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        bail!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        );
    }
    Ok(text)
}

fn report(settings: &Settings, changed: bool, sender_policy: &str) {
    if changed {
        println!("certdrop is set up in {}:", settings.region);
    } else {
        println!(
            "certdrop is already set up in {} (no change):",
            settings.region
        );
    }
    println!("  stack:                {}", settings.stack_name);
    println!("  bucket:               {}", settings.bucket);
    println!("  role alias:           {}", settings.role_alias);
    println!("  IoT policy:           {}", settings.iot_policy);
    println!("  credentials endpoint: {}", settings.credentials_endpoint);
    println!("  sender policy:        {sender_policy} (grant it to the people who send)");
}

/// What the stack provides.
struct Deployed {
    bucket: String,
    role_alias: String,
    iot_policy: String,
    sender_policy: String,
    changed: bool,
}

/// Creates or updates the stack, then reads its outputs.
async fn deploy(aws: &Aws, args: &InitArgs, previous: Option<&Settings>) -> Result<Deployed> {
    let name = &args.stack_name;
    let existing = describe_stack(aws, name).await?;
    let (bucket, create_bucket) = bucket_choice(args, existing.as_ref(), previous)?;
    if !create_bucket {
        check_existing_bucket(aws, &bucket).await?;
    }
    let parameters = [
        ("BucketName", bucket.clone()),
        ("CreateBucket", create_bucket.to_string()),
        ("CredentialHours", args.credential_hours.to_string()),
    ];

    let changed = match &existing {
        None => {
            create_stack(aws, name, &parameters).await?;
            true
        }
        Some(stack) if is_unchanged(aws, name, stack, &parameters).await? => {
            debug!(stack = name, "template and parameters unchanged");
            false
        }
        Some(_) => update_stack(aws, name, &parameters).await?,
    };
    let stack = describe_stack(aws, name)
        .await?
        .with_context(|| format!("the stack {name} disappeared while deploying"))?;
    if !create_bucket {
        merge_lifecycle_rules(aws, &bucket).await?;
    }
    let output = |key: &str| -> Result<String> {
        stack
            .outputs()
            .iter()
            .find(|o| o.output_key() == Some(key))
            .and_then(|o| o.output_value())
            .map(str::to_owned)
            .with_context(|| format!("the stack {name} has no output {key}; is it certdrop's?"))
    };
    Ok(Deployed {
        bucket: output("BucketName")?,
        role_alias: output("RoleAliasName")?,
        iot_policy: output("IoTPolicyName")?,
        sender_policy: output("SenderPolicyArn")?,
        changed,
    })
}

/// The bucket and whether the stack creates it: from the arguments, else from the stack.
fn bucket_choice(
    args: &InitArgs,
    existing: Option<&Stack>,
    previous: Option<&Settings>,
) -> Result<(String, bool)> {
    if let Some(bucket) = &args.create_bucket {
        return Ok((bucket.clone(), true));
    }
    if let Some(bucket) = &args.bucket {
        return Ok((bucket.clone(), false));
    }
    let parameter = |key: &str| {
        existing?
            .parameters()
            .iter()
            .find(|p| p.parameter_key() == Some(key))
            .and_then(|p| p.parameter_value())
            .map(str::to_owned)
    };
    if let (Some(bucket), Some(create)) = (parameter("BucketName"), parameter("CreateBucket")) {
        return Ok((bucket, create == "true"));
    }
    if let Some(previous) = previous {
        return Ok((previous.bucket.clone(), false));
    }
    bail!("say which bucket to use: --create-bucket NAME (a new one) or --bucket NAME (yours)")
}

async fn describe_stack(aws: &Aws, name: &str) -> Result<Option<Stack>> {
    let what = call("cloudformation:DescribeStacks", format!("stack {name}"));
    match aws
        .cloudformation
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
    {
        Ok(answer) => Ok(answer.stacks().first().cloned()),
        Err(error) if aws::error_code(&error) == Some("ValidationError") => Ok(None),
        Err(error) => Err(aws::explain(error, &what)),
    }
}

fn stack_parameters(parameters: &[(&str, String)]) -> Vec<Parameter> {
    parameters
        .iter()
        .map(|(key, value)| {
            Parameter::builder()
                .parameter_key(*key)
                .parameter_value(value)
                .build()
        })
        .collect()
}

async fn create_stack(aws: &Aws, name: &str, parameters: &[(&str, String)]) -> Result<()> {
    eprintln!("creating the stack {name} (this takes a few minutes on AWS)");
    let what = call("cloudformation:CreateStack", format!("stack {name}"));
    aws.cloudformation
        .create_stack()
        .stack_name(name)
        .template_body(template())
        .set_parameters(Some(stack_parameters(parameters)))
        .capabilities(Capability::CapabilityNamedIam)
        .send()
        .await
        .map_err(|e| aws::explain(e, &what))?;
    wait_for_stack(aws, name, "CREATE_COMPLETE").await
}

/// Updates the stack; false when CloudFormation says there is nothing to update.
async fn update_stack(aws: &Aws, name: &str, parameters: &[(&str, String)]) -> Result<bool> {
    eprintln!("updating the stack {name}");
    let what = call("cloudformation:UpdateStack", format!("stack {name}"));
    let sent = aws
        .cloudformation
        .update_stack()
        .stack_name(name)
        .template_body(template())
        .set_parameters(Some(stack_parameters(parameters)))
        .capabilities(Capability::CapabilityNamedIam)
        .send()
        .await;
    match sent {
        Ok(_) => {}
        Err(error) => {
            let no_updates = format!("{error:?}").contains("No updates are to be performed");
            if no_updates {
                return Ok(false);
            }
            return Err(aws::explain(error, &what));
        }
    }
    wait_for_stack(aws, name, "UPDATE_COMPLETE").await?;
    Ok(true)
}

/// Whether the deployed template and parameters are exactly what this run would deploy.
async fn is_unchanged(
    aws: &Aws,
    name: &str,
    stack: &Stack,
    parameters: &[(&str, String)],
) -> Result<bool> {
    let same_parameters = parameters.iter().all(|(key, value)| {
        stack
            .parameters()
            .iter()
            .any(|p| p.parameter_key() == Some(key) && p.parameter_value() == Some(value))
    });
    if !same_parameters || !is_complete(stack.stack_status()) {
        return Ok(false);
    }
    let what = call("cloudformation:GetTemplate", format!("stack {name}"));
    let deployed = aws
        .cloudformation
        .get_template()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| aws::explain(e, &what))?;
    Ok(deployed.template_body().map(str::trim) == Some(template().trim()))
}

fn is_complete(status: Option<&StackStatus>) -> bool {
    matches!(
        status,
        Some(StackStatus::CreateComplete | StackStatus::UpdateComplete)
    )
}

async fn wait_for_stack(aws: &Aws, name: &str, goal: &str) -> Result<()> {
    let started = std::time::Instant::now();
    loop {
        let stack = describe_stack(aws, name)
            .await?
            .with_context(|| format!("the stack {name} disappeared while deploying"))?;
        let status = stack.stack_status().map(|s| s.as_str()).unwrap_or_default();
        debug!(stack = name, status, "waiting for the stack");
        if status == goal {
            return Ok(());
        }
        if !status.ends_with("_IN_PROGRESS") {
            let reason = stack.stack_status_reason().unwrap_or("no reason given");
            bail!(
                "the stack {name} ended in {status} ({reason}); see its events in the \
                 CloudFormation console, fix the cause and run `certdrop init` again"
            );
        }
        if started.elapsed() > DEPLOY_TIMEOUT {
            bail!("the stack {name} is still {status} after 30 minutes; check the console");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn credentials_endpoint(aws: &Aws) -> Result<String> {
    let what = call("iot:DescribeEndpoint", "iot:CredentialProvider");
    let answer = aws
        .iot
        .describe_endpoint()
        .endpoint_type("iot:CredentialProvider")
        .send()
        .await
        .map_err(|e| aws::explain(e, &what))?;
    let address = answer
        .endpoint_address()
        .context("iot:DescribeEndpoint gave no address")?;
    Ok(format!("https://{address}"))
}

/// An existing bucket must exist here and must not be public, by its policy or its ACL.
async fn check_existing_bucket(aws: &Aws, bucket: &str) -> Result<()> {
    let what = call("s3:ListBucket", format!("bucket {bucket}"));
    aws.s3
        .head_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| aws::explain(e, &what))?;
    let public_by = if policy_is_public(aws, bucket).await? {
        Some("its policy")
    } else if acl_is_public(aws, bucket).await? {
        Some("its ACL")
    } else {
        None
    };
    if let Some(cause) = public_by {
        bail!(
            "the bucket {bucket} is open to the public ({cause} lets anyone in); certdrop \
             refuses it: block public access on it, or let certdrop make its own bucket with \
             --create-bucket"
        );
    }
    Ok(())
}

/// S3's own verdict on the bucket policy (GetBucketPolicyStatus). Where none comes back (some
/// S3-compatible stores, and moto, do not implement it) the policy is read and judged here.
async fn policy_is_public(aws: &Aws, bucket: &str) -> Result<bool> {
    let what = call("s3:GetBucketPolicyStatus", format!("bucket {bucket}"));
    let status = aws
        .s3
        .get_bucket_policy_status()
        .bucket(bucket)
        .send()
        .await;
    match status {
        Ok(answer) => {
            if let Some(public) = answer.policy_status().and_then(|s| s.is_public()) {
                return Ok(public);
            }
        }
        Err(error) if aws::error_code(&error) == Some("NoSuchBucketPolicy") => return Ok(false),
        Err(error) if aws::error_code(&error).is_some_and(aws::is_access_denied) => {
            return Err(aws::explain(error, &what));
        }
        Err(error) => {
            debug!(error = %aws::error_chain(&error), "no policy status; reading the policy");
        }
    }

    let what = call("s3:GetBucketPolicy", format!("bucket {bucket}"));
    match aws.s3.get_bucket_policy().bucket(bucket).send().await {
        Ok(answer) => Ok(policy_allows_anyone(answer.policy().unwrap_or_default())),
        Err(error) if aws::error_code(&error) == Some("NoSuchBucketPolicy") => Ok(false),
        Err(error) => Err(aws::explain(error, &what)),
    }
}

/// Whether a bucket policy has an unconditional Allow for every principal (`"*"` or
/// `{"AWS": "*"}`): the cases S3 itself calls public, without its finer analysis of
/// conditions, which are taken here as making a statement not public.
fn policy_allows_anyone(policy: &str) -> bool {
    let Ok(policy) = serde_json::from_str::<serde_json::Value>(policy) else {
        return false;
    };
    let statements = match &policy["Statement"] {
        serde_json::Value::Array(list) => list.clone(),
        one => vec![one.clone()],
    };
    let anyone = |principal: &serde_json::Value| match principal {
        serde_json::Value::String(p) => p == "*",
        serde_json::Value::Object(map) => map.get("AWS").is_some_and(|aws| match aws {
            serde_json::Value::String(p) => p == "*",
            serde_json::Value::Array(list) => list.iter().any(|p| p == "*"),
            _ => false,
        }),
        _ => false,
    };
    statements.iter().any(|statement| {
        statement["Effect"] == "Allow"
            && anyone(&statement["Principal"])
            && statement.get("Condition").is_none()
    })
}

/// Whether the bucket's ACL grants anything to everyone, or to every AWS account.
async fn acl_is_public(aws: &Aws, bucket: &str) -> Result<bool> {
    let what = call("s3:GetBucketAcl", format!("bucket {bucket}"));
    let acl = aws
        .s3
        .get_bucket_acl()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| aws::explain(e, &what))?;
    let everyone = ["/global/AllUsers", "/global/AuthenticatedUsers"];
    Ok(acl.grants().iter().any(|grant| {
        let uri = grant.grantee().and_then(|g| g.uri()).unwrap_or_default();
        everyone.iter().any(|group| uri.ends_with(group))
    }))
}

/// certdrop's lifecycle rules, as the template declares them on a new bucket.
fn certdrop_rules() -> Vec<LifecycleRule> {
    let expiring = |id: String, filter: LifecycleRuleFilter, days: u32| {
        LifecycleRule::builder()
            .id(id)
            .status(ExpirationStatus::Enabled)
            .filter(filter)
            .expiration(LifecycleExpiration::builder().days(days as i32).build())
            .build()
            .expect("id, status and filter are set")
    };
    let mut rules = Vec::new();
    for prefix in ["transfers", "receivers"] {
        for days in TTL_DAYS {
            let and = LifecycleRuleAndOperator::builder()
                .prefix(format!("{prefix}/"))
                .tags(
                    Tag::builder()
                        .key(TTL_TAG)
                        .value(format!("{days}d"))
                        .build()
                        .expect("key and value are set"),
                )
                .build();
            let filter = LifecycleRuleFilter::builder().and(and).build();
            rules.push(expiring(format!("certdrop-{prefix}-{days}d"), filter, days));
        }
    }
    let receipts = LifecycleRuleFilter::builder().prefix("receipts/").build();
    rules.push(expiring("certdrop-receipts-90d".to_owned(), receipts, 90));
    let abort = LifecycleRule::builder()
        .id("certdrop-abort-incomplete-uploads")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(1)
                .build(),
        )
        .build()
        .expect("id, status and filter are set");
    rules.push(abort);
    rules
}

/// Adds certdrop's rules to the bucket's own (replacing only earlier certdrop rules).
async fn merge_lifecycle_rules(aws: &Aws, bucket: &str) -> Result<()> {
    let what = call("s3:GetLifecycleConfiguration", format!("bucket {bucket}"));
    let current = match aws
        .s3
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(answer) => answer.rules().to_vec(),
        Err(error) if aws::error_code(&error) == Some("NoSuchLifecycleConfiguration") => Vec::new(),
        Err(error) => return Err(aws::explain(error, &what)),
    };
    let mut rules: Vec<LifecycleRule> = current
        .iter()
        .filter(|r| !r.id().unwrap_or_default().starts_with("certdrop-"))
        .cloned()
        .collect();
    let owners = rules.len();
    rules.extend(certdrop_rules());
    if rules == current {
        return Ok(());
    }
    let what = call("s3:PutLifecycleConfiguration", format!("bucket {bucket}"));
    let configuration = BucketLifecycleConfiguration::builder()
        .set_rules(Some(rules))
        .build()
        .expect("rules are set");
    aws.s3
        .put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(configuration)
        .send()
        .await
        .map_err(|e| aws::explain(e, &what))?;
    eprintln!("added certdrop's lifecycle rules to {bucket} (kept its {owners} own rule(s))");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_is_public_when_it_allows_anyone_without_a_condition() {
        let allow = |principal: &str, condition: &str| {
            format!(
                r#"{{"Statement":[{{"Effect":"Allow","Principal":{principal},
                "Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"{condition}}}]}}"#
            )
        };
        assert!(policy_allows_anyone(&allow(r#""*""#, "")));
        assert!(policy_allows_anyone(&allow(r#"{"AWS":"*"}"#, "")));
        assert!(policy_allows_anyone(&allow(
            r#"{"AWS":["arn:aws:iam::1:root","*"]}"#,
            ""
        )));
        let vpc = r#","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-1"}}"#;
        assert!(!policy_allows_anyone(&allow(r#""*""#, vpc)));
        assert!(!policy_allows_anyone(&allow(
            r#"{"AWS":"arn:aws:iam::1:root"}"#,
            ""
        )));
        let deny = r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"s3:*"}}"#;
        assert!(!policy_allows_anyone(deny));
        assert!(!policy_allows_anyone("not json"));
    }

    #[test]
    fn code_rules_match_the_templates_rule_ids_and_tag_values() {
        let template = template();
        for rule in certdrop_rules() {
            let id = rule.id().unwrap();
            assert!(template.contains(&format!("Id: {id}")), "{id}");
        }
        for days in TTL_DAYS {
            assert!(template.contains(&format!("Value: {days}d")), "{days}");
        }
        assert!(template.contains(&format!("Key: {TTL_TAG}")));
    }
}
