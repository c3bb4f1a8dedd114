#!/bin/sh
# The simulated home, inside the guest (run as root by the scenario):
#   four mac80211_hwsim radios: the home's access point (hostapd, open network "lab-home" on
#   channel 6, in network namespace "home"), the owner's phone (a station in namespace
#   "phone", 192.168.77.20), the Pi's own Wi-Fi (the LAN interface, 192.168.77.10) and a
#   fourth radio for monitor mode (secura-monitor@<it>.service makes mon0 on it);
#   vivid: a V4L2 webcam (/dev/video0, YUYV, no MJPEG).
# Prints the names it chose as shell assignments (LAN=…, MONITOR_RADIO=…, PHONE_IF=…,
# PHONE_MAC=…). Usage: home.sh SHARE_DIR
set -eu
share="$1"
modprobe mac80211_hwsim radios=4
modprobe vivid n_devs=1
i=0
while [ ! -e /dev/video0 ] || [ "$(ls /sys/class/net | grep -c "^wlan")" -lt 4 ]; do
  i=$((i + 1)); [ "$i" -lt 30 ] || { echo "home: radios or camera missing" >&2; exit 1; }
  sleep 1
done
set -- $(ls /sys/class/net | grep "^wlan" | sort -V)
ap_if=$1 phone_if=$2 lan=$3 monitor_radio=$4
phy_of() { basename "$(readlink -f "/sys/class/net/$1/phy80211")"; }

ip netns add home
ip netns add phone
ap_phy=$(phy_of "$ap_if"); phone_phy=$(phy_of "$phone_if")
iw phy "$ap_phy" set netns name home
iw phy "$phone_phy" set netns name phone

cat > /run/lab-hostapd.conf <<CONF
interface=$ap_if
driver=nl80211
ssid=lab-home
hw_mode=g
channel=6
CONF
systemd-run --quiet --unit=lab-hostapd ip netns exec home hostapd /run/lab-hostapd.conf
ip -n home addr add 192.168.77.1/24 dev "$ap_if"
ip -n home link set lo up

associate() { # NETNS-PREFIX IFACE ADDRESS
  ns="$1" ifc="$2"
  $ns ip link set "$ifc" up
  i=0
  until $ns iw dev "$ifc" link | grep -q '^Connected'; do
    i=$((i + 1)); [ "$i" -lt 60 ] || { echo "home: $ifc did not associate" >&2; exit 1; }
    $ns iw dev "$ifc" connect lab-home 2>/dev/null || true
    sleep 1
  done
  $ns ip addr replace "$3/24" dev "$ifc"
}
associate "" "$lan" 192.168.77.10
associate "ip netns exec phone" "$phone_if" 192.168.77.20
ip -n phone link set lo up
# The phone chatters as a real one does; the scenario stops and starts it as it leaves.
systemd-run --quiet --unit=lab-phone ip netns exec phone \
  python3 "$share/guest/chatter.py" "$phone_if" 192.168.77.20 192.168.77.1 3
phone_mac=$(ip netns exec phone cat "/sys/class/net/$phone_if/address")
echo "LAN=$lan MONITOR_RADIO=$monitor_radio PHONE_IF=$phone_if PHONE_MAC=$phone_mac"
