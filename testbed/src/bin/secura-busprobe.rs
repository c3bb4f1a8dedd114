//! Test helper for the policy tests, run as another user: tries to own a bus name or to send
//! a signal an impostor would send. Exit 0: the bus allowed it; 3: the bus denied it; 1: error.

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
        other => Err(zbus::Error::Failure(format!("unknown action {other}"))),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(what) = args.first() else {
        eprintln!("usage: secura-busprobe own NAME | motion | sighting MAC");
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
