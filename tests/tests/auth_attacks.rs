// Long because: one table of forged tokens (issue 6 scenario 6) and the checks each must fail.
//! Auth attacks (issue 6, scenario 6) through the local gateway's JWT authorizer.
//! Every forged token claims to be the victim: missing or non-bearer credentials,
//! expired, not yet valid, wrong issuer or audience, bad signature, `alg: none`,
//! HS/RS (and HS512) confusion with a correct HMAC, claims tampered after signing,
//! missing claims and garbage. Each is sent on every route kind and must get the
//! gateway's 401 problem+json (with `WWW-Authenticate`, so no function ran) whose detail
//! names the reason. Then another trader's valid token on the victim's order: 404 on
//! get, cancel, fills and audit, worded as for an order that does not exist. After
//! each family the victim's order, order list and account are unchanged: one
//! reliability row (group 6) per family.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2e::hostile::{RawAnswer, raw_request};
use e2e::report::{Row, panics_so_far};
use e2e::{Stack, limit_buy};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::domain::TraderId;

/// An attack family: its name, what it injects, its `Authorization` values (`None`:
/// no header), and the words one of which the 401's detail must contain.
type Family = (&'static str, &'static str, Vec<Option<String>>, &'static [&'static str]);

struct Forge {
    secret: Vec<u8>,
    issuer: String,
    audience: String,
}

impl Forge {
    fn from_env() -> Self {
        let file = std::env::var("LOCAL_JWT_SECRET_FILE").expect("LOCAL_JWT_SECRET_FILE");
        Self {
            secret: std::fs::read(file).expect("the dev secret").trim_ascii().to_vec(),
            issuer: std::env::var("LOCAL_JWT_ISSUER").unwrap_or_else(|_| "orders-local".into()),
            audience: std::env::var("LOCAL_JWT_AUDIENCE").unwrap_or_else(|_| "orders-api".into()),
        }
    }

    /// Valid claims for `sub`, with `extra` over them (a `null` removes a claim).
    fn claims(&self, sub: &str, extra: Value) -> Value {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut c = json!({"sub": sub, "iss": self.issuer, "aud": self.audience, "iat": now, "exp": now + 600});
        for (k, v) in extra.as_object().unwrap() {
            match v {
                Value::Null => c.as_object_mut().unwrap().remove(k),
                v => c.as_object_mut().unwrap().insert(k.clone(), v.clone()),
            };
        }
        c
    }

