//! The `$connect` authorizer against forged, expired, wrong-audience, wrong-issuer,
//! scope-less, algorithm-swapped and missing tokens, with keys from a JWKS.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use ws_authorizer::jwks::JwksFetch;
use ws_authorizer::{AuthorizerRequest, JwksCache, Refusal, Verifier, authorize, parse_algorithms};

const SECRET: &[u8] = b"a-dev-secret-of-enough-length-0123456789";
const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "orders-api";
const SCOPE: &str = "orders/trade";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn jwks(kid: &str) -> JwkSet {
    serde_json::from_value(json!({"keys": [{"kty": "oct", "kid": kid, "alg": "HS256",
        "k": URL_SAFE_NO_PAD.encode(SECRET)}]}))
    .unwrap()
}

#[derive(Clone)]
struct Fixed(JwkSet, Arc<AtomicUsize>);

#[async_trait]
impl JwksFetch for Fixed {
    async fn fetch(&self) -> Result<JwkSet, String> {
        self.1.fetch_add(1, Ordering::SeqCst);
        Ok(self.0.clone())
    }
}

fn verifier_with(algorithms: Vec<Algorithm>) -> (Verifier, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let keys = JwksCache::new(
        Fixed(jwks("k1"), fetches.clone()),
        Duration::from_secs(3600),
        Duration::from_secs(60),
    );
    let v = Verifier {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        scope: SCOPE.into(),
        algorithms,
        keys: Box::new(keys),
    };
    (v, fetches)
}

fn verifier() -> Verifier {
    verifier_with(vec![Algorithm::HS256]).0
}

fn claims() -> Value {
    json!({"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600, "scope": SCOPE})
}

fn sign(claims: &Value, kid: Option<&str>, secret: &[u8]) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn with(key: &str, value: Value) -> Value {
    let mut c = claims();
    if value.is_null() {
        c.as_object_mut().unwrap().remove(key);
    } else {
        c[key] = value;
    }
    c
}

#[tokio::test]
async fn a_valid_token_yields_the_trader_and_its_expiry() {
    let c = claims();
    let v = verifier().verify(Some(&sign(&c, Some("k1"), SECRET))).await.unwrap();
    assert_eq!(v.trader, "alice");
    assert_eq!(v.expires_at, c["exp"].as_i64().unwrap());
}

#[tokio::test]
async fn forged_expired_wrong_audience_issuer_scope_and_missing_tokens_are_refused() {
    let v = verifier();
    let cases: Vec<(&str, Option<String>, Refusal)> = vec![
        ("missing", None, Refusal::Missing),
        ("empty", Some(String::new()), Refusal::Missing),
        ("garbage", Some("not.a.jwt".into()), Refusal::Malformed),
        (
            "forged",
            Some(sign(&claims(), Some("k1"), b"another-secret-of-enough-length-012345")),
            Refusal::Signature,
        ),
        (
            "expired",
            Some(sign(&with("exp", json!(now() - 60)), Some("k1"), SECRET)),
            Refusal::Expired,
        ),
        (
            "audience",
            Some(sign(&with("aud", json!("other-api")), Some("k1"), SECRET)),
            Refusal::Audience,
        ),
        (
            "issuer",
            Some(sign(&with("iss", json!("https://evil.test")), Some("k1"), SECRET)),
            Refusal::Issuer,
        ),
        (
            "scope",
            Some(sign(&with("scope", json!("orders/read")), Some("k1"), SECRET)),
            Refusal::Scope(SCOPE.into()),
        ),
        (
            "no sub",
            Some(sign(&with("sub", Value::Null), Some("k1"), SECRET)),
            Refusal::MissingClaim("sub".into()),
        ),
        (
            "no exp",
            Some(sign(&with("exp", Value::Null), Some("k1"), SECRET)),
            Refusal::MissingClaim("exp".into()),
        ),
        (
            "unknown kid",
            Some(sign(&claims(), Some("k9"), SECRET)),
            Refusal::UnknownKey,
        ),
    ];
    for (name, token, expected) in cases {
        assert_eq!(v.verify(token.as_deref()).await, Err(expected), "{name}");
    }
}

#[tokio::test]
async fn the_audience_may_be_client_id_when_there_is_no_aud_as_api_gateway_accepts() {
    let v = verifier();
    let c = with("aud", Value::Null);
    let mut ok = c.clone();
    ok["client_id"] = json!(AUDIENCE);
    assert!(v.verify(Some(&sign(&ok, Some("k1"), SECRET))).await.is_ok());
    let mut wrong = c;
    wrong["client_id"] = json!("other");
    assert_eq!(
        v.verify(Some(&sign(&wrong, Some("k1"), SECRET))).await,
        Err(Refusal::Audience)
    );
}

#[tokio::test]
async fn an_algorithm_outside_the_pinned_ones_is_refused_before_any_key_is_fetched() {
    let (v, fetches) = verifier_with(vec![Algorithm::RS256]);
    let token = sign(&claims(), Some("k1"), SECRET);
    assert_eq!(v.verify(Some(&token)).await, Err(Refusal::Algorithm("HS256".into())));
    // alg: none (unsigned): jsonwebtoken cannot even read the header.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims().to_string())
    );
    assert_eq!(v.verify(Some(&none)).await, Err(Refusal::Malformed));
    assert_eq!(fetches.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_jwks_is_fetched_once_and_an_unknown_kid_does_not_refetch_within_a_minute() {
    let (v, fetches) = verifier_with(vec![Algorithm::HS256]);
    for _ in 0..3 {
        v.verify(Some(&sign(&claims(), Some("k1"), SECRET))).await.unwrap();
    }
    for _ in 0..3 {
        let _ = v.verify(Some(&sign(&claims(), Some("k9"), SECRET))).await;
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_answer_is_an_iam_policy_with_the_trader_in_its_context() {
    let v = verifier();
    let arn = "arn:aws:execute-api:us-east-1:123456789012:abc123/live/$connect";
    let token = sign(&claims(), Some("k1"), SECRET);
    let request: AuthorizerRequest = serde_json::from_value(json!({
        "type": "REQUEST", "methodArn": arn, "queryStringParameters": {"token": token}
    }))
    .unwrap();
    let allowed = serde_json::to_value(authorize(&v, &request).await).unwrap();
    assert_eq!(allowed["principalId"], "alice");
    assert_eq!(allowed["policyDocument"]["Statement"][0]["Effect"], "Allow");
    assert_eq!(allowed["policyDocument"]["Statement"][0]["Resource"], arn);
    assert_eq!(allowed["context"]["trader_id"], "alice");
    let refused: AuthorizerRequest = serde_json::from_value(json!({"methodArn": arn})).unwrap();
    let denied = serde_json::to_value(authorize(&v, &refused).await).unwrap();
    assert_eq!(denied["policyDocument"]["Statement"][0]["Effect"], "Deny");
    assert!(denied["context"].get("trader_id").is_none());
}

#[test]
fn algorithms_are_parsed_strictly() {
    assert_eq!(
        parse_algorithms("RS256, ES256").unwrap(),
        vec![Algorithm::RS256, Algorithm::ES256]
    );
    assert!(
        parse_algorithms("none")
            .unwrap_err()
            .contains("`none` is not a JWT algorithm")
    );
    assert!(parse_algorithms(" ").is_err());
}
