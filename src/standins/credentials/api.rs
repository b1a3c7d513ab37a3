//! The credentials provider's wire format: the JSON of a successful answer and the errors, as
//! AWS IoT documents them (status code, `x-amzn-ErrorType` header, `{"message": ...}` body).

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;

use super::store::TemporaryCredentials;
use crate::standins::random;

/// The header that names the error's type.
pub const ERROR_TYPE_HEADER: &str = "x-amzn-ErrorType";
/// The header that carries the request's id.
pub const REQUEST_ID_HEADER: &str = "x-amzn-RequestId";
/// The optional header naming the thing attached to the certificate.
pub const THING_NAME_HEADER: &str = "x-amzn-iot-thingname";

/// The error types the emulator answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    /// 403: the certificate is not active or not allowed to assume the role alias.
    Forbidden,
    /// 404: no such role alias.
    ResourceNotFound,
    /// 400: the request is not valid.
    InvalidRequest,
    /// 500: an unexpected error.
    InternalFailure,
}

impl ErrorType {
    /// The value of `x-amzn-ErrorType`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorType::Forbidden => "ForbiddenException",
            ErrorType::ResourceNotFound => "ResourceNotFoundException",
            ErrorType::InvalidRequest => "InvalidRequestException",
            ErrorType::InternalFailure => "InternalFailureException",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorType::Forbidden => StatusCode::FORBIDDEN,
            ErrorType::ResourceNotFound => StatusCode::NOT_FOUND,
            ErrorType::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorType::InternalFailure => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// One error answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorType,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorType, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    pub fn into_response(self) -> Response<Full<Bytes>> {
        let body = serde_json::json!({ "message": self.message }).to_string();
        let mut response = json_response(self.kind.status(), body.into_bytes());
        let kind = HeaderValue::from_static(self.kind.name());
        response.headers_mut().insert(ERROR_TYPE_HEADER, kind);
        response
    }
}

/// `{"credentials": {...}}`, the answer to a successful request.
#[derive(Serialize)]
struct CredentialsAnswer<'a> {
    credentials: CredentialsFields<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CredentialsFields<'a> {
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: &'a str,
    /// ISO 8601 in UTC to the second, such as `2026-12-03T20:00:00Z`.
    expiration: String,
}

/// The 200 answer carrying `credentials`.
pub fn credentials_response(credentials: &TemporaryCredentials) -> Response<Full<Bytes>> {
    let answer = CredentialsAnswer {
        credentials: CredentialsFields {
            access_key_id: credentials.access_key_id(),
            secret_access_key: credentials.secret_access_key(),
            session_token: credentials.session_token(),
            expiration: credentials
                .expiration()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string(),
        },
    };
    let body = serde_json::to_vec(&answer).expect("a struct of strings serializes");
    json_response(StatusCode::OK, body)
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let request_id = HeaderValue::from_str(&random::hex_id()).expect("hex is a valid header");
    headers.insert(REQUEST_ID_HEADER, request_id);
    response
}

/// Checks a role alias against the pattern AWS IoT gives for it: 1 to 128 of
/// `A-Z a-z 0-9 _ = , @ -`.
pub fn is_valid_role_alias(alias: &str) -> bool {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"_=,@-".contains(&b);
    (1..=128).contains(&alias.len()) && alias.bytes().all(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answer_carries_type_header_and_message_body() {
        let response = ApiError::new(ErrorType::Forbidden, "no").into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let kind = response.headers().get(ERROR_TYPE_HEADER).unwrap();
        assert_eq!(kind, "ForbiddenException");
        assert!(response.headers().contains_key(REQUEST_ID_HEADER));
    }

    #[test]
    fn role_alias_pattern_is_awss() {
        assert!(is_valid_role_alias("certdrop-receiver_1=a,b@c"));
        assert!(!is_valid_role_alias(""));
        assert!(!is_valid_role_alias("a/b"));
        assert!(!is_valid_role_alias("a%20b"));
        assert!(!is_valid_role_alias(&"a".repeat(129)));
    }
}
