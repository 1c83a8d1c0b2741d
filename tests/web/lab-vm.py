#!/usr/bin/python3
"""tests/web/lab-vm.py CONTROL_PORT -- VDI_VM ARGS... — run inside the KVM lab
by tests/web/gateway's lab case (WEB_LAB=1): vdi-vm with ARGS (its
control socket on the lab's own tmpfs, as unix sockets cannot live on 9p),
its console on our stdout (the lab streams it back live), and the control
socket offered on TCP CONTROL_PORT (all addresses: the lab forwards it to
the test's loopback), one connection at a time, lines both ways. Exits
with vdi-vm's status."""
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

port = int(sys.argv[1])
assert sys.argv[2] == "--"
argv = sys.argv[3:]
sock = os.path.join(tempfile.mkdtemp(prefix="vdi-web-lab-"), "control.sock")
vm = subprocess.Popen(argv + ["--control", sock], stdin=subprocess.DEVNULL)


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def relay():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(4)
    while True:
        conn, _ = srv.accept()
        ctl = socket.socket(socket.AF_UNIX)
        end = time.time() + 120
        while True:
            try:
                ctl.connect(sock)
                break
            except OSError:
                if time.time() > end or vm.poll() is not None:
                    conn.close()
                    ctl = None
                    break
                time.sleep(0.2)
        if ctl is None:
            continue
        threading.Thread(target=pump, args=(ctl, conn), daemon=True).start()
        pump(conn, ctl)


threading.Thread(target=relay, daemon=True).start()
sys.exit(vm.wait())
