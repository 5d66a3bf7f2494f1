"""Image files are checked before use: an oversized or broken file is named, and checking stays small."""

from __future__ import annotations

import io
import logging
import random
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from PIL import Image

from data_files import add_bad_images, write_blank_png, write_image_folder
from helpers import FAST, TESTS
from lit_classifier import ImageFolderDataModule
from lit_classifier.data.images import MAX_IMAGE_PIXELS, decode_problem, readable
from lit_classifier.errors import DataError

LOGGER = "lit_classifier.data.images"


def skipped(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The lines that reported skipped images."""
    return [record.getMessage() for record in caplog.records if record.name == LOGGER]


def test_a_decompression_bomb_in_a_class_folder_is_skipped_naming_its_path_and_pixel_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_image_folder(tmp_path)
    bomb = write_blank_png(tmp_path / "cat" / "huge.png", 20_000, 20_000)  # 400 million pixels
    data = ImageFolderDataModule(str(tmp_path), image_size=16)

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        data.setup("fit")

    messages = skipped(caplog)
    assert len(messages) == 1
    assert messages[0].startswith(f"skipping unreadable image {bomb}: ") and "400000000 pixels" in messages[0]
    kept = [path for path, _ in [*data.train_set.samples, *data.val_set.samples]]  # type: ignore[union-attr]
    assert bomb not in kept and len(kept) == 18


def test_with_strict_a_decompression_bomb_stops_setup_naming_it(tmp_path: Path) -> None:
    write_image_folder(tmp_path)
    bomb = write_blank_png(tmp_path / "dog" / "huge.png", 20_000, 20_000)
    data = ImageFolderDataModule(str(tmp_path), image_size=16, strict=True)

    with pytest.raises(DataError, match=re.escape(f"cannot read image {bomb}: Image size (400000000")):
        data.setup("fit")


def test_a_truncated_png_is_found_without_decoding_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    whole = write_blank_png(tmp_path / "whole.png", 300, 200).read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[: len(whole) - 20])  # the IEND chunk and the end of IDAT are gone

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        kept = readable([tmp_path / "whole.png", cut], strict=False)

    assert kept == [tmp_path / "whole.png"]
    assert skipped(caplog) == [
        f"skipping unreadable image {cut}: its PNG data is damaged or cut short: {ENDS}"
    ]


ENDS = "the file ends where its data says more follows"
MARKER = b"\xff\xd8\xff\xe0\xff\xf0"  # a JPEG's start and an application segment of 65520 bytes


def test_each_reason_is_true_of_the_file(tmp_path: Path) -> None:
    image = Image.new("RGB", (48, 32), (200, 30, 30))
    jpeg, png = io.BytesIO(), io.BytesIO()
    image.save(jpeg, "JPEG")
    image.save(png, "PNG")
    noise = random.Random(0).randbytes(3000)
    files = {
        "random.jpg": noise,
        # A JPEG's first marker, whose length (0xfff0) runs past the end: PIL says "Truncated File Read".
        "marker_then_random.jpg": MARKER + noise,
        "signature_then_random.png": png.getvalue()[:8] + noise,
        "cut.jpg": jpeg.getvalue()[: len(jpeg.getvalue()) // 2],
        "bad_checksum.png": png.getvalue()[:-16] + bytes(4) + png.getvalue()[-12:],
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)

    reasons = {name: decode_problem(tmp_path / name) for name in files}

    assert reasons == {
        "random.jpg": "not an image file: it begins like none of JPEG, PNG, BMP, PPM, TIFF, WEBP",
        "marker_then_random.jpg": f"its JPEG data is damaged or cut short: {ENDS}",
        "signature_then_random.png": "its PNG header is damaged",
        "cut.jpg": f"its JPEG data is damaged or cut short: {ENDS}",
        "bad_checksum.png": reasons["bad_checksum.png"],
    }
    assert str(reasons["bad_checksum.png"]).startswith("its PNG data is damaged (")


def test_the_command_reports_each_skipped_image_in_one_line_naming_it_and_why(tmp_path: Path) -> None:
    photos = write_image_folder(tmp_path / "photos")
    corrupt, truncated = add_bad_images(photos)
    noisy = photos / "fish" / "noise.jpg"
    noisy.write_bytes(MARKER + random.Random(1).randbytes(3000))
    fit = [sys.executable, "-m", "lit_classifier", "fit", "--data=lit_classifier.ImageFolderDataModule"]
    fit += [f"--data.root={photos}", "--data.image_size=16", "--data.batch_size=4", *FAST]

    done = subprocess.run([*fit, "--plots.enabled=false"], capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stderr.splitlines()
    for path, reason in [
        (corrupt, "not an image file: it begins like none of JPEG, PNG, BMP, PPM, TIFF, WEBP"),
        (truncated, f"its JPEG data is damaged or cut short: {ENDS}"),
        (noisy, f"its JPEG data is damaged or cut short: {ENDS}"),
    ]:
        assert [line for line in lines if str(path) in line] == [
            f"skipping unreadable image {path}: {reason}"
        ]
    assert not [line for line in lines if "Warning" in line or str(TESTS.parent / "src") in line]


def peak_kib() -> int:
    """This process's peak resident memory since the last ``reset_peak()`` (Linux's VmHWM)."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # "5": reset the peak to the current size


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc peak reset")
def test_checking_large_pngs_does_not_decode_their_pixels(tmp_path: Path) -> None:
    # 169 million pixels each: under PIL's refusal limit, so a full decode would take 169 MB apiece;
    # allowed up to that limit (the default, PIL's warning limit, refuses them from the header).
    large = [write_blank_png(tmp_path / f"{n}.png", 13_000, 13_000) for n in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # PIL's note above 89 M pixels
        reset_peak()
        before = peak_kib()
        kept = readable(large, strict=False, max_pixels=2 * MAX_IMAGE_PIXELS)
        grown_mib = (peak_kib() - before) / 1024

    assert kept == large
    assert grown_mib < 64, f"checking grew the peak memory by {grown_mib:.0f} MiB"
