//! Placeholder until execution lands: reports every message of a batch as failed,
//! so SQS keeps (and eventually dead-letters) them rather than losing any.

use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};

pub async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let failures: Vec<Value> = event.payload["Records"]
        .as_array()
        .map(|records| {
            records
                .iter()
                .filter_map(|r| r["messageId"].as_str())
                .map(|id| json!({"itemIdentifier": id}))
                .collect()
        })
        .unwrap_or_default();
    Ok(json!({ "batchItemFailures": failures }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_message_is_acknowledged_before_execution_exists() {
        let event = json!({"Records": [{"messageId": "a"}, {"messageId": "b"}]});
        let out = handle(LambdaEvent::new(event, lambda_runtime::Context::default()))
            .await
            .unwrap();
        assert_eq!(
            out,
            json!({"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}]})
        );
    }
}
