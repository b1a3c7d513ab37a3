//! The files under `templates/`: the CloudFormation template `certdrop init` deploys passes
//! cfn-lint, deploys to moto, and creates exactly the policies that the standalone policy
//! documents (what IT reviews) show; and those documents grant what DESIGN.md says.
//!
//! cfn-lint (PyPI `cfn-lint`) is found through `CFN_LINT` or on `PATH`; moto through
//! `MOTO_SERVER` or on `PATH`. `.ci/run` installs both. A missing tool fails the test.

use std::collections::BTreeSet;
use std::env;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

use certdrop::sigv4::Credentials;
use certdrop::standins::moto::{
    self, MotoClient, MotoServer, CERTIFICATE_ID_VARIABLE, MOTO_ACCOUNT_ID, MOTO_REGION,
};
use certdrop::standins::signed;
use serde_json::Value;

/// The variable that names the cfn-lint program.
const CFN_LINT_VAR: &str = "CFN_LINT";

fn templates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")
}

fn read_template_file(name: &str) -> String {
    let path = templates_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse_json(name: &str, text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{name} is no JSON: {e}"))
}

/// `text` with every `${name}` of `values` replaced by its value.
fn fill(text: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(text.to_owned(), |text, (name, value)| {
        text.replace(&format!("${{{name}}}"), value)
    })
}

/// Each `${...}` placeholder in `text`.
fn placeholders(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        found.insert(rest[start..start + len + 1].to_owned());
        rest = &rest[start + len + 1..];
    }
    found
}

/// A statement's `Action` or `Resource`, one string or a list, as a list.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().expect("a string in the list"))
            .collect(),
        other => panic!("expected a string or a list of strings, got {other}"),
    }
}

fn statements(policy: &Value) -> &Vec<Value> {
    assert_eq!(policy["Version"], "2012-10-17");
    policy["Statement"].as_array().expect("a Statement list")
}

// ---------------------------------------------------------------------------------------
// cfn-lint

fn cfn_lint_program() -> String {
    env::var(CFN_LINT_VAR)
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "cfn-lint".to_owned())
}

