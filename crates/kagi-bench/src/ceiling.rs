//! The loopback ceiling: `kagi-bench --ceiling-server` runs a hyper HTTP/1.1 server on
//! 127.0.0.1:0 that reads each request body and answers `{}`, with the same runtime shape
//! as `kagi serve` (a multi-threaded tokio runtime, keep-alive, TCP_NODELAY).
//!
//! Whatever the load generator achieves against it is the most this machine can carry
//! through the same client, signing and loopback TCP, so the ratio of a kagi phase to it
//! says how much the server itself costs. It checks no signature and parses no JSON.

use std::convert::Infallible;
use std::io::Write;

use anyhow::{Context, Result};
use bytes::Bytes;
use http::{header, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

/// The line printed on stdout once the server accepts connections, followed by the address.
pub const LISTENING: &str = "ceiling listening on ";

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the body as a real server must; a broken body still gets an answer.
    let _ = request.into_body().collect().await;
    let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    Ok(response)
}

/// Serves until killed.
pub fn serve() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{LISTENING}{}", listener.local_addr()?)?;
        out.flush()?;
        drop(out);
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(answer))
                    .await;
            });
        }
    })
}
