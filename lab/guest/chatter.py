#!/usr/bin/env python3
"""The owner's phone, chattering like a real one: a broadcast ARP request for the access
point every INTERVAL seconds on IFACE (an idle mac80211_hwsim station sends nothing at all).
Usage: chatter.py IFACE OWN_IP TARGET_IP INTERVAL
"""

import socket
import struct
import sys
import time


def main():
    iface, own, target, interval = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    with open("/sys/class/net/%s/address" % iface) as f:
        mac = bytes.fromhex(f.read().strip().replace(":", ""))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
    s.bind((iface, 0))
    frame = (b"\xff" * 6 + mac + struct.pack("!H", 0x0806)
             + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
             + mac + socket.inet_aton(own) + b"\x00" * 6 + socket.inet_aton(target))
    while True:
        try:
            s.send(frame)
        except OSError as e:
            # Not associated (the phone "left"): keep trying, as a phone would on return.
            print("chatter: %s" % e, file=sys.stderr, flush=True)
        time.sleep(interval)


if __name__ == "__main__":
    main()
