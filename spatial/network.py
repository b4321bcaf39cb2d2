"""The addresses `spatial serve` listens on, and which of them another device can reach."""

from __future__ import annotations

import ipaddress
import socket

import psutil

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ALL_IPV4 = "0.0.0.0"
ALL_IPV6 = "::"


def as_address(host: str) -> IPAddress | None:
    """`host` as an IP address, or None for a host name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach `host` (127.0.0.0/8, ::1, localhost)."""
    address = as_address(host)
    return address.is_loopback if address is not None else host.lower() == "localhost"


def interface_addresses(ipv6: bool) -> list[IPAddress]:
    """The addresses of this machine's network interfaces that are up (IPv4, and IPv6 if asked),
    link-local IPv6 left out: a URL or a certificate cannot name one without its interface."""
    stats = psutil.net_if_stats()
    families = (socket.AF_INET, socket.AF_INET6) if ipv6 else (socket.AF_INET,)
    found: list[IPAddress] = []
    for name, entries in psutil.net_if_addrs().items():
        if name in stats and not stats[name].isup:
            continue
        for entry in entries:
            if entry.family not in families:
                continue
            address = ipaddress.ip_address(entry.address.split("%")[0])
            if not (address.version == 6 and address.is_link_local) and address not in found:
                found.append(address)
    return found


def interface_networks() -> list[IPNetwork]:
    """The networks this machine's interfaces are on (address and netmask), IPv4 and IPv6."""
    networks: list[IPNetwork] = []
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            if entry.family not in (socket.AF_INET, socket.AF_INET6) or not entry.netmask:
                continue
            mask_bits = bin(int(ipaddress.ip_address(entry.netmask))).count("1")
            network = ipaddress.ip_interface(f"{entry.address.split('%')[0]}/{mask_bits}").network
            if network not in networks:
                networks.append(network)
    return networks


def listen_addresses(host: str) -> list[IPAddress]:
    """Every address a service bound to `host` answers on: each interface's for 0.0.0.0 (IPv4) or ::
    (IPv4 and IPv6), the address itself, or what a host name resolves to."""
    if host == ALL_IPV4:
        return interface_addresses(ipv6=False)
    if host == ALL_IPV6:
        return interface_addresses(ipv6=True)
    address = as_address(host)
    if address is not None:
        return [address]
    resolved: list[IPAddress] = []
    for *_, sockaddr in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP):
        found = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if found not in resolved:
            resolved.append(found)
    return resolved


def lan_addresses(host: str) -> list[IPAddress]:
    """The addresses other devices can reach a service bound to `host` at: its non-loopback ones, IPv4 first."""
    reachable = [a for a in listen_addresses(host) if not a.is_loopback]
    return sorted(reachable, key=lambda a: a.version)


def url_host(address: IPAddress | str) -> str:
    """An address as the host part of a URL: IPv6 in brackets."""
    text = str(address)
    return f"[{text}]" if ":" in text else text
