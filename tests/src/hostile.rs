//! Hostile input (issue 6, group 5): the contract every answer to a hostile request
//! must meet, the catalogue of nasty submit bodies that both the in-process test and
//! the one through the gateway send, and a raw HTTP/1.1 client for requests `reqwest`
//! would refuse to send or would normalise (`..` segments, bytes that are not UTF-8
//! in a path, control characters in a header).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

pub const PROBLEM: &str = "application/problem+json";
/// `shared::app::submit::MAX_BODY_BYTES`: the largest submit body accepted.
pub const SUBMIT_LIMIT: usize = 16 * 1024;

/// Checks an answer against the API's error contract (SPEC §3): never a 5xx; a 4xx
/// is problem+json whose `status` matches, with a `type`, a `title` and a specific
/// `detail`; `errors`, when present, name a field and say what is wrong with it, and
/// a validation or bad-parameter problem always has them. Returns the parsed problem.
pub fn check_answer(status: u16, content_type: &str, body: &[u8]) -> Result<Option<Value>, String> {
    let text = || String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    if status >= 500 {
        return Err(format!("server error {status}: {}", text()));
    }
    if status < 400 {
        return Ok(None);
    }
    if content_type != PROBLEM {
        return Err(format!(
            "{status} with content-type {content_type:?}, not {PROBLEM}: {}",
            text()
        ));
    }
    let p: Value = serde_json::from_slice(body).map_err(|e| format!("{status} body is not JSON ({e}): {}", text()))?;
    if p["status"].as_u64() != Some(u64::from(status)) {
        return Err(format!("{status} problem says status {}", p["status"]));
    }
    if !p["type"].as_str().is_some_and(|t| t.starts_with("/problems/")) || p["title"].as_str().is_none() {
        return Err(format!("{status} problem lacks type or title: {p}"));
    }
    let detail = p["detail"].as_str().unwrap_or_default();
    if detail.trim().is_empty() || Some(detail) == p["title"].as_str() {
        return Err(format!("{status} problem has no specific detail: {p}"));
    }
    let errors = p["errors"].as_array().cloned().unwrap_or_default();
    for e in &errors {
        // The field may be "" when the body has a key "" (an unknown field).
        let named = e["field"].is_string();
        let said = e["message"].as_str().is_some_and(|m| !m.trim().is_empty());
        if !named || !said {
            return Err(format!("{status} problem has an error without field or message: {e}"));
        }
    }
    let needs_fields = matches!(
        p["type"].as_str(),
        Some("/problems/validation-error" | "/problems/bad-parameter")
    );
    if needs_fields && errors.is_empty() {
        return Err(format!("{status} {} names no field: {p}", p["type"]));
    }
    Ok(Some(p))
}

/// The fields a problem's `errors` name.
pub fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str().map(str::to_owned))
        .collect()
}

/// What a catalogue request must get.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// This status and problem type, and when a field is given, `errors` naming it.
    Problem {
        status: u16,
        kind: &'static str,
        field: Option<&'static str>,
    },
    /// This success status (201: the request is a valid order).
    Success(u16),
    /// Refused by the HTTP layer: a bare 400/414/431 from the server library before any
    /// route is matched, or any 4xx problem.
    Protocol,
}

impl Expect {
    pub fn problem(status: u16, kind: &'static str, field: Option<&'static str>) -> Self {
        Self::Problem { status, kind, field }
    }

    /// Checks an answer that already passed [`check_answer`].
    pub fn matches(&self, status: u16, problem: Option<&Value>) -> Result<(), String> {
        match (self, problem) {
            (Self::Success(s), None) if *s == status => Ok(()),
            (Self::Protocol, Some(_)) if (400..500).contains(&status) => Ok(()),
            (Self::Problem { status: s, kind, field }, Some(p)) if *s == status => {
                let got = p["type"].as_str().unwrap_or_default();
                if got != format!("/problems/{kind}") {
                    return Err(format!("{status} {got}, expected /problems/{kind}: {p}"));
                }
                match field {
                    Some(f) if !fields(p).iter().any(|x| x == f) => Err(format!("errors do not name {f}: {p}")),
                    _ => Ok(()),
                }
            }
            _ => Err(format!("got {status} {problem:?}, expected {self:?}")),
        }
    }
}

/// One nasty submit request.
#[derive(Clone, Debug)]
pub struct BodyCase {
    pub name: String,
    pub body: Vec<u8>,
    pub content_type: Option<&'static str>,
    pub expect: Expect,
}

