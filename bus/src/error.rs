//! The typed D-Bus errors of every Secura-Pi-Cam interface.

use zbus::DBusError;

/// `org.securapicam.Error.*`: each carries a message meant for a person.
///
/// Proxies return `zbus::Error`; `Error::from(e)` turns a method error with one of these names
/// back into its variant, so clients can match on the kind.
#[derive(Debug, DBusError, PartialEq)]
#[zbus(prefix = "org.securapicam.Error")]
pub enum Error {
    /// The thing asked for cannot be done now (a daemon is missing, the system is disabled…).
    NotAvailable(String),
    /// An argument was malformed or out of range.
    InvalidArgument(String),
    /// The caller may not do this.
    Denied(String),
    /// A device failed.
    Hardware(String),
    /// Another request holds the resource; try again.
    Busy(String),
    /// Any other zbus failure.
    #[zbus(error)]
    ZBus(zbus::Error),
}

impl Error {
    /// The human-readable message, whatever the kind.
    pub fn message(&self) -> String {
        match self {
            Error::NotAvailable(m)
            | Error::InvalidArgument(m)
            | Error::Denied(m)
            | Error::Hardware(m)
            | Error::Busy(m) => m.clone(),
            Error::ZBus(e) => e.to_string(),
        }
    }
}
