//! HTTP request in, API Gateway v2 (HTTP API, payload format 2.0) event out, and the
//! function's reply back to HTTP, as API Gateway does it: lower-case header names,
//! repeated headers and query parameters joined with commas, cookies apart, path
//! parameters decoded, a body that is not UTF-8 base64-encoded, the authorizer's
//! claims in `requestContext.authorizer.jwt.claims`.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use crate::routes::Matched;

/// What the gateway knows of one request.
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub raw_query: &'a str,
    pub headers: Vec<(String, String)>,
    pub body: &'a [u8],
    pub request_id: &'a str,
    pub source_ip: &'a str,
    pub now_unix_ms: i64,
}

fn joined(pairs: impl Iterator<Item = (String, String)>) -> Map<String, Value> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in pairs {
        match out.get_mut(&k) {
            Some(e) => {
                e.push(',');
                e.push_str(&v);
            }
            None => {
                out.insert(k, v);
            }
        }
    }
    out.into_iter().map(|(k, v)| (k, Value::String(v))).collect()
}

fn request_time(unix_ms: i64) -> String {
    let format = time::macros::format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000");
    time::OffsetDateTime::from_unix_timestamp(unix_ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

pub fn build(req: &Incoming<'_>, matched: &Matched<'_>, claims: Option<&BTreeMap<String, String>>) -> Value {
    let header_pairs = req
        .headers
        .iter()
        .filter(|(k, _)| k != "cookie")
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()));
    let mut headers = Map::new();
    for (k, v) in header_pairs {
        match headers.get_mut(&k) {
            Some(Value::String(e)) => {
                e.push(',');
                e.push_str(&v);
            }
            _ => {
                headers.insert(k, Value::String(v));
            }
        }
    }
    let cookies: Vec<Value> = req
        .headers
        .iter()
        .filter(|(k, _)| k == "cookie")
        .flat_map(|(_, v)| {
            v.split(';')
                .map(|c| Value::String(c.trim().to_owned()))
                .collect::<Vec<_>>()
        })
        .filter(|c| c.as_str().is_some_and(|c| !c.is_empty()))
        .collect();
    let query = joined(form_urlencoded::parse(req.raw_query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())));
    let user_agent = req
        .headers
        .iter()
        .find(|(k, _)| k == "user-agent")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let (body, base64) = match std::str::from_utf8(req.body) {
        _ if req.body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::String(text.to_owned()), false),
        Err(_) => (Value::String(B64.encode(req.body)), true),
    };
    let route_key = matched.route.key();
    let authorizer = claims.map(|c| json!({"jwt": {"claims": c, "scopes": Value::Null}}));
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": req.path,
        "rawQueryString": req.raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "domainPrefix": "local",
            "http": {
                "method": req.method,
                "path": req.path,
                "protocol": "HTTP/1.1",
                "sourceIp": req.source_ip,
                "userAgent": user_agent,
            },
            "requestId": req.request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": request_time(req.now_unix_ms),
            "timeEpoch": req.now_unix_ms,
        },
        "isBase64Encoded": base64,
    });
    if let Some(a) = authorizer {
        event["requestContext"]["authorizer"] = a;
    }
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !matched.params.is_empty() {
        event["pathParameters"] = matched
            .params
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<_, _>>()
            .into();
    }
    if !body.is_null() {
        event["body"] = body;
    }
    event
}

/// A function's reply as an HTTP response.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the function's reply is not an API Gateway v2 response: {0}")]
pub struct BadReply(pub String);

/// Payload format 2.0: an object with `statusCode` is a full response; anything else
/// is a 200 whose body is the JSON the function returned.
pub fn reply(payload: &[u8]) -> Result<Reply, BadReply> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| BadReply(e.to_string()))?;
    let Some(status) = value.get("statusCode") else {
        return Ok(Reply {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: payload.to_vec(),
        });
    };
    let status = status
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (100..600).contains(s))
        .ok_or_else(|| BadReply(format!("statusCode {status}")))?;
    let mut headers = Vec::new();
    if let Some(h) = value.get("headers").and_then(Value::as_object) {
        for (k, v) in h {
            if let Some(v) = v.as_str() {
                headers.push((k.to_ascii_lowercase(), v.to_owned()));
            }
        }
    }
    if let Some(h) = value.get("multiValueHeaders").and_then(Value::as_object) {
        for (k, vs) in h {
            let k = k.to_ascii_lowercase();
            if headers.iter().any(|(name, _)| *name == k) {
                continue;
            }
            for v in vs.as_array().into_iter().flatten().filter_map(Value::as_str) {
                headers.push((k.clone(), v.to_owned()));
            }
        }
    }
    for cookie in value.get("cookies").and_then(Value::as_array).into_iter().flatten() {
        if let Some(c) = cookie.as_str() {
            headers.push(("set-cookie".into(), c.to_owned()));
        }
    }
    let text = value.get("body").and_then(Value::as_str).unwrap_or_default();
    let body = if value.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        B64.decode(text)
            .map_err(|e| BadReply(format!("body is not base64: {e}")))?
    } else {
        text.as_bytes().to_vec()
    };
    Ok(Reply { status, headers, body })
}

