//! Placeholder until the HTTP API lands: answers every request with a 501 problem,
//! so a caller is never told an order was taken when it was not.

use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};

pub async fn handle(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    let problem = json!({
        "type": "/problems/not-implemented",
        "title": "Not implemented",
        "status": 501,
        "detail": "This route is not implemented yet",
    });
    Ok(json!({
        "statusCode": 501,
        "headers": {"content-type": shared::http::problem::CONTENT_TYPE},
        "body": problem.to_string(),
    }))
}
