//! The Telegram commands (DESIGN §1): what the bot understands, parsed from a message text
//! without trusting it — any length, any bytes, never a panic.

/// `/history` without a number shows this many entries.
pub const HISTORY_DEFAULT: u32 = 10;
/// `/history` never shows more than this (one Telegram message).
pub const HISTORY_MAX: u32 = 50;

/// A command the bot understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// State, since when and why, who is home, troubles, outbox length.
    Status,
    /// `Alarm1.Enable` as the user.
    Enable,
    /// `Alarm1.Disable` as the user.
    Disable,
    /// `Alarm1.Arm` as the user.
    Arm,
    /// `Alarm1.Disarm` as the user.
    Disarm,
    /// A photo now (`Alarm1.Snapshot`).
    Photo,
    /// The newest entries of the event history.
    History(u32),
    /// Who is home, with last-seen times.
    Who,
    /// The list of commands.
    Help,
    /// Pairing with a one-time code (or a plain `/start`).
    Start(Option<String>),
}

/// What a message text turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A command for this bot.
    Command(Command),
    /// A command this bot does not know (the name, cut short).
    Unknown(String),
    /// A known command with an argument it cannot take.
    BadArgument(String),
    /// Not a command, or a command addressed to another bot.
    NotACommand,
}

/// The menu registered with `setMyCommands`: (command, description).
pub const MENU: &[(&str, &str)] = &[
    ("status", "State, since when and why, who is home, troubles"),
    ("arm", "Arm now (after the exit delay)"),
    ("disarm", "Disarm"),
    ("enable", "Switch the system on"),
    ("disable", "Switch the system off until /enable"),
    ("photo", "Take a photo now"),
    ("history", "Recent events: /history [n]"),
    ("who", "Who is home, last seen"),
    ("help", "What I understand"),
    ("start", "Pair with a code: /start CODE"),
];

/// The `/help` text.
pub fn help() -> String {
    let mut s = String::from("Secura-Pi-Cam understands:\n");
    for (c, d) in MENU {
        s.push_str(&format!("/{c} — {d}\n"));
    }
    s
}

/// Parse `text`; `bot_username` is the bot's own name, so `/status@other_bot` in a shared
/// context is not taken as ours.
pub fn parse(text: &str, bot_username: Option<&str>) -> Parsed {
    let text = text.trim_start();
    let Some(rest) = text.strip_prefix('/') else {
        return Parsed::NotACommand;
    };
    let mut words = rest.split_whitespace();
    let head = words.next().unwrap_or("");
    let (name, addressee) = match head.split_once('@') {
        Some((n, a)) => (n, Some(a)),
        None => (head, None),
    };
    if let (Some(a), Some(me)) = (addressee, bot_username)
        && !a.eq_ignore_ascii_case(me)
    {
        return Parsed::NotACommand;
    }
    let args: Vec<&str> = words.take(3).collect();
    let no_args = |c: Command| {
        if args.is_empty() {
            Parsed::Command(c)
        } else {
            Parsed::BadArgument(format!("/{name} takes no argument"))
        }
    };
    match name.to_ascii_lowercase().as_str() {
        "status" => no_args(Command::Status),
        "enable" => no_args(Command::Enable),
        "disable" => no_args(Command::Disable),
        "arm" => no_args(Command::Arm),
        "disarm" => no_args(Command::Disarm),
        "photo" => no_args(Command::Photo),
        "who" => no_args(Command::Who),
        "help" => no_args(Command::Help),
        "history" => match args.as_slice() {
            [] => Parsed::Command(Command::History(HISTORY_DEFAULT)),
            [n] => match n.parse::<u32>() {
                Ok(n) if (1..=HISTORY_MAX).contains(&n) => Parsed::Command(Command::History(n)),
                _ => Parsed::BadArgument(format!(
                    "/history takes a number of entries from 1 to {HISTORY_MAX}"
                )),
            },
            _ => Parsed::BadArgument("/history takes one number".into()),
        },
        "start" => match args.as_slice() {
            [] => Parsed::Command(Command::Start(None)),
            [code] => Parsed::Command(Command::Start(Some(code.chars().take(64).collect()))),
            _ => Parsed::BadArgument("/start takes one code".into()),
        },
        _ => Parsed::Unknown(name.chars().take(32).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_commands_parse_with_and_without_the_bot_name() {
        assert_eq!(parse("/status", None), Parsed::Command(Command::Status));
        assert_eq!(
            parse("/status@secura_bot", Some("secura_bot")),
            Parsed::Command(Command::Status)
        );
        assert_eq!(parse("/Disable", None), Parsed::Command(Command::Disable));
        assert_eq!(
            parse("/history 5", None),
            Parsed::Command(Command::History(5))
        );
        assert_eq!(
            parse("/history", None),
            Parsed::Command(Command::History(HISTORY_DEFAULT))
        );
        assert_eq!(
            parse("/start AB12CD34", None),
            Parsed::Command(Command::Start(Some("AB12CD34".into())))
        );
    }

    #[test]
    fn commands_for_another_bot_are_not_ours() {
        assert_eq!(
            parse("/disable@other_bot", Some("secura_bot")),
            Parsed::NotACommand
        );
    }

    #[test]
    fn bad_arguments_and_unknown_commands_are_reported() {
        assert!(matches!(parse("/history 0", None), Parsed::BadArgument(_)));
        assert!(matches!(
            parse("/history 100000000000000000000", None),
            Parsed::BadArgument(_)
        ));
        assert!(matches!(parse("/history -1", None), Parsed::BadArgument(_)));
        assert!(matches!(parse("/arm now", None), Parsed::BadArgument(_)));
        assert_eq!(
            parse("/selfdestruct", None),
            Parsed::Unknown("selfdestruct".into())
        );
        assert_eq!(parse("hello", None), Parsed::NotACommand);
    }

    #[test]
    fn huge_and_odd_texts_never_panic() {
        let huge = format!("/{}", "x".repeat(100_000));
        assert!(matches!(parse(&huge, None), Parsed::Unknown(n) if n.len() == 32));
        for s in [
            "",
            "/",
            "/ ",
            "/@",
            "/@@@",
            "/é\u{0}",
            "\u{202e}/status",
            "/start a b c d e",
        ] {
            let _ = parse(s, Some("bot"));
        }
        let huge_code = format!("/start {}", "é".repeat(10_000));
        assert!(
            matches!(parse(&huge_code, None), Parsed::Command(Command::Start(Some(c))) if c.chars().count() == 64)
        );
    }
}
