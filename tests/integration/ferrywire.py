# SPDX-License-Identifier: GPL-2.0-or-later
"""Ferry's wire format (docs/PROTOCOL.md) from Python, to play hostile peers in tests."""
import datetime
import hashlib
import os
import socket
import ssl
import struct

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

REQUEST, RESPONSE, TICKET, MANIFEST, DATA, END, ERROR = 0x10, 0x11, 0x20, 0x21, 0x22, 0x23, 0x7F
TAG_OP, TAG_STATUS, TAG_MESSAGE = 1, 2, 3
OP_PING, OP_NODE_LIST = 1, 6
ALPN_CTL, ALPN_MIG, ALPN_API, ALPN_ENROLL = "ferry-ctl/1", "ferry-mig/1", "ferry-api/1", "ferry-enroll/1"
NODE_PORT, CONTROLLER_PORT = 7440, 7441


def frame(ftype, payload=b"", flags=0, length=None):
    return struct.pack(">BBHI", ftype, flags, 0, len(payload) if length is None else length) + payload


def tlv(tag, value):
    if isinstance(value, str):
        value = value.encode()
    return struct.pack(">HH", tag, len(value)) + value


def parse_tlv(payload):
    out, i = {}, 0
    while i + 4 <= len(payload):
        tag, n = struct.unpack(">HH", payload[i:i + 4])
        out.setdefault(tag, []).append(payload[i + 4:i + 4 + n])
        i += 4 + n
    return out


class Conn:
    """A TLS connection speaking frames; every read has a deadline."""

    def __init__(self, sock):
        self.sock = sock

    def send(self, data):
        self.sock.sendall(data)

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    def recv_frame(self):
        ftype, flags, _, n = struct.unpack(">BBHI", self.recv_exact(8))
        return ftype, self.recv_exact(n) if n else b""

    def error_text(self):
        """The peer's answer as text: 'OK', an ERROR message, or how the connection ended."""
        try:
            ftype, payload = self.recv_frame()
        except (ConnectionError, ssl.SSLError, OSError) as e:
            return f"closed: {e}"
        if ftype == RESPONSE:
            return "OK"
        if ftype == ERROR:
            return parse_tlv(payload).get(TAG_MESSAGE, [b"?"])[0].decode()
        return f"frame 0x{ftype:02x}"

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def connect(addr, port, alpn, cert=None, key=None, ca=None, tls12=False, timeout=10, source=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if ca:
        ctx.load_verify_locations(ca)
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols([alpn])
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    raw = socket.create_connection((addr, port), timeout=timeout, source_address=(source, 0) if source else None)
    try:
        return Conn(ctx.wrap_socket(raw))
    except Exception:
        raw.close()
        raise


def manifest(files):
    """files: list of (name, bytes) -> (encoded manifest, its sha256); names in byte order, as Ferry sorts them."""
    files = sorted(files, key=lambda f: f[0].encode())
    out = b"FMF1" + struct.pack(">I", len(files))
    for name, data in files:
        out += struct.pack(">H", len(name)) + name.encode() + struct.pack(">Q", len(data)) + hashlib.sha256(data).digest()
    return out, hashlib.sha256(out).digest()


def bundle_frames(ticket, files, chunk=65536):
    """The frames a correct source sends after the ticket was admitted."""
    files = sorted(files, key=lambda f: f[0].encode())
    man, digest = manifest(files)
    frames = [frame(MANIFEST, man)]
    for i, (_, data) in enumerate(files):
        for off in range(0, len(data), chunk):
            frames.append(frame(DATA, struct.pack(">I", i) + data[off:off + chunk]))
    frames.append(frame(END, struct.pack(">I", len(files)) + digest))
    return frames


def make_key():
    return ed25519.Ed25519PrivateKey.generate()


def write_key(key, path):
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    os.chmod(path, 0o600)


def load_key(path):
    return serialization.load_pem_private_key(path.read_bytes(), None)


def make_cert(cn, key, issuer_cert=None, issuer_key=None, days=30, expired=False, ca=False):
    """A certificate for key; self-signed CA when no issuer is given."""
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = (now - datetime.timedelta(days=10), now - datetime.timedelta(days=1)) if expired else \
        (now - datetime.timedelta(minutes=1), now + datetime.timedelta(days=days))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    b = (x509.CertificateBuilder().subject_name(name)
         .issuer_name(issuer_cert.subject if issuer_cert else name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(start).not_valid_after(end)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        b = b.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH,
                                                   x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return b.sign(issuer_key or key, None)


def write_cert(cert, path):
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
