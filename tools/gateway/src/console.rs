//! The web console's static files (issue 22), served on the API's origin so the console
//! calls the API without CORS: `GET /` is `console/index.html`, `GET /console/<path>` a
//! file under the console directory with its content type (ES modules need a JavaScript
//! type or the browser refuses them). Paths are checked segment by segment after
//! percent-decoding: no `..`, no dot files, no separators inside a segment, so nothing
//! outside the directory is read. Not recorded: these are not API exchanges.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::routing::get;

pub fn router(dir: PathBuf) -> Router {
    let dir = Arc::new(dir);
    Router::new()
        .route("/", get(index))
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/{*path}", get(file))
        .with_state(dir)
}

async fn index(State(dir): State<Arc<PathBuf>>) -> Response {
    serve(&dir.join("index.html")).await
}

async fn file(State(dir): State<Arc<PathBuf>>, UrlPath(path): UrlPath<String>) -> Response {
    match safe_join(&dir, &path) {
        Some(p) => serve(&p).await,
        None => not_found(&path),
    }
}

/// `dir` joined with the URL path's segments, or `None` if any segment could leave the
/// directory or name a hidden file. axum has already percent-decoded `path`.
pub fn safe_join(dir: &Path, path: &str) -> Option<PathBuf> {
    let mut out = dir.to_path_buf();
    let mut any = false;
    for segment in path.split('/') {
        if segment.is_empty() {
            continue;
        }
        if segment.starts_with('.') || segment.contains('\\') || segment.contains('\0') {
            return None;
        }
        out.push(segment);
        any = true;
    }
    any.then_some(out)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

async fn serve(path: &Path) -> Response {
    match tokio::fs::read(path).await {
        Ok(bytes) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, content_type(path))
            // Edits show on reload: the local console is for development.
            .header(header::CACHE_CONTROL, "no-store")
            .header("x-content-type-options", "nosniff")
            .body(Body::from(bytes))
            .unwrap_or_else(|_| not_found("")),
        Err(_) => not_found(
            &path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
    }
}

fn not_found(what: &str) -> Response {
    let body = serde_json::json!({"type": "/problems/not-found", "title": "Not found", "status": 404,
        "detail": format!("No console file {what}")});
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/problem+json"),
    );
    response
}
