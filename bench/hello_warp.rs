//! The baseline for the HTTP comparison: warp answering "hello" with nothing behind it.
//! `cargo run --release --example hello_warp -- PORT`
use warp::Filter;

fn main() {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(3030);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        warp::serve(warp::any().map(|| "hello")).incoming(listener).run().await;
    });
}
