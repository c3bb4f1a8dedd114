//! alarmd as the kit runs it: its options, exit codes and `--check-config` output.

use crate::daemon::{self, Config};
use secura_bus::names::Service;
use secura_kit::{Context, Exit};
use std::future::Future;

/// Why alarmd stopped: what start-up or the core reported, with its context.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct AlarmdError(#[from] anyhow::Error);

impl From<AlarmdError> for Exit {
    fn from(_: AlarmdError) -> Exit {
        Exit::Failure
    }
}

/// alarmd, ready to run.
#[derive(Debug)]
pub struct Alarmd {
    config: Config,
}

impl secura_kit::Daemon for Alarmd {
    const SERVICE: Service = Service::Alarm;
    const EXITS: &'static [Exit] = &[Exit::Done, Exit::Failure, Exit::NoPermission, Exit::Config];
    const SIM: bool = false;
    const ABOUT: &'static str = "The Secura-Pi-Cam alarm: state machine, history, and the \
                                 org.securapicam.Alarm1 service.";
    type Config = Config;
    type Error = AlarmdError;

    fn effective(config: &Config) -> Result<String, toml::ser::Error> {
        daemon::effective(config)
    }

    fn prepare(config: Config, _: &Context) -> Result<Alarmd, AlarmdError> {
        Ok(Alarmd { config })
    }

    async fn run(
        self,
        ctx: Context,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AlarmdError> {
        Ok(daemon::run(self.config, &ctx.state_dir, shutdown).await?)
    }
}
