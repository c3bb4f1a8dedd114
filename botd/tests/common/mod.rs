//! Shared set-up of botd's bus tests: a private bus, the Bot API stand-in, a fake Alarm1 and
//! secura-botd itself as a child process.
#![allow(dead_code)]

pub mod fake_alarm;

use secura_testbed::telegram::StandIn;
use secura_testbed::{Daemon, TestBus};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

pub const TOKEN: &str = "123456:TESTtokenTESTtokenTESTtoken_-xyz";
/// The allowlisted owner.
pub const OWNER: i64 = 111;
/// Somebody else.
pub const STRANGER: i64 = 666;

pub struct Setup {
    pub bus: TestBus,
    pub tg: StandIn,
    pub botd: Daemon,
    pub state: PathBuf,
    pub creds: PathBuf,
    pub config: PathBuf,
}

/// A JPEG of `w`×`h` filled with a pattern seeded by `seed`.
pub fn jpeg(w: u16, h: u16, seed: u8) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(usize::from(w) * usize::from(h) * 3);
    for y in 0..h {
        for x in 0..w {
            rgb.extend_from_slice(&[seed.wrapping_mul(31), (x % 256) as u8, (y % 256) as u8]);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

/// Decode a JPEG; its width and height.
pub fn decode(bytes: &[u8]) -> (u16, u16) {
    let mut d = jpeg_decoder::Decoder::new(bytes);
    d.decode().unwrap();
    let info = d.info().unwrap();
    (info.width, info.height)
}

pub fn config_text(api_url: &str, extra: &str) -> String {
    let users = if extra.contains("allowed_users") {
        String::new()
    } else {
        format!("allowed_users = [{OWNER}]\n")
    };
    format!(
        "[telegram]\n{users}api_url = \"{api_url}\"\ntoken_file = \"/nonexistent/token\"\n{extra}"
    )
}

impl Setup {
    /// Start everything with the default configuration.
    pub async fn start() -> Setup {
        Setup::start_with("").await
    }

    /// Start everything with `extra` lines in `[telegram]`.
    pub async fn start_with(extra: &str) -> Setup {
        let bus = TestBus::start().unwrap();
        let tg = StandIn::start(TOKEN).await.unwrap();
        let state = bus.dir().join("state");
        let creds = bus.dir().join("creds");
        std::fs::create_dir_all(&creds).unwrap();
        let tok = creds.join("telegram-token");
        std::fs::write(&tok, TOKEN).unwrap();
        std::fs::set_permissions(&tok, std::fs::Permissions::from_mode(0o400)).unwrap();
        let config = bus.dir().join("config.toml");
        std::fs::write(&config, config_text(&tg.url(), extra)).unwrap();
        let botd = spawn(&bus, &config, &state, &creds);
        bus.wait_for_name(secura_bus::names::BOT_NAME, Duration::from_secs(20))
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", botd.log()));
        let s = Setup {
            bus,
            tg,
            botd,
            state,
            creds,
            config,
        };
        s.wait_polling().await;
        s
    }

    /// Wait until botd has registered its commands and polls.
    pub async fn wait_polling(&self) {
        let ok = secura_testbed::eventually(Duration::from_secs(20), || async {
            self.tg.attempts("getUpdates") > 0
        })
        .await;
        assert!(ok, "botd never polled:\n{}", self.botd.log());
    }

    /// Wait until botd has fetched and handled update `id`.
    pub async fn handled(&self, id: u64) {
        let ok =
            secura_testbed::eventually(Duration::from_secs(20), || async { self.tg.confirmed(id) })
                .await;
        assert!(ok, "update {id} was never confirmed:\n{}", self.botd.log());
    }

    /// Wait for at least `n` sends to `chat`; all sends to it.
    pub async fn wait_sent(&self, chat: i64, n: usize) -> Vec<secura_testbed::telegram::Call> {
        let ok = secura_testbed::eventually(Duration::from_secs(30), || async {
            self.tg.sent_to(chat).len() >= n
        })
        .await;
        assert!(
            ok,
            "expected {n} messages to {chat}, got {:?}\n{}",
            texts(&self.tg.sent_to(chat)),
            self.botd.log()
        );
        self.tg.sent_to(chat)
    }

    /// Send `text` as `user` and return the text of the reply (after `before` earlier sends).
    pub async fn ask(&self, user: i64, text: &str) -> String {
        let before = self.tg.sent_to(user).len();
        self.tg.send_text(user, text);
        let sent = self.wait_sent(user, before + 1).await;
        sent[before].text.clone().unwrap_or_default()
    }

    /// Send `text` as `user` and check botd answers nothing itself (the fake alarm sends no
    /// notices; alarmd's notice is the answer to a command that changes something): a later
    /// `/help`'s reply is the only message that follows.
    pub async fn silent(&self, user: i64, text: &str) {
        let before = self.tg.sent_to(user).len();
        self.tg.send_text(user, text);
        let help = self.ask_for(user, "/help", |t| t.contains("/photo")).await;
        let after: Vec<String> = self.tg.sent_to(user)[before..]
            .iter()
            .map(|c| c.text.clone().unwrap_or_default())
            .collect();
        assert_eq!(after, [help], "botd answered {text:?} itself");
    }

    /// Send `text` as `user` and wait for a reply (among any other messages) that `want`
    /// accepts; its text.
    pub async fn ask_for(&self, user: i64, text: &str, want: impl Fn(&str) -> bool) -> String {
        let before = self.tg.sent_to(user).len();
        self.tg.send_text(user, text);
        let found = || {
            self.tg.sent_to(user)[before..]
                .iter()
                .filter_map(|c| c.text.clone())
                .find(|t| want(t))
        };
        let ok =
            secura_testbed::eventually(Duration::from_secs(30), || async { found().is_some() })
                .await;
        assert!(
            ok,
            "no fitting answer to {text:?}: {:?}\n{}",
            texts(&self.tg.sent_to(user)[before..]),
            self.botd.log()
        );
        found().unwrap()
    }

    pub async fn bot1(&self) -> (zbus::Connection, secura_bus::proxies::Bot1Proxy<'static>) {
        let conn = self.bus.connect().await.unwrap();
        let proxy = secura_bus::proxies::Bot1Proxy::builder(&conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .unwrap();
        (conn, proxy)
    }
}

pub fn spawn(
    bus: &TestBus,
    config: &std::path::Path,
    state: &std::path::Path,
    creds: &std::path::Path,
) -> Daemon {
    spawn_with(bus, config, state, creds, &[])
}

pub fn spawn_with(
    bus: &TestBus,
    config: &std::path::Path,
    state: &std::path::Path,
    creds: &std::path::Path,
    extra: &[&str],
) -> Daemon {
    let mut args = vec!["-d", "--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    Daemon::spawn_with_env(
        bus,
        "secura-botd",
        &args,
        state,
        &[("CREDENTIALS_DIRECTORY", creds.to_str().unwrap())],
    )
    .unwrap()
}

pub fn texts(calls: &[secura_testbed::telegram::Call]) -> Vec<String> {
    calls
        .iter()
        .map(|c| format!("{}: {}", c.method, c.text.clone().unwrap_or_default()))
        .collect()
}
