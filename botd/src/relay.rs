//! The Bot API's answers, capped in size and time before anything keeps them in memory.
//!
//! teloxide reads every answer whole (`Response::text`), so a hostile or broken endpoint could
//! make botd hold hundreds of MiB (a Pi Zero 2 W has 512 MiB). teloxide therefore talks plain
//! HTTP over a Unix socket in botd's private state directory to this relay, which makes the
//! real request to `api_url` and reads the answer chunk by chunk: an answer larger than
//! [`Limits::body`] or slower than [`Limits::time`] is abandoned and replaced by a Bot API
//! error answer (`ok: false`), which teloxide reports as a failed request to be retried.

use crate::error::BotError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode, body::Incoming};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How much of an answer botd accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest answer body, bytes. A `getUpdates` answer of 100 updates is well below it.
    pub body: usize,
    /// The longest a request may take from sending to the last byte of its answer.
    pub time: Duration,
}

/// The file name of the relay's socket in the state directory.
pub const SOCKET: &str = "bot-api.sock";

/// The relay, serving until dropped.
#[derive(Debug)]
pub struct Relay {
    socket: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.socket);
    }
}

#[derive(Debug, Clone)]
struct Upstream {
    base: url::Url,
    client: reqwest::Client,
    limits: Limits,
}

impl Relay {
    /// Listen on `dir/bot-api.sock` and forward to `base` (the configured `api_url`). Must be
    /// called within the tokio runtime.
    pub fn start(base: url::Url, dir: &Path, limits: Limits) -> Result<Relay, BotError> {
        let socket = dir.join(SOCKET);
        match std::fs::remove_file(&socket) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(BotError::io("removing the old relay socket", &socket)(e)),
        }
        let listener = tokio::net::UnixListener::bind(&socket)
            .map_err(BotError::io("listening on the relay socket", &socket))?;
        let client = teloxide::net::default_reqwest_settings()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| BotError::Client(e.to_string()))?;
        let upstream = Upstream {
            base,
            client,
            limits,
        };
        let task = tokio::spawn(accept(listener, upstream));
        Ok(Relay { socket, task })
    }

    /// The socket teloxide's client connects to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

async fn accept(listener: tokio::net::UnixListener, upstream: Upstream) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "relay socket accept failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let upstream = upstream.clone();
                async move { Ok::<_, std::convert::Infallible>(forward(&upstream, req).await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
            {
                tracing::debug!(error = %e, "relay connection ended");
            }
        });
    }
}

/// A Bot API error answer, which teloxide turns into `ApiError::Unknown(description)`. The
/// HTTP status is 200 and the code only in the body: teloxide waits 10 s before reading any
/// 5xx answer, which would add to the callers' own backoff each time Telegram is unreachable.
fn refusal(status: StatusCode, description: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "ok": false,
        "error_code": status.as_u16(),
        "description": description,
    })
    .to_string();
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

async fn forward(up: &Upstream, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", hyper::http::uri::PathAndQuery::as_str);
    let Ok(url) = up.base.join(path) else {
        return refusal(StatusCode::BAD_REQUEST, "relay: bad request path");
    };
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                &format!("relay: reading the request: {e}"),
            );
        }
    };
    let mut request = up.client.request(parts.method, url).body(body);
    if let Some(ct) = parts.headers.get(hyper::header::CONTENT_TYPE) {
        request = request.header(hyper::header::CONTENT_TYPE, ct);
    }
    match tokio::time::timeout(up.limits.time, fetch(request, up.limits.body)).await {
        Ok(Ok((status, content_type, bytes))) => {
            let mut resp = Response::new(Full::new(bytes));
            *resp.status_mut() = status;
            if let Some(ct) = content_type {
                resp.headers_mut().insert(hyper::header::CONTENT_TYPE, ct);
            }
            resp
        }
        Ok(Err(Cut::TooLarge)) => {
            let why = format!(
                "the Bot API answer was larger than {} bytes and was not read",
                up.limits.body
            );
            tracing::warn!("{why}");
            refusal(StatusCode::BAD_GATEWAY, &why)
        }
        Ok(Err(Cut::Failed(e))) => {
            // Without the URL: it holds the token.
            let why = format!("Bot API request failed: {}", e.without_url());
            refusal(StatusCode::BAD_GATEWAY, &why)
        }
        Err(_) => {
            let why = format!(
                "the Bot API did not answer within {}",
                humantime::format_duration(up.limits.time)
            );
            tracing::warn!("{why}");
            refusal(StatusCode::GATEWAY_TIMEOUT, &why)
        }
    }
}

