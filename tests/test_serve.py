"""``lit-classifier serve``: a real server on 127.0.0.1, asked by a real HTTP client (requests).

One server for the module (starting one costs seconds); each test sends a bounded number of
requests, each with a timeout. Its answers are compared with ``predict_images`` on the same files.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image

from data_files import write_blank_png
from lit_classifier import ClassifierModule, predict_images
from lit_classifier.command.cli import main
from lit_classifier.serving import ClassifierAPI
from lit_classifier.serving.api import Refusal
from server_process import digit_png
from test_checkpoint_trust import PLANTS, plant

pytestmark = pytest.mark.xdist_group("trained_server")  # one worker starts the shared server

TIMEOUT = 30  # seconds for one request; the server answers in milliseconds


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Digits as PNG files, and a colour JPEG and a BMP of other sizes (resized as any new image)."""
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for index in range(4):
        paths.append(folder / f"digit{index}.png")
        paths[-1].write_bytes(digit_png(index))
    colour = np.random.default_rng(0).integers(0, 255, (30, 20, 3), dtype=np.uint8)
    Image.fromarray(colour).save(folder / "colour.jpg")
    Image.fromarray(colour[:12, :10, 0]).save(folder / "gray.bmp")
    return sorted([*paths, folder / "colour.jpg", folder / "gray.bmp"])


@pytest.fixture
def url(trained_server: str) -> str:
    return f"{trained_server}/predict"


def post_file(url: str, data: bytes, field: str = "image") -> requests.Response:
    return requests.post(url, files={field: ("image", data)}, timeout=TIMEOUT)


def post_json(url: str, body: Any) -> requests.Response:
    return requests.post(url, json=body, timeout=TIMEOUT)


def expected(trained: Path, images: list[Path]) -> list[dict[str, Any]]:
    module = ClassifierModule.load_from_checkpoint(trained)
    return [
        {"class_name": p.class_name, "probability": p.probability, "top_k": [list(pair) for pair in p.top_k]}
        for p in predict_images(module, images, top_k=3)
    ]


def assert_same_answer(answer: dict[str, Any], wanted: dict[str, Any]) -> None:
    """The same classes in the same order; probabilities equal but for float rounding (the network
    ran in batches of another size)."""
    assert answer["class_name"] == wanted["class_name"]
    assert [name for name, _ in answer["top_k"]] == [name for name, _ in wanted["top_k"]]
    assert [p for _, p in answer["top_k"]] == pytest.approx([p for _, p in wanted["top_k"]], abs=1e-6)
    assert answer["probability"] == answer["top_k"][0][1]


def test_answers_equal_predict_images_for_files_and_base64(
    url: str, trained: Path, images: list[Path]
) -> None:
    for path, wanted in zip(images, expected(trained, images), strict=True):
        data = path.read_bytes()
        as_file = post_file(url, data)
        as_json = post_json(url, {"image": base64.b64encode(data).decode()})
        as_data_url = post_json(url, {"image": "data:image/png;base64," + base64.b64encode(data).decode()})

        for response in (as_file, as_json, as_data_url):
            assert response.status_code == 200, response.text
            assert_same_answer(response.json(), wanted)


def test_concurrent_requests_are_batched(url: str, trained: Path, images: list[Path]) -> None:
    files = [images[i % len(images)] for i in range(32)]
    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda path: post_file(url, path.read_bytes()), files))

    assert [r.status_code for r in responses] == [200] * len(files)
    sizes = [int(r.headers["X-Batch-Size"]) for r in responses]
    assert max(sizes) > 1 and max(sizes) <= 8  # batched, never past --max_batch_size
    wanted = dict(zip(images, expected(trained, images), strict=True))
    for path, response in zip(files, responses, strict=True):
        assert_same_answer(response.json(), wanted[path])


def chunked(data: bytes) -> Iterator[bytes]:
    """A body sent without Content-Length (chunked): the limit must hold while it is read."""
    for start in range(0, len(data), 2**16):
        yield data[start : start + 2**16]


