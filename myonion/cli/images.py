"""`myonion base`, `myonion templates` and `myonion prune`: the images services build on."""

from __future__ import annotations

import click
from rich.table import Table

from myonion.build import images
from myonion.cli import common
from myonion.cli.common import (
    err,
    json_out,
    out,
    progress,
)
from myonion.templates import COMMON_OPTIONS


# base ---------------------------------------------------------------------------------------
@click.group()
def base() -> None:
    """The base image templates build on."""


@base.command("build")
@click.option("--mirror", help="Debian mirror URL (default: the one this host's apt uses).")
@click.option("--arch", "arch_name", metavar="ARCH",
              help="amd64, arm64 or armhf (default: this machine's); another architecture "
                   "is made through emulation (qemu-user-static).")
@click.option("--tag", help=f"The image's tag (default: {images.LOCAL_BASE}, with -ARCH for "
                            "another architecture than amd64).")
@click.option("--force", is_flag=True, help="Rebuild even if the image exists.")
@click.pass_context
def base_build(ctx: click.Context, mirror: str | None, arch_name: str | None,
               tag: str | None, force: bool) -> None:
    """Make the base image locally with debootstrap and docker import (no registry needed)."""
    from myonion.runtime import default_runtime

    with progress(ctx) as reporter:
        result = images.build_base(default_runtime(), mirror=mirror, tag=tag, reporter=reporter,
                                   force=force, arch=arch_name)
    out.print(result)


@click.command("prune")
@click.option("--dry-run", is_flag=True, help="Only show what would be removed.")
def prune(dry_run: bool) -> None:
    """Remove images of older template versions that no container uses (frees disk space)."""
    result = common.manager().prune_images(dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for tag in result.removed:
        out.print(f"{verb} {tag}")
    for tag, why in result.kept.items():
        err.print(f"kept {tag}: {why}")
    if not result.removed:
        out.print("No old images: every myonion image is current or in use.")
    else:
        out.print(f"{verb} {len(result.removed)} image(s), up to "
                  f"{result.size / 1e6:.1f} MB (layers other images share stay)")


# templates ----------------------------------------------------------------------------------
@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def templates(ctx: click.Context, as_json: bool) -> None:
    """List the templates."""
    if ctx.invoked_subcommand:
        return
    from myonion.templates import TemplateRegistry

    specs = TemplateRegistry().all()
    if as_json:
        json_out([t.to_dict() for t in specs])
        return
    table = Table("id", "title", "onion ports", "options", box=None)
    for t in specs:
        table.add_row(t.id, t.title, ", ".join(f"{p.virtual}→{p.target}" for p in t.ports),
                      ", ".join(o.name for o in t.options) or "-")
    out.print(table)


@templates.command("show")
@click.argument("template_id")
@click.option("--json", "as_json", is_flag=True)
def templates_show(template_id: str, as_json: bool) -> None:
    """One template's description and options."""
    from myonion.templates import TemplateRegistry

    t = TemplateRegistry().get(template_id)
    if as_json:
        json_out(t.to_dict())
        return
    out.print(f"[bold]{t.id}[/bold] — {t.title}\n{t.description}\n")
    out.print("onion ports: " + ", ".join(
        f"{p.virtual} → 127.0.0.1:{p.target}" + (f" (when {p.when})" if p.when else "")
        for p in t.ports))
    for pub in t.publish:
        out.print(f"published on this machine only when asked: port {pub.target} "
                  f"(-o {pub.option}=PORT" + (f", -o {pub.address_option}=ADDRESS"
                                              if pub.address_option else "") + ")")
    table = Table("option", "type", "required", "default", "help", box=None)
    for o in t.options:
        kind = f"choice ({'|'.join(o.choices)})" if o.choices else o.type
        table.add_row(o.name, kind, "yes" if o.required else "no",
                      "" if o.default is None else str(o.default), o.help)
    out.print(table)
    for group in t.one_of:
        out.print("give exactly one of: " + ", ".join(group))
    out.print("every template also takes tor's DoS defences: " + ", ".join(
        f"{o.name} ({o.type})" for o in COMMON_OPTIONS) + " (see docs/SECURITY.md); "
        f"max_streams is {t.max_streams} unless given")
