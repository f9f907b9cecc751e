"""``suanli admin``: tenants and tokens of a running ``suanli serve`` (with an admin token)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from suanli.api.models import TenantIn
from suanli.cli import app
from suanli.cli.jobs import TokenOption, UrlOption, client, console, when
from suanli.cli.output import OutputFormat, OutputOption, print_json
from suanli.errors import InputError, Problem

admin_app = typer.Typer(help="Tenants and tokens (needs the admin token).", no_args_is_help=True)
tenants_app = typer.Typer(help="List and create tenants.", no_args_is_help=True)
tokens_app = typer.Typer(help="List, issue and revoke tokens.", no_args_is_help=True)
admin_app.add_typer(tenants_app, name="tenants")
admin_app.add_typer(tokens_app, name="tokens")
app.add_typer(admin_app, name="admin")


@tenants_app.command("ls")
def tenants_ls(
    url: UrlOption = None, token: TokenOption = None, output: OutputOption = OutputFormat.table
) -> None:
    """Every tenant."""
    with client(url, token) as c:
        got = c.tenants()
    if output is OutputFormat.json:
        print_json([t.model_dump(mode="json") for t in got])
        return
    t = Table("id", "name", "weight", "priority", "origin", "created (UTC)")
    for x in got:
        t.add_row(x.id, x.name, f"{x.weight:g}", str(x.priority), x.origin, when(x.created_at))
    console().print(t)


@tenants_app.command("create")
def tenants_create(
    tenant_id: Annotated[str, typer.Argument(help="The tenant's id.")],
    name: Annotated[str | None, typer.Option("--name", help="Its name (default: the id).")] = None,
    weight: Annotated[float, typer.Option("--weight", help="Its fair-share weight.")] = 1.0,
    priority: Annotated[int, typer.Option("--priority", help="Its priority.")] = 0,
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Create a tenant."""
    from pydantic import ValidationError

    try:
        body = TenantIn(id=tenant_id, name=name or tenant_id, weight=weight, priority=priority)
    except ValidationError as exc:
        raise InputError(
            [
                Problem("suanli admin tenants create", ".".join(map(str, e["loc"])), e["msg"])
                for e in exc.errors()
            ]
        ) from None
    with client(url, token) as c:
        got = c.create_tenant(body)
    if output is OutputFormat.json:
        print_json(got.model_dump(mode="json"))
        return
    typer.echo(f"created tenant {got.id}")


@tokens_app.command("ls")
def tokens_ls(
    url: UrlOption = None, token: TokenOption = None, output: OutputOption = OutputFormat.table
) -> None:
    """Every token (without its secret)."""
    with client(url, token) as c:
        got = c.tokens()
    if output is OutputFormat.json:
        print_json([t.model_dump(mode="json") for t in got])
        return
    t = Table("id", "role", "tenant", "label", "created (UTC)", "revoked (UTC)")
    for x in got:
        t.add_row(
            str(x.id), x.role, x.tenant or "-", x.label, when(x.created_at), when(x.revoked_at)
        )
    console().print(t)


@tokens_app.command("issue")
def tokens_issue(
    tenant: Annotated[str, typer.Argument(help="The tenant the token acts for.")],
    label: Annotated[str, typer.Option("--label", help="A note on what it is for.")] = "",
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Issue a token for a tenant; its secret is printed only this once."""
    with client(url, token) as c:
        got = c.issue_token(tenant, label)
    if output is OutputFormat.json:
        print_json(got.model_dump(mode="json"))
        return
    typer.echo(got.token)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (suanli admin tokens ls).")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Revoke a token."""
    with client(url, token) as c:
        c.revoke_token(token_id)
    typer.echo(f"revoked token {token_id}")
