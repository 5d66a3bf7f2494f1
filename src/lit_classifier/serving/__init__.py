"""Serve a trained classifier over HTTP with LitServe (``pip install -e ".[serve]"``).

From the shell::

    lit-classifier serve --ckpt_path last --max_batch_size 16 --batch_timeout 0.005

From Python::

    from lit_classifier import ClassifierModule
    from lit_classifier.serving import ClassifierAPI, classifier_server

    module = ClassifierModule.load_from_checkpoint("runs/lightning_logs/version_0/checkpoints/last.ckpt")
    server = classifier_server(ClassifierAPI(module, max_batch_size=16), max_body_mb=10, accelerator="cpu")
    server.run(host="127.0.0.1", port=8000, generate_client_file=False)

``POST /predict`` takes one image: a multipart form's file field ``image``, or a JSON object
``{"image": "<base64 of the file>"}``; it answers ``{"class_name", "probability", "top_k"}`` as
``predict_images`` gives them for the same file. A bad request gets a 4xx answer ``{"detail": why}``.
"""

from lit_classifier.serving.api import ClassifierAPI
from lit_classifier.serving.command import classifier_server, serve

__all__ = ["ClassifierAPI", "classifier_server", "serve"]
