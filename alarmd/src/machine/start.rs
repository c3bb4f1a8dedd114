//! Start-up as rows of the machine (DESIGN §5): what was saved decides the first state and
//! the first actions.

use super::text;
use super::{Action, AlertPhotos, Kind, Machine, Mode, Row, Settings, TroubleKey};
use crate::clock::Now;
use secura_bus::config::MacAddr;
use secura_bus::types::MessageKind;

/// What the state file held at start.
#[derive(Debug)]
pub enum Saved {
    /// No file: the first start.
    Nothing,
    /// The machine the last run saved.
    Found(Box<Machine>),
    /// A file that could not be read or understood, and why.
    Unreadable(String),
}

impl Machine {
    /// The machine to run after a start with `saved`, and what to do first: a state file
    /// that cannot be read gives `disabled` with a trouble (never a guess at armed or
    /// disarmed); an unclean previous stop gives one notice; alerts decided but not accepted
    /// by botd are sent again.
    pub fn start(
        saved: Saved,
        settings: Settings,
        devices: &[(String, MacAddr)],
        now: Now,
        boot: &str,
    ) -> (Machine, Vec<Action>) {
        let mut actions = Vec::new();
        let mut m = match saved {
            Saved::Nothing => Machine::new(settings, devices, now),
            Saved::Found(m) => {
                let mut m = m.restored(settings, devices, now, boot);
                if !m.clean_stop {
                    let notice = text::unclean_stop(m.state());
                    actions.push(Action::Record(Row {
                        kind: Kind::Trouble,
                        text: notice.clone(),
                        actor: super::step::SYSTEM.into(),
                    }));
                    actions.push(Action::Notify(MessageKind::Trouble, notice));
                }
                for (event, caption) in &m.unsent_alerts {
                    actions.push(Action::Alert {
                        kind: MessageKind::Alert,
                        event: *event,
                        caption: caption.clone(),
                        at: now.wall,
                        photos: AlertPhotos::KeptOnPi,
                    });
                }
                m.clean_stop = false;
                m
            }
            Saved::Unreadable(why) => {
                let mut m = Machine::new(settings, devices, now);
                m.mode = Mode::Disabled;
                m.last_reason = text::UNREADABLE_REASON.into();
                let out = m.raise(TroubleKey::StateFile, text::unreadable_state(&why));
                actions.extend(out);
                m
            }
        };
        m.clean_stop = false;
        (m, actions)
    }
}