enum Cut {
    TooLarge,
    Failed(reqwest::Error),
}

type Answer = (StatusCode, Option<hyper::header::HeaderValue>, Bytes);

async fn fetch(request: reqwest::RequestBuilder, limit: usize) -> Result<Answer, Cut> {
    let mut resp = request.send().await.map_err(Cut::Failed)?;
    if resp
        .content_length()
        .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
    {
        return Err(Cut::TooLarge);
    }
    let status = resp.status();
    let content_type = resp.headers().get(hyper::header::CONTENT_TYPE).cloned();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(Cut::Failed)? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(Cut::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, content_type, Bytes::from(body)))
}

#[cfg(test)]
mod tests {
    use crate::api::{Api, Failure, classify};
    use crate::relay::Limits;
    use crate::token::Token;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;
    use teloxide::prelude::Requester;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// How a hostile endpoint answers every request.
    #[derive(Clone, Copy)]
    enum Hostile {
        /// Announces 200 MiB and sends them.
        Huge,
        /// A chunked answer that never ends, as fast as the client reads.
        Endless,
        /// A chunked answer that never ends, one byte at a time.
        Trickle,
    }

    /// A loopback HTTP server answering `how`; counts the body bytes it got out.
    async fn serve(how: Hostile) -> (String, Arc<AtomicU64>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let sent = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&sent);
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let head = match how {
                        Hostile::Huge => format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                             content-length: {}\r\n\r\n",
                            200u64 << 20
                        ),
                        Hostile::Endless | Hostile::Trickle => "HTTP/1.1 200 OK\r\n\
                             content-type: application/json\r\n\
                             transfer-encoding: chunked\r\n\r\n"
                            .to_string(),
                    };
                    if s.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let block = vec![b' '; 64 << 10];
                    loop {
                        let wrote = match how {
                            Hostile::Huge => s.write_all(&block).await.map(|()| block.len()),
                            Hostile::Endless => {
                                let mut chunk = format!("{:x}\r\n", block.len()).into_bytes();
                                chunk.extend_from_slice(&block);
                                chunk.extend_from_slice(b"\r\n");
                                s.write_all(&chunk).await.map(|()| block.len())
                            }
                            Hostile::Trickle => {
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                s.write_all(b"1\r\n \r\n").await.map(|()| 1)
                            }
                        };
                        match wrote {
                            Ok(n) => counter.fetch_add(n as u64, Ordering::Relaxed),
                            Err(_) => return,
                        };
                    }
                });
            }
        });
        (url, sent)
    }

    const LIMITS: Limits = Limits {
        body: 1 << 20,
        time: Duration::from_secs(3),
    };

    async fn get_updates_from(how: Hostile) -> (String, u64) {
        let (url, sent) = serve(how).await;
        let dir = tempfile::tempdir().unwrap();
        let token = Token::parse("123:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let api = Api::with_limits(&token, &url, dir.path(), LIMITS).unwrap();
        let err = tokio::time::timeout(Duration::from_secs(60), api.bot().get_updates())
            .await
            .expect("the relay's time limit did not end the request")
            .expect_err("a hostile answer was accepted");
        let why = match classify(&err) {
            Failure::Retry {
                reachable: false,
                why,
                ..
            } => why,
            other => panic!("{other:?}"),
        };
        // Whatever the server could still push into the socket buffers after the cut.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sent = sent.load(Ordering::Relaxed);
        println!("the server got {sent} body bytes out before the cut");
        (why, sent)
    }

    #[tokio::test]
    async fn an_answer_announcing_200_mib_is_refused_unread() {
        let (why, sent) = get_updates_from(Hostile::Huge).await;
        assert!(why.contains("larger than 1048576 bytes"), "{why}");
        assert!(sent < 64 << 20, "{sent} bytes were taken from the server");
    }

    #[tokio::test]
    async fn a_never_ending_answer_is_cut_at_the_size_limit() {
        let (why, sent) = get_updates_from(Hostile::Endless).await;
        assert!(why.contains("larger than 1048576 bytes"), "{why}");
        assert!(sent < 64 << 20, "{sent} bytes were taken from the server");
    }

    #[tokio::test]
    async fn a_trickling_answer_is_cut_at_the_time_limit() {
        let (why, _) = get_updates_from(Hostile::Trickle).await;
        assert!(why.contains("did not answer within 3s"), "{why}");
    }
}
