//! The simulated backend (`--sim`): scripted phones that arrive and leave through
//! `Simulator1.PhoneArrives/PhoneLeaves`. A phone at home sends a frame every
//! [`FRAME_PERIOD`] (source `sim`) and answers probes from a plausible address; a phone that
//! left is silent and never answers, so the whole system runs without a network.

use crate::parse::MacAddr;
use crate::prober::{Answers, ArpProber, ProbeFuture, Target};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How often an arrived phone "transmits".
pub const FRAME_PERIOD: Duration = Duration::from_millis(250);
/// The source name of simulated sightings.
pub const SOURCE: &str = "sim";
/// How long a simulated phone takes to answer ARP.
const ANSWER_DELAY: Duration = Duration::from_millis(20);

/// The scripted phones, shared by the frame source, the prober and `Simulator1`.
#[derive(Debug, Clone, Default)]
pub struct SimWorld {
    inner: Arc<Mutex<World>>,
}

#[derive(Debug, Default)]
struct World {
    home: BTreeMap<MacAddr, Ipv4Addr>,
    leases: BTreeMap<MacAddr, Ipv4Addr>,
}

impl SimWorld {
    fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        let mut w = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut w)
    }

    /// `mac` comes home; it keeps the address it had before, like a DHCP lease.
    pub fn arrive(&self, mac: MacAddr) -> Ipv4Addr {
        self.with(|w| {
            let next = 100u8.saturating_add(u8::try_from(w.leases.len()).unwrap_or(u8::MAX));
            let ip = *w
                .leases
                .entry(mac)
                .or_insert(Ipv4Addr::new(192, 168, 1, next.min(254)));
            w.home.insert(mac, ip);
            ip
        })
    }

    /// `mac` leaves: silent and unanswered from now on.
    pub fn leave(&self, mac: MacAddr) {
        self.with(|w| {
            w.home.remove(&mac);
        });
    }

    /// The phones at home and their addresses.
    pub fn home(&self) -> Vec<(MacAddr, Ipv4Addr)> {
        self.with(|w| w.home.iter().map(|(m, ip)| (*m, *ip)).collect())
    }

    fn answer(&self, mac: &MacAddr) -> Option<Ipv4Addr> {
        self.with(|w| w.home.get(mac).copied())
    }
}

impl ArpProber for SimWorld {
    fn probe(&self, targets: Vec<Target>, timeout: Duration) -> ProbeFuture<'_> {
        Box::pin(async move {
            let answers: Answers = targets
                .iter()
                .map(|t| (t.mac, self.answer(&t.mac)))
                .collect();
            // Like the real prober: quick when everyone answers, the full timeout otherwise.
            let wait = if answers.iter().all(|(_, ip)| ip.is_some()) {
                ANSWER_DELAY.min(timeout)
            } else {
                timeout
            };
            tokio::time::sleep(wait).await;
            // A phone that left during the wait does not answer.
            Ok(answers
                .into_iter()
                .map(|(mac, ip)| (mac, ip.and(self.answer(&mac))))
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHONE: MacAddr = MacAddr([0xa4, 0x5e, 0x60, 1, 2, 3]);

    #[tokio::test(start_paused = true)]
    async fn an_arrived_phone_answers_and_a_departed_one_does_not() {
        let world = SimWorld::default();
        let ip = world.arrive(PHONE);
        let t = vec![Target {
            mac: PHONE,
            last_ip: None,
        }];
        let a = world
            .probe(t.clone(), Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(a, vec![(PHONE, Some(ip))]);
        world.leave(PHONE);
        let start = tokio::time::Instant::now();
        let a = world.probe(t, Duration::from_secs(2)).await.unwrap();
        assert_eq!(a, vec![(PHONE, None)]);
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[test]
    fn a_returning_phone_keeps_its_address() {
        let world = SimWorld::default();
        let first = world.arrive(PHONE);
        world.leave(PHONE);
        assert_eq!(world.arrive(PHONE), first);
        assert!(world.home().contains(&(PHONE, first)));
    }
}