#[cfg(test)]
mod tests {
    use lambda_http::request::RequestContext;
    use lambda_http::{RequestExt, RequestPayloadExt};

    use super::*;
    use crate::routes::Routes;

    const TEMPLATE: &str = include_str!("../../../infra/template.yaml");

    fn incoming<'a>(method: &'a str, path: &'a str, query: &'a str, body: &'a [u8]) -> Incoming<'a> {
        Incoming {
            method,
            path,
            raw_query: query,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-multi".into(), "a".into()),
                ("x-multi".into(), "b".into()),
                ("cookie".into(), "k=v; s=t".into()),
                ("user-agent".into(), "test".into()),
            ],
            body,
            request_id: "req-1",
            source_ip: "127.0.0.1",
            now_unix_ms: 1_795_640_400_000,
        }
    }

    #[test]
    fn lambda_http_reads_the_event_as_an_http_api_request_with_claims() {
        let routes = Routes::parse(TEMPLATE).unwrap();
        let matched = routes.find("POST", "/api/v1/orders/01ABC/cancel").unwrap();
        let claims = BTreeMap::from([("sub".to_owned(), "alice".to_owned())]);
        let body = br#"{"a":1}"#;
        let event = build(
            &incoming("POST", "/api/v1/orders/01ABC/cancel", "x=1&x=2&y=%20z", body),
            &matched,
            Some(&claims),
        );
        assert_eq!(event["requestContext"]["time"], "25/Nov/2026:21:00:00 +0000");
        let req = lambda_http::request::from_str(&event.to_string()).unwrap();
        let RequestContext::ApiGatewayV2(ctx) = req.request_context() else {
            panic!("not an HTTP API request");
        };
        assert_eq!(ctx.route_key.as_deref(), Some("POST /api/v1/orders/{id}/cancel"));
        assert_eq!(ctx.authorizer.unwrap().jwt.unwrap().claims["sub"], "alice");
        assert_eq!(req.path_parameters_ref().unwrap().first("id"), Some("01ABC"));
        let q = req.query_string_parameters();
        assert_eq!(q.all("x").unwrap(), vec!["1", "2"]);
        assert_eq!(q.first("y"), Some(" z"));
        assert_eq!(req.headers()["x-multi"], "a,b");
        let payload: serde_json::Value = req.payload().unwrap().unwrap();
        assert_eq!(payload["a"], 1);
    }

    #[test]
    fn an_unauthenticated_route_has_no_authorizer_and_binary_bodies_are_base64() {
        let routes = Routes::parse(TEMPLATE).unwrap();
        let matched = routes.find("GET", "/api/v1/health").unwrap();
        let event = build(&incoming("GET", "/api/v1/health", "", &[0xff, 0xfe]), &matched, None);
        assert!(event["requestContext"].get("authorizer").is_none());
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], "//4=");
    }

    #[test]
    fn replies_become_http_responses() {
        let r = reply(br#"{"statusCode":201,"headers":{"Content-Type":"application/json","idempotent-replayed":"true"},"multiValueHeaders":{"content-type":["application/json"]},"body":"{}","isBase64Encoded":false,"cookies":["a=b"]}"#).unwrap();
        assert_eq!(r.status, 201);
        assert!(r.headers.contains(&("content-type".into(), "application/json".into())));
        assert!(r.headers.contains(&("idempotent-replayed".into(), "true".into())));
        assert!(r.headers.contains(&("set-cookie".into(), "a=b".into())));
        assert_eq!(r.headers.iter().filter(|(k, _)| k == "content-type").count(), 1);
        assert_eq!(r.body, b"{}");
        let plain = reply(br#"{"status":"ok"}"#).unwrap();
        assert_eq!(plain.status, 200);
        assert!(reply(br#"{"statusCode":999}"#).is_err());
        assert!(reply(b"not json").is_err());
    }
}
