//! The metrics HTTP responder: a minimal HTTP/1.1 server on its own thread
//! (a current-thread tokio runtime) that answers `GET /metrics` and closes
//! every connection after one response.
//!
//! Owns the listening socket and request parsing. Bounded everywhere: request
//! heads up to 8 KiB, 5 s to send one, 16 connections at a time.

use super::{Feed, render};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, oneshot};

/// Largest request head accepted.
const MAX_HEAD: usize = 8 * 1024;
/// Time a client has to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a client has to take the response.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub(crate) enum MetricsError {
    #[error("cannot listen for metrics on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the metrics server: {0}")]
    Start(std::io::Error),
}

/// The running endpoint. Dropping it stops it like `shutdown`.
pub(crate) struct MetricsServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Bind `addr` now (so a taken port is reported here) and serve `feed`
    /// on a new thread.
    pub(crate) fn start(addr: SocketAddr, feed: Arc<Feed>) -> Result<MetricsServer, MetricsError> {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|source| MetricsError::Bind { addr, source })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| MetricsError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| MetricsError::Bind { addr, source })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(MetricsError::Start)?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("rh-metrics".into())
            .spawn(move || runtime.block_on(serve(listener, feed, stop_rx)))
            .map_err(MetricsError::Start)?;
        Ok(MetricsServer {
            addr: bound,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The address actually bound (the port is chosen when 0 was asked for).
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("the metrics thread panicked");
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve(listener: std::net::TcpListener, feed: Arc<Feed>, mut stop: oneshot::Receiver<()>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(event_name = "metrics_unavailable", error = %e);
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            _ = &mut stop => return,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _peer)) => {
                let feed = Arc::clone(&feed);
                tokio::spawn(async move {
                    handle(stream, &feed).await;
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!(event_name = "metrics_accept_failed", error = %e);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// What a request asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    /// The client accepts OpenMetrics text.
    pub(crate) openmetrics: bool,
}

/// Parse a request head (request line and headers, without the body).
pub(crate) fn parse_request(head: &str) -> Option<Request> {
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target, version) = (first.next()?, first.next()?, first.next()?);
    if first.next().is_some() || !version.starts_with("HTTP/1.") || method.is_empty() {
        return None;
    }
    let path = target.split('?').next().unwrap_or(target).to_string();
    let openmetrics = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("accept") && v.contains("application/openmetrics-text")
        })
    });
    Some(Request {
        method: method.to_string(),
        path,
        openmetrics,
    })
}

/// Status line, content type and body for a request.
pub(crate) fn respond(req: Option<&Request>, feed: &Feed) -> (&'static str, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    let Some(req) = req else {
        return ("400 Bad Request", TEXT, "bad request\n".into());
    };
    match (req.method.as_str(), req.path.as_str()) {
        ("GET" | "HEAD", "/metrics") => {
            let (body, ctype) = render(feed, req.openmetrics);
            ("200 OK", ctype, body)
        }
        ("GET" | "HEAD", "/") => ("200 OK", TEXT, "rogue-hunter: metrics at /metrics\n".into()),
        (_, "/metrics" | "/") => ("405 Method Not Allowed", TEXT, "only GET and HEAD\n".into()),
        _ => ("404 Not Found", TEXT, "not found: try /metrics\n".into()),
    }
}

async fn read_head(stream: &mut TcpStream) -> Result<Option<String>, &'static str> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|_| "read failed")?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(Some(String::from_utf8_lossy(&buf[..end]).into_owned()));
        }
        if buf.len() > MAX_HEAD {
            return Err("request head too large");
        }
    }
}

async fn handle(mut stream: TcpStream, feed: &Feed) {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        // Closed early, timed out or too large: nothing worth answering.
        Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return,
    };
    let req = parse_request(&head);
    let (status, ctype, body) = respond(req.as_ref(), feed);
    let head_only = req.as_ref().is_some_and(|r| r.method == "HEAD");
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        response.extend_from_slice(body.as_bytes());
    }
    let write = async {
        stream.write_all(&response).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(WRITE_TIMEOUT, write).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BandsConfig;
    use std::io::{Read, Write};

    #[test]
    fn request_lines() {
        let r = parse_request("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: application/openmetrics-text; version=1.0.0").unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.openmetrics),
            ("GET", "/metrics", true)
        );
        assert!(!parse_request("GET /metrics HTTP/1.0").unwrap().openmetrics);
        assert!(parse_request("GET /metrics").is_none());
        assert!(parse_request("GET /metrics SPDY/3").is_none());
        assert!(parse_request("").is_none());
        let feed = Feed::new(10, BandsConfig::default());
        assert_eq!(respond(None, &feed).0, "400 Bad Request");
        let post = parse_request("POST /metrics HTTP/1.1").unwrap();
        assert_eq!(respond(Some(&post), &feed).0, "405 Method Not Allowed");
        let other = parse_request("GET /admin HTTP/1.1").unwrap();
        assert_eq!(respond(Some(&other), &feed).0, "404 Not Found");
    }

    #[test]
    fn serves_over_tcp_and_stops() {
        let feed = Arc::new(Feed::new(10, BandsConfig::default()));
        let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), feed).unwrap();
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);
        let get = |req: &str| {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(req.as_bytes()).unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        };
        let ok = get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.contains("Content-Type: text/plain; version=0.0.4"),
            "{ok}"
        );
        assert!(ok.contains("rogue_hunter_samples_total 0"), "{ok}");
        let missing = get("GET /nope HTTP/1.1\r\n\r\n");
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        let head = get("HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(head.ends_with("\r\n\r\n"), "{head}");
        // A taken port is an error naming the address.
        let err = MetricsServer::start(addr, Arc::new(Feed::new(1, BandsConfig::default())))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(&addr.to_string()), "{err}");
        server.shutdown();
        assert!(std::net::TcpStream::connect(addr).is_err());
    }
}
