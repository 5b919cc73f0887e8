//! `Pusher` on API Gateway's management API (issue 18): `PostToConnection` sends a
//! message to one WebSocket connection, `DeleteConnection` closes one. Both answer
//! `GoneException` (410) for a connection that no longer exists, which the fan-out
//! forgets; a message is at most 128 KB (API Gateway's frame limit; ours are < 1 KB).
//! The client's endpoint is the API's stage URL
//! (`https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`; locally the
//! gateway's), set once in `client_for`.

use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::error::DisplayErrorContext;
use aws_sdk_apigatewaymanagement::operation::delete_connection::DeleteConnectionError;
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;

use crate::ports::{PushError, Pusher};

#[derive(Clone, Debug)]
pub struct ManagementPusher {
    client: Client,
    /// The WebSocket API's id, for the messages of errors.
    live_api: String,
}

impl ManagementPusher {
    pub fn new(client: Client, live_api: impl Into<String>) -> Self {
        Self {
            client,
            live_api: live_api.into(),
        }
    }

    /// A management API client for the stage at `endpoint`.
    pub fn client_for(sdk: &aws_config::SdkConfig, endpoint: &str) -> Client {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .build();
        Client::from_conf(config)
    }
}

#[async_trait]
impl Pusher for ManagementPusher {
    async fn push(&self, connection_id: &str, message: &[u8]) -> Result<(), PushError> {
        match self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(message))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                PostToConnectionError::GoneException(_) => Err(PushError::Gone),
                other => Err(PushError::Failed(format!(
                    "{}: PostToConnection: {}",
                    self.live_api,
                    DisplayErrorContext(&other)
                ))),
            },
        }
    }

    async fn close(&self, connection_id: &str) -> Result<(), PushError> {
        match self
            .client
            .delete_connection()
            .connection_id(connection_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                DeleteConnectionError::GoneException(_) => Err(PushError::Gone),
                other => Err(PushError::Failed(format!(
                    "{}: DeleteConnection: {}",
                    self.live_api,
                    DisplayErrorContext(&other)
                ))),
            },
        }
    }
}
