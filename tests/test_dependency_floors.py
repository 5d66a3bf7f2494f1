"""The dependency floors in pyproject.toml exclude every release with a known advisory.

A floor is the oldest release pip may pick for a user: one that admits a release whose checkpoint
loading can run code (torch's ``weights_only`` bypass) or a compromised upload (lightning 2.6.2) makes
the package's own checks worthless on that machine. The advisories are listed here, beside the release
each affects; adding a dependency means checking it against its advisories and adding a line here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

#: (package, a release that must not be installable, the advisory it carries).
KNOWN_BAD = [
    ("torch", "2.5.1", "CVE-2025-32434: torch.load(weights_only=True) runs code"),
    ("torch", "2.9.1", "CVE-2026-24747: memory corruption in the weights-only unpickler"),
    ("lightning", "2.6.2", "GHSA-w37p-236h-pfx3: a compromised upload"),
    ("lightning", "2.6.3", "GHSA-w37p-236h-pfx3: a compromised upload"),
    ("lightning", "2.6.5", "CVE-2026-58659"),
    ("pillow", "10.0.0", "CVE-2023-4863: libwebp heap overflow"),
    ("pillow", "10.2.0", "CVE-2024-28219: buffer overflow in _imagingcms"),
    ("pillow", "12.1.0", "CVE-2026-25990: out-of-bounds write decoding PSD tiles"),
    ("pillow", "12.1.1", "CVE-2026-42308: integer overflow with fonts"),
    ("scikit-learn", "1.4.2", "CVE-2024-5206: TfidfVectorizer keeps the stop words it drops"),
    ("numpy", "1.21.6", "CVE-2021-34141, CVE-2021-41496"),
    ("notebook", "7.2.1", "CVE-2024-43805: HTML injection in Markdown cells"),
    ("onnx", "1.16.2", "CVE-2024-5187: path traversal in download_model_with_test_data"),
    ("onnx", "1.20.1", "CVE-2026-27489: external data read through a link; CVE-2026-34445, CVE-2026-28500"),
    ("python-multipart", "0.0.17", "CVE-2024-53981: denial of service before the first boundary"),
    ("python-multipart", "0.0.21", "CVE-2026-24486: path traversal with UPLOAD_KEEP_FILENAME"),
    ("python-multipart", "0.0.26", "GHSA-pp6c-gr5w-3c5g: unbounded part headers"),
    ("starlette", "0.39.2", "CVE-2024-47874: unbounded form fields"),
    ("starlette", "1.0.0", "CVE-2026-48710: the Host header poisons request.url.path"),
    ("starlette", "1.2.0", "CVE-2026-54282: the request path moves request.url's host"),
    ("fastapi", "0.109.0", "CVE-2024-24762: Content-Type ReDoS"),
    ("requests", "2.32.3", "CVE-2024-47081: .netrc credentials sent to another host"),
    ("aiohttp", "3.13.3", "CVE-2026-22815: unlimited trailer headers"),
    ("pytest", "9.0.2", "CVE-2025-71176: a predictable /tmp/pytest-of-USER folder"),
    ("setuptools", "78.1.0", "CVE-2025-47273: path traversal in PackageIndex"),
    ("mlflow-skinny", "3.9.0", "CVE-2026-2614: path traversal in the tracking server"),
    ("psutil", "5.6.5", "CVE-2019-18874: a double free"),
]


def requirements() -> list[Requirement]:
    """Every requirement of the package, its extras and its build, as written in pyproject.toml."""
    project = tomllib.loads(PYPROJECT.read_text())
    lines = [
        *project["build-system"]["requires"],
        *project["project"]["dependencies"],
        *(line for extra in project["project"]["optional-dependencies"].values() for line in extra),
    ]
    return [Requirement(line) for line in lines]


@pytest.mark.parametrize(("package", "release", "advisory"), KNOWN_BAD, ids=lambda v: str(v)[:24])
def test_no_floor_admits_a_release_with_an_advisory(package: str, release: str, advisory: str) -> None:
    named = [r for r in requirements() if canonicalize_name(r.name) == canonicalize_name(package)]
    assert named, f"{package} is no longer a dependency: drop its lines from KNOWN_BAD"
    for requirement in named:
        assert not requirement.specifier.contains(release, prereleases=True), (
            f"{requirement} admits {package} {release} ({advisory})"
        )


def test_every_requirement_has_a_floor_and_says_why() -> None:
    text = PYPROJECT.read_text()
    for requirement in requirements():
        if requirement.name == "lit-classifier":  # the dev extra names the package's own extras
            continue
        assert any(spec.operator == ">=" for spec in requirement.specifier), f"{requirement} has no floor"
        line = next(line for line in text.splitlines() if f'"{requirement}' in line.replace(" ", ""))
        assert "#" in line, f"{requirement}: say on its line why the floor is where it is"
