use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "42:TESTTESTTESTTESTTESTTEST";

/// One request over a fresh connection; (status, JSON body).
async fn post(s: &StandIn, path: &str, body: &Value) -> std::io::Result<(u16, Value)> {
    let mut c = tokio::net::TcpStream::connect(s.addr).await?;
    let body = body.to_string();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    c.write_all(req.as_bytes()).await?;
    let mut out = String::new();
    c.read_to_string(&mut out).await?;
    let status = out.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let json = out
        .split("\r\n\r\n")
        .nth(1)
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    Ok((status, json))
}

fn m(method: &str) -> String {
    format!("/bot{TOKEN}/{method}")
}

#[tokio::test]
async fn a_wrong_token_gets_401_like_telegram() {
    let s = StandIn::start(TOKEN).await.unwrap();
    let (code, body) = post(&s, "/bot1:other/getMe", &json!({})).await.unwrap();
    assert_eq!(code, 401);
    assert_eq!(body["description"], "Unauthorized");
    let (code, body) = post(&s, &m("GetMe"), &json!({})).await.unwrap();
    assert_eq!(code, 200);
    assert_eq!(body["result"]["username"], BOT_USERNAME);
}

#[tokio::test]
async fn get_updates_confirms_by_offset_and_waits_for_new_ones() {
    let s = StandIn::start(TOKEN).await.unwrap();
    let first = s.send_text(5, "/status");
    let second = s.press_button(5, "disarm");
    let (_, body) = post(&s, &m("getUpdates"), &json!({})).await.unwrap();
    let ids: Vec<u64> = body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["update_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [first, second]);
    assert_eq!(
        body["result"][0]["message"]["entities"][0]["type"],
        "bot_command"
    );
    let (_, body) = post(
        &s,
        &m("getUpdates"),
        &json!({ "offset": second + 1, "timeout": 0 }),
    )
    .await
    .unwrap();
    assert_eq!(body["result"], json!([]));
    assert!(s.confirmed(second));
    // A long poll returns as soon as an update is queued.
    let started = std::time::Instant::now();
    let path = m("getUpdates");
    let req = json!({ "offset": second + 1, "timeout": 20 });
    let poll = post(&s, &path, &req);
    let push = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        s.send_text(5, "/who")
    };
    let ((_, body), third) = tokio::join!(async { poll.await.unwrap() }, push);
    assert_eq!(body["result"][0]["update_id"].as_u64(), Some(third));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn faults_answer_500_and_429_with_retry_after_and_record_nothing() {
    let s = StandIn::start(TOKEN).await.unwrap();
    s.set_mode(Mode::Error500);
    let (code, _) = post(&s, &m("sendMessage"), &json!({ "chat_id": 5, "text": "x" }))
        .await
        .unwrap();
    assert_eq!(code, 500);
    s.set_mode(Mode::TooMany(7));
    let (code, body) = post(&s, &m("sendMessage"), &json!({ "chat_id": 5, "text": "x" }))
        .await
        .unwrap();
    assert_eq!(code, 429);
    assert_eq!(body["parameters"]["retry_after"], 7);
    assert!(s.calls().is_empty());
    assert_eq!(s.attempts("sendMessage"), 2);
    s.set_mode(Mode::Up);
    let (code, body) = post(&s, &m("sendMessage"), &json!({ "chat_id": 5, "text": "" }))
        .await
        .unwrap();
    assert_eq!(
        (code, body["description"].as_str()),
        (400, Some("Bad Request: message text is empty"))
    );
    let (code, body) = post(
        &s,
        &m("sendMessage"),
        &json!({ "chat_id": 5, "text": "hi" }),
    )
    .await
    .unwrap();
    assert_eq!(code, 200);
    assert_eq!(body["result"]["text"], "hi");
    assert_eq!(s.sent_to(5).len(), 1);
}

#[tokio::test]
async fn down_refuses_connections_until_it_comes_up_again() {
    let s = StandIn::start(TOKEN).await.unwrap();
    s.go_down();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(post(&s, &m("getMe"), &json!({})).await.is_err());
    s.come_up().await.unwrap();
    assert_eq!(post(&s, &m("getMe"), &json!({})).await.unwrap().0, 200);
}

#[tokio::test]
async fn slow_mode_delays_answers_and_hold_waits_for_a_mode_change() {
    let s = StandIn::start(TOKEN).await.unwrap();
    s.set_mode(Mode::Slow(Duration::from_millis(300)));
    let started = std::time::Instant::now();
    assert_eq!(post(&s, &m("getMe"), &json!({})).await.unwrap().0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    s.set_mode(Mode::Hold);
    let path = m("sendMessage");
    let req = json!({ "chat_id": 5, "text": "held" });
    let held = post(&s, &path, &req);
    let release = async {
        for _ in 0..50 {
            if s.held() == ["sendMessage"] {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(s.held(), ["sendMessage"]);
        assert!(s.calls().is_empty());
        s.set_mode(Mode::Up);
    };
    let ((code, _), ()) = tokio::join!(async { held.await.unwrap() }, release);
    assert_eq!(code, 200);
    assert_eq!(s.sent_to(5).len(), 1);
}
