//! Test helper for the policy tests, run as another user: tries to own a bus name or to send
//! a signal an impostor would send. Exit 0: the bus allowed it; 3: the bus denied it; 1: error.
//! `listen` adds match rules for every signal on alarmd's and the sniffer's objects, prints
//! `ready` once they are in place, then one line per signal received (`PATH INTERFACE.MEMBER`)
//! until its standard input closes.

use secura_bus::names;
use secura_bus::types::now_micros;
use std::process::ExitCode;

async fn run(what: &str, arg: Option<&str>) -> zbus::Result<bool> {
    let conn = zbus::connection::Builder::system().build().await?;
    match what {
        "own" => {
            let name = arg.unwrap_or(names::ALARM_NAME);
            match conn.request_name(name).await {
                Ok(()) => Ok(true),
                Err(e) if e.to_string().contains("AccessDenied") => Ok(false),
                Err(e) => Err(e),
            }
        }
        "motion" | "sighting" => {
            let sent = if what == "motion" {
                conn.emit_signal(
                    None::<&str>,
                    names::SENSOR_PATH,
                    names::SENSOR_IFACE,
                    "Motion",
                    &(now_micros(),),
                )
                .await
            } else {
                conn.emit_signal(
                    None::<&str>,
                    names::PRESENCE_PATH,
                    names::PRESENCE_IFACE,
                    "Sighting",
                    &(arg.unwrap_or_default(), "lan:impostor", now_micros()),
                )
                .await
            };
            // The bus drops a denied signal silently for the sender; report that it was sent.
            sent.map(|()| true)
        }
        "listen" => listen(&conn).await.map(|()| true),
        other => Err(zbus::Error::Failure(format!("unknown action {other}"))),
    }
}

async fn listen(conn: &zbus::Connection) -> zbus::Result<()> {
    use futures_util::StreamExt;
    use std::io::Write;
    let mut streams = Vec::new();
    for path in [names::ALARM_PATH, names::PRESENCE_PATH] {
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .path(path)
            .build()?;
        streams.push(zbus::MessageStream::for_match_rule(rule, conn, None).await?);
    }
    let mut signals = futures_util::stream::select_all(streams);
    println!("ready");
    let _ = std::io::stdout().flush();
    // Until the test closes our standard input.
    let mut stdin_closed = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    });
    loop {
        tokio::select! {
            _ = &mut stdin_closed => return Ok(()),
            msg = signals.next() => {
                let Some(msg) = msg else { return Ok(()) };
                let msg = msg?;
                let h = msg.header();
                println!(
                    "{} {}.{}",
                    h.path().map(|p| p.to_string()).unwrap_or_default(),
                    h.interface().map(|i| i.to_string()).unwrap_or_default(),
                    h.member().map(|m| m.to_string()).unwrap_or_default()
                );
                let _ = std::io::stdout().flush();
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(what) = args.first() else {
        eprintln!("usage: secura-busprobe own NAME | motion | sighting MAC | listen");
        return ExitCode::from(2);
    };
    match run(what, args.get(1).map(String::as_str)).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(3),
        Err(e) => {
            eprintln!("secura-busprobe: {e}");
            ExitCode::FAILURE
        }
    }
}
