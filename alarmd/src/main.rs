//! secura-alarmd: the alarm daemon; everything is in the library.

fn main() -> std::process::ExitCode {
    secura_kit::daemon::main::<secura_alarmd::start::Alarmd>()
}
