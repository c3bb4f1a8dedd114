//! The kernel's link events (rtnetlink, the `RTMGRP_LINK` group): a capture hears at once that
//! its interface went away, was re-created or appeared, and an idle sniffer never wakes to
//! look. Where the socket cannot be had, [`wait_for_change`] falls back to a periodic check.

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::{AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket};
use std::io;
use std::time::Duration;
use tracing::{debug, warn};

/// The multicast group of link changes (`RTMGRP_LINK` in `<linux/rtnetlink.h>`).
const RTMGRP_LINK: u32 = 1;
/// A datagram of link messages; the kernel sends one message per datagram for these events,
/// each well under a page (a longer one is truncated and counts as a change).
const RECV_BUFFER: usize = 16 << 10;
/// `ENOBUFS` (the same number on every Linux architecture the sniffer runs on): the kernel's
/// queue for the socket overflowed and events were lost.
const ENOBUFS: i32 = 105;
/// Without the socket: how often the interface is looked at instead.
pub const FALLBACK_CHECK: Duration = Duration::from_secs(2);

/// A socket subscribed to the kernel's link changes.
pub struct LinkEvents {
    socket: TokioSocket,
    buf: Vec<u8>,
}

impl std::fmt::Debug for LinkEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkEvents").finish_non_exhaustive()
    }
}

impl LinkEvents {
    /// Subscribe. Changes made after this returns are all heard.
    pub fn open() -> io::Result<LinkEvents> {
        let mut socket = TokioSocket::new(NETLINK_ROUTE)?;
        socket.socket_mut().bind(&SocketAddr::new(0, RTMGRP_LINK))?;
        Ok(LinkEvents {
            socket,
            buf: Vec::with_capacity(RECV_BUFFER),
        })
    }

    /// Wait for a change to the link named `iface` or with index `index`: created, deleted,
    /// renamed, up or down. Changes to other links are read and passed over. When the kernel
    /// dropped events (its queue overflowed) this returns too, since one of them may have
    /// been ours: the caller looks at the interface again either way.
    pub async fn changed(&mut self, iface: &str, index: Option<u32>) -> io::Result<()> {
        loop {
            self.buf.clear();
            match self.socket.recv(&mut self.buf).await {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(ENOBUFS) => return Ok(()),
                Err(e) => return Err(e),
            }
            if concerns(&self.buf, iface, index) {
                return Ok(());
            }
        }
    }
}

/// Wait until the link named `iface` (index `index`, `None` while it does not exist) may have
/// changed: an event for it from `events`, or, without a socket, [`FALLBACK_CHECK`]. A socket
/// that fails is dropped (logged) and the wait falls back to the periodic check.
pub async fn wait_for_change(events: &mut Option<LinkEvents>, iface: &str, index: Option<u32>) {
    match events {
        Some(ev) => match ev.changed(iface, index).await {
            Ok(()) => debug!(interface = %iface, "link event"),
            Err(e) => {
                warn!(error = %e, every = ?FALLBACK_CHECK,
                    "cannot read link events; checking the interface periodically instead");
                *events = None;
            }
        },
        None => tokio::time::sleep(FALLBACK_CHECK).await,
    }
}

/// Whether a datagram of rtnetlink messages holds a new or deleted link named `iface` or with
/// index `index`. A message that does not parse counts as a change.
pub fn concerns(datagram: &[u8], iface: &str, index: Option<u32>) -> bool {
    let mut rest = datagram;
    while !rest.is_empty() {
        let msg = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(rest) {
            Ok(m) => m,
            Err(e) => {
                debug!(error = %e, "an rtnetlink message that does not parse");
                return true;
            }
        };
        if let NetlinkPayload::InnerMessage(
            RouteNetlinkMessage::NewLink(link) | RouteNetlinkMessage::DelLink(link),
        ) = &msg.payload
            && is(link, iface, index)
        {
            return true;
        }
        // Messages are 4-byte aligned within a datagram.
        let len = usize::try_from(msg.header.length).unwrap_or(usize::MAX);
        let step = len.checked_add(3).map(|l| l & !3).unwrap_or(usize::MAX);
        if len == 0 {
            return false;
        }
        rest = rest.get(step..).unwrap_or(&[]);
    }
    false
}

fn is(link: &LinkMessage, iface: &str, index: Option<u32>) -> bool {
    index == Some(link.header.index)
        || link
            .attributes
            .iter()
            .any(|a| matches!(a, LinkAttribute::IfName(n) if n == iface))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use netlink_packet_core::NetlinkHeader;

    fn datagram(messages: &[(bool, u32, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for &(new, index, name) in messages {
            let mut link = LinkMessage::default();
            link.header.index = index;
            link.attributes.push(LinkAttribute::IfName(name.into()));
            let payload = if new {
                RouteNetlinkMessage::NewLink(link)
            } else {
                RouteNetlinkMessage::DelLink(link)
            };
            let mut msg = NetlinkMessage::new(NetlinkHeader::default(), payload.into());
            msg.finalize();
            let mut buf = vec![0; msg.buffer_len()];
            msg.serialize(&mut buf);
            while buf.len() % 4 != 0 {
                buf.push(0);
            }
            out.extend(buf);
        }
        out
    }

    #[test]
    fn a_link_event_for_our_name_or_index_concerns_us() {
        assert!(concerns(&datagram(&[(true, 7, "wlan0")]), "wlan0", None));
        assert!(concerns(&datagram(&[(false, 7, "old")]), "wlan0", Some(7)));
    }

    #[test]
    fn link_events_for_other_interfaces_are_passed_over() {
        let d = datagram(&[(true, 3, "eth1"), (false, 4, "veth9")]);
        assert!(!concerns(&d, "wlan0", Some(7)));
    }

    #[test]
    fn ours_is_found_after_others_in_one_datagram() {
        let d = datagram(&[(true, 3, "eth1"), (true, 8, "wlan0")]);
        assert!(concerns(&d, "wlan0", Some(7)));
    }

    #[test]
    fn a_message_that_does_not_parse_counts_as_a_change() {
        assert!(concerns(&[1, 2, 3, 4, 5], "wlan0", Some(7)));
    }
}
