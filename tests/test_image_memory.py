"""What one image may cost: bounded whatever its shape, and an image of too many pixels refused from
its header, before it is decoded, by every command that decodes files.

A PNG of 100 bytes can hold 1 x 6000 pixels: resizing its shorter side to 256 before cropping the
centre makes 256 x 1,536,000 of them (1.2 GB), and 1 x 1,000,000 would make 196 GB. A PNG of 17 kB
can hold 12000 x 12000 (432 MB of colour pixels): over the limit at which PIL warns, under the one
at which it refuses. Memory is this process's peak resident size, reset before each measure
(Linux's /proc), so that decoding runs here, in the real decoders and the real commands.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests
from PIL import Image
from torchvision.transforms import v2

from data_files import write_blank_png, write_image_folder
from helpers import FAST, cli, run_dir
from lit_classifier import ImageFolderDataModule
from lit_classifier.command.cli import ClassifierCLI
from lit_classifier.data.decode import EvaluationImage
from lit_classifier.errors import DataError
from server_process import served, served_process
from test_bad_input import one_error_line
from test_data_images import peak_kib, reset_peak

pytestmark = pytest.mark.xdist_group("image_memory")  # one worker fits the module's checkpoint

#: What decoding one image may add to the peak memory beyond what a photo adds.
BOUND_MIB = 100
LIMIT = 89_478_485  # the default max_image_pixels: Pillow's own warning limit
IMAGES_LOGGER = "lit_classifier.data.images"  # reports each image it skips
TOO_MANY = f"it is 12000 x 12000 = 144000000 pixels, over the limit of {LIMIT} (max_image_pixels)"

needs_peak_reset = pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc peak reset"
)


def peak_growth_mib(action: Callable[[], object]) -> float:
    """How much ``action`` raised this process's peak resident memory, in MiB."""
    reset_peak()
    before = peak_kib()
    action()
    return (peak_kib() - before) / 1024


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def photo(width: int = 500, height: int = 375) -> bytes:
    return png(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8))


@needs_peak_reset
@pytest.mark.parametrize(("width", "height"), [(1, 6000), (6000, 1), (1, 1_000_000)])
def test_a_thin_image_costs_the_memory_of_a_photo(width: int, height: int, tmp_path: Path) -> None:
    decode = ImageFolderDataModule("photos").evaluation_decoder()  # the default: 224 of 256
    thin = write_blank_png(tmp_path / "thin.png", width, height).read_bytes()
    normal = photo()
    made = []

    photo_mib = peak_growth_mib(lambda: made.append(decode(normal, "photo.png")))
    thin_mib = peak_growth_mib(lambda: made.append(decode(thin, "thin.png")))

    assert [tuple(pixels.shape) for pixels in made] == [(3, 224, 224)] * 2
    assert thin_mib < photo_mib + BOUND_MIB, (
        f"{width} x {height}: +{thin_mib:.0f} MiB, a photo +{photo_mib:.0f}"
    )


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize(("width", "height"), [(3, 2000), (2000, 40), (17, 5003), (5003, 17)])
def test_a_thin_image_is_what_resizing_it_whole_and_cropping_makes(
    width: int, height: int, mode: str
) -> None:
    """Only the part the centre crop keeps is resized: the pixels are the whole resize's, upscaled (3
    across) or antialiased (40 across), to within two levels: PIL's two passes may each round a tie
    the other way than torch's (the part's corners are 32-bit floats in PIL)."""
    data = png(np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8))
    pixels = np.array(Image.open(io.BytesIO(data)).convert(mode)).reshape(height, width, -1)
    whole = v2.Compose([v2.Resize(36, antialias=True), v2.CenterCrop(32)])(
        v2.functional.to_image(pixels).contiguous()
    )

    made = EvaluationImage(36, (32, 32), mode)(data)

    assert made.shape == whole.shape
    assert (made.int() - whole.int()).abs().max() <= 2


