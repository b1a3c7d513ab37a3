//! Signed calls to moto: the query protocol of IAM and STS, a few S3 requests for test
//! setup, and switching moto's authentication on.

use std::fmt;

use reqwest::{Client, Method, Url};

use super::{MotoError, MOTO_REGION};
use crate::sigv4::{self, Credentials};
use crate::standins::signed;

const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
/// The policy an admin user gets: everything.
const ADMIN_POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// A client of one moto server, signing with one set of credentials.
#[derive(Clone)]
pub struct MotoClient {
    http: Client,
    endpoint: Url,
    credentials: Credentials,
}

impl fmt::Debug for MotoClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MotoClient")
            .field("endpoint", &self.endpoint.as_str())
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl MotoClient {
    /// `endpoint` is moto's `http://127.0.0.1:PORT`.
    pub fn new(endpoint: &str, credentials: Credentials) -> Result<Self, MotoError> {
        let endpoint = Url::parse(endpoint)
            .map_err(|e| MotoError::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
        let http = Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| MotoError::Io(std::io::Error::other(e)))?;
        Ok(MotoClient {
            http,
            endpoint,
            credentials,
        })
    }

    /// Calls `action` of `service` (`iam` or `sts`) and returns the XML answer.
    pub async fn call(
        &self,
        service: &str,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<String, MotoError> {
        let body = form_body(service, action, params).into_bytes();
        let settings = signed::query_settings(service, MOTO_REGION, &body);
        let headers = [("content-type", FORM_CONTENT_TYPE)];
        let url = self.endpoint.clone();
        let sent = signed::send(
            &self.http,
            &self.credentials,
            &settings,
            Method::POST,
            url,
            &headers,
            body,
        );
        answer_text(action, sent.await?).await
    }

    /// Calls moto's IoT REST API (`GET /certificates/ID`, `POST /policy-targets/NAME`, ...);
    /// `path` must be percent-encoded as it goes on the wire. Returns the JSON text.
    pub async fn iot(&self, method: Method, path: &str) -> Result<String, MotoError> {
        let settings = signed::query_settings("iot", MOTO_REGION, b"");
        let action = format!("{method} {path}");
        let url = self.url(path);
        let sent = signed::send(
            &self.http,
            &self.credentials,
            &settings,
            method,
            url,
            &[],
            Vec::new(),
        );
        let response = sent.await?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(body);
        }
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let code = json["__type"].as_str().or(json["code"].as_str());
        Err(MotoError::Refused {
            action,
            status: status.as_u16(),
            code: code.unwrap_or_default().to_owned(),
            message: json["message"].as_str().unwrap_or(&body).to_owned(),
        })
    }

    /// Creates IAM user `name` allowed everything and returns a new access key of it: the
    /// keys to sign with once moto's authentication is on.
    pub async fn create_admin_user(&self, name: &str) -> Result<Credentials, MotoError> {
        self.call("iam", "CreateUser", &[("UserName", name)])
            .await?;
        let policy = [
            ("UserName", name),
            ("PolicyName", "admin"),
            ("PolicyDocument", ADMIN_POLICY),
        ];
        self.call("iam", "PutUserPolicy", &policy).await?;
        let answer = self
            .call("iam", "CreateAccessKey", &[("UserName", name)])
            .await?;
        let field = |name: &'static str| {
            xml_text(&answer, name).ok_or_else(|| MotoError::MalformedAnswer {
                action: "CreateAccessKey".to_owned(),
                field: name,
            })
        };
        Ok(Credentials::new(
            field("AccessKeyId")?,
            field("SecretAccessKey")?,
        ))
    }

    /// Makes moto check signatures, session tokens and IAM policies from now on
    /// (`POST /moto-api/reset-auth` with `0` requests left unchecked).
    pub async fn enable_auth(&self) -> Result<(), MotoError> {
        let url = self.url("/moto-api/reset-auth");
        let sent = self.http.post(url.clone()).body("0").send().await;
        let response = sent.map_err(|source| signed::SignedRequestError::Http { url, source })?;
        answer_text("reset-auth", response).await.map(drop)
    }

    /// Sets how many requests moto lets through unchecked from now on (`inf`: all, `0`: none)
    /// and returns the previous setting, to restore it with.
    pub async fn set_unchecked_requests(&self, count: &str) -> Result<String, MotoError> {
        let url = self.url("/moto-api/reset-auth");
        let sent = self
            .http
            .post(url.clone())
            .header("content-type", "text/plain")
            .body(count.to_owned())
            .send()
            .await;
        let response = sent.map_err(|source| signed::SignedRequestError::Http { url, source })?;
        let text = answer_text("reset-auth", response).await?;
        let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let previous = answer["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"].as_str();
        Ok(previous.unwrap_or("inf").to_owned())
    }

    /// Creates `bucket` in moto's S3.
    pub async fn create_bucket(&self, bucket: &str) -> Result<(), MotoError> {
        let url = self.url(&format!("/{bucket}"));
        self.s3(Method::PUT, url, Vec::new()).await.map(drop)
    }

    /// Puts one object into moto's S3.
    pub async fn put_object(&self, bucket: &str, key: &str, bytes: &[u8]) -> Result<(), MotoError> {
        let url = self.url(&format!("/{bucket}{}", sigv4::s3_key_path(key)));
        self.s3(Method::PUT, url, bytes.to_vec()).await.map(drop)
    }

    async fn s3(&self, method: Method, url: Url, body: Vec<u8>) -> Result<String, MotoError> {
        let settings = signed::s3_settings(MOTO_REGION, &body);
        let action = format!("{method} {}", url.path());
        let sent = signed::send(
            &self.http,
            &self.credentials,
            &settings,
            method,
            url,
            &[],
            body,
        );
        answer_text(&action, sent.await?).await
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.endpoint.clone();
        url.set_path(path);
        url
    }
}

