//! The stand-in's connections and request flow: faults first, then `getUpdates` (which may
//! wait for scripted updates) or the other methods.

use super::{Inner, Mode, methods, reply, shapes};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::watch;

/// Accept connections until the generation changes, then drop the listener and cut every
/// connection accepted here. `generation` was subscribed when the task was spawned, so a
/// change made before the task first runs still stops it.
pub(super) async fn accept(
    listener: tokio::net::TcpListener,
    app: Router,
    mut generation: watch::Receiver<u64>,
) {
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(_) => continue,
            },
            _ = generation.changed() => return,
        };
        let svc = TowerToHyperService::new(app.clone());
        let mut gen_conn = generation.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = gen_conn.changed() => {}
            }
        });
    }
}

pub(super) async fn handle(inner: &Inner, bot: &str, method: &str, req: Request<Body>) -> Response {
    if bot.strip_prefix("bot") != Some(inner.token.as_str()) {
        return reply(
            StatusCode::UNAUTHORIZED,
            shapes::error(401, "Unauthorized", None),
        );
    }
    // Telegram matches method names without regard to case (teloxide sends `GetMe`).
    let method = methods::canonical(method);
    inner.lock().attempts.push(method.to_string());
    let mut changes = inner.changed.subscribe();
    loop {
        let mode = inner.lock().mode.clone().unwrap_or(Mode::Up);
        match mode {
            Mode::Up => break,
            Mode::Slow(d) => {
                tokio::time::sleep(d).await;
                break;
            }
            Mode::Error500 => {
                return reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    shapes::error(500, "Internal Server Error", None),
                );
            }
            Mode::TooMany(s) => {
                let text = format!("Too Many Requests: retry after {s}");
                return reply(
                    StatusCode::TOO_MANY_REQUESTS,
                    shapes::error(429, &text, Some(s)),
                );
            }
            Mode::Hold => {
                inner.lock().held.push(method.to_string());
                let _ = tokio::time::timeout(Duration::from_millis(200), changes.changed()).await;
                let mut st = inner.lock();
                if let Some(i) = st.held.iter().position(|m| m == method) {
                    st.held.remove(i);
                }
            }
        }
    }
    let params = match methods::read(req).await {
        Ok(p) => p,
        Err(e) => {
            return reply(
                StatusCode::BAD_REQUEST,
                shapes::error(400, &format!("Bad Request: {e}"), None),
            );
        }
    };
    if method == "getUpdates" {
        return get_updates(inner, params, changes).await;
    }
    let (status, body) = methods::answer(&mut inner.lock(), method, params);
    // A recorded call may be what a waiting test is looking for.
    inner.poke();
    reply(status, body)
}

fn update_id(v: &Value) -> i64 {
    v.get("update_id").and_then(Value::as_i64).unwrap_or(0)
}

async fn get_updates(
    inner: &Inner,
    p: methods::Params,
    mut changes: watch::Receiver<u64>,
) -> Response {
    let offset = p.int("offset").filter(|o| *o > 0);
    let timeout = Duration::from_secs(p.int("timeout").unwrap_or(0).clamp(0, 50).unsigned_abs());
    let limit = usize::try_from(p.int("limit").unwrap_or(100).clamp(1, 100)).unwrap_or(100);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        {
            let mut st = inner.lock();
            if let Some(o) = offset {
                st.updates.retain(|u| update_id(u) >= o);
                st.confirmed = st.confirmed.max(o);
            }
            let batch: Vec<Value> = st.updates.iter().take(limit).cloned().collect();
            if !batch.is_empty() || tokio::time::Instant::now() >= deadline {
                return reply(StatusCode::OK, shapes::ok(Value::Array(batch)));
            }
            if matches!(
                st.mode,
                Some(Mode::Error500 | Mode::TooMany(_) | Mode::Hold)
            ) {
                return reply(StatusCode::OK, shapes::ok(Value::Array(Vec::new())));
            }
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let _ = tokio::time::timeout(left.min(Duration::from_millis(250)), changes.changed()).await;
    }
}
