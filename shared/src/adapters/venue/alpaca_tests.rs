//! The one HTTP-outcome mapping and the typed config.

use std::collections::HashMap;

use super::*;
use crate::ports::VenueStatus;

fn order_json(client: &OrderId) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"id": "v-1", "client_order_id": client.to_string(),
        "status": "filled", "filled_qty": "2", "filled_avg_price": "10.5"}))
    .unwrap()
}

#[test]
fn statuses_map_to_port_errors_in_one_place() {
    let err = br#"{"code":42210000,"message":"client_order_id must be unique"}"#;
    let transient = |r: Result<Option<VenueOrder>, VenueError>| matches!(r, Err(VenueError::Transient(_)));
    for status in [500, 502, 503, 504, 401] {
        assert!(transient(classify(Op::Place, status, err)), "{status}");
    }
    // 429 is its own error, still transient, never a rejection of the order.
    let limited = classify(Op::Place, 429, br#"{"code":42910000,"message":"rate limit exceeded"}"#);
    assert!(
        matches!(&limited, Err(e @ VenueError::RateLimited { retry_after: None, .. }) if e.is_transient()),
        "{limited:?}"
    );
    assert_eq!(
        classify(Op::Place, 422, err),
        Err(VenueError::Rejected("client_order_id must be unique".into()))
    );
    assert!(matches!(classify(Op::Place, 403, b"{}"), Err(VenueError::Rejected(_))));
    assert_eq!(classify(Op::Find, 404, b""), Ok(None));
    assert_eq!(classify(Op::Cancel, 404, b""), Err(VenueError::NotFound));
    assert_eq!(
        classify(
            Op::Cancel,
            422,
            br#"{"code":42210000,"message":"order is not cancelable"}"#
        ),
        Err(VenueError::NotCancelable("order is not cancelable".into()))
    );
    assert_eq!(classify(Op::Cancel, 204, b""), Ok(None));
    // A replace of an order that can no longer change (filled, replaced, not yet
    // working) is 422 at Alpaca, as for a cancel; an unknown one 404.
    assert_eq!(
        classify(
            Op::Replace,
            422,
            br#"{"code":42210000,"message":"order is not cancelable"}"#
        ),
        Err(VenueError::NotCancelable("order is not cancelable".into()))
    );
    assert_eq!(classify(Op::Replace, 404, b""), Err(VenueError::NotFound));
}

#[test]
fn a_success_with_an_unreadable_body_is_transient() {
    for body in [&b"not json"[..], b"", br#"{"id": 1}"#] {
        assert!(matches!(classify(Op::Find, 200, body), Err(VenueError::Transient(_))));
    }
    let id = OrderId::new();
    let found = classify(Op::Find, 200, &order_json(&id)).unwrap().unwrap();
    assert_eq!((found.client_order_id, found.status), (id, VenueStatus::Filled));
}

fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k| map.get(k).cloned()
}

#[test]
fn config_names_the_variable_and_hides_the_secret() {
    let full = [
        ("VENUE_BASE_URL", "http://127.0.0.1:8900"),
        ("VENUE_API_KEY_ID", "key"),
        ("VENUE_API_SECRET_KEY", "s3cr3t-value"),
    ];
    let config = AlpacaConfig::from_lookup(lookup(&full)).unwrap();
    assert_eq!(config.timeout, Duration::from_millis(DEFAULT_TIMEOUT_MS));
    assert!(!format!("{config:?}").contains("s3cr3t-value"));

    for missing in ["VENUE_BASE_URL", "VENUE_API_KEY_ID", "VENUE_API_SECRET_KEY"] {
        let partial: Vec<_> = full.iter().copied().filter(|(k, _)| *k != missing).collect();
        assert_eq!(AlpacaConfig::from_lookup(lookup(&partial)).unwrap_err().var, missing);
    }
    let mut bad = full.to_vec();
    bad.push(("VENUE_TIMEOUT_MS", "soon"));
    assert_eq!(
        AlpacaConfig::from_lookup(lookup(&bad)).unwrap_err().var,
        "VENUE_TIMEOUT_MS"
    );
    bad[0] = ("VENUE_BASE_URL", "ftp://x");
    assert_eq!(
        AlpacaConfig::from_lookup(lookup(&bad)).unwrap_err().var,
        "VENUE_BASE_URL"
    );
    let mut newline = full.to_vec();
    newline[2] = ("VENUE_API_SECRET_KEY", "a\nb");
    let e = AlpacaConfig::from_lookup(lookup(&newline)).unwrap_err();
    assert_eq!(e.var, "VENUE_API_SECRET_KEY");
    assert!(!e.problem.contains('\n'));
}

