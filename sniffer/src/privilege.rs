//! Least privilege: the sniffer holds CAP_NET_RAW (to open packet sockets) and nothing else.
//!
//! Capabilities are per thread on Linux and new threads inherit them, so [`keep_only`] runs in
//! `main` before the tokio runtime starts its workers: every thread that ever reads a frame
//! starts with the reduced set.

use caps::{CapSet, Capability, CapsHashSet};

/// The capability the sniffer needs.
pub const NEEDED: Capability = Capability::CAP_NET_RAW;

/// Why the capabilities are not right.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// CAP_NET_RAW is not held.
    #[error(
        "secura-sniffer needs CAP_NET_RAW to capture frames and send ARP probes, and does not \
         have it. Run it from its unit (secura-sniffer.service sets \
         AmbientCapabilities=CAP_NET_RAW), or grant it to the binary with \
         `setcap cap_net_raw+ep $(command -v secura-sniffer)`"
    )]
    Missing,
    /// The kernel refused a change.
    #[error("cannot {what}: {source}")]
    Caps {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: caps::errors::CapsError,
    },
}

fn caps_err(what: &'static str) -> impl FnOnce(caps::errors::CapsError) -> PrivilegeError {
    move |source| PrivilegeError::Caps { what, source }
}

/// Keep `needed` (which must be held, at least as permitted) and drop every other capability
/// from every set of the calling thread, bounding set included when allowed; empty the ambient
/// set entirely, `needed` included: it is held in the permitted and effective sets.
///
/// Sets that already hold nothing else are left alone: under the unit (which grants only
/// CAP_NET_RAW and forbids `capset` with `SystemCallFilter=~@privileged`) nothing needs to
/// change, and nothing is attempted.
pub fn keep_only(needed: &[Capability]) -> Result<(), PrivilegeError> {
    let read = |set| caps::read(None, set).map_err(caps_err("read capabilities"));
    let permitted = read(CapSet::Permitted)?;
    if needed.iter().any(|c| !permitted.contains(c)) {
        return Err(PrivilegeError::Missing);
    }
    let keep: CapsHashSet = needed.iter().copied().collect();
    let has_others = |set: &CapsHashSet| set.iter().any(|c| !keep.contains(c));
    // Dropping from the bounding set needs CAP_SETPCAP, so it goes first (root only).
    let bounding = read(CapSet::Bounding)?;
    if has_others(&bounding) && read(CapSet::Effective)?.contains(&Capability::CAP_SETPCAP) {
        for cap in bounding.difference(&keep) {
            caps::drop(None, CapSet::Bounding, *cap)
                .map_err(caps_err("drop from the bounding set"))?;
        }
    }
    // The ambient set is only what programs executed from here would inherit: the sniffer
    // runs none, so it is emptied, CAP_NET_RAW included (the unit's AmbientCapabilities put
    // it there to grant it at start). A prctl, allowed under the unit's system call filter.
    if !read(CapSet::Ambient)?.is_empty() {
        caps::clear(None, CapSet::Ambient).map_err(caps_err("clear the ambient set"))?;
    }
    let inheritable = read(CapSet::Inheritable)?;
    if has_others(&inheritable) {
        let kept: CapsHashSet = inheritable.intersection(&keep).copied().collect();
        caps::set(None, CapSet::Inheritable, &kept)
            .map_err(caps_err("reduce the inheritable set"))?;
    }
    if has_others(&permitted) || read(CapSet::Effective)? != keep {
        caps::set(None, CapSet::Effective, &keep).map_err(caps_err("set the effective set"))?;
        caps::set(None, CapSet::Permitted, &keep).map_err(caps_err("set the permitted set"))?;
    }
    Ok(())
}

/// The effective capabilities of the calling thread, for the start-up log.
pub fn effective() -> Vec<String> {
    let mut v: Vec<String> = caps::read(None, CapSet::Effective)
        .map(|s| s.iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    v.sort();
    v
}
