//! secura-botd: the Telegram bot daemon; everything is in the library.

fn main() -> std::process::ExitCode {
    secura_kit::daemon::main::<secura_botd::Botd>()
}
