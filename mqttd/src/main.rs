//! secura-mqttd: the MQTT bridge; everything is in the library.

fn main() -> std::process::ExitCode {
    secura_kit::daemon::main::<secura_mqttd::Mqttd>()
}