BAD_REQUESTS: dict[str, tuple[Any, int, str]] = {
    # name: (how to send it, the status, words the answer's detail must hold)
    "not an image": (lambda url: post_file(url, b"hello, not an image" * 10), 422, "not an image file"),
    "a damaged PNG": (lambda url: post_file(url, digit_png()[:40]), 422, "its PNG header is damaged"),
    "a decompression bomb": (
        lambda url: post_file(url, write_blank_png(Path("bomb.png"), 20000, 20000).read_bytes()),
        413,
        "MAX_IMAGE_PIXELS",
    ),
    "too large a body": (lambda url: post_file(url, bytes(3 * 2**19)), 413, "over the limit of 1 MiB"),
    "too large a chunked body": (
        lambda url: requests.post(
            url, data=chunked(bytes(3 * 2**19)), headers={"Content-Type": "application/json"}, timeout=TIMEOUT
        ),
        413,
        "over the limit of 1 MiB",
    ),
    "a wrong form field": (lambda url: post_file(url, digit_png(), "photo"), 400, "no field image"),
    "a wrong JSON field": (lambda url: post_json(url, {"picture": "aGk="}), 400, "it has: picture"),
    "JSON that is no object": (lambda url: post_json(url, ["image"]), 400, "must be a JSON object"),
    "a number for the image": (lambda url: post_json(url, {"image": 7}), 400, "base64 text (JSON), not 7"),
    "text that is no base64": (lambda url: post_json(url, {"image": "&&&"}), 400, "not base64"),
    "a body that is no JSON": (
        lambda url: requests.post(
            url, data=b"{image:", headers={"Content-Type": "application/json"}, timeout=TIMEOUT
        ),
        400,
        "the body is not JSON",
    ),
    "a form without its boundary": (
        lambda url: requests.post(
            url, data=b"--x", headers={"Content-Type": "multipart/form-data"}, timeout=TIMEOUT
        ),
        400,
        "Missing boundary",
    ),
    "another content type": (
        lambda url: requests.post(url, data=b"abc", headers={"Content-Type": "text/plain"}, timeout=TIMEOUT),
        415,
        "not Content-Type text/plain",
    ),
}


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_a_bad_request_gets_a_4xx_naming_the_problem_and_the_server_keeps_serving(
    url: str, case: str
) -> None:
    send, status, words = BAD_REQUESTS[case]

    response = send(url)

    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert post_file(url, digit_png()).status_code == 200


def test_bad_requests_batched_with_good_ones_fail_alone(url: str, trained: Path, images: list[Path]) -> None:
    bodies = [images[0].read_bytes(), b"no image"] * 6
    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(lambda data: post_file(url, data), bodies))

    assert [r.status_code for r in responses] == [200, 422] * 6
    for response in responses[::2]:
        assert_same_answer(response.json(), expected(trained, images[:1])[0])


def test_the_api_from_python_answers_as_predict_images(trained: Path, images: list[Path]) -> None:
    module = ClassifierModule.load_from_checkpoint(trained)
    api = ClassifierAPI(module, top_k=3, max_batch_size=8)
    api.setup("cpu")
    requests_ = [{"image": base64.b64encode(path.read_bytes()).decode()} for path in images]

    inputs = [api.decode_request(request) for request in [*requests_, {"image": "aGk="}]]
    answers = api.unbatch(api.predict(api.batch(inputs)))
    alone = api.predict(api.decode_request(requests_[0]))  # max_batch_size 1: one input, one answer

    responses = [api.encode_response(answer) for answer in answers]
    assert [r.status_code for r in responses] == [200] * len(images) + [422]
    assert isinstance(answers[-1], Refusal) and "not an image file" in answers[-1].detail
    for answer, wanted in zip(answers[:-1], expected(trained, images), strict=True):
        assert_same_answer(
            {"class_name": answer.top_k[0][0], "probability": answer.top_k[0][1], "top_k": answer.top_k},
            wanted,
        )
        assert answer.batch_size == len(images)
    assert alone.top_k == answers[0].top_k and alone.batch_size == 1


def serve_in_process(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """``lit-classifier serve ARGS`` in this process, which must stop before serving: its stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", *args])
    assert exit_info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--ckpt_path=missing.ckpt"], "error: checkpoint file not found: missing.ckpt (--ckpt_path)\n"),
        (["--ckpt_path=last"], "error: --ckpt_path last: no last.ckpt or interrupted.ckpt under runs/"),
        (["--ckpt_path=x.ckpt", "--port=80"], "error: --port: 80 is not in 1024..65535\n"),
        (["--ckpt_path=x.ckpt", "--host=example.com"], "error: --host: 'example.com' is none of 127.0.0.1"),
        (["--ckpt_path=x.ckpt", "--max_batch_size=0"], "error: --max_batch_size: 0 is less than 1\n"),
        (["--ckpt_path=x.ckpt", "--max_batch_siz=4"], "error: unknown option --max_batch_siz"),
    ],
)
def test_a_bad_option_is_one_error_line_before_serving(
    args: list[str], error: str, capsys: pytest.CaptureFixture[str], never_serves: None
) -> None:
    err = serve_in_process(args, capsys)

    assert err.startswith(error) and err.count("\n") == 1


@pytest.mark.parametrize("payload", PLANTS)
def test_a_checkpoint_is_read_with_the_trust_rules_of_every_command(
    trained: Path, payload: str, capsys: pytest.CaptureFixture[str], never_serves: None
) -> None:
    planted = plant(trained, PLANTS[payload])

    err = serve_in_process([f"--ckpt_path={planted}"], capsys)

    assert err.startswith("error: ") and err.count("\n") == 1 and "planted.ckpt" in err
    assert not Path("marker").exists()