@needs_peak_reset
@pytest.mark.parametrize("split", ["evaluation", "training"])
def test_an_image_over_the_pixel_limit_is_refused_before_it_is_decoded(split: str, tmp_path: Path) -> None:
    decode = ImageFolderDataModule("photos").decoder(train=split == "training")
    large = write_blank_png(tmp_path / "large.png", 12_000, 12_000)  # 17 kB

    def refused() -> None:
        with pytest.raises(DataError, match=f"^{re.escape(f'cannot read image {large}: {TOO_MANY}')}$"):
            decode(large.read_bytes(), str(large))

    grown_mib = peak_growth_mib(refused)

    assert grown_mib < BOUND_MIB, f"refusing it grew the peak memory by {grown_mib:.0f} MiB"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short fit on a folder of photos at the default size: centre crops of 224 from 256."""
    folder = tmp_path_factory.mktemp("fit")
    photos = write_image_folder(folder / "photos")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        data = ["--data=lit_classifier.ImageFolderDataModule", f"--data.root={photos}"]
        fit = cli("fit", *FAST, *data, "--data.batch_size=4", "--data.num_workers=0")
        return (run_dir(fit) / "checkpoints" / "last.ckpt").resolve()


def predict(checkpoint: Path, images: Path, *options: str) -> ClassifierCLI:
    """``predict`` of ``images``, decoded in this process (no loader workers)."""
    new = [f"--data.predict_root={images}", "--data.num_workers=0"]
    return cli("predict", f"--ckpt_path={checkpoint}", *new, *options)


def predicted_paths(result: ClassifierCLI) -> list[str]:
    with (run_dir(result) / "predictions.csv").open() as file:
        return [row["path"] for row in csv.DictReader(file)]


@needs_peak_reset
def test_predict_classifies_a_thin_image_among_new_ones_in_the_memory_of_photos(
    checkpoint: Path, tmp_path: Path
) -> None:
    photos = write_image_folder(tmp_path / "photos", classes=("a",), per_class=2)
    with_thin = write_image_folder(tmp_path / "with_thin", classes=("a",), per_class=2)
    thin = write_blank_png(with_thin / "a" / "thin.png", 1, 6000)
    results: list[ClassifierCLI] = []

    photos_mib = peak_growth_mib(lambda: results.append(predict(checkpoint, photos)))
    thin_mib = peak_growth_mib(lambda: results.append(predict(checkpoint, with_thin)))

    assert str(thin) in predicted_paths(results[1]) and len(predicted_paths(results[1])) == 3
    assert thin_mib < photos_mib + BOUND_MIB, (
        f"+{thin_mib:.0f} MiB with the thin image, +{photos_mib:.0f} without"
    )


@pytest.mark.parametrize(
    ("size", "options", "reason"),
    [
        ((12_000, 12_000), [], TOO_MANY),
        ((40, 30), ["--data.max_image_pixels=1000"], "it is 40 x 30 = 1200 pixels, over the limit of 1000"),
    ],
)
def test_with_strict_predict_refuses_an_image_of_too_many_pixels_in_one_error_line(
    checkpoint: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    size: tuple[int, int],
    options: list[str],
    reason: str,
) -> None:
    new = write_image_folder(tmp_path / "new", classes=("a",), per_class=1)
    large = write_blank_png(new / "a" / "large.png", *size)

    err = one_error_line(
        capsys,
        "predict",
        f"--ckpt_path={checkpoint}",
        f"--data.predict_root={new}",
        "--data.strict=true",
        *options,
    )

    assert err.startswith(f"error: cannot read image {large}: {reason}")
    assert not list(Path().rglob("predictions.csv"))


def test_predict_skips_an_image_of_too_many_pixels_naming_it(
    checkpoint: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    new = write_image_folder(tmp_path / "new", classes=("a",), per_class=2)
    large = write_blank_png(new / "a" / "large.png", 12_000, 12_000)

    with caplog.at_level(logging.WARNING, logger=IMAGES_LOGGER):
        result = predict(checkpoint, new)

    assert [record.getMessage() for record in caplog.records if record.name == IMAGES_LOGGER] == [
        f"skipping unreadable image {large}: {TOO_MANY}"
    ]
    assert predicted_paths(result) == [str(path) for path in sorted(new.rglob("*.*")) if path != large]


def test_serve_answers_413_for_an_image_of_too_many_pixels_and_still_serves(
    checkpoint: Path, tmp_path: Path
) -> None:
    large = write_blank_png(tmp_path / "large.png", 12_000, 12_000).read_bytes()
    thin = write_blank_png(tmp_path / "thin.png", 1, 1_000_000).read_bytes()

    with served([f"--ckpt_path={checkpoint}", "--accelerator=cpu"], tmp_path) as base:

        def post(data: bytes) -> requests.Response:
            return requests.post(f"{base}/predict", files={"image": ("image", data)}, timeout=60)

        refused, answered = post(large), [post(thin), post(photo())]

    assert refused.status_code == 413
    assert refused.json() == {"detail": f"cannot read image in the field image: {TOO_MANY}"}
    assert [response.status_code for response in answered] == [200, 200], [r.text for r in answered]


def processes_peak_growth_mib(pids: list[int], action: Callable[[], object]) -> float:
    """How much ``action`` raised the peak resident memory of the processes ``pids``, summed, in MiB."""
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = [process_peak_kib(pid) for pid in pids]
    action()
    return sum(process_peak_kib(pid) - kib for pid, kib in zip(pids, before, strict=True)) / 1024


def process_peak_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


@needs_peak_reset
def test_serve_answers_three_thin_images_at_once_in_the_memory_of_three_photos(
    checkpoint: Path, tmp_path: Path
) -> None:
    # 1 x 1,000,000 pixels: resized whole at the checkpoint's size, one took +1.9 GB in the server.
    thin = write_blank_png(tmp_path / "thin.png", 1, 1_000_000).read_bytes()

    with served_process([f"--ckpt_path={checkpoint}", "--accelerator=cpu"], tmp_path) as server:
        # The server and its inference worker, where requests are decoded.
        pids = [server.pid, *(child.pid for child in psutil.Process(server.pid).children(recursive=True))]

        def three_at_once(data: bytes) -> None:
            def post(_: int) -> int:
                files = {"image": ("image", data)}
                return requests.post(f"{server.url}/predict", files=files, timeout=60).status_code

            with ThreadPoolExecutor(3) as pool:
                assert list(pool.map(post, range(3))) == [200] * 3

        three_at_once(photo())  # the first requests' one-time costs, outside both measures
        photos_mib = processes_peak_growth_mib(pids, lambda: three_at_once(photo()))
        thin_mib = processes_peak_growth_mib(pids, lambda: three_at_once(thin))

    assert thin_mib < photos_mib + BOUND_MIB, (
        f"three thin images +{thin_mib:.0f} MiB, photos +{photos_mib:.0f}"
    )
