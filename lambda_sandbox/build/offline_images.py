"""The Docker images the docker backend and compose use, built with no registry.

No image can be pulled on machines without a registry (CI's among them), so every image here
starts from a Debian base made locally, and every file it needs is staged from the host:

    lambda-sandbox/debian:bookworm     debootstrap --variant=minbase + `docker import`
    lambda-sandbox/python:3.12         a stand-in for public.ecr.aws/lambda/python:3.12: the
                                       runtime's CPython, awslambdaric + boto3 (wheels for the
                                       image's Python, installed by the host's pip), the real
                                       RIE from the aws-sam-cli wheel, AWS's entry point
    lambda-sandbox/sandbox:latest      the sandbox itself (compose), from the project's wheels
    lambda-sandbox/localstack:4.14.0   LocalStack from PyPI's localstack-core (compose)

Each Dockerfile (docker/<name>/Dockerfile) takes its base as the build argument BASE, so a
machine that can pull builds the same images from AWS's or Debian's published ones. An image
that exists is kept unless `rebuild` names it; the sandbox image is rebuilt when the project's
code changed (its label carries the digest of the sources).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambda_sandbox.build.pip import run_pip
from lambda_sandbox.build.rie_binary import host_architecture, rie_binary
from lambda_sandbox.build.runtimes import BOOTSTRAP, find_python
from lambda_sandbox.docker_engine import connect, engine_errors
from lambda_sandbox.exceptions import BuildError
from lambda_sandbox.paths import cache_root, package_data
from lambda_sandbox.types import Progress

__all__ = [
    "DEBIAN_IMAGE",
    "IMAGES",
    "LAMBDA_BASE",
    "LAMBDA_BASE_FILES",
    "LOCALSTACK_IMAGE",
    "RECIPE_LABEL",
    "SANDBOX_IMAGE",
    "build_images",
    "host_ca_bundle",
    "lambda_base_image",
    "lambda_base_recipe",
]

# a source checkout (pyproject.toml beside the package), for the sandbox's own image
ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = package_data("docker")
DEBIAN_IMAGE = "lambda-sandbox/debian:bookworm"
LAMBDA_BASE = "lambda-sandbox/python:{version}"
SANDBOX_IMAGE = "lambda-sandbox/sandbox:latest"
LOCALSTACK_IMAGE = "lambda-sandbox/localstack:4.14.0"
IMAGES = ("debian", "lambda", "sandbox", "localstack")
LAMBDA_BASE_FILES = ("Dockerfile", "lambda-entrypoint.sh", "bootstrap", "package-manager")
RECIPE_LABEL = "lambda-sandbox.recipe"
# shared libraries CPython's extension modules link against (ssl, ctypes, sqlite3, lzma, ...)
DEBIAN_PACKAGES = (
    "ca-certificates,libssl3,libffi8,libsqlite3-0,liblzma5,libbz2-1.0,libexpat1,zlib1g,"
    "libuuid1,libncursesw6,libreadline8"
)
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# never copied into an image: tests, GUIs, and the host's own installed packages
_STDLIB_SKIP = ("test", "idlelib", "tkinter", "turtledemo", "site-packages", "lib2to3")


def lambda_base_image(runtime: str) -> str:
    """The offline stand-in for AWS's base image of a Python runtime."""
    return LAMBDA_BASE.format(version=runtime.removeprefix("python"))


@dataclass(frozen=True)
class PythonPrefix:
    version: str  # "3.12"
    prefix: Path  # sys.base_prefix of the interpreter

    @classmethod
    def of(cls, interpreter: str) -> PythonPrefix:
        code = "import sys; print('%d.%d' % sys.version_info[:2]); print(sys.base_prefix)"
        out = subprocess.run([interpreter, "-c", code], capture_output=True, text=True, check=True)
        version, prefix = out.stdout.split()
        return cls(version, Path(prefix))

    def stage(self, dest: Path) -> None:
        """Copy the interpreter and its standard library (not its site-packages) to dest, as
        /var/lang is on Lambda; LD_LIBRARY_PATH points the image at dest/lib."""
        lib = self.prefix / "lib"
        stdlib = lib / f"python{self.version}"
        (dest / "bin").mkdir(parents=True)
        shutil.copy2(self.prefix / "bin" / f"python{self.version}", dest / "bin")
        for alias in ("python3", "python"):
            (dest / "bin" / alias).symlink_to(f"python{self.version}")
        (dest / "lib").mkdir()
        for so in lib.glob(f"libpython{self.version}*.so*"):
            shutil.copy2(so, dest / "lib", follow_symlinks=True)
        shutil.copytree(
            stdlib,
            dest / "lib" / f"python{self.version}",
            ignore=lambda d, names: [
                n
                for n in names
                if Path(d) == stdlib and (n in _STDLIB_SKIP or n.startswith("config-"))
            ],
            symlinks=True,
        )
        (dest / "lib" / f"python{self.version}" / "site-packages").mkdir()


# --------------------------------------------------------------------------------- engine
def docker_client() -> Any:
    return connect(BuildError, "building the offline images")