/// Runs cfn-lint on `template`: (success, its output).
fn cfn_lint(template: &Path) -> (bool, String) {
    let program = cfn_lint_program();
    let output = match Command::new(&program).arg(template).output() {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "cfn-lint is missing ({program}: {e}): run .ci/run, which installs it (PyPI \
             cfn-lint), or set {CFN_LINT_VAR} to its path"
        ),
        Err(e) => panic!("could not run {program}: {e}"),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn cfn_lint_accepts_the_template_and_rejects_a_broken_copy() {
    let template = templates_dir().join("certdrop.yaml");
    let (ok, output) = cfn_lint(&template);
    assert!(
        ok,
        "cfn-lint found problems in {}:\n{output}",
        template.display()
    );
    assert!(output.trim().is_empty(), "cfn-lint warned:\n{output}");

    // The same template with a misspelt property and a misspelt IAM action must fail: proof
    // that the program run above really checks templates.
    let broken = read_template_file("certdrop.yaml")
        .replace("CredentialDurationSeconds:", "CredentialDurationSecond:")
        .replace("iot:ListTargetsForPolicy", "iot:ListTargetForPolicy");
    let dir = tempfile::tempdir().unwrap();
    let broken_path = dir.path().join("broken.yaml");
    std::fs::write(&broken_path, broken).unwrap();
    let (ok, output) = cfn_lint(&broken_path);
    assert!(!ok, "cfn-lint accepted a broken template:\n{output}");
    assert!(output.contains("CredentialDurationSecond"), "{output}");
    assert!(
        output.to_lowercase().contains("listtargetforpolicy"),
        "{output}"
    );
}

// ---------------------------------------------------------------------------------------
// The policy documents

#[test]
fn receiver_policy_grants_only_the_certificates_own_transfer_and_receipt() {
    let text = read_template_file("receiver-policy.json");
    let policy = parse_json("receiver-policy.json", &text);
    let mut grants = Vec::new();
    for statement in statements(&policy) {
        let keys: BTreeSet<&str> = statement
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let allowed: BTreeSet<&str> = ["Sid", "Effect", "Action", "Resource"].into();
        assert!(keys.is_subset(&allowed), "unexpected keys {keys:?}");
        assert_eq!(statement["Effect"], "Allow");
        for action in strings(&statement["Action"]) {
            for resource in strings(&statement["Resource"]) {
                grants.push((action.to_owned(), resource.to_owned()));
            }
        }
    }
    let id = CERTIFICATE_ID_VARIABLE;
    assert_eq!(
        grants,
        [
            (
                "s3:GetObject".to_owned(),
                format!("arn:${{Partition}}:s3:::${{Bucket}}/transfers/{id}/*")
            ),
            (
                "s3:PutObject".to_owned(),
                format!("arn:${{Partition}}:s3:::${{Bucket}}/receipts/{id}/*")
            ),
        ]
    );

    // What the moto stand-in needs: with ${Partition} and ${Bucket} filled in, the document
    // grants what its built-in receiver_policy() grants, the certificate id still a variable.
    let filled = fill(&text, &[("Partition", "aws"), ("Bucket", "drop")]);
    assert_eq!(
        placeholders(&filled),
        BTreeSet::from([CERTIFICATE_ID_VARIABLE.to_owned()])
    );
    let without_sids = |policy: Value| -> Value {
        let mut policy = policy;
        for statement in policy["Statement"].as_array_mut().unwrap() {
            statement.as_object_mut().unwrap().remove("Sid");
        }
        policy
    };
    assert_eq!(
        without_sids(parse_json("receiver-policy.json", &filled)),
        parse_json("receiver_policy()", &moto::receiver_policy("drop"))
    );
}

#[test]
fn sender_policy_has_no_wildcard_action_no_iam_and_only_certdrop_prefixes() {
    let text = read_template_file("sender-policy.json");
    let policy = parse_json("sender-policy.json", &text);
    let expected_placeholders: BTreeSet<String> = [
        "${Partition}",
        "${Region}",
        "${AccountId}",
        "${Bucket}",
        "${StackName}",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(placeholders(&text), expected_placeholders);

    let mut actions = BTreeSet::new();
    for statement in statements(&policy) {
        assert_eq!(statement["Effect"], "Allow", "{statement}");
        assert!(statement.get("NotAction").is_none(), "{statement}");
        assert!(statement.get("NotResource").is_none(), "{statement}");
        let statement_actions = strings(&statement["Action"]);
        let resources = strings(&statement["Resource"]);
        for action in &statement_actions {
            assert!(!action.contains('*'), "wildcard action {action}");
            assert!(
                !action.to_lowercase().starts_with("iam:"),
                "senders need no IAM action, found {action}"
            );
            actions.insert(action.to_string());
        }
        for resource in resources {
            match resource.strip_prefix("arn:${Partition}:s3:::${Bucket}") {
                // The bucket itself: listing only.
                Some("") => assert_eq!(statement_actions, ["s3:ListBucket"]),
                Some(path) => assert!(
                    ["/transfers/*", "/receivers/*", "/receipts/*"].contains(&path),
                    "S3 resource {resource}"
                ),
                None => assert!(
                    !resource.contains(":s3:")
                        && statement_actions.iter().all(|a| !a.starts_with("s3:")),
                    "S3 outside the bucket's certdrop prefixes: {statement}"
                ),
            }
        }
        // Receipts are the receiver's to write: a sender reads and deletes them only.
        if strings(&statement["Resource"])
            .iter()
            .any(|r| r.contains("/receipts/"))
        {
            let read_delete = ["s3:GetObject", "s3:DeleteObject"];
            assert!(statement_actions.iter().all(|a| read_delete.contains(a)));
        }
    }
    assert!(!actions
        .iter()
        .any(|a| a.eq_ignore_ascii_case("iam:PassRole")));
    let needed = [
        "iot:CreateKeysAndCertificate",
        "iot:AttachPolicy",
        "iot:DetachPolicy",
        "iot:UpdateCertificate",
        "iot:DeleteCertificate",
        "iot:DescribeCertificate",
        "iot:ListTargetsForPolicy",
        "iot:ListAttachedPolicies",
        "iot:DescribeEndpoint",
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:GetObject",
        "s3:GetObjectTagging",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
        "s3:ListBucket",
        "cloudformation:DescribeStacks",
    ];
    let needed: BTreeSet<String> = needed.map(str::to_owned).into();
    assert_eq!(actions, needed, "the sender policy's actions");
}

#[test]
fn iot_policy_allows_only_the_role_alias() {
    let policy = parse_json("iot-policy.json", &read_template_file("iot-policy.json"));
    let statements = statements(&policy);
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0]["Effect"], "Allow");
    assert_eq!(statements[0]["Action"], "iot:AssumeRoleWithCertificate");
    assert_eq!(statements[0]["Resource"], "${RoleAliasArn}");
}

