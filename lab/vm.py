"""Start, drive and stop the lab's arm64 guest (Python standard library only).

The guest is qemu-system-aarch64's `virt` machine under TCG with a Raspberry Pi's identity in
its device tree, booted from a per-run qcow2 overlay over the cached image, with no network at
all (`-nic none`). Files go in and out through a 9p share; commands run through the
qemu-guest-agent on a virtio-serial port (guest-exec, guest-exec-status). Every wait has a
timeout, and the qemu process is always killed by its PID.
"""

import base64
import fcntl
import json
import os
import signal
import socket
import subprocess
import time

PI4_MODEL = "Raspberry Pi 4 Model B Rev 1.5"
PI4_COMPATIBLE = ["raspberrypi,4-model-b", "brcm,bcm2711", "linux,dummy-virt"]
MACHINE = ["-M", "virt", "-cpu", "cortex-a72", "-smp", "2", "-m", "2048",
           "-accel", "tcg,thread=multi,tb-size=512"]


class LabError(Exception):
    pass


def _pdeathsig():
    # If the lab's own process dies, the kernel kills qemu too.
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.setsid()


class Agent:
    """A qemu-guest-agent client over the virtio-serial port's Unix socket."""

    def __init__(self, path):
        self.path = path
        self.sock = None
        self.buf = b""
        self.sync_id = int(time.time()) & 0xFFFFFF

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None
        self.buf = b""

    def _send(self, obj):
        self.sock.sendall(json.dumps(obj).encode() + b"\n")

    def _read(self, deadline):
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from the guest agent")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the guest agent's socket closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        line = line.strip(b"\xff").strip()
        return json.loads(line) if line else None

    def sync(self, timeout):
        """Connect and resynchronise: answers left over from earlier requests are skipped."""
        self.close()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(self.path)
        self.sync_id += 1
        self.sock.sendall(b"\xff")
        self._send({"execute": "guest-sync-delimited", "arguments": {"id": self.sync_id}})
        deadline = time.monotonic() + timeout
        while True:
            answer = self._read(deadline)
            if isinstance(answer, dict) and answer.get("return") == self.sync_id:
                return

    def call(self, command, arguments=None, timeout=30):
        if self.sock is None:
            self.sync(timeout)
        msg = {"execute": command}
        if arguments is not None:
            msg["arguments"] = arguments
        self._send(msg)
        deadline = time.monotonic() + timeout
        while True:
            answer = self._read(deadline)
            if not isinstance(answer, dict):
                continue
            if "error" in answer:
                raise LabError("%s: %s" % (command, answer["error"].get("desc", answer["error"])))
            if "return" in answer:
                return answer["return"]


