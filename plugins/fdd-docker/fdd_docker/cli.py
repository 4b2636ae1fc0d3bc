"""``fdd env build-base``: build the site's base image (registered as a subcommand of ``fdd env``)."""

from __future__ import annotations

import click

from fdd_docker.base_image import DEBIAN_MIRROR, DEFAULT_TAG, BaseImageSpec


@click.command("build-base")
@click.option("--tag", default=DEFAULT_TAG, show_default=True, help="The image's tag (environment.base_image of the sites).")
@click.option("--python", "python", default="3.11", show_default=True,
              help="Python version: Debian's 3.11 (bookworm) or 3.13 (trixie); any with --from.")
@click.option("--torch", "torch", default="", help="torch version  [default: this site's]")
@click.option("--cuda", is_flag=True, help="torch's CUDA build from the package index (multi-GB)  [default: the CPU build]")
@click.option("--from", "from_image", default="", metavar="IMAGE",
              help="Start from this image on the host (it must have that Python) instead of Debian's packages.")
@click.option("--index-url", default="", metavar="URL", help="Package index  [default: pip's configuration, else PyPI]")
@click.option("--extra-index-url", "extra_index_urls", multiple=True, metavar="URL",
              help="More package indexes; repeatable  [default: pip's configuration]")
@click.option("--find-links", "find_links", multiple=True, metavar="DIR|URL",
              help="Wheel folders, e.g. with torch's CPU wheel; repeatable  [default: pip's configuration]")
@click.option("--cert", default="", metavar="FILE", help="CA bundle for the index, kept in the image for job builds  "
              "[default: pip's, else $SSL_CERT_FILE]")
@click.option("--mirror", default=DEBIAN_MIRROR, show_default=True, help="Debian mirror for debootstrap.")
@click.option("--pin-site-versions/--no-pin-site-versions", default=True, show_default=True,
              help="Install the versions of the packages this site runs.")
@click.option("--rebuild", is_flag=True, help="Build even when an image with the same inputs exists.")
@click.option("--docker", "docker", default="docker", show_default=True, help="The docker client.")
def build_base(
    tag: str, python: str, torch: str, cuda: bool, from_image: str, index_url: str, extra_index_urls: tuple[str, ...],
    find_links: tuple[str, ...], cert: str, mirror: str, pin_site_versions: bool, rebuild: bool, docker: str,
) -> None:  # fmt: skip
    """Build the site's base image: nvflare-fdd (this version), torch, uv and the bundle runner.

    It needs Debian's packages and a package index only, no image registry: Debian's root
    file system comes from debootstrap (as root), then uv installs the packages, pinned to
    the versions this site runs. Job images build on it with the bundle's requirements.txt.
    A build whose inputs did not change keeps the existing image.
    """
    from fdd_docker.base_image import build_base_image
    from fdd_docker.client import DockerClient
    from nvflare_fdd.envs import JobEnvironmentError

    spec = BaseImageSpec(
        tag=tag, python=python, torch=torch, cuda=cuda, from_image=from_image, index_url=index_url,
        extra_index_urls=extra_index_urls or None, find_links=find_links or None, cert=cert, mirror=mirror,
        pin_site_versions=pin_site_versions, rebuild=rebuild,
    )  # fmt: skip
    try:
        image = build_base_image(spec, DockerClient(docker), log=click.echo)
    except JobEnvironmentError as exc:
        raise click.ClickException(str(exc)) from None
    labels = image.labels
    contents = ", ".join(
        f"{name} {labels.get(f'org.nvflare-fdd.base.{key}', '?')}"
        for name, key in (("nvflare-fdd", "version"), ("Python", "python"), ("torch", "torch"), ("uv", "uv"))
    )
    done = "kept" if image.reused else f"built in {image.seconds:.0f} s"
    click.echo(f"{' '.join(image.tags)} ({image.image_id[7:19]}): {contents}; {done}")
