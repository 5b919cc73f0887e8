//! The write-once copy of the audit trail on S3 (`WriteOnceStore`): a bucket with
//! Object Lock in compliance mode and a default retention (infra/template.yaml
//! `AuditArchiveBucket`), so every object put is kept unaltered until its retention
//! ends, whoever asks (the root user included). Puts carry `If-None-Match: *`: an
//! object already at a key is never replaced (the bucket is versioned, as Object Lock
//! requires, and a plain put would add a version), and S3 answers 412, which is the
//! "already archived" of a redelivered record.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;

use crate::ports::{StoreError, WriteOnceStore};

const SERVICE: &str = "S3 (the audit trail's write-once copy)";

pub struct S3WriteOnce {
    client: Client,
    bucket: String,
}

impl S3WriteOnce {
    pub fn new(client: Client, bucket: String) -> Self {
        Self { client, bucket }
    }

    /// A client from the shared SDK configuration. With an endpoint override (the
    /// local emulator) requests are path-style: `127.0.0.1` has no bucket subdomains.
    pub fn client_for(sdk: &aws_config::SdkConfig) -> Client {
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        Client::from_conf(config)
    }

    /// The bucket's name, for messages.
    pub fn name(&self) -> &str {
        &self.bucket
    }
}

fn unavailable<E, R>(what: &str, e: &SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable {
        service: SERVICE,
        detail: format!("{what}: {}", DisplayErrorContext(e)),
    }
}

fn status<E, R: HttpStatus>(e: &SdkError<E, R>) -> Option<u16> {
    e.raw_response().map(HttpStatus::status_code)
}

/// The HTTP status of a raw response (the SDK's response type, behind a trait so that
/// `status` stays generic over operations).
trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

#[async_trait]
impl WriteOnceStore for S3WriteOnce {
    async fn put_once(&self, key: &str, body: Vec<u8>) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .if_none_match("*")
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            // 412 PreconditionFailed: an object is there.
            Err(e) if status(&e) == Some(412) || e.code() == Some("PreconditionFailed") => Ok(false),
            Err(e) => Err(unavailable(&format!("PutObject {key}"), &e)),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let got = self.client.get_object().bucket(&self.bucket).key(key).send().await;
        let out = match got {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) || status(&e) == Some(404) => {
                return Ok(None);
            }
            Err(e) => return Err(unavailable(&format!("GetObject {key}"), &e)),
        };
        let bytes = out.body.collect().await.map_err(|e| StoreError::Unavailable {
            service: SERVICE,
            detail: format!("reading {key}: {e}"),
        })?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| unavailable(&format!("ListObjectsV2 {prefix}"), &e))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        }
        Ok(keys)
    }
}