#[test]
fn a_secret_arn_replaces_the_keys_in_the_environment() {
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/venue-AbCdEf";
    let with_secret = [("VENUE_BASE_URL", "http://127.0.0.1:8900"), ("VENUE_SECRET_ARN", arn)];
    let config = AlpacaConfig::from_lookup(lookup(&with_secret)).unwrap();
    assert_eq!(
        config.keys,
        KeysFrom::Secret {
            venue_secret: arn.into(),
            refresh: DEFAULT_KEY_REFRESH
        }
    );
    // A secret cannot be read without a reader: `new` refuses it, naming the variable.
    assert_eq!(AlpacaVenue::new(&config).err().map(|e| e.var), Some("VENUE_SECRET_ARN"));
    let mut every_minute = with_secret.to_vec();
    every_minute.push(("VENUE_SECRET_REFRESH_SECS", "60"));
    let config = AlpacaConfig::from_lookup(lookup(&every_minute)).unwrap();
    assert!(matches!(config.keys, KeysFrom::Secret { refresh, .. } if refresh == Duration::from_secs(60)));
    for bad in ["0", "soon", "-5"] {
        every_minute[2] = ("VENUE_SECRET_REFRESH_SECS", bad);
        assert_eq!(
            AlpacaConfig::from_lookup(lookup(&every_minute)).unwrap_err().var,
            "VENUE_SECRET_REFRESH_SECS",
            "{bad}"
        );
    }
}

/// A key source whose value the test rotates, counting its reads.
struct Rotating {
    keys: std::sync::Mutex<VenueKeys>,
    reads: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl KeySource for Rotating {
    async fn load(&self) -> Result<VenueKeys, String> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(self.keys.lock().unwrap().clone())
    }
}

/// A venue on 127.0.0.1 that answers `GET /v2/orders:by_client_order_id` with the
/// order when the request carries `APCA-API-KEY-ID: <accepted>`, else 401 as Alpaca
/// does; it returns the key ids it saw.
async fn venue_accepting(accepted: &'static str, order: Vec<u8>) -> (Url, tokio::task::JoinHandle<Vec<String>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Ok(Ok((mut socket, _))) = tokio::time::timeout(Duration::from_millis(500), listener.accept()).await {
            let mut buf = vec![0u8; 8192];
            let n = socket.read(&mut buf).await.unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).to_lowercase();
            let key = request
                .lines()
                .find_map(|l| l.strip_prefix("apca-api-key-id:"))
                .map(|v| v.trim().to_owned())
                .unwrap_or_default();
            let (status, body) = if key == accepted {
                ("200 OK", order.clone())
            } else {
                (
                    "401 Unauthorized",
                    br#"{"code":40110000,"message":"request is not authorized"}"#.to_vec(),
                )
            };
            seen.push(key);
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            socket.write_all(head.as_bytes()).await.unwrap();
            socket.write_all(&body).await.unwrap();
        }
        seen
    });
    (url, server)
}

#[tokio::test]
async fn a_401_after_a_rotation_reads_the_secret_again_and_retries_once() {
    let id = OrderId::new();
    let (url, server) = venue_accepting("new-key", order_json(&id)).await;
    let source = Arc::new(Rotating {
        keys: std::sync::Mutex::new(VenueKeys::new("old-key", "old-secret").unwrap()),
        reads: Default::default(),
    });
    let config = AlpacaConfig {
        base_url: url,
        keys: KeysFrom::Secret {
            venue_secret: "arn:test".into(),
            refresh: Duration::from_secs(3600),
        },
        timeout: Duration::from_secs(2),
    };
    let first = source.load().await.unwrap();
    let venue = AlpacaVenue::with_source(&config, source.clone(), first, Duration::from_secs(3600)).unwrap();
    assert_eq!(venue.key_id(), "old-key");
    // Not rotated yet: the 401 reads the secret, finds the same keys, and stops there.
    assert!(matches!(venue.find(&id).await, Err(VenueError::Transient(m)) if m.contains("401")));
    // Rotated: the 401 reads the new keys and the same request goes once more.
    *source.keys.lock().unwrap() = VenueKeys::new("new-key", "new-secret").unwrap();
    let found = venue.find(&id).await.unwrap().unwrap();
    assert_eq!(found.client_order_id, id);
    assert_eq!(venue.key_id(), "new-key");
    // Signed with the new keys from now on, without reading the secret again.
    venue.find(&id).await.unwrap();
    let reads = source.reads.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(reads, 3, "at start, after each 401");
    let seen = server.await.unwrap();
    assert_eq!(seen, ["old-key", "old-key", "new-key", "new-key"]);
}

