// Long because: the local JWT authorizer is one contract with its attack tests (about half the file).
//! The local JWT authorizer: what API Gateway's JWT authorizer does in AWS, with an
//! HS256 dev secret instead of the issuer's public keys. Only HS256 is accepted, so
//! `alg: none` and RS/HS confusion fail before any signature is checked; `exp`,
//! `iss` and `aud` are required and checked, `nbf` when present. The verified claims
//! go to the function as API Gateway hands them over: a map of strings. Scopes: as
//! API Gateway does for a route with `AuthorizationScopes`, the token's `scope`
//! (space-separated) or `scp` claim must hold at least one of them; the scopes are the
//! template's (`template_scopes`: the TraderJwt authorizer's, `!Ref` resolved to the
//! parameter's default).

use std::collections::BTreeMap;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::Value;

/// Seconds of clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 5;

#[derive(Clone)]
pub struct JwtConfig {
    pub secret: Vec<u8>,
    pub issuer: String,
    pub audience: String,
    /// Scopes of which the token must carry one (empty: none required).
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("secret", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// Why a request was refused; the text is the 401's `detail`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("A bearer token is required: send Authorization: Bearer <JWT>")]
    Missing,
    #[error("The Authorization header must be `Bearer <JWT>`")]
    NotBearer,
    #[error("The bearer token has expired")]
    Expired,
    #[error("The bearer token is not valid yet (nbf)")]
    NotYetValid,
    #[error("The bearer token's issuer is not accepted")]
    Issuer,
    #[error("The bearer token's audience is not accepted")]
    Audience,
    #[error("The bearer token's signature algorithm is not accepted; HS256 is required")]
    Algorithm,
    #[error("The bearer token's signature is invalid")]
    Signature,
    #[error("The bearer token lacks the {0} claim")]
    MissingClaim(String),
    #[error("The bearer token is malformed")]
    Malformed,
    #[error("The bearer token lacks the scope this route requires ({0})")]
    Scope(String),
}

/// The authorization scopes of the template's HTTP API JWT authorizers
/// (`Auth.Authorizers.*.AuthorizationScopes`), a `!Ref` standing for its parameter's
/// default. Empty if the template names none.
pub fn template_scopes(template: &str) -> Result<Vec<String>, String> {
    use yaml_serde::Value as Y;
    let doc: Y = yaml_serde::from_str(template).map_err(|e| format!("the template is not YAML: {e}"))?;
    let mut out = Vec::new();
    let resources = doc.get("Resources").and_then(Y::as_mapping).into_iter().flatten();
    for (_, r) in resources {
        if r.get("Type").and_then(Y::as_str) != Some("AWS::Serverless::HttpApi") {
            continue;
        }
        let authorizers = r
            .get("Properties")
            .and_then(|p| p.get("Auth"))
            .and_then(|a| a.get("Authorizers"))
            .and_then(Y::as_mapping)
            .into_iter()
            .flatten();
        for (_, a) in authorizers {
            for scope in a
                .get("AuthorizationScopes")
                .and_then(Y::as_sequence)
                .into_iter()
                .flatten()
            {
                out.push(scope_text(&doc, scope)?);
            }
        }
    }
    Ok(out)
}

/// One `AuthorizationScopes` entry of the template: a string, or a `!Ref` standing for
/// its parameter's default.
pub fn scope_text(doc: &yaml_serde::Value, scope: &yaml_serde::Value) -> Result<String, String> {
    use yaml_serde::Value as Y;
    match scope {
        Y::String(s) => Ok(s.clone()),
        Y::Tagged(t) if t.tag == "!Ref" => {
            let name = t.value.as_str().unwrap_or_default();
            doc.get("Parameters")
                .and_then(|p| p.get(name))
                .and_then(|p| p.get("Default"))
                .and_then(Y::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("AuthorizationScopes: !Ref {name} has no string Default"))
        }
        other => Err(format!("AuthorizationScopes: cannot read {other:?}")),
    }
}

impl JwtConfig {
    /// Verifies the `Authorization` header's token against the authorizer's scopes and
    /// returns its claims as strings.
    pub fn verify(&self, authorization: Option<&str>) -> Result<BTreeMap<String, String>, AuthError> {
        self.verify_for(authorization, None)
    }

