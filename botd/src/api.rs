//! The Bot API client: teloxide's `Bot` pointed at `api_url`, kept behind a type whose
//! `Debug` cannot show the token, and the rule that sorts request failures into "try again"
//! and "this will never work".

use crate::error::BotError;
use crate::relay::{Limits, Relay};
use crate::token::Token;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use teloxide::{ApiError, Bot, RequestError};

/// The longest `retry_after` honoured as given.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// Long-poll timeout of `getUpdates`, seconds.
pub const POLL_SECS: u32 = 25;

/// What botd accepts of a Bot API answer: 4 MiB (a `getUpdates` answer of 100 updates is far
/// smaller) within the long poll plus 15 s.
pub const LIMITS: Limits = Limits {
    body: 4 << 20,
    time: Duration::from_secs(POLL_SECS as u64 + 15),
};

/// The Bot API, ready to call.
#[derive(Clone)]
pub struct Api {
    bot: Bot,
    _relay: Arc<Relay>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Api { token: <redacted>, .. }")
    }
}

impl Api {
    /// A client for `api_url` (e.g. `https://api.telegram.org`, or a local stand-in), its
    /// answers capped by [`LIMITS`] through a relay whose socket lives in `dir`. Must be
    /// called within the tokio runtime.
    pub fn new(token: &Token, api_url: &str, dir: &Path) -> Result<Api, BotError> {
        Api::with_limits(token, api_url, dir, LIMITS)
    }

    /// [`Api::new`] with other limits.
    pub fn with_limits(
        token: &Token,
        api_url: &str,
        dir: &Path,
        limits: Limits,
    ) -> Result<Api, BotError> {
        let url = url::Url::parse(api_url)
            .map_err(|e| BotError::Client(format!("api_url {api_url:?}: {e}")))?;
        let relay = Relay::start(url, dir, limits)?;
        // teloxide speaks plain HTTP to the relay; the host name is never resolved.
        let via = url::Url::parse("http://bot-api.relay/")
            .map_err(|e| BotError::Client(e.to_string()))?;
        let client = teloxide::net::default_reqwest_settings()
            .unix_socket(relay.socket())
            // The relay answers within `limits.time`; teloxide then waits 10 s after a
            // server error before reading its body.
            .timeout(limits.time + Duration::from_secs(15))
            .build()
            .map_err(|e| BotError::Client(e.to_string()))?;
        let bot = Bot::with_client(token.expose(), client).set_api_url(via);
        Ok(Api {
            bot,
            _relay: Arc::new(relay),
        })
    }

    /// The teloxide bot (whose own `Debug` shows the token: never log it).
    pub fn bot(&self) -> &Bot {
        &self.bot
    }

    /// `text` with the token cut out, for anything that goes to a log.
    pub fn scrub(&self, text: &str) -> String {
        let token = self.bot.token();
        if token.is_empty() {
            text.to_string()
        } else {
            text.replace(token, "<token>")
        }
    }
}

/// What to do after a failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Try again later: after `after` if the server said so (429 `retry_after`), else after
    /// the caller's backoff. `reachable` is whether the API is usable (it answered, and not
    /// with a server error).
    Retry {
        /// The server's `retry_after`.
        after: Option<Duration>,
        /// Whether the Bot API answered (an error answer still means it is up).
        reachable: bool,
        /// What went wrong, for the log.
        why: String,
    },
    /// The request can never succeed (a 400 or 403 answer: blocked by the user, chat not
    /// found, bad photo…).
    Permanent(String),
}

/// Sort a teloxide error.
pub fn classify(e: &RequestError) -> Failure {
    match e {
        RequestError::RetryAfter(s) => Failure::Retry {
            // Telegram asks for seconds; a wild value must not stall the outbox for days.
            after: Some(s.duration().min(MAX_RETRY_AFTER)),
            reachable: true,
            why: "429 Too Many Requests".into(),
        },
        RequestError::Api(api) => {
            let text = match api {
                ApiError::Unknown(s) => s.clone(),
                other => other.to_string(),
            };
            if text.starts_with("Bad Request") || text.starts_with("Forbidden") {
                Failure::Permanent(text)
            } else {
                // A server error or a refused token: the API is not usable now.
                Failure::Retry {
                    after: None,
                    reachable: false,
                    why: text,
                }
            }
        }
        RequestError::MigrateToChatId(_) => Failure::Permanent(
            "the chat became a supergroup (only private chats are served)".into(),
        ),
        RequestError::Network(_) | RequestError::Io(_) => Failure::Retry {
            after: None,
            reachable: false,
            why: e.to_string(),
        },
        RequestError::InvalidJson { .. } => Failure::Retry {
            after: None,
            reachable: false,
            why: "the Bot API answered something that is not its JSON".into(),
        },
    }
}

/// Retry delays for the Bot API: 1 s doubling to 60 s, jittered (the kit's backoff).
pub fn backoff() -> secura_kit::Backoff {
    secura_kit::Backoff::new(Duration::from_secs(1), Duration::from_secs(60))
}

pub use secura_kit::backoff::jitter;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_sorted_into_retry_and_permanent() {
        let retry = classify(&RequestError::RetryAfter(
            teloxide::types::Seconds::from_seconds(3),
        ));
        assert!(
            matches!(retry, Failure::Retry { after: Some(d), .. } if d == Duration::from_secs(3))
        );
        let wild = classify(&RequestError::RetryAfter(
            teloxide::types::Seconds::from_seconds(u32::MAX),
        ));
        assert!(matches!(wild, Failure::Retry { after: Some(d), .. } if d == MAX_RETRY_AFTER));
        let blocked = classify(&RequestError::Api(ApiError::BotBlocked));
        assert!(matches!(blocked, Failure::Permanent(_)));
        let five_hundred = classify(&RequestError::Api(ApiError::Unknown(
            "Internal Server Error".into(),
        )));
        assert!(matches!(
            five_hundred,
            Failure::Retry {
                reachable: false,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn the_api_debug_hides_the_token() {
        let token = Token::parse("123:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let api = Api::new(&token, "http://127.0.0.1:1", dir.path()).unwrap();
        assert!(!format!("{api:?}").contains("AAAA"));
        assert_eq!(
            api.scrub("x/bot123:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/y"),
            "x/bot<token>/y"
        );
    }
}
