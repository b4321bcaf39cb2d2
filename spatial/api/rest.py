"""REST API under /v1: blocks and their tree, sharing, and anchors that pin blocks to objects.

Tables, views and import/export are in `spatial.api.views`; formulas and
compute in `spatial.api.compute`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from anchors import AccountService, BlockService, User
from spatial.api import schemas as s
from spatial.api.errors import Unauthorized

router = APIRouter(prefix="/v1")


def block_service(request: Request) -> BlockService:
    return request.app.state.services.blocks


def account_service(request: Request) -> AccountService:
    return request.app.state.services.accounts


def bearer_token(request: Request) -> str:
    """The token of the `Authorization: Bearer <token>` header."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send an 'Authorization: Bearer <token>' header")
    return token.strip()


Accounts = Annotated[AccountService, Depends(account_service)]
Blocks = Annotated[BlockService, Depends(block_service)]


def current_user(token: Annotated[str, Depends(bearer_token)], accounts: Accounts) -> User:
    """The user the token belongs to; checked on every call, so a revoked token stops at once."""
    user = accounts.authenticate(token)
    if user is None:
        raise Unauthorized("the token is unknown or revoked")
    return user


Me = Annotated[User, Depends(current_user)]
Token = Annotated[str, Depends(bearer_token)]


@router.get("/health", tags=["service"])
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/me", tags=["service"])
def me(user: Me) -> s.UserOut:
    return s.UserOut(id=user.id, name=user.name)


@router.post("/blocks", status_code=201, tags=["blocks"])
def create_block(body: s.BlockIn, user: Me, blocks: Blocks) -> s.BlockOut:
    return s.BlockOut.of(blocks.create_block(user, body.kind, body.title, body.content, body.parent, body.index))


@router.get("/blocks", tags=["blocks"])
def list_blocks(user: Me, blocks: Blocks) -> list[s.BlockOut]:
    return [s.BlockOut.of(b) for b in blocks.list_blocks(user)]


@router.get("/blocks/{block_id}", tags=["blocks"])
def read_block(block_id: str, user: Me, blocks: Blocks) -> s.BlockOut:
    return s.BlockOut.of(blocks.read_block(user, block_id))


@router.patch("/blocks/{block_id}", tags=["blocks"])
def update_block(block_id: str, body: s.BlockPatch, user: Me, blocks: Blocks) -> s.BlockOut:
    updated = blocks.update_block(user, block_id, title=body.title, content=body.content, version=body.version)
    return s.BlockOut.of(updated)


@router.get("/blocks/{block_id}/children", tags=["blocks"])
def children(block_id: str, user: Me, blocks: Blocks) -> list[s.BlockOut]:
    return [s.BlockOut.of(b) for b in blocks.children(user, block_id)]


@router.post("/blocks/{block_id}/move", tags=["blocks"])
def move_block(block_id: str, body: s.MoveIn, user: Me, blocks: Blocks) -> s.BlockOut:
    return s.BlockOut.of(blocks.move_block(user, block_id, body.parent, body.index))


@router.delete("/blocks/{block_id}", status_code=204, tags=["blocks"])
def delete_block(block_id: str, user: Me, blocks: Blocks) -> Response:
    blocks.delete_block(user, block_id)
    return Response(status_code=204)


@router.post("/blocks/{block_id}/shares", status_code=204, tags=["blocks"])
def share_block(block_id: str, body: s.ShareIn, user: Me, blocks: Blocks) -> Response:
    blocks.share_block(user, block_id, body.user, body.role)
    return Response(status_code=204)


@router.delete("/blocks/{block_id}/shares/{user_name}", status_code=204, tags=["blocks"])
def unshare_block(block_id: str, user_name: str, user: Me, blocks: Blocks) -> Response:
    """Take a share back (owner only); the user's overlays of the block go with their next frame."""
    blocks.unshare_block(user, block_id, user_name)
    return Response(status_code=204)


@router.put("/blocks/{block_id}/public", tags=["blocks"])
def set_public(block_id: str, body: s.PublicIn, user: Me, blocks: Blocks) -> s.AccessOut:
    """Make a block, with everything under it, readable by every signed-in user, or private again (owner only)."""
    blocks.set_public(user, block_id, body.public)
    return s.AccessOut.of(blocks.access(user, block_id))


@router.get("/blocks/{block_id}/access", tags=["blocks"])
def access(block_id: str, user: Me, blocks: Blocks) -> s.AccessOut:
    """Who may read and write the block (owner only)."""
    return s.AccessOut.of(blocks.access(user, block_id))


@router.get("/tokens", tags=["tokens"])
def tokens(user: Me, accounts: Accounts) -> list[s.TokenOut]:
    """Your tokens, one or more a device: their ids and names, never the tokens themselves."""
    return [s.TokenOut(id=t.id, device=t.device, created_at=t.created_at) for t in accounts.tokens(user)]


@router.post("/tokens", status_code=201, tags=["tokens"])
def issue_token(body: s.TokenIn, user: Me, accounts: Accounts) -> s.NewTokenOut:
    """A new token for one of your devices; it is shown once, here, and stored only as a hash."""
    token = accounts.issue_token(user, label=body.device)
    return s.NewTokenOut(id=accounts.token_id(token), device=body.device, token=token)


@router.delete("/tokens/current", status_code=204, tags=["tokens"])
def revoke_current(token: Token, user: Me, accounts: Accounts) -> Response:
    """Revoke the token this request was made with (sign out)."""
    accounts.revoke_presented(token)
    return Response(status_code=204)


@router.delete("/tokens/{token_id}", status_code=204, tags=["tokens"])
def revoke_token(token_id: str, user: Me, accounts: Accounts) -> Response:
    """Revoke one of your tokens by id (a lost phone's, say); another user's token is not found."""
    accounts.revoke_token(user, token_id)
    return Response(status_code=204)


@router.post("/objects/{object_id:path}/anchors", status_code=201, tags=["anchors"])
def attach(object_id: str, body: s.AnchorIn, user: Me, blocks: Blocks) -> s.AnchorOut:
    return s.AnchorOut.of(blocks.attach(user, body.block_id, object_id, body.pose))


@router.get("/objects/{object_id:path}/anchors", tags=["anchors"])
def attached(object_id: str, user: Me, blocks: Blocks) -> list[s.AttachedOut]:
    return [
        s.AttachedOut(anchor=s.AnchorOut.of(a), block=s.BlockOut.of(b))
        for a, b in blocks.attached(user, [object_id])
    ]


@router.delete("/anchors/{anchor_id}", status_code=204, tags=["anchors"])
def detach(anchor_id: str, user: Me, blocks: Blocks, request: Request) -> Response:
    anchor = blocks.get_anchor(user, anchor_id)
    revision = blocks.detach(user, anchor_id)
    request.app.state.services.space_registry.removed(anchor, revision)
    return Response(status_code=204)
