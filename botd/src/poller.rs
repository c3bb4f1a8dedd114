//! Long polling of `getUpdates`: the bot's identity and command menu first, then updates in
//! order, each confirmed by the next poll's offset. A batch that does not parse as a whole is
//! taken apart update by update, so one malformed update can neither stop the bot nor be
//! fetched again forever.

use crate::api::{Api, Failure, POLL_SECS, backoff, classify};
use crate::commands::MENU;
use crate::handler::Handler;
use crate::state::Shared;
use secura_bus::proxies::Alarm1Proxy;
use secura_kit::Backoff;
use std::sync::Arc;
use teloxide::RequestError;
use teloxide::prelude::Requester;
use teloxide::requests::{JsonRequest, Payload};
use teloxide::types::{AllowedUpdate, BotCommand, Update};

/// `getUpdates` with a 64-bit offset: teloxide's payload has an `i32` one, so an update id
/// above `i32::MAX` could never be confirmed and the same update came back on every poll.
#[derive(Debug, Clone, serde::Serialize)]
struct GetUpdates {
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<i64>,
    timeout: u32,
    allowed_updates: [AllowedUpdate; 2],
}

impl Payload for GetUpdates {
    type Output = Vec<Update>;
    const NAME: &'static str = "GetUpdates";

    fn timeout_hint(&self) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_secs(u64::from(self.timeout)))
    }
}

/// Run until the task is dropped.
pub async fn run(api: Api, shared: Arc<Shared>, alarm: Alarm1Proxy<'static>) {
    let mut backoff = backoff();
    let me = loop {
        match api.bot().get_me().await {
            Ok(me) => break me,
            Err(e) => {
                let wait = failed(&api, &shared, &e, &mut backoff, "getMe");
                tokio::time::sleep(wait).await;
            }
        }
    };
    shared.update_status(|s| s.connected = true);
    backoff.reset();
    tracing::info!(
        bot = me.user.username.as_deref().unwrap_or(""),
        "connected to the Bot API"
    );
    let menu = MENU.iter().map(|(c, d)| BotCommand::new(*c, *d));
    if let Err(e) = api.bot().set_my_commands(menu).await {
        tracing::warn!(error = %api.scrub(&e.to_string()), "cannot register the command menu");
    }
    let handler = Handler::new(
        api.clone(),
        Arc::clone(&shared),
        alarm,
        me.user.username.clone(),
    );
    let mut offset: Option<i64> = None;
    loop {
        let req = JsonRequest::new(
            api.bot().clone(),
            GetUpdates {
                offset,
                timeout: POLL_SECS,
                allowed_updates: [AllowedUpdate::Message, AllowedUpdate::CallbackQuery],
            },
        );
        let updates = match req.await {
            Ok(u) => u.into_iter().map(Item::from).collect(),
            Err(RequestError::InvalidJson { raw, .. }) => match salvage(&raw) {
                Some(u) => u,
                None => {
                    tracing::warn!("getUpdates answered something that is not a list of updates");
                    tokio::time::sleep(backoff.next_delay()).await;
                    continue;
                }
            },
            Err(e) => {
                let wait = failed(&api, &shared, &e, &mut backoff, "getUpdates");
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        shared.update_status(|s| s.connected = true);
        backoff.reset();
        for item in updates {
            if let Some(next) = next_offset(item.id) {
                offset = Some(offset.map_or(next, |o| o.max(next)));
            }
            if let Salvaged::Update(u) = item.update {
                handler.handle(*u).await;
            }
        }
    }
}

fn failed(
    api: &Api,
    shared: &Shared,
    e: &RequestError,
    backoff: &mut Backoff,
    what: &str,
) -> std::time::Duration {
    let (reachable, after, why) = match classify(e) {
        Failure::Retry {
            after,
            reachable,
            why,
        } => (reachable, after, why),
        Failure::Permanent(why) => (true, None, why),
    };
    shared.update_status(|s| s.connected = reachable);
    let wait = after.unwrap_or_else(|| backoff.next_delay());
    tracing::warn!(request = what, reason = %api.scrub(&why), retry_in = ?wait, "Bot API request failed");
    wait
}

/// One element of a batch: its id, and the update if it could be read.
#[derive(Debug)]
pub struct Item {
    /// `update_id`.
    pub id: u64,
    /// The update, if it could be read.
    pub update: Salvaged,
}

/// An element of a batch, read or not.
#[derive(Debug)]
pub enum Salvaged {
    /// A readable update.
    Update(Box<Update>),
    /// An element with an `update_id` and nothing usable.
    Unreadable,
}

impl From<Update> for Item {
    fn from(u: Update) -> Item {
        Item {
            id: u64::from(u.id.0),
            update: Salvaged::Update(Box::new(u)),
        }
    }
}

/// The offset that confirms update `id`.
fn next_offset(id: u64) -> Option<i64> {
    i64::try_from(id).ok()?.checked_add(1)
}

/// Take a `getUpdates` answer apart when it does not parse as a whole: every element with an
/// `update_id` is kept (readable or not) so the offset moves past it.
pub fn salvage(raw: &str) -> Option<Vec<Item>> {
    let v: serde_json::Value = serde_json::from_str(raw).ok()?;
    let list = v.get("result")?.as_array()?;
    let mut out = Vec::new();
    for element in list {
        let Some(id) = element.get("update_id").and_then(serde_json::Value::as_u64) else {
            tracing::warn!("skipped an update without an update_id");
            continue;
        };
        // From text, not from the `Value`: teloxide's update parser wants borrowed keys.
        match serde_json::from_str::<Update>(&element.to_string()) {
            Ok(u) => out.push(Item::from(u)),
            Err(e) => {
                tracing::warn!(update_id = id, error = %e, "skipped an update that cannot be read");
                out.push(Item {
                    id,
                    update: Salvaged::Unreadable,
                });
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_with_one_bad_update_keeps_the_good_ones_and_moves_past_all() {
        let raw = r#"{"ok":true,"result":[
            {"update_id":5,"message":{"message_id":1,"date":1,"chat":{"id":1,"type":"private","first_name":"A"},"from":{"id":1,"is_bot":false,"first_name":"A"},"text":"/status"}},
            {"update_id":"six"},
            {"update_id":7, "message": 12},
            [1,2,3],
            {"update_id":4294967295}
        ]}"#;
        let items = salvage(raw).unwrap();
        let ids: Vec<u64> = items.iter().map(|i| i.id).collect();
        assert_eq!(ids, vec![5, 7, 4294967295]);
        match &items[0].update {
            Salvaged::Update(u) => assert!(
                matches!(u.kind, teloxide::types::UpdateKind::Message(_)),
                "{:?}",
                u.kind
            ),
            Salvaged::Unreadable => panic!("the good update was lost"),
        }
        assert_eq!(next_offset(5), Some(6));
        assert_eq!(next_offset(4294967295), Some(4294967296));
        assert_eq!(next_offset(u64::MAX), None);
    }

    #[test]
    fn answers_that_are_not_update_lists_are_refused() {
        assert!(salvage("<html>502</html>").is_none());
        assert!(salvage(r#"{"ok":true,"result":{}}"#).is_none());
        assert!(salvage(r#"{"ok":true,"result":[]}"#).is_none());
    }
}
