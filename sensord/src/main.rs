//! secura-sensord: the PIR sensor daemon; everything is in the library.

fn main() -> std::process::ExitCode {
    secura_kit::daemon::main::<secura_sensord::Sensord>()
}
