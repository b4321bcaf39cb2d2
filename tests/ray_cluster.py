"""A real local Ray cluster for the tests: `ray start --head` in a process group of its own, with Ray's token
authentication and TLS under a certificate authority the test makes.

Every process that joins it (the `spatial serve` replicas, `driver` scripts) gets `RayCluster.env`: the
token, the TLS files, and `PYTHONPATH` naming this checkout, so that the cluster's workers import the code
under test. The test process itself never joins it.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from harness.paths import ROOT
from harness.ports import free_port

RAY = Path(sys.executable).with_name("ray")


@dataclass
class RayCluster:
    address: str
    """host:port of the head's GCS, as `--detector-cluster` and `--ray-address` take it."""
    port: int
    env: dict[str, str]
    certificate: x509.Certificate
    """The certificate every Ray process presents (made by the test, signed by its CA)."""
    ca_file: Path
    cert_file: Path
    key_file: Path
    process: subprocess.Popen
    directory: Path


def machine_addresses() -> list[str]:
    """Every IPv4 address of this machine: Ray names a node by one of them, never by 127.0.0.1."""
    return sorted({a.address for nic in psutil.net_if_addrs().values() for a in nic if a.family == socket.AF_INET})


def make_certificates(directory: Path, addresses: list[str]) -> tuple[Path, Path, Path, x509.Certificate]:
    """A CA, and a certificate it signs for `addresses` and localhost, with its key: (ca, cert, key, certificate)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "spatial tests: Ray CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), *(x509.IPAddress(ipaddress.ip_address(a)) for a in addresses)]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "spatial tests: Ray node")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = directory / "ca.crt", directory / "node.crt", directory / "node.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return ca_file, cert_file, key_file, certificate


def start_ray_cluster(cpus: int = 2, timeout_s: float = 120) -> RayCluster:
    """`ray start --head --block` on free ports, with token authentication and TLS; returns once it runs."""
    # A short directory: Ray's Unix sockets live under it, and a socket path has at most 107 bytes.
    directory = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    ca_file, cert_file, key_file, certificate = make_certificates(directory, machine_addresses())
    env = {
        "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "RAY_USE_TLS": "1", "RAY_TLS_SERVER_CERT": str(cert_file), "RAY_TLS_SERVER_KEY": str(key_file),
        "RAY_TLS_CA_CERT": str(ca_file),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    port = free_port()
    log = directory / "head.log"
    process = subprocess.Popen(
        [str(RAY), "start", "--head", "--block", f"--port={port}", f"--num-cpus={cpus}", "--num-gpus=0",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={directory / 'ray'}",
         f"--dashboard-port={free_port()}", f"--dashboard-agent-listen-port={free_port()}",
         f"--ray-client-server-port={free_port()}"],
        stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **env}, start_new_session=True,
    )
    cluster = RayCluster(f"127.0.0.1:{port}", port, env, certificate, ca_file, cert_file, key_file, process, directory)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        if "Ray runtime started" in log.read_text():
            return cluster
        time.sleep(0.2)
    printed = log.read_text()
    stop_ray_cluster(cluster)
    raise RuntimeError(f"ray start --head did not start:\n{printed}")


def stop_ray_cluster(cluster: RayCluster) -> None:
    """Kill every process of the cluster (its own process group) and remove its files."""
    try:
        os.killpg(cluster.process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    cluster.process.wait(timeout=30)
    shutil.rmtree(cluster.directory, ignore_errors=True)


def driver(cluster: RayCluster, code: str, timeout_s: float = 120) -> Any:
    """Run Python `code` as a Ray driver of the cluster (`ray` and `serve` are joined and imported); it ends
    by printing one JSON value, which is returned."""
    script = (
        "import json, ray\nfrom ray import serve\n"
        f"ray.init(address={cluster.address!r}, log_to_driver=False, logging_level='ERROR')\n{code}"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **cluster.env}, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"the driver failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
