//! The exit codes of every daemon (sysexits.h where one fits), in one enum. systemd's
//! `RestartPreventExitStatus=` in each unit lists the codes a restart cannot cure; a test
//! checks the units against [`Exit::no_restart`].

use std::process::ExitCode;

/// How a daemon's process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Exit {
    /// 0: stopped as asked, or a one-shot command done.
    Done,
    /// 1: failed; systemd restarts it.
    Failure,
    /// 69 `EX_UNAVAILABLE`: the configured hardware is absent (sensord off a Pi).
    Unavailable,
    /// 73 `EX_CANTCREAT`: the state directory cannot be written.
    CantCreate,
    /// 77 `EX_NOPERM`: refused to run as root, or a capability is missing.
    NoPermission,
    /// 78 `EX_CONFIG`: the configuration is wrong.
    Config,
}

impl Exit {
    /// Every code, in numeric order.
    pub const ALL: [Exit; 6] = [
        Exit::Done,
        Exit::Failure,
        Exit::Unavailable,
        Exit::CantCreate,
        Exit::NoPermission,
        Exit::Config,
    ];

    /// The number the process exits with.
    pub fn code(self) -> u8 {
        match self {
            Exit::Done => 0,
            Exit::Failure => 1,
            Exit::Unavailable => 69,
            Exit::CantCreate => 73,
            Exit::NoPermission => 77,
            Exit::Config => 78,
        }
    }

    /// Whether a restart cannot help: the unit's `RestartPreventExitStatus=` lists exactly
    /// these among the codes its daemon can exit with.
    pub fn no_restart(self) -> bool {
        matches!(
            self,
            Exit::Unavailable | Exit::CantCreate | Exit::NoPermission | Exit::Config
        )
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::Exit;

    #[test]
    fn codes_are_the_sysexits_ones_and_distinct() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 69, 73, 77, 78]);
        assert!(!Exit::Failure.no_restart() && !Exit::Done.no_restart());
        assert!(Exit::Config.no_restart() && Exit::NoPermission.no_restart());
    }
}
