"""``ClassifierAPI``: LitServe's ``LitAPI`` for a ``ClassifierModule``, one image per request.

LitServe runs ``decode_request`` on each request, ``batch`` on the requests it gathered (up to
``max_batch_size`` within ``batch_timeout`` seconds), ``predict`` once on the batch, ``unbatch``, and
``encode_response`` on each answer. A bad request (a missing field, bytes that are no image, an image
of more pixels than the data module's ``max_image_pixels``) must not fail the good requests batched
with it, and LitServe answers every request of a batch with the error any of these methods raises.
So a bad request is carried through the batch as its ``Refusal`` and answered alone:
``encode_response`` turns it into its 4xx answer.

Each image is prepared as ``predict_images`` prepares a file (``inference.evaluation_transform``:
decoded per request, standardised per batch) and
ranked by the same code (``inference.ranked``), so both give the same classes and probabilities.
"""

import base64
import binascii
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import litserve as ls
import torch
from fastapi import Depends, HTTPException
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from starlette.datastructures import UploadFile
from torch import Tensor

from lit_classifier.data.images import ImageTooLarge
from lit_classifier.errors import DataError, short_repr
from lit_classifier.inference import evaluation_transform, ranked
from lit_classifier.module import ClassifierModule

#: The request's field that holds the image: a file in a multipart form, base64 text in JSON.
FIELD = "image"
#: The header that carries the API key, and LitServe's variable that sets one: LitServe's own names.
API_KEY_HEADER = "X-API-Key"
API_KEY_ENV = "LIT_SERVER_API_KEY"


class Refusal(Exception):
    """Why a request gets no prediction: its HTTP status and a message naming the problem."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Batch:
    """The images of a batch's good requests, stacked, and every request's input in arrival order."""

    images: Tensor | None
    inputs: list[Tensor | Refusal]


@dataclass(frozen=True)
class Answer:
    """One image's ranked classes, and how many images the network ran together with it."""

    top_k: list[tuple[str, float]]
    batch_size: int


class ClassifierAPI(ls.LitAPI):
    """Answers each POSTed image with its class name, probability and top k classes.

    Args:
        module: the trained module; it records the data module whose evaluation transform
            prepares each image (see ``predict_images``).
        top_k: how many classes each answer ranks.
        trusted_modules: modules whose data module classes the module's record may name.
        max_batch_size: the most requests the network runs together.
        batch_timeout: how long, in seconds, a batch waits for more requests to fill it.
        api_key: the key every request must send in its ``X-API-Key`` header (401 otherwise);
            ``None``: LitServe's ``LIT_SERVER_API_KEY`` from the environment, if it is set.
    """

    def __init__(
        self,
        module: ClassifierModule,
        top_k: int = 3,
        trusted_modules: Sequence[str] = (),
        max_batch_size: int = 16,
        batch_timeout: float = 0.005,
        api_key: str | None = None,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout)
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, not {top_k}")
        self.module = module.eval()
        self.transform = evaluation_transform(module, trusted_modules)  # refused here, before serving
        self.top_k = top_k
        self.api_key = api_key or os.environ.get(API_KEY_ENV) or None

    def authorize(
        self, x_api_key: str | None = Depends(APIKeyHeader(name=API_KEY_HEADER, auto_error=False))
    ) -> None:
        """LitServe's hook for every route (``/predict``, ``/health``, ``/info``): a request without the
        key gets a 401. It stands in for LitServe's own check of ``LIT_SERVER_API_KEY``, which it
        replaces, and compares in constant time (no timing tells how much of a guess was right)."""
        if self.api_key is None:
            return
        if x_api_key is None:
            raise HTTPException(
                401, f"this server takes requests with its API key in the header {API_KEY_HEADER}"
            )
        if not secrets.compare_digest(x_api_key.encode(), self.api_key.encode()):
            raise HTTPException(401, f"the {API_KEY_HEADER} header holds no key of this server")

    def setup(self, device: str) -> None:
        self.module = self.module.to(device)

    def decode_request(self, request) -> Tensor | Refusal:
        """The image of a parsed form or JSON body, decoded to the network's size, or why it is refused.

        ``request`` has no annotation on purpose: LitServe makes it the type FastAPI parses the body
        into, and none leaves the parsing of forms and JSON to LitServe. The annotations here are
        evaluated (no ``from __future__ import annotations``): LitServe reads them at runtime."""
        try:
            return self.transform.decode(posted_bytes(request), f"in the field {FIELD}")
        except Refusal as refusal:
            return refusal
        except DataError as error:  # too many pixels (refused before decoding), or no image
            return Refusal(413 if isinstance(error, ImageTooLarge) else 422, str(error))

    def batch(self, inputs: list[Tensor | Refusal]) -> Batch:
        images = [x for x in inputs if isinstance(x, Tensor)]
        return Batch(self.transform.standardize(torch.stack(images)) if images else None, inputs)

    def predict(self, x: Batch | Tensor | Refusal) -> list[Answer | Refusal] | Answer | Refusal:
        """The answers of a batch, in its order (one answer when LitServe does not batch)."""
        if not isinstance(x, Batch):  # max_batch_size 1: LitServe calls neither batch nor unbatch
            return self.predict(self.batch([x]))[0]  # type: ignore[index]
        ranks = iter([] if x.images is None else ranked(self.module, x.images, self.top_k))
        size = 0 if x.images is None else len(x.images)
        return [each if isinstance(each, Refusal) else Answer(next(ranks), size) for each in x.inputs]

    def unbatch(self, output: list[Answer | Refusal]) -> list[Answer | Refusal]:
        return output

    def encode_response(self, output: Answer | Refusal) -> JSONResponse:
        """``{"class_name", "probability", "top_k"}``, with the batch's size in ``X-Batch-Size``;
        a refused request: its status and ``{"detail": why}``."""
        if isinstance(output, Refusal):
            return JSONResponse({"detail": output.detail}, status_code=output.status)
        name, probability = output.top_k[0]
        answer = {"class_name": name, "probability": probability, "top_k": output.top_k}
        return JSONResponse(answer, headers={"X-Batch-Size": str(output.batch_size)})


def posted_bytes(request: Any) -> bytes:
    """The image's bytes: the file of the form's ``image`` field, or the base64 text of the JSON
    object's ``image`` (a ``data:...;base64,`` URL too); a ``Refusal`` (400) naming what is wrong."""
    if not isinstance(request, Mapping):
        raise Refusal(400, f"the body must be a JSON object with a field {FIELD}, not {short_repr(request)}")
    if FIELD not in request:
        fields = ", ".join(sorted(map(str, request.keys()))) or "none"
        raise Refusal(400, f"no field {FIELD} in the request (it has: {fields}); post the image as {FIELD}")
    value = request[FIELD]
    if isinstance(value, UploadFile):
        value.file.seek(0)
        return value.file.read()
    if not isinstance(value, str):
        said = short_repr(value)
        raise Refusal(400, f"the field {FIELD} must be a file (a form) or base64 text (JSON), not {said}")
    text = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise Refusal(400, f"the field {FIELD} is not base64 text ({error})") from None