    /// `verify` for a route whose own `AuthorizationScopes` (`Some`) replace the
    /// authorizer's, as API Gateway does.
    pub fn verify_for(
        &self,
        authorization: Option<&str>,
        route_scopes: Option<&[String]>,
    ) -> Result<BTreeMap<String, String>, AuthError> {
        let scopes = route_scopes.unwrap_or(&self.scopes);
        let header = authorization
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or(AuthError::Missing)?;
        let (scheme, token) = header.split_once(' ').ok_or(AuthError::NotBearer)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(AuthError::NotBearer);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(
            token.trim(),
            &DecodingKey::from_secret(&self.secret),
            &validation,
        )
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidIssuer => AuthError::Issuer,
            ErrorKind::InvalidAudience => AuthError::Audience,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => AuthError::Algorithm,
            ErrorKind::InvalidSignature => AuthError::Signature,
            ErrorKind::MissingRequiredClaim(c) => AuthError::MissingClaim(c.clone()),
            _ => AuthError::Malformed,
        })?;
        if !scopes.is_empty() {
            let held: Vec<String> = match (data.claims.get("scope"), data.claims.get("scp")) {
                (Some(Value::String(s)), _) => s.split_whitespace().map(str::to_owned).collect(),
                (_, Some(Value::Array(items))) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
                (_, Some(Value::String(s))) => s.split_whitespace().map(str::to_owned).collect(),
                _ => Vec::new(),
            };
            if !scopes.iter().any(|s| held.contains(s)) {
                return Err(AuthError::Scope(scopes.join(" ")));
            }
        }
        Ok(data
            .claims
            .into_iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s,
                    // API Gateway passes arrays as "[a b]" and other values as their text.
                    Value::Array(items) => format!(
                        "[{}]",
                        items
                            .iter()
                            .map(|i| i.as_str().map(str::to_owned).unwrap_or_else(|| i.to_string()))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                    other => other.to_string(),
                };
                (k, text)
            })
            .collect())
    }

    /// A dev token for `trader`, valid for `ttl_secs`, with the authorizer's scopes.
    pub fn mint(&self, trader: &str, ttl_secs: u64, now_unix: u64) -> Result<String, jsonwebtoken::errors::Error> {
        self.mint_with_scope(trader, ttl_secs, now_unix, None)
    }

    /// `mint` with `scope` instead of the authorizer's scopes (an operator's token).
    pub fn mint_with_scope(
        &self,
        trader: &str,
        ttl_secs: u64,
        now_unix: u64,
        scope: Option<&str>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = serde_json::json!({
            "sub": trader,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now_unix,
            "exp": now_unix + ttl_secs,
        });
        let mut claims = claims;
        match scope {
            Some(s) => claims["scope"] = Value::String(s.to_owned()),
            None if !self.scopes.is_empty() => claims["scope"] = Value::String(self.scopes.join(" ")),
            None => {}
        }
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.secret),
        )
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn config() -> JwtConfig {
        JwtConfig {
            secret: b"test-secret-of-enough-length-0123456789".to_vec(),
            issuer: "orders-local".into(),
            audience: "orders-api".into(),
            scopes: Vec::new(),
        }
    }

    #[test]
    fn a_route_with_scopes_needs_one_of_them_in_scope_or_scp() {
        let c = JwtConfig {
            scopes: vec!["orders/trade".into()],
            ..config()
        };
        let base = serde_json::json!({"sub": "alice", "iss": "orders-local", "aud": "orders-api", "exp": now() + 60});
        let with = |k: &str, v: Value| {
            let mut claims = base.clone();
            claims[k] = v;
            bearer(&signed(claims, Algorithm::HS256, &c.secret))
        };
        let plain = bearer(&signed(base.clone(), Algorithm::HS256, &c.secret));
        assert_eq!(c.verify(Some(&plain)), Err(AuthError::Scope("orders/trade".into())));
        assert!(c.verify(Some(&with("scope", "openid orders/trade".into()))).is_ok());
        assert!(
            c.verify(Some(&with("scp", serde_json::json!(["orders/trade"]))))
                .is_ok()
        );
        assert_eq!(
            c.verify(Some(&with("scope", "orders/read".into()))),
            Err(AuthError::Scope("orders/trade".into()))
        );
        // What `make token` mints passes.
        let minted = c.mint("alice", 60, now()).unwrap();
        assert!(c.verify(Some(&bearer(&minted))).is_ok());
    }

    #[test]
    fn a_routes_own_scopes_replace_the_authorizers() {
        let c = JwtConfig {
            scopes: vec!["orders/trade".into()],
            ..config()
        };
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        };
        let operate = ["orders/operate".to_owned()];
        let trader = c.mint("alice", 60, now()).unwrap();
        let operator = c.mint_with_scope("jane", 60, now(), Some("orders/operate")).unwrap();
        let bearer = |t: &str| format!("Bearer {t}");
        assert_eq!(
            c.verify_for(Some(&bearer(&trader)), Some(&operate)),
            Err(AuthError::Scope("orders/operate".into()))
        );
        assert!(c.verify_for(Some(&bearer(&operator)), Some(&operate)).is_ok());
        // And an operator's token is no trader's.
        assert_eq!(
            c.verify(Some(&bearer(&operator))),
            Err(AuthError::Scope("orders/trade".into()))
        );
        assert!(c.verify(Some(&bearer(&trader))).is_ok());
    }

    #[test]
    fn the_repository_template_requires_the_trader_scope() {
        let text = include_str!("../../../infra/template.yaml");
        assert_eq!(template_scopes(text).unwrap(), ["orders/trade"]);
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn signed(claims: Value, alg: Algorithm, secret: &[u8]) -> String {
        jsonwebtoken::encode(&Header::new(alg), &claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    fn bearer(t: &str) -> String {
        format!("Bearer {t}")
    }

    #[test]
    fn a_minted_token_verifies_and_yields_string_claims() {
        let c = config();
        let token = c.mint("alice", 60, now()).unwrap();
        let claims = c.verify(Some(&bearer(&token))).unwrap();
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["aud"], "orders-api");
        assert!(claims["exp"].parse::<u64>().is_ok());
    }

    #[test]
    fn refuses_every_bad_token_with_its_reason() {
        let c = config();
        let t = now();
        let good = |extra: Value| {
            let mut claims = serde_json::json!({"sub": "a", "iss": "orders-local", "aud": "orders-api", "exp": t + 60});
            for (k, v) in extra.as_object().unwrap() {
                claims[k] = v.clone();
            }
            claims
        };
        let cases: Vec<(Option<String>, AuthError)> = vec![
            (None, AuthError::Missing),
            (Some("Basic abc".into()), AuthError::NotBearer),
            (Some("Bearer ".into()), AuthError::NotBearer),
            (
                Some(bearer(&signed(
                    good(serde_json::json!({"exp": t - 60})),
                    Algorithm::HS256,
                    &c.secret,
                ))),
                AuthError::Expired,
            ),
            (
                Some(bearer(&signed(
                    good(serde_json::json!({"nbf": t + 600})),
                    Algorithm::HS256,
                    &c.secret,
                ))),
                AuthError::NotYetValid,
            ),
            (
                Some(bearer(&signed(
                    good(serde_json::json!({"iss": "evil"})),
                    Algorithm::HS256,
                    &c.secret,
                ))),
                AuthError::Issuer,
            ),
            (
                Some(bearer(&signed(
                    good(serde_json::json!({"aud": "other"})),
                    Algorithm::HS256,
                    &c.secret,
                ))),
                AuthError::Audience,
            ),
            (
                Some(bearer(&signed(
                    good(serde_json::json!({})),
                    Algorithm::HS256,
                    b"another-secret",
                ))),
                AuthError::Signature,
            ),
            (
                Some(bearer(&signed(
                    good(serde_json::json!({})),
                    Algorithm::HS512,
                    &c.secret,
                ))),
                AuthError::Algorithm,
            ),
            (
                Some(bearer(&signed(
                    serde_json::json!({"iss": "orders-local", "aud": "orders-api", "exp": t + 60}),
                    Algorithm::HS256,
                    &c.secret,
                ))),
                AuthError::MissingClaim("sub".into()),
            ),
            (Some("Bearer not.a.jwt".into()), AuthError::Malformed),
        ];
        for (header, want) in cases {
            assert_eq!(c.verify(header.as_deref()), Err(want.clone()), "{header:?}");
        }
    }

    #[test]
    fn refuses_alg_none_and_tampered_claims() {
        let c = config();
        let claims = serde_json::json!({"sub": "a", "iss": "orders-local", "aud": "orders-api", "exp": now() + 60});
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let none = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#));
        assert!(matches!(
            c.verify(Some(&bearer(&none))),
            Err(AuthError::Algorithm | AuthError::Malformed)
        ));
        // An RS256 header over an HMAC made with the secret (key confusion) is refused.
        let rs = signed(claims.clone(), Algorithm::HS256, &c.secret);
        let mut parts: Vec<&str> = rs.split('.').collect();
        let rs_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
        parts[0] = &rs_header;
        assert_eq!(c.verify(Some(&bearer(&parts.join(".")))), Err(AuthError::Algorithm));
        // Claims changed after signing (trader b instead of a) break the signature.
        let token = c.mint("a", 60, now()).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut body: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        body["sub"] = "b".into();
        parts[1] = URL_SAFE_NO_PAD.encode(body.to_string());
        assert_eq!(c.verify(Some(&bearer(&parts.join(".")))), Err(AuthError::Signature));
    }
}