def _exists(client: Any, name: str) -> Any | None:
    import docker.errors

    try:
        return client.images.get(name)
    except docker.errors.ImageNotFound:
        return None


def _build(
    client: Any, context: Path, tag: str, say: Progress, buildargs: dict[str, str],
    labels: dict[str, str] | None = None,
) -> None:  # fmt: skip
    """docker build, its steps shown as they run, its errors as BuildError."""
    say(f"docker build -t {tag}")
    log: list[str] = []
    stream = client.api.build(
        path=str(context), tag=tag, buildargs=buildargs, rm=True, forcerm=True, pull=False,
        decode=True, labels=labels,
    )  # fmt: skip
    for chunk in stream:
        if "error" in chunk:
            raise BuildError(
                f"docker build of {tag} failed: {chunk['error']}\n{''.join(log[-30:])}"
            )
        text = str(chunk.get("stream") or "")
        log.append(text)
        if text.startswith("Step "):
            say(f"  {tag}: {text.strip()}")


# ----------------------------------------------------------------------------------- images
def build_debian(client: Any, say: Progress) -> None:
    """debootstrap a minimal bookworm and `docker import` it."""
    if shutil.which("debootstrap") is None:
        raise BuildError(
            "debootstrap is needed to make the offline base: apt-get install debootstrap"
        )
    if os.geteuid() != 0:
        raise BuildError("debootstrap needs root to make the offline base image")
    with tempfile.TemporaryDirectory(dir=cache_root()) as tmp:
        rootfs = Path(tmp) / "rootfs"
        say(f"debootstrap --variant=minbase bookworm (about a minute) from {DEBIAN_MIRROR}")
        cmd = ["debootstrap", "--variant=minbase", f"--include={DEBIAN_PACKAGES}", "bookworm",
               str(rootfs), DEBIAN_MIRROR]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"debootstrap failed:\n{(proc.stdout + proc.stderr)[-2500:]}")
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / junk).glob("*"):
                if path.is_file():
                    path.unlink()
        tarball = Path(tmp) / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
        say(f"docker import {DEBIAN_IMAGE}")
        repo, tag = DEBIAN_IMAGE.split(":")
        client.api.import_image_from_file(str(tarball), repository=repo, tag=tag)


def build_lambda_base(client: Any, say: Progress, version: str = "3.12") -> str:
    """The Lambda base stand-in for Python `version`; its name."""
    name = LAMBDA_BASE.format(version=version)
    interpreter = find_python(version)
    if interpreter is None:
        raise BuildError(
            f"the Lambda base image for python{version} needs a CPython {version} on this host: "
            f"set SANDBOX_PYTHON_{version.replace('.', '_')} to one"
        )
    arch = host_architecture()
    machine = "x86_64" if arch == "x86_64" else "aarch64"
    with tempfile.TemporaryDirectory(dir=cache_root()) as tmp:
        ctx = Path(tmp)
        say(f"staging CPython {version} from {interpreter} as /var/lang")
        PythonPrefix.of(interpreter).stage(ctx / "lang")
        say(f"installing awslambdaric and boto3 for CPython {version} ({machine}) as /var/runtime")
        run_pip([
            "install", "--no-compile", "--target",
            str(ctx / "runtime"), "--implementation", "cp", "--python-version", version,
            "--only-binary=:all:", "--platform", f"manylinux2014_{machine}",
            "--platform", f"manylinux_2_28_{machine}", "--platform", f"manylinux_2_17_{machine}",
            f"awslambdaric=={_installed_version('awslambdaric')}",
            f"boto3=={_installed_version('boto3')}",
        ], what=f"the runtime packages of {name}")  # fmt: skip
        shutil.copy2(rie_binary(arch), ctx / "aws-lambda-rie")
        for name_ in LAMBDA_BASE_FILES:
            shutil.copy2(DOCKER_DIR / "lambda-python" / name_, ctx / name_)
        (ctx / "bootstrap.py").write_text(BOOTSTRAP)
        shutil.copy2(host_ca_bundle(), ctx / "ca-certificates.crt")
        buildargs = {"BASE": DEBIAN_IMAGE, "PYTHON_VERSION": version}
        _build(client, ctx, name, say, buildargs, {RECIPE_LABEL: lambda_base_recipe()})
    return name


def host_ca_bundle() -> Path:
    """The CA bundle this host trusts (the one pip here uses: it may hold a CA that a network
    intercepting TLS signs with), for pip inside the images."""
    env = [os.environ.get("PIP_CERT"), os.environ.get("SSL_CERT_FILE")]
    for candidate in [
        *env,
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ]:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    import certifi  # botocore's dependency: always there

    return Path(certifi.where())


def lambda_base_recipe() -> str:
    """The digest of what makes the Lambda base stand-in: an image made from an older recipe
    (before pip, say) is rebuilt."""
    h = hashlib.sha256(BOOTSTRAP.encode())
    for name in LAMBDA_BASE_FILES:
        h.update((DOCKER_DIR / "lambda-python" / name).read_bytes())
    return h.hexdigest()[:16]


