"""Decoding and cropping encoded images: the same output as torchvision's transforms, bad bytes named."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from lit_classifier.data.decode import EvaluationImage, RandomResizedCropDecode, decode
from lit_classifier.errors import DataError


def jpeg(width: int = 60, height: int = 40, mode: str = "RGB") -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_evaluation_images_are_what_torchvisions_resize_and_centre_crop_make() -> None:
    data = jpeg()
    expected = v2.Compose([v2.ToImage(), v2.Resize(36, antialias=True), v2.CenterCrop(32)])(
        Image.open(io.BytesIO(data)).convert("RGB")
    )

    made = EvaluationImage(36, (32, 32))(data)

    assert made.shape == (3, 32, 32) and made.dtype == torch.uint8
    assert (made.int() - expected.int()).abs().max() <= 1  # the same resize, another memory layout


def test_training_crops_draw_torchvisions_crop_parameters() -> None:
    data = jpeg()
    torch.manual_seed(3)
    expected = v2.Compose([v2.ToImage(), v2.RandomResizedCrop(24, scale=(0.35, 1.0), antialias=True)])(
        Image.open(io.BytesIO(data))
    )
    torch.manual_seed(3)

    made = RandomResizedCropDecode(24)(data)

    assert made.shape == (3, 24, 24)
    assert (made.int() - expected.int()).abs().max() <= 1


def test_gray_and_colour_are_converted_to_the_modules_mode() -> None:
    assert decode(jpeg(mode="L"), "RGB").shape == (3, 40, 60)
    assert decode(jpeg(), "L").shape == (1, 40, 60)


def test_bytes_that_are_no_image_or_cut_short_are_an_error_naming_the_source() -> None:
    with pytest.raises(DataError, match=r"cannot read image photos/a\.jpg"):
        decode(b"not an image", source="photos/a.jpg")
    with pytest.raises(DataError, match="cannot read image row 7"):
        decode(jpeg()[:300], source="row 7")