/// `Action=...&Version=...&<params>`, each value encoded as AWS's `UriEncode()` does.
fn form_body(service: &str, action: &str, params: &[(&str, &str)]) -> String {
    let version = match service {
        "sts" => "2011-06-15",
        _ => "2010-05-08",
    };
    let fixed = [("Action", action), ("Version", version)];
    let pairs = fixed.iter().chain(params);
    let encoded: Vec<String> = pairs
        .map(|(name, value)| format!("{}={}", sigv4::uri_encode(name), sigv4::uri_encode(value)))
        .collect();
    encoded.join("&")
}

/// The body of a 2xx answer; any other status becomes [`MotoError::Refused`] with the
/// error code and message from the XML.
async fn answer_text(action: &str, response: reqwest::Response) -> Result<String, MotoError> {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if status.is_success() {
        return Ok(body);
    }
    Err(MotoError::Refused {
        action: action.to_owned(),
        status: status.as_u16(),
        code: xml_text(&body, "Code").unwrap_or_default(),
        message: xml_text(&body, "Message").unwrap_or(body),
    })
}

/// The text of the first `<tag>...</tag>` in `xml`, with XML's predefined entities decoded.
///
/// Limitation: a plain search, not an XML parser (certdrop has none): it ignores namespaces
/// and attributes on the tag and numeric character references, which moto's answers for
/// the calls made here do not use.
pub(crate) fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let length = xml[start..].find(&close)?;
    Some(decode_entities(&xml[start..start + length]))
}

fn decode_entities(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_body_encodes_values_and_names_the_version() {
        let body = form_body(
            "iam",
            "CreateRole",
            &[("RoleName", "r"), ("Doc", "{\"a\": 1}")],
        );
        let expected = "Action=CreateRole&Version=2010-05-08&RoleName=r&Doc=%7B%22a%22%3A%201%7D";
        assert_eq!(body, expected);
        assert!(form_body("sts", "AssumeRole", &[]).ends_with("Version=2011-06-15"));
    }

    #[test]
    fn xml_text_finds_the_first_element_and_decodes_entities() {
        let xml = "<Error><Code>EntityAlreadyExists</Code><Message>a &lt;b&gt; &amp;amp;</Message>";
        assert_eq!(xml_text(xml, "Code").unwrap(), "EntityAlreadyExists");
        assert_eq!(xml_text(xml, "Message").unwrap(), "a <b> &amp;");
        assert_eq!(xml_text(xml, "Missing"), None);
    }
}
