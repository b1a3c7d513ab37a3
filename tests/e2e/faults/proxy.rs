//! A fault-injecting HTTP/1.1 proxy between the receiver and the S3 stand-in, on 127.0.0.1.
//!
//! The receiver is given `http://127.0.0.1:<proxy port>` as its S3 endpoint, so the Host
//! header it signs is the proxy's address. The proxy changes nothing the signature covers: it
//! only opens the TCP connection to the stand-in and forwards the request bytes, replacing
//! the unsigned `Connection` header with `close` so that each answer ends with the upstream
//! connection. s3s checks the signature against the Host header it receives and never
//! compares it with its own address, so the forwarded requests verify.
//!
//! Each ranged GET may meet one fault, drawn from the plan with its seeded generator. Faults
//! in a row on the same part are capped, so that a download can always progress; the
//! receiver's own retry limits are not what a scenario tests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::seeded::Seeded;

/// A fault the proxy can inject into one ranged GET.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The connection is reset (RST) at a random offset inside the body.
    Reset,
    /// The connection is closed (FIN) at a random offset inside the body.
    Truncate,
    /// No byte after a random offset for longer than the receiver's read timeout.
    Stall,
    /// The first bytes of the body arrive a few hundred bytes at a time.
    Drip,
    /// Content-Length promises more than the body holds.
    LongLength,
    /// Content-Length promises less than the range asked for.
    ShortLength,
    /// Content-Range names another range than the one asked for.
    WrongRange,
    /// 500 InternalError.
    ServerError,
    /// 503 SlowDown without Retry-After.
    SlowDown,
    /// 503 SlowDown with `Retry-After: 1`.
    SlowDownRetryAfter,
    /// 400 ExpiredToken, as S3 answers a request signed with expired credentials.
    ExpiredToken,
    /// 403 ExpiredToken, as some S3 front ends answer it.
    ExpiredTokenForbidden,
}

impl Fault {
    pub const ALL: [Fault; 12] = [
        Fault::Reset,
        Fault::Truncate,
        Fault::Stall,
        Fault::Drip,
        Fault::LongLength,
        Fault::ShortLength,
        Fault::WrongRange,
        Fault::ServerError,
        Fault::SlowDown,
        Fault::SlowDownRetryAfter,
        Fault::ExpiredToken,
        Fault::ExpiredTokenForbidden,
    ];

    /// The canned error answer that replaces the stand-in's, for status faults.
    fn error_answer(self) -> Option<(u16, &'static str, &'static str, bool)> {
        match self {
            Fault::ServerError => Some((500, "Internal Server Error", "InternalError", false)),
            Fault::SlowDown => Some((503, "Slow Down", "SlowDown", false)),
            Fault::SlowDownRetryAfter => Some((503, "Slow Down", "SlowDown", true)),
            Fault::ExpiredToken => Some((400, "Bad Request", "ExpiredToken", false)),
            Fault::ExpiredTokenForbidden => Some((403, "Forbidden", "ExpiredToken", false)),
            _ => None,
        }
    }
}

/// Which faults to inject, how often, and how fast bodies flow.
#[derive(Clone, Debug)]
pub struct Plan {
    pub seed: u64,
    pub faults: Vec<Fault>,
    /// Probability that a ranged GET meets a fault.
    pub probability: f64,
    /// Faults injected at most, over the whole scenario.
    pub max_faults: u32,
    /// Bytes per second per connection; unlimited when `None`.
    pub pace: Option<u64>,
}

impl Plan {
    /// Forwards everything untouched.
    pub fn clean(seed: u64) -> Self {
        Plan {
            seed,
            faults: Vec::new(),
            probability: 0.0,
            max_faults: 0,
            pace: None,
        }
    }

    pub fn faults(seed: u64, faults: &[Fault], probability: f64, max_faults: u32) -> Self {
        Plan {
            seed,
            faults: faults.to_vec(),
            probability,
            max_faults,
            pace: None,
        }
    }

    pub fn paced(self, bytes_per_second: u64) -> Self {
        Plan {
            pace: Some(bytes_per_second),
            ..self
        }
    }
}

