"""Image data through the CLI, end to end: fit (dpgan), sample (npz + PNG grid), evaluate.

Bad input must give one line naming the file and the key or value, a non-zero exit, no output
file and no budget spent (checked against a real SQLite ledger file).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from privsynth.cli.main import app
from privsynth.errors import InputError, ModelFileError
from privsynth.images import load_images, read_png
from privsynth.images.synthesizer import ImageSynthesizer, load_synthesizer
from privsynth.privacy.store import SqliteBudgetStore

MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "mnist.npz"
FAST = ("--param", "epochs=1", "--param", "batch_size=64", "--param", "channels=8")
EPSILON, DELTA = 4.0, 1e-5

runner = CliRunner()


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def one_line_error(result, *needles: str) -> None:
    assert result.exit_code != 0
    text = result.output.strip()
    assert text.startswith("error:"), text
    assert len(text.splitlines()) == 1, text
    for needle in needles:
        assert needle in text, (needle, text)


def _digits(n_train: int, n_test: int) -> dict[str, np.ndarray]:
    """The first MNIST rows if the shared copy is present, else random 28x28 images."""
    if MNIST.is_file():
        with np.load(MNIST) as d:
            return {
                "x_train": d["x_train"][:n_train],
                "y_train": d["y_train"][:n_train],
                "x_test": d["x_test"][:n_test],
                "y_test": d["y_test"][:n_test],
            }
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test).astype(np.uint8),
    }


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli_images")


@pytest.fixture(scope="module")
def digits(root) -> Path:
    """300 training and 200 test images in the MNIST layout."""
    path = root / "digits.npz"
    np.savez(path, **_digits(300, 200))
    return path


def _new_ledger(path: Path) -> Path:
    result = run(
        "budget", "set", "--ledger", path, "--dataset", "digits", "--epsilon", 10, "--delta", 1e-4
    )
    assert result.exit_code == 0, result.output
    return path


def _spent(ledger: Path) -> tuple[float, float, int]:
    st = SqliteBudgetStore(ledger).status("digits")
    return st["epsilon_spent"], st["rho_spent"], st["charges"]


@pytest.fixture(scope="module")
def fitted(root, digits) -> dict[str, object]:
    """One small dpgan fit through the CLI, charged to a lifetime ledger."""
    ledger = _new_ledger(root / "budget.sqlite")
    model = root / "model"
    result = run(
        "fit",
        digits,
        "-o",
        model,
        "--generator",
        "dpgan",
        "--epsilon",
        EPSILON,
        "--delta",
        DELTA,
        *FAST,
        "--seed",
        0,
        "--ledger",
        ledger,
        "--dataset",
        "digits",
    )
    return {"model": model, "ledger": ledger, "result": result}


def test_fit_writes_model_folder_without_training_images(fitted, digits):
    result = fitted["result"]
    assert result.exit_code == 0, result.output
    model = fitted["model"]
    assert sorted(p.name for p in model.iterdir()) == ["arrays.safetensors", "manifest.json"]
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["data_kind"] == "images"
    assert manifest["generator"]["name"] == "dpgan"
    assert manifest["generator"]["config"]["channels"] == 8
    assert manifest["images"] == {"n_classes": 10, "image_shape": [28, 28]}
    # the reported epsilon (printed and in the manifest) is within the budget
    printed = float(re.search(r"spent epsilon=([0-9.e+-]+) of", result.output).group(1))
    assert 0 < printed <= EPSILON * (1 + 1e-9)
    assert 0 < manifest["ledger"]["epsilon_spent"] <= EPSILON * (1 + 1e-9)
    assert manifest["ledger"]["composition"] == "rdp"
    # per-epoch progress is printed as a line
    assert re.search(r"dpgan: epoch 1, generator loss [0-9.]+, epsilon so far", result.output)
    # safetensors, numbers only, and no training image's raw bytes anywhere in it
    blob = (model / "arrays.safetensors").read_bytes()
    assert not blob.startswith(b"\x80")  # not a pickle
    from safetensors.numpy import load

    arrays = load(blob)
    assert all(a.dtype.kind in "fiu" for a in arrays.values())
    train = load_images(digits, "train")
    assert not any(img.tobytes() in blob for img in train.images)
    # the lifetime ledger was charged
    eps, _, charges = _spent(fitted["ledger"])
    assert charges == 1 and 0 < eps <= EPSILON * (1 + 1e-9)


def test_sample_writes_npz_and_png_grid(fitted, tmp_path):
    out = tmp_path / "synth.npz"
    result = run("sample", fitted["model"], "-n", 150, "-o", out, "--seed", 3)
    assert result.exit_code == 0, result.output
    data = load_images(out)
    assert data.images.shape == (150, 28, 28) and data.images.dtype == np.uint8
    assert data.labels.min() >= 0 and data.labels.max() < 10
    grid = read_png(out.with_suffix(".png"))
    classes = len(np.unique(data.labels))
    assert grid.shape[1] == 10 * 30 + 2  # 10 images per row, 2 px padding
    rows = (grid.shape[0] - 2) // 30
    assert grid.shape[0] == rows * 30 + 2 and classes <= rows <= 10
    again = tmp_path / "again.npz"
    assert run("sample", fitted["model"], "-n", 150, "-o", again, "--seed", 3).exit_code == 0
    assert np.array_equal(load_images(again).images, data.images)
    # default n: the model's noisy image count
    default = tmp_path / "default.npz"
    assert run("sample", fitted["model"], "-o", default, "--seed", 4).exit_code == 0
    assert abs(len(load_images(default)) - 300) < 150


def test_sample_png_output_and_labels(fitted, tmp_path):
    out = tmp_path / "grid.png"
    result = run("sample", fitted["model"], "-n", 40, "-o", out, "--label", 3, "--label", 7)
    assert result.exit_code == 0, result.output
    data = load_images(tmp_path / "grid.npz")
    assert len(data) == 40 and set(np.unique(data.labels)) <= {3, 7}
    grid = read_png(out)
    assert grid.ndim == 2 and grid.shape[1] == 302


def test_evaluate_images_writes_json(fitted, digits, tmp_path):
    synth = tmp_path / "s.npz"
    assert run("sample", fitted["model"], "-n", 200, "-o", synth, "--seed", 1).exit_code == 0
    report = tmp_path / "eval.json"
    result = run("evaluate", digits, synth, "-o", report, "--seed", 0)
    assert result.exit_code == 0, result.output
    assert "not private" in result.output
    data = json.loads(report.read_text())
    assert data["privacy"].startswith("not private")
    assert 0.0 <= data["tstr"]["accuracy"] <= 1.0
    assert data["tstr"]["n_test"] == 200 and data["tstr"]["n_train"] == 200
    assert data["fidelity"]["mean_image_l2"] >= 0 and data["fidelity"]["fd_smallcnn"] >= 0
    assert data["inputs"]["test"].endswith("(x_test, y_test)")
    # an explicit holdout in the generic layout
    test = tmp_path / "holdout.npz"
    raw = _digits(300, 50)
    np.savez(test, images=raw["x_test"], labels=raw["y_test"])
    report2 = tmp_path / "eval2.json"
    result = run("evaluate", digits, synth, "--test", test, "-o", report2)
    assert result.exit_code == 0, result.output
    assert json.loads(report2.read_text())["tstr"]["n_test"] == 50


def test_library_round_trip_and_dispatch(fitted, tmp_path):
    synth = load_synthesizer(fitted["model"])
    assert isinstance(synth, ImageSynthesizer) and synth.n_classes == 10
    sample = synth.sample(20, rng=np.random.default_rng(0), labels=[5])
    assert sample.images.shape == (20, 28, 28) and set(sample.labels) == {5}
    with pytest.raises(InputError, match="class 10 is outside 0..9"):
        synth.sample(5, rng=np.random.default_rng(0), labels=[10])
    copy = tmp_path / "copy"
    synth.save(copy)
    again = ImageSynthesizer.load(copy)
    a = again.sample(8, rng=np.random.default_rng(1)).images
    b = synth.sample(8, rng=np.random.default_rng(1)).images
    assert np.array_equal(a, b)


# -- bad input ---------------------------------------------------------------------------


def _bad_file(tmp_path: Path, case: str) -> Path:
    raw = _digits(40, 10)
    path = tmp_path / f"{case}.npz"
    if case == "wrong_keys":
        np.savez(path, pixels=raw["x_train"], classes=raw["y_train"])
    elif case == "label_out_of_range":
        labels = raw["y_train"].astype(np.int64)
        labels[5] = 12
        np.savez(path, images=raw["x_train"], labels=labels)
    elif case == "small_images":
        np.savez(path, images=raw["x_train"][:, :14, :14], labels=raw["y_train"])
    elif case == "not_npz":
        path.write_text("hello")
    elif case == "good":
        np.savez(path, images=raw["x_train"], labels=raw["y_train"])
    return path


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        ("missing_file", ["nope.npz", "not found"]),
        ("wrong_keys", ["wrong_keys.npz", "'images'", "'pixels'"]),
        ("label_out_of_range", ["label_out_of_range.npz", "'labels'", "label 12", "index 5"]),
        ("small_images", ["small_images.npz", "14x14", "28x28"]),
        ("not_npz", ["not_npz.npz", "not a readable .npz"]),
        ("mst", ["'mst'", "tables only"]),
        ("aim", ["'aim'", "tables only"]),
        ("independent", ["'independent'", "tables only"]),
        ("unknown_generator", ["unknown generator", "'gpt'"]),
        ("epsilon_zero", ["--epsilon", "0"]),
        ("delta_too_big", ["--delta", "1/n", "1/40"]),
        ("bad_epochs", ["'epochs'", "must be > 0"]),
        ("bad_param_type", ["'batch_size'", "'many'"]),
        ("unconditional", ["'conditional'"]),
        ("schema_with_images", ["--schema", "images"]),
        ("output_exists", ["exists"]),
    ],
)
def test_bad_image_fit_input(tmp_path, case, needles):
    ledger = _new_ledger(tmp_path / "budget.sqlite")
    data = _bad_file(tmp_path, case if case in ("wrong_keys", "label_out_of_range") else "good")
    if case in ("small_images", "not_npz"):
        data = _bad_file(tmp_path, case)
    if case == "missing_file":
        data = tmp_path / "nope.npz"
    gen, eps, delta, extra = "dpgan", "1", "1e-5", list(FAST)
    if case in ("mst", "aim", "independent"):
        gen, extra = case, []
    elif case == "unknown_generator":
        gen = "gpt"
    elif case == "epsilon_zero":
        eps = "0"
    elif case == "delta_too_big":
        delta = "0.05"
    elif case == "bad_epochs":
        extra += ["--param", "epochs=0"]
    elif case == "bad_param_type":
        extra += ["--param", "batch_size=many"]
    elif case == "unconditional":
        extra += ["--param", "conditional=false"]
    elif case == "schema_with_images":
        extra += ["--schema", tmp_path / "schema.yaml"]
    out = tmp_path / "model"
    if case == "output_exists":
        out.mkdir()
        (out / "keep.txt").write_text("x")
    args = ["fit", data, "-o", out, "-g", gen, "--epsilon", eps, "--delta", delta, *extra]
    result = run(*args, "--ledger", ledger, "--dataset", "digits")
    one_line_error(result, *needles)
    if case != "output_exists":
        assert not out.exists()
    assert _spent(ledger) == (0.0, 0.0, 0)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model")]


@pytest.fixture(scope="module")
def table_model(root, adult_small, adult_paths) -> Path:
    data = root / "adult.csv"
    adult_small.head(500).to_csv(data, index=False)
    out = root / "table_model"
    result = run("fit", data, "-s", adult_paths[1], "-o", out, "-g", "independent", "--seed", 0)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        ("label_out_of_range", ["--label", "class 12", "0..9"]),
        ("csv_output", ["out.csv", ".npz or .png"]),
        ("where_on_images", ["--where", "image model"]),
        ("label_on_table", ["--label", "table model"]),
        ("missing_model", ["no_model", "not found"]),
        ("zero_rows", ["-n", "positive"]),
    ],
)
def test_bad_image_sample_input(tmp_path, fitted, table_model, case, needles):
    model, out = fitted["model"], tmp_path / "out.npz"
    extra: list[object] = ["-n", 10]
    if case == "label_out_of_range":
        extra += ["--label", 12]
    elif case == "csv_output":
        out = tmp_path / "out.csv"
    elif case == "where_on_images":
        extra += ["--where", "label=3"]
    elif case == "label_on_table":
        model, out = table_model, tmp_path / "out.csv"
        extra += ["--label", 3]
    elif case == "missing_model":
        model = tmp_path / "no_model"
    elif case == "zero_rows":
        extra = ["-n", 0]
    one_line_error(run("sample", model, "-o", out, *extra), *needles)
    assert list(tmp_path.iterdir()) == []


def test_image_loader_refuses_table_model(table_model, fitted):
    with pytest.raises(ModelFileError, match="of 'table' data, not of 'images'"):
        ImageSynthesizer.load(table_model)
    assert not isinstance(load_synthesizer(table_model), ImageSynthesizer)


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        ("synth_wrong_keys", ["wrong_keys.npz", "'images'"]),
        ("synth_labels", ["label_out_of_range.npz", "label 12"]),
        ("synth_small", ["small_images.npz", "14x14", "28x28"]),
        ("no_test_split", ["good.npz", "x_test", "--test"]),
        ("csv_synthetic", ["s.csv", ".npz"]),
        ("missing_test", ["nope.npz", "not found"]),
    ],
)
def test_bad_image_evaluate_input(tmp_path, digits, case, needles):
    real, synth, extra = digits, _bad_file(tmp_path, "good"), []
    if case == "synth_wrong_keys":
        synth = _bad_file(tmp_path, "wrong_keys")
    elif case == "synth_labels":
        synth = _bad_file(tmp_path, "label_out_of_range")
    elif case == "synth_small":
        synth = _bad_file(tmp_path, "small_images")
    elif case == "no_test_split":
        real = synth
    elif case == "csv_synthetic":
        synth = tmp_path / "s.csv"
        synth.write_text("a\n1\n")
    elif case == "missing_test":
        extra = ["--test", tmp_path / "nope.npz"]
    report = tmp_path / "eval.json"
    one_line_error(run("evaluate", real, synth, "-o", report, *extra), *needles)
    assert not report.exists()


def test_progress_bar_shows_epoch_messages(monkeypatch, capsys):
    from privsynth.cli.common import progress_bar
    from privsynth.cli.images import is_epoch_message

    monkeypatch.setenv("PRIVSYNTH_PROGRESS", "1")
    with progress_bar(echo=is_epoch_message) as progress:
        progress("dpgan: noisy class counts", 0.01)
        progress("dpgan: epoch 1, generator loss 0.71, epsilon so far 0.82", 0.5)
        progress("dpgan: epoch 1, generator loss 0.71, epsilon so far 0.82", 0.5)
        progress("dpgan: epoch 2, generator loss 0.69, epsilon so far 1", 1.0)
    err = capsys.readouterr().err
    assert err.count("dpgan: epoch 1, generator loss 0.71, epsilon so far 0.82\n") == 1
    assert "dpgan: epoch 2" in err and "dpgan: noisy class counts\n" not in err
