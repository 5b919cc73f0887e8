//! Invoking a function through `cargo lambda watch`'s invoke API
//! (`POST {lambda_url}/2015-03-31/functions/{name}/invocations`) and reading its
//! partial batch response the way Lambda's event source mappings do.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

/// The first invocation of a function under `cargo lambda watch` compiles it.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The invoke API could not be reached or cut the reply.
    #[error("function {function} not reachable at {url}: {detail}")]
    Transport {
        function: String,
        url: String,
        detail: String,
    },
    /// The function returned an error (`X-Amz-Function-Error`, or a non-2xx answer).
    #[error("function {function} failed: {detail}")]
    Function { function: String, detail: String },
}

#[derive(Clone, Debug)]
pub struct Invoker {
    client: reqwest::Client,
    lambda_url: String,
}

impl Invoker {
    pub fn new(lambda_url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder().timeout(INVOKE_TIMEOUT).build()?,
            lambda_url: lambda_url.trim_end_matches('/').to_owned(),
        })
    }

    /// Invokes `function` with `event` and returns its reply.
    pub async fn invoke(&self, function: &str, event: &Value) -> Result<Value, InvokeError> {
        let url = format!("{}/2015-03-31/functions/{function}/invocations", self.lambda_url);
        let transport = |detail: String| InvokeError::Transport {
            function: function.to_owned(),
            url: url.clone(),
            detail,
        };
        let response = self
            .client
            .post(&url)
            .json(event)
            .send()
            .await
            .map_err(|e| transport(e.to_string()))?;
        let failed = response.headers().contains_key("x-amz-function-error") || !response.status().is_success();
        let status = response.status();
        let body = response.bytes().await.map_err(|e| transport(e.to_string()))?;
        if failed {
            let detail = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("errorMessage").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            return Err(InvokeError::Function {
                function: function.to_owned(),
                detail: format!("HTTP {status}: {detail}"),
            });
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&body).map_err(|e| InvokeError::Function {
            function: function.to_owned(),
            detail: format!("reply is not JSON ({e}): {}", String::from_utf8_lossy(&body)),
        })
    }
}

/// The item identifiers a partial batch response reports failed. As Lambda does,
/// an empty or `null` reply (or an empty list) means all succeeded, and a reply
/// that names an identifier not in the batch, or cannot be read, fails the whole
/// batch (`Err`).
pub fn batch_failures(reply: &Value, batch: &[&str]) -> Result<Vec<String>, String> {
    let failures = match reply {
        Value::Null => return Ok(Vec::new()),
        Value::Object(map) => match map.get("batchItemFailures") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => return Err(format!("batchItemFailures is not a list: {other}")),
        },
        other => return Err(format!("the reply is not a batch response: {other}")),
    };
    let known: HashSet<&str> = batch.iter().copied().collect();
    failures
        .iter()
        .map(|f| match f.get("itemIdentifier").and_then(Value::as_str) {
            Some(id) if known.contains(id) => Ok(id.to_owned()),
            _ => Err(format!("batchItemFailures names no item of this batch: {f}")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn batch_responses_read_like_lambda_reads_them() {
        let batch = ["a", "b"];
        assert_eq!(batch_failures(&Value::Null, &batch), Ok(vec![]));
        assert_eq!(batch_failures(&json!({}), &batch), Ok(vec![]));
        assert_eq!(batch_failures(&json!({"batchItemFailures": []}), &batch), Ok(vec![]));
        assert_eq!(
            batch_failures(&json!({"batchItemFailures": [{"itemIdentifier": "b"}]}), &batch),
            Ok(vec!["b".to_owned()])
        );
        assert!(batch_failures(&json!({"batchItemFailures": [{"itemIdentifier": "z"}]}), &batch).is_err());
        assert!(batch_failures(&json!({"batchItemFailures": [{"itemIdentifier": ""}]}), &batch).is_err());
        assert!(batch_failures(&json!("ok"), &batch).is_err());
    }
}