#[test]
fn recipient_readme_opens_in_any_windows_notepad_japanese_first() {
    let path = templates_dir().join("README-recipient.txt");
    let bytes = std::fs::read(&path).unwrap();
    // A byte-order mark, so that older Notepad does not read the UTF-8 as Shift-JIS.
    let text = std::str::from_utf8(&bytes)
        .unwrap()
        .strip_prefix('\u{feff}')
        .expect("README-recipient.txt starts with a UTF-8 byte-order mark");
    assert!(
        text.split('\n')
            .all(|line| line.is_empty() || line.ends_with('\r'))
            && text.ends_with("\r\n"),
        "README-recipient.txt has CRLF line ends throughout"
    );
    let japanese = text.find("パスワード").expect("a Japanese part");
    let english = text.find("password").expect("an English part");
    assert!(japanese < english, "Japanese comes first");
    for fact in [
        "ダウンロード",
        "Downloads",
        "SmartScreen",
        "5 回",
        "five times",
    ] {
        assert!(text.contains(fact), "README-recipient.txt mentions {fact}");
    }
}

// ---------------------------------------------------------------------------------------
// Deploying to moto

/// The text of each `<tag>` element in `xml`, in order, with XML escapes undone.
fn xml_texts(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else {
            break;
        };
        found.push(xml_unescape(&after[..end]));
        rest = &after[end + close.len()..];
    }
    found
}

fn xml_text(xml: &str, tag: &str) -> String {
    xml_texts(xml, tag)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
}

fn xml_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let Some(semi) = rest[amp..].find(';') else {
            break;
        };
        let entity = &rest[amp + 1..amp + semi];
        let decoded = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => out.push(c),
            None => out.push_str(&rest[amp..=amp + semi]),
        }
        rest = &rest[amp + semi + 1..];
    }
    out.push_str(rest);
    out
}

/// IAM returns policy documents URL-encoded.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("UTF-8 policy document")
}

/// A policy document as moto's IAM returns it: URL-encoded JSON, except that an inline role
/// policy created by moto's CloudFormation comes back as a Python dict's repr (single quotes).
/// The documents here hold no quote inside a string, so swapping the quotes is enough.
fn policy_document(encoded: &str) -> Value {
    let text = if encoded.trim_start().starts_with('{') {
        encoded.to_owned()
    } else {
        percent_decode(encoded)
    };
    let text = if text.starts_with("{'") && !text.contains('"') {
        text.replace('\'', "\"")
    } else {
        text
    };
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("moto's policy document: {e}: {text}"))
}

