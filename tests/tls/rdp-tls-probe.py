#!/usr/bin/env python3
"""Probe the TLS of an RDP server: send an X.224 Connection Request that
asks for TLS and NLA (MS-RDPBCGR 2.2.1.1), read the Connection Confirm,
then try a TLS handshake with the given limits.

  rdp-tls-probe.py PORT (tls1.1|tls1.2|tls1.3) [OPENSSL_CIPHERS]

Prints "accepted VERSION CIPHER" and exits 0, or prints "refused: why"
and exits 1."""
import socket
import ssl
import sys

port = int(sys.argv[1])
version = sys.argv[2]
ciphers = sys.argv[3] if len(sys.argv) > 3 else None

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
v = {"tls1.1": ssl.TLSVersion.TLSv1_1, "tls1.2": ssl.TLSVersion.TLSv1_2,
     "tls1.3": ssl.TLSVersion.TLSv1_3}[version]
# Security level 0 so that the client itself does not refuse to offer
# what we want to see the server refuse.
ctx.set_ciphers((ciphers or "DEFAULT") + ":@SECLEVEL=0")
ctx.minimum_version = v
ctx.maximum_version = v

s = socket.create_connection(("127.0.0.1", port), timeout=10)
# TPKT (4) + X.224 CR (7) + RDP_NEG_REQ (8): requestedProtocols SSL|HYBRID.
s.sendall(bytes([3, 0, 0, 19, 14, 0xE0, 0, 0, 0, 0, 0, 1, 0, 8, 0, 3, 0, 0, 0]))
cc = b""
while len(cc) < 19:
    chunk = s.recv(19 - len(cc))
    if not chunk:
        print("refused: connection closed before X.224 Connection Confirm")
        sys.exit(1)
    cc += chunk
if cc[11] != 2:
    print("refused: no RDP_NEG_RSP in the Connection Confirm")
    sys.exit(1)
try:
    t = ctx.wrap_socket(s)
except (ssl.SSLError, OSError) as e:
    print("refused:", e)
    sys.exit(1)
print("accepted", t.version(), t.cipher()[0])
t.close()
