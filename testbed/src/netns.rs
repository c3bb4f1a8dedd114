//! A "phone" for system tests (DESIGN §9 tier 3): a network namespace joined to the test's
//! namespace by a veth pair, with a chosen MAC and IPv4 address, so its kernel answers ARP and
//! its traffic is real. Needs root and `ip netns`; removed on drop, even when the test panics,
//! and namespaces left behind by killed test processes are removed by the next run.

use anyhow::{Context, Result, bail};
use std::net::Ipv4Addr;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU8, Ordering};

const NS_PREFIX: &str = "secura-phone-";

static NEXT: AtomicU8 = AtomicU8::new(0);

/// A phone in its own network namespace.
#[derive(Debug)]
pub struct Phone {
    ns: String,
    host_if: String,
    phone_if: String,
    mac: String,
    ip: Ipv4Addr,
    host_ip: Ipv4Addr,
}

fn ip(args: &[&str]) -> Result<Output> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip (apt-get install iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

/// Why system tests cannot run here, if they cannot: not root, or no `ip netns`.
pub fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (network namespaces)".into());
    }
    match ip(&["netns", "list"]) {
        Ok(_) => None,
        Err(e) => Some(format!("`ip netns` does not work here: {e:#}")),
    }
}

/// Remove phones whose test process is gone.
fn remove_stale() {
    let Ok(out) = ip(&["netns", "list"]) else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

impl Phone {
    /// A phone with `mac` at `ip`/24; the test's side of the link gets `.1` of that /24.
    pub fn create(mac: &str, last_octet: u8) -> Result<Phone> {
        remove_stale();
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // A /24 per phone, distinct between concurrent test processes and phones.
        let b = u8::try_from(64 + pid % 128).unwrap_or(64);
        let ip = Ipv4Addr::new(10, b, n, last_octet);
        let host_ip = Ipv4Addr::new(10, b, n, 1);
        let phone = Phone {
            ns: format!("{NS_PREFIX}{pid}-{n}"),
            host_if: format!("sph{}h{n}", pid % 100_000),
            phone_if: format!("sph{}p{n}", pid % 100_000),
            mac: mac.to_string(),
            ip,
            host_ip,
        };
        phone.setup().inspect_err(|_| phone.teardown())?;
        Ok(phone)
    }

    fn setup(&self) -> Result<()> {
        ip(&["netns", "add", &self.ns])?;
        self.plug()
    }

    /// Create the veth pair, with the addresses, and bring it up.
    fn plug(&self) -> Result<()> {
        ip(&[
            "link",
            "add",
            &self.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &self.phone_if,
            "netns",
            &self.ns,
        ])?;
        let phone_cidr = format!("{}/24", self.ip);
        let host_cidr = format!("{}/24", self.host_ip);
        ip(&[
            "-n",
            &self.ns,
            "link",
            "set",
            &self.phone_if,
            "address",
            &self.mac,
        ])?;
        ip(&[
            "-n",
            &self.ns,
            "addr",
            "add",
            &phone_cidr,
            "dev",
            &self.phone_if,
        ])?;
        ip(&["-n", &self.ns, "link", "set", "lo", "up"])?;
        ip(&["-n", &self.ns, "link", "set", &self.phone_if, "up"])?;
        ip(&["addr", "add", &host_cidr, "dev", &self.host_if])?;
        ip(&["link", "set", &self.host_if, "up"])?;
        Ok(())
    }

    fn teardown(&self) {
        let _ = ip(&["link", "del", &self.host_if]);
        let _ = ip(&["netns", "del", &self.ns]);
    }

    /// The test's end of the link (the sniffer's `lan_interface`).
    pub fn host_interface(&self) -> &str {
        &self.host_if
    }

    /// The phone's MAC.
    pub fn mac(&self) -> &str {
        &self.mac
    }

    /// The phone's address.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// The test's address on the link.
    pub fn host_ip(&self) -> Ipv4Addr {
        self.host_ip
    }

    /// Run a command inside the phone.
    pub fn exec(&self, args: &[&str]) -> Result<Output> {
        Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(args)
            .output()
            .context("running ip netns exec")
    }

    /// Some traffic from the phone: three UDP datagrams to the test's side, each preceded by
    /// the ARP the kernel needs to send it (bash's /dev/udp: no ping needed).
    pub fn chatter(&self) -> Result<()> {
        let script = format!(
            "for i in 1 2 3; do echo hello > /dev/udp/{}/9; sleep 0.2; done",
            self.host_ip
        );
        let out = self.exec(&["bash", "-c", &script])?;
        if !out.status.success() {
            bail!(
                "phone chatter failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// Move the phone to another address in its /24 (a new DHCP lease).
    pub fn renumber(&mut self, last_octet: u8) -> Result<()> {
        let [a, b, c, _] = self.ip.octets();
        let new = Ipv4Addr::new(a, b, c, last_octet);
        ip(&["-n", &self.ns, "addr", "flush", "dev", &self.phone_if])?;
        ip(&[
            "-n",
            &self.ns,
            "addr",
            "add",
            &format!("{new}/24"),
            "dev",
            &self.phone_if,
        ])?;
        self.ip = new;
        Ok(())
    }

    /// Take the phone's link down (it left) or up (it is back).
    pub fn set_link(&self, up: bool) -> Result<()> {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.ns, "link", "set", &self.phone_if, state])?;
        Ok(())
    }
}

impl Phone {
    /// Delete the link and create it again under the same names (a USB adapter unplugged and
    /// plugged back in): a new interface index for the same interface name.
    pub fn replug(&self) -> Result<()> {
        ip(&["link", "del", &self.host_if])?;
        self.plug()
    }

    /// Delete the link (both ends): the interface is gone until [`Phone::plug_in`].
    pub fn unplug(&self) -> Result<()> {
        ip(&["link", "del", &self.host_if])?;
        Ok(())
    }

    /// Create the link again after [`Phone::unplug`], with its names and addresses.
    pub fn plug_in(&self) -> Result<()> {
        self.plug()
    }

    /// Take the test's end of the link down or up (the Pi's Wi-Fi dropping out).
    pub fn set_host_link(&self, up: bool) -> Result<()> {
        let state = if up { "up" } else { "down" };
        ip(&["link", "set", &self.host_if, state])?;
        Ok(())
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        self.teardown();
    }
}