    fn signed(&self, alg: Algorithm, claims: &Value, secret: &[u8]) -> String {
        jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    /// A token with any header, its signature the HMAC-SHA256 of the dev secret over it.
    fn hmac_with_header(&self, header: Value, claims: &Value) -> String {
        let unsigned = format!("{}.{}", b64(&header), b64(claims));
        let key = EncodingKey::from_secret(&self.secret);
        let sig = jsonwebtoken::crypto::sign(unsigned.as_bytes(), &key, Algorithm::HS256).unwrap();
        format!("{unsigned}.{sig}")
    }
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn unix(offset: i64) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    json!(now + offset)
}

/// A token's payload replaced by `claims`, its signature kept.
fn tampered(token: &str, edit: impl FnOnce(&mut Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    edit(&mut claims);
    format!("{}.{}.{}", parts[0], b64(&claims), parts[2])
}

/// The victim's state as the victim sees it: its order, its order list, its account.
async fn snapshot(s: &Stack, token: &str, order_id: &str) -> (Value, Value, Value) {
    let order = s.get(&format!("/orders/{order_id}"), token).await.unwrap().body;
    let list = s.get("/orders", token).await.unwrap().body;
    let account = s.get("/account", token).await.unwrap().body;
    (order, list, account)
}

fn routes(order_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("POST", "/orders".to_owned()),
        ("GET", "/orders".to_owned()),
        ("GET", format!("/orders/{order_id}")),
        ("POST", format!("/orders/{order_id}/cancel")),
        ("GET", format!("/orders/{order_id}/fills")),
        ("GET", format!("/orders/{order_id}/audit")),
        ("GET", "/account".to_owned()),
    ]
}

fn send(s: &Stack, method: &str, path: &str, authorization: Option<&[u8]>) -> RawAnswer {
    let body = limit_buy("1", "10").to_string();
    let mut headers: Vec<(&str, &[u8])> = vec![("content-type", b"application/json")];
    if let Some(a) = authorization {
        headers.push(("authorization", a));
    }
    let body = if method == "POST" { body.as_bytes() } else { b"" };
    raw_request(&s.api, method, path.as_bytes(), &headers, body).expect("an HTTP answer")
}

/// Why a 401 answer is not the gateway's specific refusal, if it is not.
fn refusal_problem(a: &RawAnswer, reasons: &[&str]) -> Option<String> {
    let p: Value = serde_json::from_slice(&a.body).unwrap_or_default();
    let detail = p["detail"].as_str().unwrap_or_default().to_lowercase();
    let ok = a.status == 401
        && a.header("content-type") == "application/problem+json"
        && a.header("www-authenticate") == "Bearer"
        && p["type"] == "/problems/unauthorized"
        && reasons.iter().any(|r| detail.contains(r));
    (!ok).then(|| format!("{} {:?} {}", a.status, a.headers, String::from_utf8_lossy(&a.body)))
}

#[tokio::test]
#[ignore = "needs the local stack (API_URL): make test starts it"]
async fn forged_tokens_are_refused_and_other_traders_orders_are_invisible() {
    let s = Stack::from_env().await.expect("the local stack's environment");
    let f = Forge::from_env();
    let victim = s.trader("100000", None).await.unwrap();
    let attacker = s.trader("100000", None).await.unwrap();
    let (vt, at) = (s.token(&victim), s.token(&attacker));
    let placed = s.submit(&vt, None, &limit_buy("2", "50")).await.unwrap();
    assert_eq!(placed.status, 201, "{:?}", placed.body);
    let order_id = placed.body["order_id"].as_str().unwrap().to_owned();
    let before = snapshot(&s, &vt, &order_id).await;
    assert_eq!(before.1["orders"].as_array().map(Vec::len), Some(1));

    let v = victim.as_str();
    let good = f.claims(v, json!({}));
    let bearer = |t: &str| format!("Bearer {t}");
    let attacker_token = s.token(&attacker);
    let other_secret = f.signed(Algorithm::HS256, &good, b"not-the-dev-secret-but-long-enough-0123");
    let valid_victim = f.signed(Algorithm::HS256, &good, &f.secret);
    let sig_flipped = {
        let (head, sig) = valid_victim.rsplit_once('.').unwrap();
        let flipped = if sig.starts_with('A') { "B" } else { "A" };
        format!("{head}.{flipped}{}", &sig[1..])
    };
    let none = |alg: &str, sig: &str| format!("{}.{}.{sig}", b64(&json!({"alg": alg, "typ": "JWT"})), b64(&good));
    let families: Vec<Family> = vec![
        (
            "missing token",
            "no Authorization, empty, Basic, no scheme, other scheme",
            vec![
                None,
                Some(String::new()),
                Some("Bearer".into()),
                Some("Bearer    ".into()),
                Some("Basic dXNlcjpwYXNz".into()),
                Some(valid_victim.clone()),
                Some(format!("Token {valid_victim}")),
            ],
            &["bearer token is required", "must be `bearer <jwt>`"],
        ),
        (
            "expired token",
            "exp 60 s and 1 day ago, exp 0",
            [
                json!({"exp": unix(-60)}),
                json!({"exp": unix(-86_400)}),
                json!({"exp": 0}),
            ]
            .iter()
            .map(|e| Some(bearer(&f.signed(Algorithm::HS256, &f.claims(v, e.clone()), &f.secret))))
            .collect(),
            &["expired"],
        ),
        (
            "token not yet valid",
            "nbf 10 min and 1 year ahead",
            [json!({"nbf": unix(600)}), json!({"nbf": unix(31_536_000)})]
                .iter()
                .map(|e| Some(bearer(&f.signed(Algorithm::HS256, &f.claims(v, e.clone()), &f.secret))))
                .collect(),
            &["not valid yet"],
        ),
        (
            "wrong issuer",
            "iss evil, empty, upper-cased, trailing space",
            ["evil", "", &f.issuer.to_uppercase(), &format!("{} ", f.issuer)]
                .iter()
                .map(|i| {
                    Some(bearer(&f.signed(
                        Algorithm::HS256,
                        &f.claims(v, json!({"iss": i})),
                        &f.secret,
                    )))
                })
                .collect(),
            &["issuer"],
        ),
        (
            "wrong audience",
            "aud other, empty, [other]",
            [json!("other"), json!(""), json!(["other"])]
                .iter()
                .map(|a| {
                    Some(bearer(&f.signed(
                        Algorithm::HS256,
                        &f.claims(v, json!({"aud": a})),
                        &f.secret,
                    )))
                })
                .collect(),
            &["audience"],
        ),
        (
            "bad signature",
            "another secret, a flipped signature character, a signature from another token",
            vec![
                Some(bearer(&other_secret)),
                Some(bearer(&sig_flipped)),
                Some(bearer(&format!(
                    "{}.{}",
                    valid_victim.rsplit_once('.').unwrap().0,
                    attacker_token.rsplit_once('.').unwrap().1
                ))),
            ],
            &["signature"],
        ),
        (
            "alg none",
            "alg none/None/NONE, empty or kept signature",
            vec![
                Some(bearer(&none("none", ""))),
                Some(bearer(&none("None", ""))),
                Some(bearer(&none("NONE", ""))),
                Some(bearer(&none("none", valid_victim.rsplit_once('.').unwrap().1))),
            ],
            &["algorithm", "malformed"],
        ),
        (
            "HS/RS algorithm confusion",
            "RS256/ES256/PS256/EdDSA headers with a correct HMAC, HS384 and HS512 with the secret",
            ["RS256", "ES256", "PS256", "EdDSA"]
                .iter()
                .map(|alg| Some(bearer(&f.hmac_with_header(json!({"alg": alg, "typ": "JWT"}), &good))))
                .chain([Algorithm::HS384, Algorithm::HS512].map(|alg| Some(bearer(&f.signed(alg, &good, &f.secret)))))
                .collect(),
            &["algorithm"],
        ),
        (
            "tampered claims",
            "the attacker's token with sub, exp or aud changed after signing",
            [
                tampered(&attacker_token, |c| c["sub"] = json!(v)),
                tampered(&attacker_token, |c| c["exp"] = json!(4_102_444_800u64)),
                tampered(&valid_victim, |c| c["aud"] = json!("other")),
            ]
            .into_iter()
            .map(|t| Some(bearer(&t)))
            .collect(),
            &["signature"],
        ),
        (
            "missing claims",
            "no sub, no exp, no iss, no aud",
            ["sub", "exp", "iss", "aud"]
                .iter()
                .map(|c| {
                    Some(bearer(&f.signed(
                        Algorithm::HS256,
                        &f.claims(v, json!({*c: null})),
                        &f.secret,
                    )))
                })
                .collect(),
            &["lacks the"],
        ),
        (
            "garbage token",
            "a.b.c, dots, 10 KB, non-ASCII, JSON as token",
            vec![
                Some(bearer("a.b.c")),
                Some(bearer("..")),
                Some(bearer(&"A".repeat(10_000))),
                Some(bearer("ключ.ключ.ключ")),
                Some(bearer(&good.to_string())),
            ],
            &["malformed", "must be `bearer <jwt>`"],
        ),
    ];

    let mut bypasses = Vec::new();
    for (family, injected, tokens, reasons) in &families {
        let panics_before = panics_so_far();
        let mut row = Row::new(6, &format!("auth: {family}"), injected);
        for token in tokens {
            for (method, path) in routes(&order_id) {
                let a = send(&s, method, &path, token.as_deref().map(str::as_bytes));
                row.operations += 1;
                row.server_errors += u64::from(a.status >= 500);
                if let Some(why) = refusal_problem(&a, reasons) {
                    bypasses.push(format!("{family}: {method} {path} with {token:?}: {why}"));
                }
            }
        }
        let after = snapshot(&s, &vt, &order_id).await;
        row.lost_orders = u64::from(after.0 != before.0 || after.1 != before.1);
        row.wrong_balances = u64::from(after.2 != before.2);
        row.panics = panics_so_far().saturating_sub(panics_before);
        row.notes = format!(
            "{} tokens x 7 routes; not the specific 401: {}",
            tokens.len(),
            bypasses.len()
        );
        row.record_and_check();
    }
    assert!(bypasses.is_empty(), "{}", bypasses.join("\n"));

    cross_trader(&s, &at, &attacker, &order_id, &vt, &before).await;
}

/// Another trader's valid token on the victim's order: 404 worded exactly as for an id
/// that exists nowhere (the order's existence does not leak), and nothing changes.
async fn cross_trader(
    s: &Stack,
    attacker_token: &str,
    attacker: &TraderId,
    order_id: &str,
    victim_token: &str,
    before: &(Value, Value, Value),
) {
    let panics_before = panics_so_far();
    let mut row = Row::new(
        6,
        "auth: another trader's order",
        "a valid token of trader A on B's order",
    );
    let nowhere = ulid::Ulid::new().to_string();
    let mut leaks = Vec::new();
    for (method, path) in routes(order_id).into_iter().skip(2).take(4) {
        let a = send(s, method, &path, Some(format!("Bearer {attacker_token}").as_bytes()));
        let b = send(
            s,
            method,
            &path.replace(order_id, &nowhere),
            Some(format!("Bearer {attacker_token}").as_bytes()),
        );
        row.operations += 2;
        row.server_errors += u64::from(a.status >= 500) + u64::from(b.status >= 500);
        let body = |x: &RawAnswer, id: &str| String::from_utf8_lossy(&x.body).replace(id, "<id>");
        if a.status != 404
            || a.header("content-type") != "application/problem+json"
            || body(&a, order_id) != body(&b, &nowhere)
        {
            leaks.push(format!(
                "{method} {path}: {} {} vs {}",
                a.status,
                body(&a, order_id),
                body(&b, &nowhere)
            ));
        }
    }
    // The attacker's own list does not show it, and naming the victim in a body is refused.
    let list = s.get("/orders", attacker_token).await.unwrap();
    row.operations += 1;
    if list.body["orders"] != json!([]) {
        leaks.push(format!("the attacker's list: {:?}", list.body));
    }
    let mut body = limit_buy("1", "10");
    body["trader_id"] = json!(before.2["trader_id"]);
    let a = s.submit(attacker_token, None, &body).await.unwrap();
    row.operations += 1;
    if a.status != 422 || !a.error_fields().contains(&"trader_id".to_owned()) {
        leaks.push(format!("a submit naming the victim: {} {:?}", a.status, a.body));
    }
    let after = snapshot(s, victim_token, order_id).await;
    row.lost_orders = u64::from(after.0 != before.0 || after.1 != before.1);
    row.wrong_balances = u64::from(after.2 != before.2);
    let attacker_account = s.get("/account", attacker_token).await.unwrap();
    let reserved = attacker_account.body["reserved"]
        .as_str()
        .and_then(|r| r.parse::<Decimal>().ok());
    row.wrong_balances += u64::from(reserved != Some(Decimal::ZERO));
    row.panics = panics_so_far().saturating_sub(panics_before);
    row.notes = format!(
        "get/cancel/fills/audit on B's order vs a nonexistent id; leaks: {}; attacker {attacker}",
        leaks.len()
    );
    row.record_and_check();
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}
