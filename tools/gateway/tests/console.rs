//! The console's static files as the gateway serves them: `GET /` is the console's page,
//! `GET /console/<file>` its files with their content types, and nothing outside the
//! console directory is ever read (`..`, dot files, encoded separators).

use local_gateway::console;

async fn serve(dir: &std::path::Path) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = console::router(dir.to_path_buf());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn site() -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("console-test-{}", ulid::Ulid::new()));
    let dir = root.join("console");
    std::fs::create_dir_all(dir.join("js")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>c</title>").unwrap();
    std::fs::write(dir.join("style.css"), "body{}").unwrap();
    std::fs::write(dir.join("js/app.js"), "export {};").unwrap();
    std::fs::write(dir.join(".secret"), "no").unwrap();
    std::fs::write(root.join("outside.txt"), "no").unwrap();
    dir
}

async fn get(url: &str) -> (u16, String, String) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

#[tokio::test]
async fn the_root_is_the_console_page_and_its_files_have_their_content_types() {
    let base = serve(&site()).await;
    let (status, ct, body) = get(&format!("{base}/")).await;
    assert_eq!((status, ct.as_str()), (200, "text/html; charset=utf-8"));
    assert!(body.contains("<title>c</title>"));
    let (status, ct, _) = get(&format!("{base}/console/style.css")).await;
    assert_eq!((status, ct.as_str()), (200, "text/css; charset=utf-8"));
    // ES modules must be served with a JavaScript MIME type or the browser refuses them.
    let (status, ct, body) = get(&format!("{base}/console/js/app.js")).await;
    assert_eq!(
        (status, ct.as_str(), body.as_str()),
        (200, "text/javascript; charset=utf-8", "export {};")
    );
    let (status, ct, _) = get(&format!("{base}/console/")).await;
    assert_eq!((status, ct.as_str()), (200, "text/html; charset=utf-8"));
}

#[tokio::test]
async fn nothing_outside_the_console_directory_is_served() {
    let base = serve(&site()).await;
    for path in [
        "/console/%2e%2e/outside.txt",
        "/console/js/..%2f..%2foutside.txt",
        "/console/.secret",
        "/console/missing.js",
        "/console/js",
    ] {
        let (status, ct, body) = get(&format!("{base}{path}")).await;
        assert_eq!(status, 404, "{path}: {ct} {body}");
        assert_ne!(body, "no", "{path} leaked a file outside the console");
    }
}
