//! The WebSocket API's `$connect` authorizer (issue 18): verifies the same JWT the HTTP
//! API's JWT authorizer does (issuer, audience, expiry, the trader scope), with the
//! issuer's keys from its JWKS, cached. Browsers cannot set headers on a WebSocket, so
//! the token comes in the `token` query parameter (`wss://.../live?token=<JWT>`), the
//! authorizer's identity source.
//!
//! What it pins: the algorithms (`JWT_ALGORITHMS`, default RS256, Cognito's): a token
//! whose header names another (`none`, HS256 signed with a public key) is refused
//! before any key is looked up; the key by `kid`, and a JWK that names its own `alg`
//! must name the token's. Like API Gateway's JWT authorizer, the audience is `aud`, or
//! `client_id` when there is no `aud` (Cognito access tokens carry `client_id`).
//! A WebSocket authorizer answers with an IAM policy: Allow on the `$connect` method
//! with the trader (`sub`) and the token's expiry in the context every later route of
//! the connection sees; Deny (API Gateway answers 403 and no connection opens).

pub mod jwks;

use std::collections::HashMap;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use jwks::{HttpJwks, JwksCache, KeySource};

/// Seconds of clock skew tolerated on `exp` and `nbf` (API Gateway allows none stated;
/// 5 s as the local gateway does).
const LEEWAY_SECS: u64 = 5;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no token: connect with ?token=<JWT>")]
    Missing,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's algorithm {0} is not accepted")]
    Algorithm(String),
    #[error("the token names no key (kid) of the issuer")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's issuer is not accepted")]
    Issuer,
    #[error("the token's audience is not accepted")]
    Audience,
    #[error("the token lacks the {0} claim")]
    MissingClaim(String),
    #[error("the token lacks the scope {0}")]
    Scope(String),
    #[error("the issuer's keys could not be read: {0}")]
    Keys(String),
}

/// What a verified token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub trader: String,
    pub expires_at: i64,
}

pub struct Verifier {
    pub issuer: String,
    pub audience: String,
    /// The scope the token must carry (the HTTP API's TraderScope); empty: none.
    pub scope: String,
    pub algorithms: Vec<Algorithm>,
    pub keys: Box<dyn KeySource>,
}

impl Verifier {
    pub async fn verify(&self, token: Option<&str>) -> Result<Verified, Refusal> {
        let token = token.map(str::trim).filter(|t| !t.is_empty()).ok_or(Refusal::Missing)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::Malformed)?;
        if !self.algorithms.contains(&header.alg) {
            return Err(Refusal::Algorithm(format!("{:?}", header.alg)));
        }
        let jwk = self.keys.key(header.kid.as_deref()).await?;
        if let Some(alg) = jwk.common.key_algorithm
            && format!("{alg:?}") != format!("{:?}", header.alg)
        {
            return Err(Refusal::Algorithm(format!("{:?} with a {alg:?} key", header.alg)));
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| Refusal::Keys(e.to_string()))?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = self.algorithms.clone();
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        // The audience is checked below, as API Gateway does (aud, else client_id).
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let claims = jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => Refusal::Expired,
                ErrorKind::ImmatureSignature => Refusal::NotYetValid,
                ErrorKind::InvalidIssuer => Refusal::Issuer,
                ErrorKind::InvalidAlgorithm => Refusal::Algorithm(format!("{:?}", header.alg)),
                ErrorKind::InvalidSignature => Refusal::Signature,
                ErrorKind::MissingRequiredClaim(c) => Refusal::MissingClaim(c.clone()),
                _ => Refusal::Malformed,
            })?
            .claims;
        let audience_ok = match claims.get("aud") {
            Some(Value::String(a)) => *a == self.audience,
            Some(Value::Array(items)) => items.iter().any(|a| a.as_str() == Some(&self.audience)),
            None => claims.get("client_id").and_then(Value::as_str) == Some(&self.audience),
            Some(_) => false,
        };
        if !audience_ok {
            return Err(Refusal::Audience);
        }
        if !self.scope.is_empty() {
            let held = match (claims.get("scope"), claims.get("scp")) {
                (Some(Value::String(s)), _) | (_, Some(Value::String(s))) => {
                    s.split_whitespace().any(|x| x == self.scope)
                }
                (_, Some(Value::Array(items))) => items.iter().any(|i| i.as_str() == Some(&self.scope)),
                _ => false,
            };
            if !held {
                return Err(Refusal::Scope(self.scope.clone()));
            }
        }
        let trader = claims.get("sub").and_then(Value::as_str).filter(|s| !s.is_empty());
        let expires_at = claims.get("exp").and_then(Value::as_i64);
        match (trader, expires_at) {
            (Some(t), Some(exp)) => Ok(Verified {
                trader: t.to_owned(),
                expires_at: exp,
            }),
            (None, _) => Err(Refusal::MissingClaim("sub".into())),
            (_, None) => Err(Refusal::MissingClaim("exp".into())),
        }
    }
}

/// The parts of API Gateway's REQUEST authorizer event this authorizer reads.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerRequest {
    #[serde(default)]
    pub method_arn: String,
    #[serde(default)]
    pub query_string_parameters: Option<HashMap<String, String>>,
}

/// A WebSocket authorizer's answer: an IAM policy on the `$connect` method, and the
/// context later routes of the connection see in `requestContext.authorizer`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerResponse {
    pub principal_id: String,
    pub policy_document: Value,
    pub context: HashMap<String, Value>,
}

fn policy(effect: &str, method_arn: &str) -> Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": method_arn}]
    })
}

#[tracing::instrument(skip_all)]
pub async fn authorize(verifier: &Verifier, request: &AuthorizerRequest) -> AuthorizerResponse {
    let token = request.query_string_parameters.as_ref().and_then(|q| q.get("token"));
    match verifier.verify(token.map(String::as_str)).await {
        Ok(v) => {
            tracing::info!(trader_id = %v.trader, "connect allowed");
            AuthorizerResponse {
                principal_id: v.trader.clone(),
                policy_document: policy("Allow", &request.method_arn),
                context: HashMap::from([
                    ("trader_id".to_owned(), Value::String(v.trader)),
                    ("expires_at".to_owned(), Value::from(v.expires_at)),
                ]),
            }
        }
        Err(refusal) => {
            tracing::warn!(reason = %refusal, "connect refused");
            AuthorizerResponse {
                principal_id: "anonymous".to_owned(),
                policy_document: policy("Deny", &request.method_arn),
                context: HashMap::from([("reason".to_owned(), Value::String(refusal.to_string()))]),
            }
        }
    }
}

/// The algorithms of `JWT_ALGORITHMS` (comma separated); unknown names are an error
/// naming them. Never `none`: jsonwebtoken has no such algorithm.
pub fn parse_algorithms(raw: &str) -> Result<Vec<Algorithm>, String> {
    let mut out = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        out.push(
            name.parse::<Algorithm>()
                .map_err(|_| format!("JWT_ALGORITHMS: `{name}` is not a JWT algorithm (RS256, ES256, ...)"))?,
        );
    }
    if out.is_empty() {
        return Err("JWT_ALGORITHMS names no algorithm".into());
    }
    Ok(out)
}