/// Faults on the same part in a row, at most: the receiver gives up after ten.
const MAX_IN_A_ROW: u32 = 3;
/// The longest a drip lasts: its first bytes only, so a scenario stays short.
const DRIP_BYTES: usize = 96 * 1024;
const DRIP_PIECE: usize = 512;
/// How long an upstream exchange may take.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request head accepted from the receiver.
const MAX_HEAD: usize = 64 * 1024;

/// What the proxy saw and did.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub requests: u64,
    pub injected: HashMap<Fault, u32>,
    /// Statuses the stand-in answered.
    pub statuses: HashMap<u16, u32>,
    /// Body bytes of 206 answers sent to the receiver.
    pub range_bytes: u64,
    /// The first byte of every ranged GET, in the order they came.
    pub range_starts: Vec<u64>,
}

impl Tally {
    pub fn injected_total(&self) -> u32 {
        self.injected.values().sum()
    }
}

struct Shared {
    upstream: SocketAddr,
    plan: Plan,
    state: Mutex<Decisions>,
}

struct Decisions {
    rng: Seeded,
    /// Ranged GETs seen so far, and the one that is sure to meet a fault.
    ranged: u32,
    forced_at: u32,
    in_a_row: HashMap<String, u32>,
    tally: Tally,
}

/// A running proxy; dropping it stops it and every connection it holds.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FaultProxy {
    pub fn start(upstream: SocketAddr, plan: Plan) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1");
        listener
            .set_nonblocking(true)
            .expect("a listener can be non-blocking");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shared = Arc::new(Shared {
            upstream,
            state: Mutex::new(Decisions {
                rng: Seeded::new(plan.seed ^ 0x5eed),
                ranged: 0,
                forced_at: Seeded::new(plan.seed).between(0, 8) as u32,
                in_a_row: HashMap::new(),
                tally: Tally::default(),
            }),
            plan,
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("the proxy's runtime starts");
        let accepting = Arc::clone(&shared);
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener)
                .expect("the listener joins the runtime");
            while let Ok((client, _)) = listener.accept().await {
                let shared = Arc::clone(&accepting);
                tokio::spawn(async move { serve_client(client, &shared).await });
            }
        });
        FaultProxy {
            addr,
            shared,
            runtime: Some(runtime),
        }
    }

    /// `http://127.0.0.1:PORT`, the endpoint to give the receiver.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn tally(&self) -> Tally {
        self.shared.lock().tally.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Decisions> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this request meets a fault, and where in the body (a fraction of it).
    fn decide(&self, request: &Request) -> Option<(Fault, f64)> {
        let mut state = self.lock();
        state.tally.requests += 1;
        let part = request.range_end.clone()?;
        if let Some(start) = request.range_start {
            state.tally.range_starts.push(start);
        }
        let plan = &self.plan;
        let in_a_row = state.in_a_row.get(&part).copied().unwrap_or(0);
        let allowed = !plan.faults.is_empty()
            && state.tally.injected_total() < plan.max_faults
            && in_a_row < MAX_IN_A_ROW;
        // One early request always meets a fault, so that no seed tests nothing.
        let forced = state.tally.injected_total() == 0 && state.ranged == state.forced_at;
        state.ranged += 1;
        if !allowed || (!forced && state.rng.fraction() >= plan.probability) {
            state.in_a_row.insert(part, 0);
            return None;
        }
        let fault = state.rng.pick(&plan.faults);
        let at = state.rng.fraction();
        *state.tally.injected.entry(fault).or_default() += 1;
        state.in_a_row.insert(part, in_a_row + 1);
        Some((fault, at))
    }
}

/// One request from the receiver, ready to forward.
struct Request {
    method: String,
    /// The head as forwarded: the receiver's, with `Connection: close`.
    head: Vec<u8>,
    body: Vec<u8>,
    /// The end of the range asked for (`bytes=S-E`): the same for every retry of a part.
    range_end: Option<String>,
    range_start: Option<u64>,
    if_match: Option<String>,
}

/// One answer from the stand-in, its body de-chunked.
struct Response {
    status: u16,
    status_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        let found = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name));
        found.map(|(_, v)| v.as_str())
    }
}