/// A signed GET of moto's IoT REST API, answered with JSON.
async fn iot_get(endpoint: &str, credentials: &Credentials, path: &str) -> Value {
    let url = reqwest::Url::parse(&format!("{endpoint}{path}")).unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let settings = signed::query_settings("iot", MOTO_REGION, b"");
    let response = signed::send(
        &http,
        credentials,
        &settings,
        reqwest::Method::GET,
        url,
        &[],
        Vec::new(),
    )
    .await
    .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(status.is_success(), "GET {path}: HTTP {status}: {body}");
    parse_json(path, &body)
}

/// A signed S3 request to moto: (HTTP status, body).
async fn s3_request(
    endpoint: &str,
    credentials: &Credentials,
    method: reqwest::Method,
    path_and_query: &str,
) -> (u16, String) {
    let url = reqwest::Url::parse(&format!("{endpoint}{path_and_query}")).unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let settings = signed::s3_settings(MOTO_REGION, b"");
    let response = signed::send(&http, credentials, &settings, method, url, &[], Vec::new())
        .await
        .unwrap_or_else(|e| panic!("{path_and_query}: {e}"));
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Creates stack `name` from the template; returns its outputs once CREATE_COMPLETE.
async fn create_stack(
    client: &MotoClient,
    name: &str,
    template: &str,
    parameters: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = vec![
        ("StackName".into(), name.into()),
        ("TemplateBody".into(), template.into()),
        (
            "Capabilities.member.1".into(),
            "CAPABILITY_NAMED_IAM".into(),
        ),
    ];
    for (n, (key, value)) in parameters.iter().enumerate() {
        let member = format!("Parameters.member.{}", n + 1);
        params.push((format!("{member}.ParameterKey"), (*key).into()));
        params.push((format!("{member}.ParameterValue"), (*value).into()));
    }
    let params: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    client
        .call("cloudformation", "CreateStack", &params)
        .await
        .unwrap_or_else(|e| panic!("CreateStack {name}: {e}"));
    let described = client
        .call("cloudformation", "DescribeStacks", &[("StackName", name)])
        .await
        .unwrap_or_else(|e| panic!("DescribeStacks {name}: {e}"));
    assert_eq!(
        xml_text(&described, "StackStatus"),
        "CREATE_COMPLETE",
        "{described}"
    );
    let keys = xml_texts(&described, "OutputKey");
    let values = xml_texts(&described, "OutputValue");
    assert_eq!(keys.len(), values.len(), "{described}");
    keys.into_iter().zip(values).collect()
}

fn output<'a>(outputs: &'a [(String, String)], key: &str) -> &'a str {
    outputs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no output {key} in {outputs:?}"))
}