def _installed_version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def _sources_digest() -> str:
    h = hashlib.sha256()
    sources = [
        ROOT / "pyproject.toml",
        *(ROOT / "lambda_sandbox").rglob("*"),
    ]
    for path in sorted(sources):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def _python_image(
    client: Any, say: Progress, *, name: str, folder: str, interpreter: str, wheels: list[str],
    extra: dict[str, str] | None = None, labels_digest: str | None = None,
) -> None:  # fmt: skip
    """An image of docker/<folder>: the interpreter staged as /opt/python (pip from its
    ensurepip) and the given requirements as wheels, installed with --no-index."""
    prefix = PythonPrefix.of(interpreter)
    with tempfile.TemporaryDirectory(dir=cache_root()) as tmp:
        ctx = Path(tmp)
        say(f"staging CPython {prefix.version} from {interpreter}")
        prefix.stage(ctx / "python")
        say(f"collecting wheels for {name} (pip's cache makes this quick after the first time)")
        run_pip(["wheel", "--wheel-dir", str(ctx / "wheels"), *wheels], python=interpreter,
                what=f"the wheels of {name}", tail=2500)  # fmt: skip
        for path in (DOCKER_DIR / folder).iterdir():
            shutil.copy2(path, ctx / path.name)
        for file, text in (extra or {}).items():
            (ctx / file).write_text(text)
        dockerfile = (ctx / "Dockerfile").read_text()
        dockerfile = dockerfile.replace(
            "RUN python3 -m pip install",
            "RUN python3 -m ensurepip --default-pip >/dev/null \\\n && python3 -m pip install",
            1,
        )
        if labels_digest:
            dockerfile += f'LABEL lambda-sandbox.sources="{labels_digest}"\n'
        (ctx / "Dockerfile").write_text(dockerfile)
        _build(client, ctx, name, say, {"BASE": DEBIAN_IMAGE})


def build_sandbox_image(client: Any, say: Progress) -> None:
    if not (ROOT / "pyproject.toml").is_file():
        raise BuildError(
            "the sandbox image is built from a source checkout of lambda-sandbox (its wheel); "
            f"{ROOT} is an installed copy: run `sandbox images sandbox` from a checkout"
        )
    digest = _sources_digest()
    existing = _exists(client, SANDBOX_IMAGE)
    if existing is not None and existing.labels.get("lambda-sandbox.sources") == digest:
        say(f"{SANDBOX_IMAGE} is up to date")
        return
    _python_image(
        client, say, name=SANDBOX_IMAGE, folder="sandbox", interpreter=sys.executable,
        wheels=[f"{ROOT}[docker]"], labels_digest=digest,
    )  # fmt: skip
    if existing is not None:  # the previous build, untagged now: ~900 MB each
        with contextlib.suppress(*engine_errors()):  # still used by a container
            client.images.remove(existing.id)


def localstack_requirements() -> str:
    return (DOCKER_DIR / "localstack" / "requirements.txt").read_text()


def build_localstack_image(client: Any, say: Progress) -> None:
    interpreter = os.environ.get("SANDBOX_LOCALSTACK_PYTHON") or find_python("3.13")
    if interpreter is None:
        raise BuildError("LocalStack 4.14 needs CPython 3.13+: set SANDBOX_LOCALSTACK_PYTHON")
    reqs = [ln for ln in localstack_requirements().splitlines() if ln and not ln.startswith("#")]
    _python_image(
        client, say, name=LOCALSTACK_IMAGE, folder="localstack", interpreter=interpreter,
        wheels=reqs,
    )  # fmt: skip


def build_images(
    which: Iterable[str] = IMAGES, *, rebuild: Iterable[str] = (), say: Progress | None = None,
    python_versions: Iterable[str] = ("3.12",),
) -> list[str]:  # fmt: skip
    """Build the named images that are missing (or in `rebuild`); their names."""
    report = say or (lambda _m: None)
    wanted, again = set(which), set(rebuild)
    unknown = (wanted | again) - set(IMAGES)
    if unknown:
        raise BuildError(f"no such image(s) {sorted(unknown)}: choose from {', '.join(IMAGES)}")
    client = docker_client()
    built: list[str] = []
    try:
        cache_root().mkdir(parents=True, exist_ok=True)
        if "debian" in again or _exists(client, DEBIAN_IMAGE) is None:
            build_debian(client, report)
        built.append(DEBIAN_IMAGE)
        if "lambda" in wanted:
            for version in python_versions:
                name = LAMBDA_BASE.format(version=version)
                existing = _exists(client, name)
                stale = existing is not None and (
                    existing.labels.get(RECIPE_LABEL) != lambda_base_recipe()
                )
                if "lambda" in again or existing is None or stale:
                    build_lambda_base(client, report, version)
                built.append(name)
        if "sandbox" in wanted:
            build_sandbox_image(client, report)
            built.append(SANDBOX_IMAGE)
        if "localstack" in wanted:
            if "localstack" in again or _exists(client, LOCALSTACK_IMAGE) is None:
                build_localstack_image(client, report)
            built.append(LOCALSTACK_IMAGE)
    finally:
        client.close()
    return built