/// A limit buy of 1 AAPL at 10 as JSON text, `field` replaced by the raw JSON `value`.
pub fn order_with(field: &str, value: &str) -> String {
    let mut parts = vec![
        ("symbol", "\"AAPL\"".to_owned()),
        ("side", "\"buy\"".to_owned()),
        ("type", "\"limit\"".to_owned()),
        ("quantity", "\"1\"".to_owned()),
        ("limit_price", "\"10\"".to_owned()),
        ("time_in_force", "\"day\"".to_owned()),
    ];
    match parts.iter_mut().find(|(f, _)| *f == field) {
        Some(p) => p.1 = value.to_owned(),
        None => parts.push((field, value.to_owned())),
    }
    let inner: Vec<String> = parts.iter().map(|(f, v)| format!("\"{f}\": {v}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn case(name: &str, body: impl Into<Vec<u8>>, expect: Expect) -> BodyCase {
    BodyCase {
        name: name.to_owned(),
        body: body.into(),
        content_type: Some("application/json"),
        expect,
    }
}

/// Nasty values for one field, with what the field must be refused as (422 naming it),
/// or `None` when the JSON itself is malformed or out of range (400).
const FIELD_VALUES: &[(&str, &str, bool)] = &[
    ("quantity", "-0", true),
    ("quantity", "1e-400", true),
    ("quantity", "\"NaN\"", true),
    ("quantity", "\"Infinity\"", true),
    ("quantity", "\"-Infinity\"", true),
    ("quantity", "\"1e5\"", true),
    ("quantity", "\"0x10\"", true),
    ("quantity", "\" 1\"", true),
    ("quantity", "\"1_000\"", true),
    ("quantity", "\"\u{661}\u{660}\"", true),
    ("quantity", "\"\u{ff11}\"", true),
    ("quantity", "\"1\u{200b}\"", true),
    ("quantity", "\"1234567890123456789012345678901234567890\"", true),
    ("quantity", "1234567890123456789012345678901234567890", true),
    ("quantity", "1.7976931348623157e308", true),
    ("quantity", "\"0.0000000000000000000000000001\"", true),
    ("quantity", "\"0.00000000000000000000000000001\"", true),
    ("quantity", "true", true),
    ("quantity", "{}", true),
    (
        "quantity",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        true,
    ),
    ("limit_price", "\"10.123456789\"", true),
    ("limit_price", "\"NaN\"", true),
    ("limit_price", "\"1e400\"", true),
    ("limit_price", "-10", true),
    ("limit_price", "\"99999999999999999999999999999\"", true),
    ("symbol", "\"AAPL\u{200b}\"", true),
    ("symbol", "\"\u{202e}LPAA\"", true),
    ("symbol", "\"A\u{301}APL\"", true),
    ("symbol", "\"\u{1f4b0}\"", true),
    ("symbol", "\"\u{ff21}\u{ff21}\u{ff30}\u{ff2c}\"", true),
    ("symbol", "\"\"", true),
    ("symbol", "\"aapl\"", true),
    ("symbol", "7", true),
    ("side", "\"buy\\u0000\"", true),
    ("side", "\"b\u{fc}y\"", true),
    ("side", "true", true),
    ("type", "[]", true),
    ("time_in_force", "1", true),
    ("client_order_id", "\"\u{1f600}\"", true),
    ("client_order_id", "\"../../etc/passwd\"", true),
    ("__proto__", "{}", true),
    // Not JSON serde_json accepts: the whole body is malformed.
    ("quantity", "1e400", false),
    ("quantity", "-1e400", false),
    ("quantity", "NaN", false),
    ("quantity", "Infinity", false),
    ("symbol", "\"\\ud800\"", false),
];

/// The catalogue of nasty submit bodies (issue 6, scenario 5) with the answer each must
/// get. Every valid one is a limit buy of 1 AAPL at 10 ($10 reserved).
pub fn submit_catalogue() -> Vec<BodyCase> {
    let mut cases = Vec::new();
    for (field, value, field_fault) in FIELD_VALUES {
        let field: &'static str = field;
        let expect = if *field_fault {
            Expect::problem(422, "validation-error", Some(field))
        } else {
            Expect::problem(400, "malformed-json", None)
        };
        cases.push(case(&format!("{field}={value}"), order_with(field, value), expect));
    }
    let valid = order_with("symbol", "\"AAPL\"");
    let mut exact = valid.clone();
    exact.push_str(&" ".repeat(SUBMIT_LIMIT - valid.len()));
    cases.push(case(
        "a valid body of exactly 16 KiB",
        exact.clone(),
        Expect::Success(201),
    ));
    let too_large = Expect::problem(413, "body-too-large", None);
    cases.push(case("16 KiB + 1 byte", format!("{exact} "), too_large.clone()));
    let long_id = format!("\"{}\"", "A".repeat(SUBMIT_LIMIT));
    cases.push(case("1 MB body", vec![b' '; 1 << 20], too_large.clone()));
    cases.push(case(
        "16 KiB client order id",
        order_with("client_order_id", &long_id),
        too_large,
    ));
    let malformed = Expect::problem(400, "malformed-json", None);
    let deep = |open: &str, n: usize| open.repeat(n).into_bytes();
    // Nesting past serde_json's recursion limit (128) within the size limit, and beyond it.
    cases.push(case("16k [", deep("[", 16_000), malformed.clone()));
    cases.push(case("3k {\"a\":", deep("{\"a\":", 3_000), malformed.clone()));
    let too_large = Expect::problem(413, "body-too-large", None);
    cases.push(case("100k [", deep("[", 100_000), too_large));
    cases.push(case(
        "200 nested arrays",
        format!("{}{}", "[".repeat(200), "]".repeat(200)),
        malformed.clone(),
    ));
    cases.push(case("empty body", "", malformed.clone()));
    cases.push(case("UTF-8 BOM", format!("\u{feff}{valid}"), malformed.clone()));
    let mut bad_utf8 = order_with("symbol", "\"AAPL\"").into_bytes();
    bad_utf8.splice(12..12, [0xff, 0xfe, 0xc3]);
    cases.push(case("bytes that are not UTF-8", bad_utf8, malformed.clone()));
    cases.push(case(
        "truncated",
        &valid.as_bytes()[..valid.len() - 1],
        malformed.clone(),
    ));
    cases.push(case("NUL bytes", vec![0u8; 64], malformed));
    let not_object = Expect::problem(422, "validation-error", Some("body"));
    for body in ["[]", "\"order\"", "12", "null", "true"] {
        cases.push(case(&format!("body {body}"), body, not_object.clone()));
    }
    cases.push(case(
        "duplicate key, last one invalid",
        valid.replacen("\"quantity\": \"1\"", "\"quantity\": \"1\", \"quantity\": \"-1\"", 1),
        Expect::problem(422, "validation-error", Some("quantity")),
    ));
    // The submit route does not look at Content-Type: a valid order is accepted whatever
    // the client declared.
    for ct in [
        None,
        Some("text/plain"),
        Some("application/xml"),
        Some("multipart/form-data; boundary=x"),
    ] {
        let mut c = case(&format!("content-type {ct:?}"), valid.clone(), Expect::Success(201));
        c.content_type = ct;
        cases.push(c);
    }
    cases
}

/// An answer read off the wire.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawAnswer {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str())
    }
}