#[tokio::test]
async fn template_deploys_to_moto_with_the_reviewed_policies() {
    let server = MotoServer::start().unwrap_or_else(|e| panic!("{e}"));
    let endpoint = server.endpoint().to_owned();
    let credentials = Credentials::new("AKIDCERTDROPTEST", "certdrop-test-secret");
    let client = MotoClient::new(&endpoint, credentials.clone()).unwrap();
    let template = read_template_file("certdrop.yaml");

    for (stack, bucket, create_bucket) in [
        ("certdrop", "certdrop-new-bucket", "true"),
        ("certdrop-existing", "certdrop-existing-bucket", "false"),
    ] {
        let parameters = [
            ("BucketName", bucket),
            ("CreateBucket", create_bucket),
            ("CredentialHours", "2"),
        ];
        let outputs = create_stack(&client, stack, &template, &parameters).await;
        let role_name = format!("{stack}-receiver-{MOTO_REGION}");
        let role_arn = format!("arn:aws:iam::{MOTO_ACCOUNT_ID}:role/{role_name}");
        let alias = format!("{stack}-receiver");
        let sender_policy_arn =
            format!("arn:aws:iam::{MOTO_ACCOUNT_ID}:policy/{stack}-sender-{MOTO_REGION}");
        assert_eq!(output(&outputs, "BucketName"), bucket);
        assert_eq!(output(&outputs, "RoleAliasName"), alias);
        assert_eq!(output(&outputs, "IoTPolicyName"), alias);
        assert_eq!(output(&outputs, "ReceiverRoleArn"), role_arn);
        assert_eq!(output(&outputs, "SenderPolicyArn"), sender_policy_arn);

        let values = [
            ("Partition", "aws"),
            ("Region", MOTO_REGION),
            ("AccountId", MOTO_ACCOUNT_ID),
            ("Bucket", bucket),
            ("StackName", stack),
        ];
        let expected = |file: &str| parse_json(file, &fill(&read_template_file(file), &values));

        // The bucket: created only when asked (moto applies its encryption, not the rest of
        // its settings, which cfn-lint checks above).
        let (status, _) = s3_request(
            &endpoint,
            &credentials,
            reqwest::Method::HEAD,
            &format!("/{bucket}"),
        )
        .await;
        if create_bucket == "true" {
            assert_eq!(status, 200, "the new bucket {bucket}");
            let path = format!("/{bucket}?encryption");
            let (status, body) =
                s3_request(&endpoint, &credentials, reqwest::Method::GET, &path).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(xml_text(&body, "SSEAlgorithm"), "AES256", "{body}");
        } else {
            assert_eq!(
                status, 404,
                "CreateBucket=false must create no bucket {bucket}"
            );
        }

        // The receiver role: its trust, its session limit and its one inline policy.
        let role = client
            .call("iam", "GetRole", &[("RoleName", &role_name)])
            .await
            .unwrap();
        assert_eq!(
            policy_document(&xml_text(&role, "AssumeRolePolicyDocument")),
            expected("receiver-trust-policy.json")
        );
        assert_eq!(xml_text(&role, "MaxSessionDuration"), "7200");
        let params = [
            ("RoleName", role_name.as_str()),
            ("PolicyName", "certdrop-receiver"),
        ];
        let inline = client.call("iam", "GetRolePolicy", &params).await.unwrap();
        assert_eq!(
            policy_document(&xml_text(&inline, "PolicyDocument")),
            expected("receiver-policy.json")
        );

        // The sender policy.
        let params = [("PolicyArn", sender_policy_arn.as_str())];
        let policy = client.call("iam", "GetPolicy", &params).await.unwrap();
        let version = xml_text(&policy, "DefaultVersionId");
        let params = [
            ("PolicyArn", sender_policy_arn.as_str()),
            ("VersionId", version.as_str()),
        ];
        let version = client
            .call("iam", "GetPolicyVersion", &params)
            .await
            .unwrap();
        assert_eq!(
            policy_document(&xml_text(&version, "Document")),
            expected("sender-policy.json")
        );

        // The role alias and the IoT policy.
        let described = iot_get(&endpoint, &credentials, &format!("/role-aliases/{alias}")).await;
        let description = &described["roleAliasDescription"];
        assert_eq!(description["roleArn"], role_arn.as_str());
        assert_eq!(description["credentialDurationSeconds"], 7200);
        let alias_arn = description["roleAliasArn"].as_str().unwrap().to_owned();
        assert_eq!(
            alias_arn,
            format!("arn:aws:iot:{MOTO_REGION}:{MOTO_ACCOUNT_ID}:rolealias/{alias}")
        );
        let iot_policy = iot_get(&endpoint, &credentials, &format!("/policies/{alias}")).await;
        // AWS answers the document as a string; moto, for a policy its CloudFormation made,
        // as the JSON object itself.
        let document = match &iot_policy["policyDocument"] {
            Value::String(text) => parse_json("the IoT policy from moto", text),
            other => other.clone(),
        };
        let iot_expected = fill(
            &read_template_file("iot-policy.json"),
            &[("RoleAliasArn", &alias_arn)],
        );
        assert_eq!(document, parse_json("iot-policy.json", &iot_expected));
    }
    drop(server); // stops moto
}
