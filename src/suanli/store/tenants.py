"""Tenants and API tokens.

Tokens are random (256 bits from :mod:`secrets`) and shown once; only their
SHA-256 hash is stored. A slow password hash is not needed for secrets of that
entropy, and a deterministic hash lets a request's token be found by an index.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from suanli.store.db import Database
from suanli.store.records import Principal, TenantRecord, TokenRecord
from suanli.store.schema import Role, api_tokens, tenants

TOKEN_PREFIX = "suanli_"


def hash_token(token: str) -> str:
    """The stored form of a token (hex SHA-256)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class TenantExistsError(Exception):
    """A tenant with this id exists already."""


class TokenRevokedError(Exception):
    """The token was revoked; it cannot be made active again."""


class LastAdminError(Exception):
    """Revoking the token would leave no active admin token."""


class TenantStore:
    """Tenants and their tokens in the database.

    :meth:`authenticate` remembers answers for ``cache_s`` seconds (a request then costs
    no query); :meth:`revoke` forgets them at once, so a revoked token is refused by this
    process immediately (by another process sharing the database within ``cache_s``).
    """

    def __init__(self, db: Database, cache_s: float = 5.0) -> None:
        self.db = db
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    def ensure(self, rows: Iterable[tuple[str, str, float, int]], origin: str) -> int:
        """Create the tenants ``(id, name, weight, priority)`` that are missing; return how many."""
        have = {t.id for t in self.all()}
        new = [r for r in rows if r[0] not in have]
        if new:
            now = time.time()
            with self.db.write() as conn:
                conn.execute(
                    insert(tenants),
                    [
                        dict(id=i, name=n, weight=w, priority=p, origin=origin, created_at=now)
                        for i, n, w, p in new
                    ],
                )
        return len(new)

    def create(
        self,
        tenant_id: str,
        name: str,
        weight: float,
        priority: int,
        *,
        max_queued: int | None = None,
        submit_rate: float | None = None,
    ) -> TenantRecord:
        """Create a tenant over the API; :class:`TenantExistsError` if the id is taken.
        ``max_queued`` and ``submit_rate`` are its limits (``None``: the server's default)."""
        row = dict(
            id=tenant_id,
            name=name,
            weight=weight,
            priority=priority,
            origin="api",
            created_at=time.time(),
            max_queued=max_queued,
            submit_rate=submit_rate,
        )
        try:
            with self.db.write() as conn:
                conn.execute(insert(tenants).values(**row))
        except IntegrityError:
            raise TenantExistsError(tenant_id) from None
        return TenantRecord.from_row(row)

    def set_limits(self, tenant_id: str, **limits: int | float | None) -> TenantRecord | None:
        """Set some of a tenant's limits (``max_queued``, ``submit_rate``; ``None``: back to
        the server's default); the tenant afterwards, or ``None`` if there is none."""
        unknown = set(limits) - {"max_queued", "submit_rate"}
        if unknown:
            raise ValueError(f"not a tenant limit: {sorted(unknown)}")
        if limits:
            with self.db.write() as conn:
                conn.execute(update(tenants).where(tenants.c.id == tenant_id).values(**limits))
        return self.get(tenant_id)

    def get(self, tenant_id: str) -> TenantRecord | None:
        """A tenant by id."""
        with self.db.read() as conn:
            row = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).first()
        return TenantRecord.from_row(row._mapping) if row is not None else None

    def all(self) -> list[TenantRecord]:
        """All tenants by id."""
        with self.db.read() as conn:
            rows = conn.execute(select(tenants).order_by(tenants.c.id)).all()
        return [TenantRecord.from_row(r._mapping) for r in rows]

    def issue_token(self, role: Role, tenant_id: str | None, label: str = "") -> tuple[str, int]:
        """Create a token; return ``(secret, token id)``. The secret is not stored."""
        if (role is Role.TENANT) != (tenant_id is not None):
            raise ValueError("a tenant token needs a tenant id; an admin token has none")
        token = new_token()
        token_id = self.add_token_hash(hash_token(token), role, tenant_id, label)
        return token, token_id

    def add_token_hash(
        self, token_hash: str, role: Role, tenant_id: str | None, label: str = ""
    ) -> int:
        """Store a token given by its hash (idempotent); return its id."""
        self._cache.pop(token_hash, None)
        with self.db.write() as conn:
            got = conn.execute(
                select(api_tokens.c.id).where(api_tokens.c.token_hash == token_hash)
            ).scalar()
            if got is not None:
                return int(got)
            res = conn.execute(
                insert(api_tokens).values(
                    token_hash=token_hash,
                    role=role.value,
                    tenant_id=tenant_id,
                    label=label,
                    created_at=time.time(),
                )
            )
            return int(res.inserted_primary_key[0])  # type: ignore[index]

    def authenticate(self, token: str) -> Principal | None:
        """Who holds ``token`` (``None``: unknown or revoked)."""
        digest = hash_token(token)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        who = self._lookup(digest)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + self.cache_s, who)
        return who

    def _lookup(self, digest: str) -> Principal | None:
        with self.db.read() as conn:
            row = conn.execute(
                select(api_tokens.c.id, api_tokens.c.role, api_tokens.c.tenant_id).where(
                    api_tokens.c.token_hash == digest,
                    api_tokens.c.revoked_at.is_(None),
                )
            ).first()
        if row is None:
            return None
        return Principal(int(row.id), Role(row.role), row.tenant_id)

    def tokens(self, tenant_id: str | None = None) -> list[TokenRecord]:
        """Tokens (without secrets), optionally of one tenant."""
        q = select(api_tokens).order_by(api_tokens.c.id)
        if tenant_id is not None:
            q = q.where(api_tokens.c.tenant_id == tenant_id)
        with self.db.read() as conn:
            return [TokenRecord.from_row(r._mapping) for r in conn.execute(q).all()]

    def has_admin(self) -> bool:
        """Whether any admin token is active."""
        with self.db.read() as conn:
            got = conn.execute(
                select(api_tokens.c.id).where(
                    api_tokens.c.role == Role.ADMIN.value, api_tokens.c.revoked_at.is_(None)
                )
            ).first()
        return got is not None

    def set_bootstrap(self, token_hash: str, label: str) -> tuple[int, list[int]]:
        """Make the admin token of ``token_hash`` the bootstrap one (labelled ``label``),
        revoking the other active admin tokens with that label; return ``(its id, the ids
        revoked)``. :class:`TokenRevokedError` if the token was revoked before."""
        self._cache.clear()
        with self.db.write() as conn:
            got = conn.execute(
                select(api_tokens.c.id, api_tokens.c.role, api_tokens.c.revoked_at).where(
                    api_tokens.c.token_hash == token_hash
                )
            ).first()
            if got is not None and (got.revoked_at is not None or got.role != Role.ADMIN.value):
                raise TokenRevokedError(int(got.id))
            if got is not None:
                token_id = int(got.id)
            else:
                res = conn.execute(
                    insert(api_tokens).values(
                        token_hash=token_hash,
                        role=Role.ADMIN.value,
                        tenant_id=None,
                        label=label,
                        created_at=time.time(),
                    )
                )
                token_id = int(res.inserted_primary_key[0])  # type: ignore[index]
            old = [
                int(r.id)
                for r in conn.execute(
                    select(api_tokens.c.id).where(
                        api_tokens.c.role == Role.ADMIN.value,
                        api_tokens.c.label == label,
                        api_tokens.c.revoked_at.is_(None),
                        api_tokens.c.id != token_id,
                    )
                ).all()
            ]
            if old:
                conn.execute(
                    update(api_tokens)
                    .where(api_tokens.c.id.in_(old))
                    .values(revoked_at=time.time())
                )
        return token_id, old

    def revoke(self, token_id: int, *, keep_an_admin: bool = False) -> bool:
        """Revoke a token; whether it was active. With ``keep_an_admin``, refuse
        (:class:`LastAdminError`) to revoke the last active admin token."""
        self._cache.clear()
        with self.db.write() as conn:
            if keep_an_admin:
                admins = conn.execute(
                    select(api_tokens.c.id)
                    .where(api_tokens.c.role == Role.ADMIN.value, api_tokens.c.revoked_at.is_(None))
                    .with_for_update()
                ).all()
                if [int(r.id) for r in admins] == [token_id]:
                    raise LastAdminError(token_id)
            res = conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )
        return bool(res.rowcount)
