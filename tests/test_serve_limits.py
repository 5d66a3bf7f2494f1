"""``lit-classifier serve`` against a hostile or careless client, and stopped with Ctrl+C.

Real servers on 127.0.0.1 (``serving.background``), asked by a real HTTP client: a body built to
crash the parser, empty requests, requests without the server's API key. Each gets a 4xx whose
``detail`` names the problem, and the server goes on serving.
"""

from __future__ import annotations

import base64
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi import HTTPException

from lit_classifier import ClassifierModule
from lit_classifier.serving import ClassifierAPI
from lit_classifier.serving.background import background_server, free_port
from server_process import OPTIONS, digit_png
from test_serve import TIMEOUT, post_file, post_json, serve_in_process

pytestmark = pytest.mark.xdist_group("trained_server")  # one worker starts the shared server

KEY = "a-key-of-this-test"


@pytest.fixture
def url(trained_server: str) -> str:
    return f"{trained_server}/predict"


def nested(depth: int) -> bytes:
    return b'{"image":' * depth + b'"aGk="' + b"}" * depth


@pytest.mark.parametrize("depth", [10**4, 600])
def test_json_nested_deeper_than_the_parser_goes_gets_a_400_not_a_500(url: str, depth: int) -> None:
    response = requests.post(
        url, data=nested(depth), headers={"Content-Type": "application/json"}, timeout=TIMEOUT
    )

    assert response.status_code == 400, response.text
    assert "the body is JSON nested more than 32 levels deep" in response.json()["detail"]
    assert post_file(url, digit_png()).status_code == 200


def test_an_empty_post_is_told_it_has_no_content_type(url: str) -> None:
    response = requests.post(url, timeout=TIMEOUT)

    assert response.status_code == 415
    assert response.json()["detail"] == (
        "the body must be a multipart/form-data form or application/json, and the request has no Content-Type"
    )


@pytest.mark.parametrize("send", [lambda url: post_file(url, b""), lambda url: post_json(url, {"image": ""})])
def test_an_empty_image_file_is_called_empty(url: str, send: Any) -> None:
    response = send(url)

    assert response.status_code == 422
    assert response.json()["detail"] == "cannot read image in the field image: the file is empty (0 bytes)"


@pytest.fixture(scope="module")
def locked(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server that takes only requests with its API key, read from a file."""
    folder = tmp_path_factory.mktemp("locked")
    (folder / "key.txt").write_text(f"{KEY}\n")
    port = free_port()
    command = [sys.executable, "-m", "lit_classifier", "serve", f"--ckpt_path={trained}", *OPTIONS]
    command += ["--api_key_file=key.txt", f"--port={port}"]
    with background_server(command, port, folder, headers={"X-API-Key": KEY}) as server:
        yield server.url
    assert "Traceback" not in server.stderr, server.stderr[-3000:]


@pytest.mark.parametrize(
    ("headers", "status", "words"),
    [
        ({}, 401, "this server takes requests with its API key in the header X-API-Key"),
        ({"X-API-Key": "a guess"}, 401, "the X-API-Key header holds no key of this server"),
        ({"X-API-Key": KEY}, 200, "class_name"),
    ],
)
def test_with_an_api_key_file_only_requests_with_that_key_are_served(
    locked: str, headers: dict[str, str], status: int, words: str
) -> None:
    image = {"image": ("digit.png", digit_png())}

    predicted = requests.post(f"{locked}/predict", files=image, headers=headers, timeout=TIMEOUT)
    health = requests.get(f"{locked}/health", headers=headers, timeout=TIMEOUT)

    assert (predicted.status_code, health.status_code) == (status, status), predicted.text
    assert words in predicted.text


@pytest.mark.parametrize(
    ("key_file", "error"),
    [
        (
            "missing.txt",
            "error: --api_key_file missing.txt: cannot read the key: No such file or directory\n",
        ),
        ("empty.txt", "error: --api_key_file empty.txt: the file is empty: write the key in it\n"),
    ],
)
def test_a_key_file_that_holds_no_key_is_one_error_line_before_serving(
    trained: Path,
    key_file: str,
    error: str,
    capsys: pytest.CaptureFixture[str],
    never_serves: None,
) -> None:
    Path("empty.txt").write_text("\n")

    err = serve_in_process([f"--ckpt_path={trained}", f"--api_key_file={key_file}"], capsys)

    assert err == error


def test_litserves_own_key_variable_still_locks_the_api(
    trained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ClassifierAPI.authorize`` replaces LitServe's check of ``LIT_SERVER_API_KEY``, so it makes it
    itself: a server started with the variable set is no more open than LitServe's own."""
    monkeypatch.setenv("LIT_SERVER_API_KEY", KEY)
    api = ClassifierAPI(ClassifierModule.load_from_checkpoint(trained))

    api.authorize(KEY)
    for wrong in (None, "a guess", base64.b64encode(KEY.encode()).decode()):
        with pytest.raises(HTTPException) as refused:
            api.authorize(wrong)
        assert refused.value.status_code == 401


def test_ctrl_c_stops_the_server_and_its_workers_quietly_with_exit_code_130(
    trained: Path, tmp_path: Path
) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "lit_classifier",
        "serve",
        f"--ckpt_path={trained}",
        *OPTIONS,
        f"--port={port}",
    ]

    # On leaving, SIGINT goes to every process of the server's group, as a terminal's Ctrl+C does; the
    # helper checks that they all end, and that the server exits with 130.
    with background_server(command, port, tmp_path, stop_signal=signal.SIGINT) as server:
        assert post_file(f"{server.url}/predict", digit_png()).status_code == 200

    assert "Traceback" not in server.stderr and "KeyboardInterrupt" not in server.stderr, server.stderr