class Guest:
    def __init__(self, image_dir, run_dir, log):
        self.image_dir = image_dir
        self.run_dir = run_dir
        self.share = os.path.join(run_dir, "share")
        self.log = log
        self.proc = None
        self.lock = None
        self.agent = Agent(os.path.join(run_dir, "qga.sock"))

    # -- start and stop -------------------------------------------------------------------

    def _dtb(self, path):
        """virt's own device tree with a Raspberry Pi 4's model and compatible strings."""
        subprocess.run(["qemu-system-aarch64", *MACHINE[:1], "virt,dumpdtb=" + path,
                        *MACHINE[2:], "-display", "none", "-nic", "none"],
                       check=True, timeout=60, stdout=subprocess.DEVNULL)
        subprocess.run(["fdtput", "-t", "s", path, "/", "model", PI4_MODEL],
                       check=True, timeout=30)
        subprocess.run(["fdtput", "-t", "s", path, "/", "compatible", *PI4_COMPATIBLE],
                       check=True, timeout=30)

    def start(self, cmdline_extra=""):
        os.makedirs(self.share, exist_ok=True)
        # One guest at a time on this machine.
        lock_path = os.path.join(os.path.dirname(self.run_dir.rstrip("/")), "vm.lock")
        self.lock = open(lock_path, "w")
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LabError("another lab guest is running (%s is locked)" % lock_path)
        overlay = os.path.join(self.run_dir, "overlay.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                        os.path.join(self.image_dir, "rootfs.img"), overlay],
                       check=True, timeout=60)
        dtb = os.path.join(self.run_dir, "pi4.dtb")
        self._dtb(dtb)
        console = os.path.join(self.run_dir, "console.log")
        args = ["nice", "-n", "5", "qemu-system-aarch64", *MACHINE,
                "-display", "none", "-monitor", "none", "-serial", "file:" + console,
                "-nic", "none",
                "-kernel", os.path.join(self.image_dir, "vmlinuz"),
                "-initrd", os.path.join(self.image_dir, "initrd.img"),
                "-dtb", dtb,
                "-append", "root=/dev/vda rw console=ttyAMA0 panic=10 " + cmdline_extra,
                "-drive", "file=%s,if=none,id=disk,format=qcow2,discard=unmap" % overlay,
                "-device", "virtio-blk-pci,drive=disk",
                "-device", "virtio-rng-pci",
                "-fsdev", "local,id=share,path=%s,security_model=none" % self.share,
                "-device", "virtio-9p-pci,fsdev=share,mount_tag=lab",
                "-chardev", "socket,id=qga,path=%s,server=on,wait=off" % self.agent.path,
                "-device", "virtio-serial-pci",
                "-device", "virtserialport,chardev=qga,name=org.qemu.guest_agent.0"]
        self.log("vm: " + " ".join(args))
        self.proc = subprocess.Popen(args, preexec_fn=_pdeathsig, stdin=subprocess.DEVNULL,
                                     stdout=open(os.path.join(self.run_dir, "qemu.log"), "w"),
                                     stderr=subprocess.STDOUT)
        with open(os.path.join(self.run_dir, "qemu.pid"), "w") as f:
            f.write("%d\n" % self.proc.pid)

    def wait_agent(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LabError("qemu exited (%d) before the guest agent answered; see %s"
                               % (self.proc.returncode, self.run_dir))
            if os.path.exists(self.agent.path):
                try:
                    self.agent.sync(5)
                    self.agent.call("guest-ping", timeout=5)
                    return
                except (OSError, TimeoutError, ConnectionError, ValueError, LabError):
                    self.agent.close()
            time.sleep(2)
        raise LabError("the guest agent did not answer within %d s" % timeout)

    def stop(self):
        """Power off: a clean shutdown if the agent answers, and the process killed by PID."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.agent.call("guest-shutdown", {"mode": "powerdown"}, timeout=5)
            except (OSError, TimeoutError, ConnectionError, ValueError, LabError):
                pass
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.agent.close()
        self.proc = None
        if self.lock:
            self.lock.close()
            self.lock = None

    # -- commands -------------------------------------------------------------------------

    def run(self, command, timeout=60, check=False, stdin=None):
        """`sh -c command` in the guest as root, bounded by `timeout` inside the guest too.
        Returns (exit code, stdout, stderr)."""
        args = {"path": "/usr/bin/timeout",
                "arg": ["-k", "5", str(int(timeout)), "/bin/sh", "-c", command],
                "capture-output": True}
        if stdin is not None:
            args["input-data"] = base64.b64encode(stdin.encode()).decode()
        for attempt in range(3):
            try:
                pid = self.agent.call("guest-exec", args, timeout=30)["pid"]
                break
            except (OSError, TimeoutError, ConnectionError) as e:
                # The agent may have been restarted; one more try on a fresh connection.
                self.agent.close()
                if attempt == 2:
                    raise LabError("guest-exec %r: %s" % (command, e))
                time.sleep(2)
        deadline = time.monotonic() + timeout + 30
        while True:
            status = self.agent.call("guest-exec-status", {"pid": pid}, timeout=30)
            if status.get("exited"):
                break
            if time.monotonic() > deadline:
                raise LabError("guest command did not end: %r" % command)
            time.sleep(0.5)
        out = base64.b64decode(status.get("out-data", "")).decode("utf-8", "replace")
        err = base64.b64decode(status.get("err-data", "")).decode("utf-8", "replace")
        code = status.get("exitcode", 128 + status.get("signal", 0))
        if check and code != 0:
            raise LabError("guest command failed (%d): %r\n%s%s" % (code, command, out, err))
        return code, out, err

    def wait_for(self, command, timeout, interval=2):
        """Run `command` until it exits 0 or `timeout` passes; the last (code, out, err)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.run(command, timeout=max(10, interval * 5))
            if result[0] == 0 or time.monotonic() > deadline:
                return result
            time.sleep(interval)