/// Sends one request byte for byte: `target` is appended to the path of `api_url`
/// (`http://host:port/api/v1`) as is, headers as given. Blocking; test use only.
pub fn raw_request(
    api_url: &str,
    method: &str,
    target: &[u8],
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> anyhow::Result<RawAnswer> {
    let rest = api_url.strip_prefix("http://").context("API_URL must be http://")?;
    let (host, base) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
    let mut stream = TcpStream::connect(host).with_context(|| format!("connect {host}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut req = format!("{method} /{base}").into_bytes();
    req.extend_from_slice(target);
    req.extend_from_slice(format!(" HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n").as_bytes());
    for (k, v) in headers {
        req.extend_from_slice(k.as_bytes());
        req.extend_from_slice(b": ");
        req.extend_from_slice(v);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    req.extend_from_slice(body);
    // The server may answer (413, 400) and close before it read everything we send.
    let _ = stream.write_all(&req);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> anyhow::Result<RawAnswer> {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        bail!("no HTTP response head in {:?}", String::from_utf8_lossy(raw));
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .context("no status line")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        body = dechunk(&body)?;
    }
    Ok(RawAnswer { status, headers, body })
}

fn dechunk(mut data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let end = data.windows(2).position(|w| w == b"\r\n").context("cut chunk size")?;
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16)?;
        if size == 0 {
            return Ok(out);
        }
        let chunk = data.get(end + 2..end + 2 + size).context("cut chunk")?;
        out.extend_from_slice(chunk);
        data = data.get(end + 4 + size..).unwrap_or_default();
    }
}
