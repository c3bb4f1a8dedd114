//! End-to-end with a real phone (DESIGN §9 tier 3, root as in CI): the phone is a network
//! namespace on a veth pair whose kernel really answers ARP, the sniffer captures and probes
//! on the other end for real, and the other four daemons run simulated. Skipped with a printed
//! reason when not root or when `ip netns` does not work.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use secura_testbed::eventually;
use secura_testbed::netns::{self, Phone};
use secura_testbed::system::{Options, Phones, System};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// The phone's kernel stops (`true`) or resumes answering ARP: a device that transmits with
/// the owner's MAC but is not the owner's phone (a spoofer), as far as the probe can tell.
fn ignore_arp(phone: &Phone, ignore: bool) {
    let value = if ignore { "8" } else { "0" };
    let script =
        format!("for f in /proc/sys/net/ipv4/conf/*/arp_ignore; do echo {value} > $f; done");
    let out = phone.exec(&["sh", "-c", &script]).unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_real_phone_only_an_arp_answer_disarms_and_the_scenario_holds() {
    if let Some(reason) = netns::unavailable() {
        eprintln!("skipped: {reason}");
        return;
    }
    let phone = Phone::create("a4:5e:60:c0:ff:e2", 42).unwrap();
    let opts = Options {
        phones: Phones::Lan {
            interface: phone.host_interface().to_string(),
            mac: phone.mac().to_string(),
        },
        ..Options::default()
    };
    tokio::time::timeout(Duration::from_secs(150), async {
        let sys = System::start(opts).await.unwrap();
        // At home: quiet, but it answers the away probe, so nothing arms.
        sys.wait_state("disarmed", WAIT).await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(sys.state().await, "disarmed", "{}", sys.logs());
        assert!(sys.alarm.home().await.unwrap(), "{}", sys.logs());

        // It leaves (link down): probes go unanswered, armed.
        phone.set_link(false).unwrap();
        sys.wait_state("armed", WAIT).await.unwrap();
        let armed = sys
            .wait_text(0, WAIT, |t| t.starts_with("Armed: nobody seen for "))
            .await
            .unwrap();
        assert!(armed.ends_with(", 2/2 ARP probes unanswered."), "{armed:?}");

        // Radio evidence alone: frames with the phone's MAC, no ARP answer. Stays armed.
        ignore_arp(&phone, true);
        phone.set_link(true).unwrap();
        phone.chatter().unwrap();
        let unconfirmed = eventually(WAIT, || async {
            sys.alarm
                .history(50)
                .await
                .unwrap_or_default()
                .iter()
                .any(|h| h.text.starts_with("unconfirmed sighting of Alice"))
        })
        .await;
        assert!(unconfirmed, "{}", sys.logs());
        assert_eq!(sys.state().await, "armed");

        // Motion: the phone does not answer within verify, so the album goes out.
        sys.motion().await.unwrap();
        sys.wait_text(0, WAIT, |t| t.starts_with("🚨 Motion detected while armed"))
            .await
            .unwrap();
        assert_eq!(sys.albums().len(), 1);
        assert!(
            !sys.texts().iter().any(|t| t.starts_with("Disarmed")),
            "{:?}",
            sys.texts()
        );

        // The phone really is back: it answers ARP, and its next frames disarm.
        ignore_arp(&phone, false);
        tokio::time::sleep(Duration::from_millis(1100)).await; // past the sighting throttle
        phone.chatter().unwrap();
        sys.wait_state("disarmed", WAIT).await.unwrap();
        let want = format!("Disarmed: Alice arrived (ARP answer from {}).", phone.ip());
        sys.wait_text(0, WAIT, |t| t == want).await.unwrap();
    })
    .await
    .unwrap();
}