/// Relays the requests of one receiver connection until either side closes it.
async fn serve_client(mut client: TcpStream, shared: &Shared) {
    let mut buffer = Vec::new();
    while let Some(request) = read_request(&mut client, &mut buffer).await {
        let fault = shared.decide(&request);
        let keep = match fault {
            Some((fault, _)) if fault.error_answer().is_some() => {
                answer_error(&mut client, fault).await
            }
            _ => {
                let Some(mut response) = forward(shared.upstream, &request).await else {
                    return;
                };
                check_if_match(&request, &mut response);
                *shared
                    .lock()
                    .tally
                    .statuses
                    .entry(response.status)
                    .or_default() += 1;
                let fault = fault.filter(|_| response.status == 206);
                relay(&mut client, &request, &response, fault, shared).await
            }
        };
        if !keep {
            return;
        }
    }
}

/// Reads one request (head and Content-Length body); `None` at the end of the connection.
async fn read_request(client: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Request> {
    let head_end = loop {
        if let Some(at) = find(buffer, b"\r\n\r\n") {
            break at + 4;
        }
        if buffer.len() > MAX_HEAD || !read_more(client, buffer).await {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.to_owned();
    let method = request_line.split(' ').next()?.to_owned();
    let mut forwarded = format!("{request_line}\r\n");
    let (mut length, mut range_end, mut if_match) = (0usize, None, None);
    let mut range_start = None;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "connection" => continue,
            "content-length" => length = value.parse().ok()?,
            "range" => {
                range_end = value.rsplit('-').next().map(str::to_owned);
                range_start = value
                    .strip_prefix("bytes=")
                    .and_then(|r| r.split('-').next()?.parse().ok());
            }
            "if-match" => if_match = Some(value.to_owned()),
            _ => {}
        }
        forwarded.push_str(line);
        forwarded.push_str("\r\n");
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    while buffer.len() < head_end + length {
        if !read_more(client, buffer).await {
            return None;
        }
    }
    let body = buffer[head_end..head_end + length].to_vec();
    buffer.drain(..head_end + length);
    Some(Request {
        method,
        head: forwarded.into_bytes(),
        body,
        range_end,
        range_start,
        if_match,
    })
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buffer.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Sends the request to the stand-in on a connection of its own and reads the whole answer.
async fn forward(upstream: SocketAddr, request: &Request) -> Option<Response> {
    let exchange = async {
        let mut server = TcpStream::connect(upstream).await.ok()?;
        server.write_all(&request.head).await.ok()?;
        server.write_all(&request.body).await.ok()?;
        let mut raw = Vec::new();
        server.read_to_end(&mut raw).await.ok()?;
        parse_response(&raw, request.method == "HEAD")
    };
    tokio::time::timeout(UPSTREAM_TIMEOUT, exchange)
        .await
        .ok()
        .flatten()
}

/// S3 answers 412 to a GET whose `If-Match` names another ETag; s3s-fs 0.14 ignores the
/// header on GET, so the proxy applies it from the ETag of the stand-in's answer.
fn check_if_match(request: &Request, response: &mut Response) {
    let (Some(wanted), Some(current)) = (&request.if_match, response.header("etag")) else {
        return;
    };
    if (200..300).contains(&response.status) && wanted != current {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\
            <Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you \
            specified did not hold</Message></Error>";
        *response = Response {
            status: 412,
            status_line: "HTTP/1.1 412 Precondition Failed".to_owned(),
            headers: vec![("Content-Type".to_owned(), "application/xml".to_owned())],
            body: body.as_bytes().to_vec(),
        };
    }
}

fn parse_response(raw: &[u8], head_only: bool) -> Option<Response> {
    let head_end = find(raw, b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&raw[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?.to_owned();
    let status = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_owned(), v.trim().to_owned()))
        .collect();
    let mut response = Response {
        status,
        status_line,
        headers,
        body: Vec::new(),
    };
    let rest = &raw[head_end..];
    if head_only {
        return Some(response);
    }
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    response.body = match chunked {
        true => dechunk(rest)?,
        false => {
            let len = response
                .header("content-length")
                .and_then(|v| v.parse().ok());
            rest[..len.unwrap_or(rest.len()).min(rest.len())].to_vec()
        }
    };
    Some(response)
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = find(rest, b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// Answers with a canned S3 error instead of asking the stand-in.
async fn answer_error(client: &mut TcpStream, fault: Fault) -> bool {
    let (status, reason, code, retry_after) = fault
        .error_answer()
        .expect("only status faults are answered here");
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>injected by the fault proxy</Message></Error>"
    );
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    if retry_after {
        head.push_str("Retry-After: 1\r\n");
    }
    head.push_str("\r\n");
    let answer = [head.into_bytes(), body.into_bytes()].concat();
    client.write_all(&answer).await.is_ok()
}

/// Sends the stand-in's answer to the receiver, with `fault` applied to it. Returns whether
/// the connection can carry another request.
async fn relay(
    client: &mut TcpStream,
    request: &Request,
    response: &Response,
    fault: Option<(Fault, f64)>,
    shared: &Shared,
) -> bool {
    let head_only = request.method == "HEAD";
    let body = &response.body[..];
    let cut = fault.map_or(0, |(_, at)| (body.len() as f64 * at) as usize);
    let fault = fault.map(|(f, _)| f);

    // The head, with the length (and for one fault the range) the fault calls for.
    let mut head = format!("{}\r\n", response.status_line);
    for (name, value) in &response.headers {
        let lower = name.to_ascii_lowercase();
        let replaced = matches!(lower.as_str(), "transfer-encoding" | "connection")
            || (lower == "content-length" && !head_only)
            || (lower == "content-range" && fault == Some(Fault::WrongRange));
        if !replaced {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    if fault == Some(Fault::WrongRange) {
        if let Some(range) = response.header("content-range") {
            head.push_str(&format!("Content-Range: {}\r\n", shifted_range(range)));
        }
    }
    let length = match fault {
        Some(Fault::LongLength) => body.len() + 1 + cut,
        Some(Fault::ShortLength) => cut.min(body.len().saturating_sub(1)),
        _ => body.len(),
    };
    if !head_only {
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    head.push_str("\r\n");
    if client.write_all(head.as_bytes()).await.is_err() {
        return false;
    }
    if head_only {
        return true;
    }

    // The body, whole or cut where the fault strikes.
    let pace = shared.plan.pace;
    let sent = match fault {
        Some(Fault::Reset | Fault::Truncate | Fault::Stall) => &body[..cut],
        Some(Fault::ShortLength) => &body[..length],
        _ => body,
    };
    let written = match fault {
        Some(Fault::Drip) => drip(client, sent, pace).await,
        _ => paced(client, sent, pace).await,
    };
    if response.status == 206 {
        shared.lock().tally.range_bytes += sent.len() as u64;
    }
    if !written {
        return false;
    }
    match fault {
        Some(Fault::Reset) => {
            let _ = client.set_zero_linger();
            false
        }
        Some(Fault::Truncate) => {
            let _ = client.shutdown().await;
            false
        }
        Some(Fault::Stall) => {
            let _ = client.flush().await;
            tokio::time::sleep(certdrop::net::READ_TIMEOUT + Duration::from_secs(5)).await;
            false
        }
        Some(Fault::LongLength) => false,
        _ => true,
    }
}

/// `bytes S-E/T` moved one byte further.
fn shifted_range(range: &str) -> String {
    let parse = || -> Option<(u64, u64, String)> {
        let spec = range.strip_prefix("bytes ")?;
        let (span, total) = spec.split_once('/')?;
        let (start, end) = span.split_once('-')?;
        Some((start.parse().ok()?, end.parse().ok()?, total.to_owned()))
    };
    match parse() {
        Some((start, end, total)) => format!("bytes {}-{}/{total}", start + 1, end + 1),
        None => "bytes 0-0/1".to_owned(),
    }
}

/// Writes `bytes` at `pace` bytes per second (at once when `None`).
async fn paced(client: &mut TcpStream, bytes: &[u8], pace: Option<u64>) -> bool {
    let Some(pace) = pace else {
        return client.write_all(bytes).await.is_ok();
    };
    for piece in bytes.chunks(16 * 1024) {
        if client.write_all(piece).await.is_err() {
            return false;
        }
        let seconds = piece.len() as f64 / pace.max(1) as f64;
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    }
    true
}

/// The first [`DRIP_BYTES`] a few hundred bytes at a time, then the rest.
async fn drip(client: &mut TcpStream, bytes: &[u8], pace: Option<u64>) -> bool {
    let split = DRIP_BYTES.min(bytes.len());
    for piece in bytes[..split].chunks(DRIP_PIECE) {
        if client.write_all(piece).await.is_err() {
            return false;
        }
        let _ = client.flush().await;
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    paced(client, &bytes[split..], pace).await
}
