//! libpcap captures: live on an interface (as a tokio stream: a blocking read timeout never
//! fires on a quiet interface) or from a file, with the kernel BPF filter installed before the
//! first frame is read.

use crate::pipeline::{Decoded, LinkType, Pipeline, Wanted};
use pcap::{Active, Capture, PacketCodec, PacketStream};
use tracing::debug;

/// Enough of any frame for the headers the sniffer reads (radiotap can be long).
const SNAPLEN: i32 = 512;
/// The kernel ring of a live capture. libpcap's default (2 MiB) is mapped whole into the
/// process — 2.3 MiB of RSS per interface — yet behind the BPF filter only the phones' frames
/// arrive, and every capture (`scan`'s unfiltered one too) reads them as they come (immediate
/// mode): 256 KiB holds ~400 frames at the snap length.
const BUFFER_SIZE: i32 = 256 << 10;

/// Why a capture could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// libpcap refused to open the interface or file.
    #[error("cannot open {what}: {source}{hint}")]
    Open {
        /// `interface wlan0` or `file x.pcap`.
        what: String,
        /// libpcap's error.
        source: pcap::Error,
        /// What the user can do.
        hint: &'static str,
    },
    /// The link type is not one the sniffer reads.
    #[error(
        "{what} has link type {dlt} ({name}); the sniffer reads Ethernet (LAN) and \
             802.11 with or without radiotap (monitor mode)"
    )]
    LinkType {
        /// The interface or file.
        what: String,
        /// pcap `DLT_*` number.
        dlt: i32,
        /// Its name.
        name: String,
    },
    /// The filter did not compile or could not be installed.
    #[error("cannot install the filter {filter:?} on {what}: {source}")]
    Filter {
        /// The interface or file.
        what: String,
        /// The filter text.
        filter: String,
        /// libpcap's error.
        source: pcap::Error,
    },
    /// The capture could not be made non-blocking for tokio.
    #[error("cannot read {what} asynchronously: {source}")]
    Stream {
        /// The interface.
        what: String,
        /// libpcap's error.
        source: pcap::Error,
    },
}

/// A frame decoded where libpcap holds it, with its capture time in µs since the epoch.
#[derive(Debug, Clone, Copy)]
pub struct DecodedFrame {
    /// Capture time.
    pub at: u64,
    /// What the pipeline made of it.
    pub decoded: Decoded,
}

/// The capture time of `header`, µs since the epoch.
pub fn micros(header: &pcap::PacketHeader) -> u64 {
    let secs = u64::try_from(header.ts.tv_sec).unwrap_or(0);
    let usecs = u64::try_from(header.ts.tv_usec).unwrap_or(0);
    secs.saturating_mul(1_000_000).saturating_add(usecs)
}

/// Runs the pipeline on each packet inside libpcap's buffer: no copy, no allocation.
#[derive(Debug, Clone)]
pub struct Decoding(Pipeline);

impl Decoding {
    /// Decode frames of `link` for `wanted`.
    pub fn new(link: LinkType, wanted: Wanted) -> Decoding {
        Decoding(Pipeline::new(link, wanted))
    }
}

impl PacketCodec for Decoding {
    type Item = DecodedFrame;

    fn decode(&mut self, packet: pcap::Packet<'_>) -> DecodedFrame {
        DecodedFrame {
            at: micros(packet.header),
            decoded: self.0.decode(packet.data, packet.header.len),
        }
    }
}

/// A live capture on an interface, already filtered and decoded, as a stream.
pub type LiveStream = PacketStream<Active, Decoding>;

fn open_hint(e: &pcap::Error) -> &'static str {
    let text = e.to_string();
    if text.contains("ermission") || text.contains("not permitted") {
        " (the sniffer needs CAP_NET_RAW: see `secura-sniffer --help`)"
    } else if text.contains("No such device") || text.contains("doesn't exist") {
        " (check the interface name with `ip link`)"
    } else {
        ""
    }
}

/// Open `iface` for capture, install the filter that `filter_for(link)` returns (logged at
/// debug level) and return the stream of packets read by `codec_for(link)` (e.g.
/// [`Decoding`]), with its link type.
pub fn open_live<C: PacketCodec>(
    iface: &str,
    filter_for: impl FnOnce(LinkType) -> String,
    codec_for: impl FnOnce(LinkType) -> C,
) -> Result<(PacketStream<Active, C>, LinkType), CaptureError> {
    let what = format!("interface {iface}");
    let open_err = |source: pcap::Error| CaptureError::Open {
        what: what.clone(),
        hint: open_hint(&source),
        source,
    };
    let mut cap = Capture::from_device(iface)
        .map_err(open_err)?
        .snaplen(SNAPLEN)
        .buffer_size(BUFFER_SIZE)
        .immediate_mode(true)
        .promisc(false)
        .open()
        .map_err(open_err)?;
    let dlt = cap.get_datalink();
    let link = LinkType::from_dlt(dlt.0).ok_or_else(|| CaptureError::LinkType {
        what: what.clone(),
        dlt: dlt.0,
        name: dlt.get_name().unwrap_or_else(|_| "unknown".into()),
    })?;
    let filter = filter_for(link);
    debug!(interface = iface, filter = %filter, "installing the kernel BPF filter");
    cap.filter(&filter, true)
        .map_err(|source| CaptureError::Filter {
            what: what.clone(),
            filter: filter.clone(),
            source,
        })?;
    let cap = cap.setnonblock().map_err(|source| CaptureError::Stream {
        what: what.clone(),
        source,
    })?;
    let stream = cap
        .stream(codec_for(link))
        .map_err(|source| CaptureError::Stream { what, source })?;
    Ok((stream, link))
}

/// Open a capture file, install the filter that `filter_for(link)` returns.
pub fn open_file(
    path: &std::path::Path,
    filter_for: impl FnOnce(LinkType) -> String,
) -> Result<(Capture<pcap::Offline>, LinkType), CaptureError> {
    let what = format!("file {}", path.display());
    let mut cap = Capture::from_file(path).map_err(|source| CaptureError::Open {
        what: what.clone(),
        source,
        hint: "",
    })?;
    let dlt = cap.get_datalink();
    let link = LinkType::from_dlt(dlt.0).ok_or_else(|| CaptureError::LinkType {
        what: what.clone(),
        dlt: dlt.0,
        name: dlt.get_name().unwrap_or_else(|_| "unknown".into()),
    })?;
    let filter = filter_for(link);
    debug!(file = %path.display(), filter = %filter, "installing the BPF filter");
    cap.filter(&filter, true)
        .map_err(|source| CaptureError::Filter {
            what,
            filter,
            source,
        })?;
    Ok((cap, link))
}
