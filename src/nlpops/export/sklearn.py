"""scikit-learn TF-IDF pipelines to ONNX through skl2onnx.

What converts: ``TfidfVectorizer`` / ``CountVectorizer`` with ``analyzer="word"`` (the default token
pattern or a custom regex) or ``analyzer="char_wb"`` (the TF-IDF family's ``char_ngrams: true``),
``lowercase``, ``ngram_range``, ``sublinear_tf``, ``max_features``, ``min_df``, stop words; a
``FeatureUnion`` of such vectorizers; a ``LogisticRegression`` or ``LinearSVC`` on top.

``char_wb`` has no ONNX converter: its n-grams stay inside one word, padded with a space on each side.
They equal the plain character n-grams of the text rewritten as ``" " + "  ".join(words) + " "`` and
restricted to the vocabulary, because every n-gram that crosses a word boundary then holds two spaces in
a row, which no padded word contains. So the graph converts the vectorizer as ``analyzer="char"`` (ONNX
counts characters without collapsing spaces), and the ONNX runtime rewrites each text that way
(``runtime_options["text_transform"] = "char_wb_pad.v1"``) before feeding it; word tokens do not depend
on how many spaces separate them. The parity check measures the result (banking77: 100% of labels).

What does not convert, and why:

- ``analyzer="char"``: scikit-learn collapses runs of whitespace before counting, which the ONNX graph
  does not; refused.
- a custom ``preprocessor``, ``tokenizer`` or ``analyzer`` callable, and ``strip_accents``: Python code
  cannot become an ONNX graph.

The ONNX ``StringNormalizer`` that lowercases needs a locale; skl2onnx's default ``en_US.UTF-8`` is
missing on slim images and onnxruntime then fails to load the graph, so we pass ``C.UTF-8``. Lowercasing
of non-ASCII letters can then differ from Python's ``str.lower``, which the parity check measures.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

from nlpops.errors import ExportError, MissingExtraError
from nlpops.runtimes.onnx import CHAR_WB_PAD
from nlpops.runtimes.sklearn import text_vectorizers

ONNX_LOCALE = "C.UTF-8"
TARGET_OPSET = 17
# re2 equivalent of scikit-learn's default token pattern (?u)\b\w\w+\b: runs of 2+ word characters.
WORD_TOKEN_RE2 = r"[\p{L}\p{N}_]{2,}"


def check_convertible(pipeline: Any) -> None:
    """Refuse, with every reason at once, a pipeline skl2onnx cannot convert exactly.

    Raises:
        ExportError: naming each vectorizer option that cannot be converted and what to change.
    """
    problems = []
    for path, vec in text_vectorizers(pipeline):
        if callable(vec.analyzer) or vec.analyzer not in ("word", "char_wb"):
            problems.append(
                f'{path}: analyzer="{vec.analyzer}" has no exact ONNX converter in skl2onnx (use "word" or "char_wb")'
            )
        for attr in ("preprocessor", "tokenizer", "strip_accents"):
            if getattr(vec, attr, None) is not None:
                problems.append(f"{path}: {attr}={getattr(vec, attr)!r} cannot be expressed in ONNX (remove it)")
    if problems:
        raise ExportError(
            "This TF-IDF pipeline cannot be exported to ONNX: " + "; ".join(problems) + ". Retrain without these "
            "options, or serve the bundle with its native runtime."
        )


def fix_sublinear_tf(model: Any) -> int:
    """Make skl2onnx's ``sublinear_tf`` match scikit-learn; returns how many places were fixed.

    scikit-learn replaces each non-zero count ``x`` with ``log(x) + 1``; skl2onnx emits ``log(x + 1)``,
    which changes the features (and labels on about 1% of banking77 texts). We rewrite each
    ``Log(Add(x, ones))`` into ``Log(Max(x, ones)) + Cast(x > 0)``, exact for counts >= 0.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    ones = {init.name for init in graph.initializer if (numpy_helper.to_array(init) == 1).all()}
    producers = {out: node for node in graph.node for out in node.output}
    fixed = 0
    for log in [n for n in graph.node if n.op_type == "Log"]:
        add = producers.get(log.input[0])
        if add is None or add.op_type != "Add" or add.input[1] not in ones:
            continue
        counts, one = add.input[0], add.input[1]
        add.op_type = "Max"
        logged, original = log.output[0] + "_nlpops_log", log.output[0]
        log.output[0] = logged
        zero = f"{one}_nlpops_zero"
        graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(_initializer(graph, one)) * 0, zero))
        index = list(graph.node).index(log) + 1
        dtype = _initializer(graph, one).data_type
        new_nodes = [
            helper.make_node("Greater", [counts, zero], [f"{original}_nlpops_gt"]),
            helper.make_node("Cast", [f"{original}_nlpops_gt"], [f"{original}_nlpops_nz"], to=dtype),
            helper.make_node("Add", [logged, f"{original}_nlpops_nz"], [original]),
        ]
        for offset, node in enumerate(new_nodes):
            graph.node.insert(index + offset, node)
        fixed += 1
    return fixed


def _initializer(graph: Any, name: str) -> Any:
    return next(init for init in graph.initializer if init.name == name)


def convert_pipeline(pipeline: Any, out: Path) -> dict[str, Any]:
    """Convert a fitted pipeline to ``out`` (an ``.onnx`` file).

    Returns:
        runtime options for :class:`nlpops.runtimes.onnx.OnnxPredictor` (``kind``, ``output``, ``margins``).

    Raises:
        MissingExtraError: skl2onnx is not installed.
        ExportError: the pipeline cannot be converted.
    """
    try:
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import StringTensorType
    except ImportError as exc:
        raise MissingExtraError.for_extra("Exporting a TF-IDF bundle to ONNX", "export", "skl2onnx") from exc
    check_convertible(pipeline)
    pipeline = copy.deepcopy(pipeline)  # char_wb vectorizers are converted as "char" (module docstring)
    clf = pipeline.steps[-1][1]
    margins = not hasattr(clf, "predict_proba")
    options: dict[int, dict[str, Any]] = {id(clf): {"zipmap": False}} if not margins else {}
    char_wb = False
    for _path, vec in text_vectorizers(pipeline):
        if vec.analyzer == "char_wb":
            vec.analyzer, char_wb = "char", True
            options[id(vec)] = {"locale": ONNX_LOCALE}
        else:
            options[id(vec)] = {"locale": ONNX_LOCALE, "tokenexp": WORD_TOKEN_RE2}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = to_onnx(
                pipeline,
                initial_types=[("text", StringTensorType([None, 1]))],
                options=options,
                target_opset=TARGET_OPSET,
            )
    except (RuntimeError, NotImplementedError, TypeError, ValueError) as exc:
        raise ExportError(
            f"skl2onnx could not convert the pipeline: {exc}. Serve it with the sklearn runtime."
        ) from exc
    fix_sublinear_tf(model)
    out.write_bytes(model.SerializeToString())
    outputs = [o.name for o in model.graph.output]
    score_output = next((name for name in outputs if name != "label"), outputs[-1])
    runtime_options = {"kind": "sklearn", "model_file": out.name, "output": score_output, "margins": margins}
    if char_wb:
        runtime_options["text_transform"] = CHAR_WB_PAD
    return runtime_options


__all__ = ["ONNX_LOCALE", "TARGET_OPSET", "WORD_TOKEN_RE2", "check_convertible", "convert_pipeline", "fix_sublinear_tf"]
