"""Entry point of the ``fdd`` command.

Subcommands live in their own modules and are imported only when invoked, so
``fdd validate`` does not pay for importing torch or NVFlare.
"""

from __future__ import annotations

import importlib

import click

from nvflare_fdd import __version__

# command name -> "module:attribute"
_COMMANDS = {
    "check": "nvflare_fdd.cli.check:check",
    "data": "nvflare_fdd.cli.data:data",
    "demo": "nvflare_fdd.cli.demo:demo",
    "env": "nvflare_fdd.cli.env:env",
    "groups": "nvflare_fdd.cli.groups:groups",
    "job": "nvflare_fdd.cli.job:job",
    "jobs": "nvflare_fdd.cli.jobs:jobs",
    "kda": "nvflare_fdd.cli.kda:kda",
    "models": "nvflare_fdd.cli.models:models",
    "plugins": "nvflare_fdd.cli.plugins:plugins",
    "pretrained": "nvflare_fdd.cli.pretrained:pretrained",
    "run": "nvflare_fdd.cli.run:run",
    "server": "nvflare_fdd.cli.server:server",
    "templates": "nvflare_fdd.cli.job:templates",
    "ui": "nvflare_fdd.cli.ui:ui",
    "users": "nvflare_fdd.cli.users:users",
    "validate": "nvflare_fdd.cli.validate:validate",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _COMMANDS:
            module_name, attribute = _COMMANDS[cmd_name].split(":")
            return getattr(importlib.import_module(module_name), attribute)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup)
@click.version_option(__version__, prog_name="fdd")
def main() -> None:
    """nvflare-fdd: federated drug discovery on NVIDIA FLARE.

    Validate model bundles, load site assay data (KDA), check a bundle locally,
    and run it across sites with sample-weighted FedAvg.
    """
if __name__ == "__main__":
    main()
