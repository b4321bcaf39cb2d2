"""Joining from another device: a new device token, as links and QR codes to scan (the `/join` page)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from spatial.api import schemas as s
from spatial.api.rest import Accounts, Me
from spatial.join import device_bases, join_url, qr_png_data_uri

router = APIRouter(prefix="/v1")


@router.post("/join", status_code=201, tags=["tokens"])
def join(body: s.TokenIn, user: Me, accounts: Accounts, request: Request) -> s.JoinOut:
    """A new token for one of your devices, with the service's address for that device on each LAN address,
    the token in the URL's fragment, and the same as a QR code to scan. Revoke it like any token."""
    token = accounts.issue_token(user, label=body.device)
    urls = [join_url(base, token) for base in device_bases(request.app.state.services.settings)]
    return s.JoinOut(
        id=accounts.token_id(token), device=body.device, token=token,
        links=[s.JoinLink(url=url, qr_png=qr_png_data_uri(url)) for url in urls],
    )
