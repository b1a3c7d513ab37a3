//! AWS's Signature Version 4 test suite (../shared/sigv4-test-suite/v4), header signing:
//! every case folder is parsed and each stage is compared with the case's own file.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use certdrop::sigv4::{
    sign, CanonicalRequest, CredentialScope, Credentials, PayloadHash, SessionTokenMode,
    SignableRequest, SigningKey, SigningSettings, StringToSign, UriRules,
};

/// How many cases the suite holds; a missing or extra folder fails the test.
const SUITE_CASES: usize = 38;

/// One case's `context.json`.
#[derive(Deserialize)]
struct Context {
    credentials: ContextCredentials,
    normalize: bool,
    region: String,
    service: String,
    sign_body: bool,
    timestamp: DateTime<Utc>,
    /// Set by the post-sts-header cases: true means the token is added after signing.
    #[serde(default)]
    omit_session_token: bool,
}

#[derive(Deserialize)]
struct ContextCredentials {
    access_key_id: String,
    secret_access_key: String,
    token: Option<String>,
}

/// One case folder, loaded.
struct Case {
    name: String,
    dir: PathBuf,
    context: Context,
    request: SignableRequest,
    body: Vec<u8>,
}

impl Case {
    fn load(dir: &Path) -> Case {
        let name = dir
            .file_name()
            .expect("case folders have names")
            .to_string_lossy();
        let context = serde_json::from_str(&read(dir, "context.json"))
            .unwrap_or_else(|e| panic!("context.json of {name} does not parse: {e}"));
        let (request, body) = parse_request(&read(dir, "request.txt"), &context);
        Case {
            name: name.into_owned(),
            dir: dir.to_owned(),
            context,
            request,
            body,
        }
    }

    fn expected(&self, file: &str) -> String {
        read(&self.dir, file)
    }

    fn settings(&self) -> SigningSettings {
        let mode = match self.context.omit_session_token {
            true => SessionTokenMode::AddedAfterSigning,
            false => SessionTokenMode::SignedToken,
        };
        SigningSettings {
            service: self.context.service.clone(),
            region: self.context.region.clone(),
            rules: UriRules::Generic {
                normalize: self.context.normalize,
            },
            session_token_mode: mode,
            payload: PayloadHash::sha256_of(&self.body),
            add_content_sha256_header: self.context.sign_body,
        }
    }

    fn credentials(&self) -> Credentials {
        let given = &self.context.credentials;
        let credentials = Credentials::new(&given.access_key_id, &given.secret_access_key);
        match &given.token {
            Some(token) => credentials.with_session_token(token),
            None => credentials,
        }
    }
}

#[test]
fn every_suite_case_signs_as_aws_expects_at_every_stage() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/sigv4-test-suite/v4");
    assert!(
        root.is_dir(),
        "the sigv4 test suite is missing at {}",
        root.display()
    );

    let mut dirs = Vec::new();
    find_cases(&root, &mut dirs);
    dirs.sort();
    let mut failures = Vec::new();
    for dir in &dirs {
        failures.extend(check_case(&Case::load(dir)));
    }

    assert!(
        failures.is_empty(),
        "{} failures:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert_eq!(
        dirs.len(),
        SUITE_CASES,
        "expected every case of the suite to be checked"
    );
}

/// Compares each stage with its file; returns one message per stage that differs.
fn check_case(case: &Case) -> Vec<String> {
    let (settings, credentials) = (case.settings(), case.credentials());
    let token = credentials.session_token();
    let time = case.request.time;
    let canonical = match CanonicalRequest::build(&case.request, &settings, token) {
        Ok(canonical) => canonical,
        Err(e) => return vec![format!("canonical request fails for {}: {e}", case.name)],
    };
    let scope = CredentialScope::new(time, &settings.region, &settings.service);
    let string_to_sign = StringToSign::new(time, scope, &canonical);
    let key = SigningKey::derive(&credentials, string_to_sign.scope());
    let signature = key.sign(&string_to_sign);

    let mut failures = Vec::new();
    let mut compare = |stage: &str, file: &str, actual: String| {
        let expected = case.expected(file);
        if actual != expected {
            let name = &case.name;
            failures.push(format!(
                "{stage} differs for {name}\n--- expected\n{expected}\n--- actual\n{actual}"
            ));
        }
    };
    compare(
        "canonical request",
        "header-canonical-request.txt",
        canonical.to_string(),
    );
    compare(
        "string to sign",
        "header-string-to-sign.txt",
        string_to_sign.to_string(),
    );
    compare("signature", "header-signature.txt", signature.to_string());
    failures.extend(check_signed_request(case, &settings, &credentials));
    failures
}

/// The headers `sign` adds must be the ones in `header-signed-request.txt`.
fn check_signed_request(
    case: &Case,
    settings: &SigningSettings,
    credentials: &Credentials,
) -> Vec<String> {
    let output = match sign(&case.request, settings, credentials) {
        Ok(output) => output,
        Err(e) => return vec![format!("signing fails for {}: {e}", case.name)],
    };
    let text = case.expected("header-signed-request.txt");
    let (_request_line, rest) = text.split_once('\n').expect("a signed request has headers");
    let (signed, _body) = parse_head(rest);
    let mut failures = Vec::new();
    for name in [
        "Authorization",
        "X-Amz-Date",
        "X-Amz-Security-Token",
        "x-amz-content-sha256",
    ] {
        let expected = signed.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
        let expected = expected.map(|(_, value)| value.as_str());
        if output.header(name) != expected {
            let case = &case.name;
            failures.push(format!(
                "signed request header {name} differs for {case}\n--- expected\n{expected:?}\n\
                 --- actual\n{:?}",
                output.header(name)
            ));
        }
    }
    failures
}

/// Every folder under `dir` that holds a `context.json` is a case.
fn find_cases(dir: &Path, cases: &mut Vec<PathBuf>) {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a listed entry can be read").path();
        if path.join("context.json").is_file() {
            cases.push(path);
        } else if path.is_dir() {
            find_cases(&path, cases);
        }
    }
}

fn read(dir: &Path, file: &str) -> String {
    let path = dir.join(file);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Splits `request.txt` into the request to sign and its body.
fn parse_request(text: &str, context: &Context) -> (SignableRequest, Vec<u8>) {
    let (request_line, rest) = text.split_once('\n').unwrap_or((text, ""));

    // `GET /example space/?a=b HTTP/1.1`: the target may itself hold spaces.
    let (method, target) = request_line
        .split_once(' ')
        .expect("request line has a method");
    let (target, _version) = target.rsplit_once(' ').expect("request line has a version");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));

    let (headers, body) = parse_head(rest);
    let request = SignableRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        time: context.timestamp,
    };
    (request, body.as_bytes().to_vec())
}

/// Parses the `Name:value` lines that follow the request line, up to the first blank line.
/// A line starting with a space or a tab continues the previous value (kept with its line
/// break: the signer folds it).
/// Returns the headers and what follows the blank line.
fn parse_head(text: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines().filter(|line| !line.is_empty()) {
        if line.starts_with([' ', '\t']) {
            let (_, value) = headers.last_mut().expect("a continuation follows a header");
            value.push('\n');
            value.push_str(line);
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    (headers, body)
}
