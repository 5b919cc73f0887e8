//! The venue's keys from AWS Secrets Manager (issue 16): a deployed function reads
//! them at start and again as `AlpacaVenue` asks (`KeySource`), so nothing secret is
//! in its configuration and a rotated secret is picked up without a redeploy. The
//! secret's string is JSON: `{"key_id": "...", "secret_key": "..."}`.

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use serde::Deserialize;

use crate::adapters::venue::{KeySource, VenueKeys};

pub struct SecretsManagerKeys {
    client: Client,
    venue_secret: String,
}

impl SecretsManagerKeys {
    /// `venue_secret`: the secret's ARN (`VENUE_SECRET_ARN`).
    pub fn new(client: Client, venue_secret: String) -> Self {
        Self { client, venue_secret }
    }
}

#[derive(Deserialize)]
struct Stored {
    key_id: String,
    secret_key: String,
}

/// The keys in a secret's string; the error names what is wrong, never a value.
pub fn parse_keys(secret_string: &str) -> Result<VenueKeys, String> {
    let stored: Stored = serde_json::from_str(secret_string).map_err(|e| {
        format!(
            "the secret is not JSON with string fields key_id and secret_key ({} at line {} column {})",
            match e.classify() {
                serde_json::error::Category::Data => "missing or mistyped field",
                _ => "not JSON",
            },
            e.line(),
            e.column()
        )
    })?;
    VenueKeys::new(&stored.key_id, &stored.secret_key).map_err(|e| format!("the secret's {e}"))
}

#[async_trait]
impl KeySource for SecretsManagerKeys {
    async fn load(&self) -> Result<VenueKeys, String> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.venue_secret)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "could not read the venue secret {}: {}",
                    self.venue_secret,
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                )
            })?;
        let string = out
            .secret_string()
            .ok_or_else(|| format!("the venue secret {} has no string value", self.venue_secret))?;
        parse_keys(string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_string_holds_both_keys() {
        let keys = parse_keys(r#"{"key_id": "PK1", "secret_key": "s3cr3t"}"#).unwrap();
        assert_eq!(keys.key_id, "PK1");
        for (bad, says) in [
            (r#"{"key_id": "PK1"}"#, "missing or mistyped"),
            (r#"{"key_id": 7, "secret_key": "s3cr3t"}"#, "missing or mistyped"),
            ("PK1:s3cr3t", "not JSON"),
            (r#"{"key_id": "PK1", "secret_key": ""}"#, "secret key is empty"),
        ] {
            let e = parse_keys(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(!e.contains("s3cr3t"), "{e}");
        }
    }
}
