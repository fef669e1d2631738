//! The web board as the server serves it: the embedded page and its assets, caching,
//! compression, the Content-Security-Policy, deep links, and the board's own origin
//! passing the CORS filter. The board itself is tested in a browser by web/tests.

use std::io::Read;

use crate::common::TestApp;

/// The page's script and stylesheet paths, as the page names them.
fn assets_of(page: &str) -> Vec<String> {
    page.split(['"', '\'']).filter(|part| part.starts_with("/board/assets/")).map(str::to_string).collect()
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_with_a_strict_policy_and_long_caching() {
    let app = TestApp::spawn().await;
    let page = app.get("/board/").await;
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["cache-control"], "no-cache");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-eval") && !csp.contains("unsafe-inline"), "{csp}");
    let body = page.text().await.unwrap();
    assert!(body.contains(r#"<meta name="taskboard" content="{&quot;"#), "the settings are filled in: {body}");
    assert!(body.contains("&quot;statuses&quot;:[&quot;new&quot;"), "{body}");
    assert!(
        !body.contains("<script>") && !body.contains("http://") && !body.contains("https://"),
        "no inline script, nothing from outside: {body}"
    );
    let assets = assets_of(&body);
    assert_eq!(assets.len(), 2, "a script and a stylesheet: {assets:?}");
    for asset in &assets {
        let plain = app.get(asset).await;
        assert_eq!(plain.status(), 200, "{asset}");
        assert_eq!(plain.headers()["cache-control"], "public, max-age=31536000, immutable");
        let etag = plain.headers()["etag"].to_str().unwrap().to_string();
        let plain_bytes = plain.bytes().await.unwrap();
        // Compressed once at start-up, when asked; the same bytes once unpacked.
        let gzipped = app.client.get(app.url(asset)).header("accept-encoding", "gzip, br").send().await.unwrap();
        assert_eq!(gzipped.headers()["content-encoding"], "gzip");
        let packed = gzipped.bytes().await.unwrap();
        assert!(packed.len() < plain_bytes.len());
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut unpacked).unwrap();
        assert_eq!(unpacked, plain_bytes);
        // A second visit costs a 304.
        let again = app.client.get(app.url(asset)).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(again.status(), 304);
        assert!(again.bytes().await.unwrap().is_empty());
    }
    app.stop().await;
}

#[tokio::test]
async fn deep_links_open_the_app_and_a_missing_asset_is_a_404() {
    let app = TestApp::spawn().await;
    let root = app.get("/board/").await.text().await.unwrap();
    for deep in ["/board/tasks/42", "/board/stats", "/board/admin/users?x=1"] {
        let r = app.get(deep).await;
        assert_eq!(r.status(), 200, "{deep}");
        assert_eq!(r.text().await.unwrap(), root, "{deep} is the app's page");
    }
    let missing = app.get("/board/assets/main-NOPE.js").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["content-type"], "application/problem+json");
    let bare = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = bare.get(app.url("/board")).send().await.unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/board/");
    let docs = app.get("/").await.text().await.unwrap();
    assert!(docs.contains(r#"href="/board/""#), "the API page links the board");
    app.stop().await;
}

#[tokio::test]
async fn the_boards_own_origin_passes_cors_and_a_foreign_one_does_not() {
    let app = TestApp::spawn().await;
    let host = app.base.trim_start_matches("http://").to_string();
    let own = app
        .client
        .post(app.url("/api/tasks"))
        .header("origin", format!("http://{host}"))
        .json(&serde_json::json!({"title": "from the board"}))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 201, "a same-origin POST is no cross-origin request");
    let foreign = app
        .client
        .post(app.url("/api/tasks"))
        .header("origin", "https://evil.example")
        .json(&serde_json::json!({"title": "from elsewhere"}))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403, "an origin not in server.cors_origins is refused");
    let listed = app.get_json("/api/tasks").await;
    assert_eq!(listed["total"], 1, "only the board's task was made: {listed}");
    app.stop().await;
}
