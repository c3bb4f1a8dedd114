//! secura-sniffer: is an owner's phone at home?
//!
//! Passive sightings from frames the phones transmit — on the LAN interface (Ethernet framing,
//! no special hardware) and, when there is one, on a monitor-mode 802.11 interface — and an
//! active ARP prober that asks a phone directly, unicast to its MAC. Served on the system bus as
//! `org.securapicam.Presence1` (DESIGN §3).
//!
//! The pure parts ([`parse`], [`pipeline`], [`filter`], [`tracker`]) know nothing of pcap or
//! the bus; [`capture`], [`prober`] and [`sources`] hold the real backends, [`sim`] the
//! simulated one; [`service`] and [`daemon`] put them on the bus; [`commands`] are the
//! `scan`/`replay`/`probe` subcommands and [`cli`] the command line; [`privilege`] keeps
//! CAP_NET_RAW and drops the rest.

pub mod capture;
pub mod cli;
pub mod commands;
pub mod daemon;
pub mod filter;
pub mod links;
pub mod netif;
pub mod parse;
pub mod pipeline;
pub mod privilege;
pub mod prober;
pub mod service;
pub mod sim;
pub mod sources;
pub mod tracker;