#[tokio::test]
async fn keys_older_than_the_refresh_are_read_again_before_a_call() {
    let id = OrderId::new();
    let (url, server) = venue_accepting("k2", order_json(&id)).await;
    let source = Arc::new(Rotating {
        keys: std::sync::Mutex::new(VenueKeys::new("k1", "s1").unwrap()),
        reads: Default::default(),
    });
    let config = AlpacaConfig {
        base_url: url,
        keys: KeysFrom::Fixed(VenueKeys::new("unused", "unused").unwrap()),
        timeout: Duration::from_secs(2),
    };
    let first = source.load().await.unwrap();
    let venue = AlpacaVenue::with_source(&config, source.clone(), first, Duration::from_millis(50)).unwrap();
    *source.keys.lock().unwrap() = VenueKeys::new("k2", "s2").unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    // The refresh is due: the call is signed with the rotated keys, no 401 needed.
    venue.find(&id).await.unwrap();
    assert_eq!(source.reads.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(server.await.unwrap(), ["k2"]);
}

#[test]
fn keys_refuse_empty_or_header_breaking_values_without_echoing_them() {
    assert!(VenueKeys::new("", "s").unwrap_err().contains("key id"));
    let e = VenueKeys::new("k", "abc\nxyz").unwrap_err();
    assert!(e.contains("secret key") && !e.contains("xyz"), "{e}");
    assert!(!format!("{:?}", VenueKeys::new("k", "s3cr3t").unwrap()).contains("s3cr3t"));
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn a_rate_limit_says_when_to_come_back() {
    let now = 1_795_000_000;
    // Alpaca's X-RateLimit-Reset is the UNIX second the quota comes back.
    let reset = headers(&[("x-ratelimit-reset", "1795000042"), ("x-ratelimit-remaining", "0")]);
    assert_eq!(retry_after(&reset, now), Some(Duration::from_secs(42)));
    // Retry-After (seconds), when a proxy in front sends it, wins.
    let both = headers(&[("retry-after", "7"), ("x-ratelimit-reset", "1795000042")]);
    assert_eq!(retry_after(&both, now), Some(Duration::from_secs(7)));
    // A reset already past still means "not before the next second".
    let past = headers(&[("x-ratelimit-reset", "1794999990")]);
    assert_eq!(retry_after(&past, now), Some(Duration::from_secs(1)));
    for junk in [
        headers(&[]),
        headers(&[("x-ratelimit-reset", "soon")]),
        headers(&[("retry-after", "-3")]),
    ] {
        assert_eq!(retry_after(&junk, now), None, "{junk:?}");
    }
    let far = headers(&[("x-ratelimit-reset", "99999999999")]);
    assert_eq!(retry_after(&far, now), Some(MAX_RETRY_AFTER), "capped");
}

#[test]
fn the_activities_query_pages_ascending_from_the_cursor() {
    let at = crate::domain::Timestamp::parse("2024-01-02T15:00:00.500Z").unwrap();
    let first = activities_query(&FeedPosition::Since { at }, 500);
    assert_eq!(
        first,
        vec![
            ("direction", "asc".to_owned()),
            ("page_size", MAX_ACTIVITY_PAGE.to_string()),
            ("after", "2024-01-02T15:00:00.5Z".to_owned()),
        ]
    );
    let next = activities_query(
        &FeedPosition::After {
            execution_id: "20240102150000500::x".into(),
            at,
        },
        2,
    );
    assert_eq!(next[1], ("page_size", "2".to_owned()));
    // The bound starts before the cursor's execution, so the page token is in the query.
    assert_eq!(next[2], ("after", "2024-01-02T14:59:59.5Z".to_owned()));
    assert_eq!(next[3], ("page_token", "20240102150000500::x".to_owned()));
}
