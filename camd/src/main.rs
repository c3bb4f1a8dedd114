//! secura-camd: the camera daemon; everything is in the library.

fn main() -> std::process::ExitCode {
    secura_kit::daemon::main::<secura_camd::Camd>()
}
