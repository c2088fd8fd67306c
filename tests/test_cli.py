"""The command line as a user runs it: real subprocesses, exit codes, one-line errors."""
import json
import subprocess
import sys

import pytest
from PIL import Image


def cli(*args, data_dir=None):
    extra = ["--data-dir", str(data_dir)] if data_dir else []
    return subprocess.run([sys.executable, "-m", "helpers", *args, *extra], capture_output=True, text=True)


@pytest.fixture
def photos(tmp_path):
    """A labelled folder: reds and blues, plus a broken file and a nested sub-folder."""
    root = tmp_path / "photos"
    for label, colour in [("red", (200, 40, 40)), ("blue", (40, 40, 200))]:
        (root / label / "more").mkdir(parents=True)
        for i in range(3):
            shade = tuple(c + 3 * i for c in colour)  # same histogram bins
            Image.new("RGB", (32, 32), shade).save(root / label / f"{i}.PNG")
        Image.new("RGB", (32, 32), colour).save(root / label / "more" / "deep.jpg")
    (root / "red" / "broken.png").write_text("not an image")
    return root


def assert_one_line_error(result):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and result.stderr.startswith("error: "), result.stderr


@pytest.mark.parametrize("command", ["doctor", "datasets", "index", "search", "evaluate", "run", "search-text"])
def test_every_command_has_help(command):
    result = cli(command, "--help")
    assert result.returncode == 0 and "--json" in result.stdout


def test_doctor_json(tmp_path):
    report = json.loads(cli("doctor", "--json", data_dir=tmp_path).stdout)
    assert report["efficientnet_lite0_weights"] is True and "torch" in report["versions"]


def test_index_search_evaluate_round_trip(photos, tmp_path):
    out = tmp_path / "red_blue.npz"
    result = cli("index", str(photos), "--features", "colour_hist", "--out", str(out), "--json", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["n_images"] == 8 and info["skipped"][0]["path"].endswith("broken.png")
    assert "broken.png" in result.stderr  # skipped files are listed with the reason
    result = cli("search", str(out), str(photos / "red" / "0.PNG"), "-k", "4", "--json", data_dir=tmp_path)
    rows = json.loads(result.stdout)["results"]
    assert rows[0]["score"] == pytest.approx(1.0) and all("/red/" in r["path"] for r in rows)
    big_k = json.loads(cli("search", str(out), str(photos / "red" / "0.PNG"), "-k", "100", "--json").stdout)
    assert len(big_k["results"]) == 8
    metrics = json.loads(cli("evaluate", str(photos), "--features", "colour_hist", "-k", "3", "--json",
                             data_dir=tmp_path).stdout)
    assert {"precision@3", "recall@3", "mAP"} <= set(metrics) and metrics["mAP"] == 1.0
    assert metrics["n_queries"] == 8 and metrics["n_gallery"] == 7


def test_faiss_index_from_the_command_line(photos, tmp_path):
    out = tmp_path / "red_blue.faiss"
    result = cli("index", str(photos), "--features", "colour_hist", "--out", str(out), "--index", "IVF2,Flat",
                 "--json", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["kind"] == "IVF2,Flat" and (tmp_path / "red_blue.faiss.json").is_file()
    result = cli("search", str(out), str(photos / "red" / "0.PNG"), "-k", "3", "--nprobe", "2", "--json",
                 data_dir=tmp_path)
    rows = json.loads(result.stdout)["results"]
    assert len(rows) == 3 and all("/red/" in r["path"] for r in rows)
    assert_one_line_error(cli("index", str(photos), "--features", "colour_hist", "--out", str(tmp_path / "x.faiss"),
                              "--index", "IVF64,Flat", data_dir=tmp_path))      # 8 images cannot train 64 cells
    assert_one_line_error(cli("search", str(out), str(photos / "red" / "0.PNG"), "--nprobe", "9"))


def test_search_refuses_an_index_of_another_extractor(photos, tmp_path):
    out = tmp_path / "i.npz"
    cli("index", str(photos), "--features", "colour_hist", "--out", str(out), data_dir=tmp_path)
    result = cli("search", str(out), str(photos / "red" / "0.PNG"), "--features", "efficientnet_lite0")
    assert_one_line_error(result)
    assert "made with features 'colour_hist'" in result.stderr


def test_evaluate_with_queries_per_class(photos, tmp_path):
    result = cli("evaluate", str(photos), "--features", "colour_hist", "--queries-per-class", "1", "--json",
                 data_dir=tmp_path)
    assert json.loads(result.stdout)["n_queries"] == 2


@pytest.mark.parametrize("args", [
    ["index", "{missing}", "--features", "colour_hist", "--out", "{tmp}/x.npz"],
    ["index", "{empty}", "--features", "colour_hist", "--out", "{tmp}/x.npz"],
    ["evaluate", "{missing}", "--features", "colour_hist"],
    ["evaluate", "{empty}", "--features", "colour_hist"],
    ["search", "{tmp}/none.npz", "{tmp}/q.png"],
    ["search", "{tmp}/notes.npz", "{tmp}/q.png"],
    ["run", "99_no_such_notebook"],
])
def test_bad_input_gives_one_clear_sentence(args, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.npz").write_text("not an index")
    paths = {"missing": tmp_path / "missing", "empty": tmp_path / "empty", "tmp": tmp_path}
    assert_one_line_error(cli(*[a.format(**paths) for a in args], data_dir=tmp_path))


def test_query_that_is_not_an_image(photos, tmp_path):
    out = tmp_path / "i.npz"
    cli("index", str(photos), "--features", "colour_hist", "--out", str(out), data_dir=tmp_path)
    result = cli("search", str(out), str(photos / "red" / "broken.png"))
    assert_one_line_error(result)
    assert "not an image" in result.stderr


def test_bad_k_is_refused_by_the_parser(tmp_path):
    result = cli("search", "x.npz", "q.png", "-k", "0")
    assert result.returncode == 2 and "positive whole number" in result.stderr


def test_datasets_build_json_is_idempotent(tmp_path):
    first = json.loads(cli("datasets", "build", "catalogue", "--json", data_dir=tmp_path).stdout)
    second = json.loads(cli("datasets", "build", "catalogue", "--json", data_dir=tmp_path).stdout)
    assert first[0]["status"] == "built" and second[0]["status"] == "verified"
    assert first[0]["n_images"] == 345      # 69 products x 5 views


def test_efficientnet_beats_colour_histograms_on_catalogue():
    """The kit's headline claim, offline, through the command line, as a fresh clone runs it."""
    from helpers.env import data_dir
    assert cli("datasets", "build", "catalogue").returncode == 0
    folder = str(data_dir() / "catalogue")
    hist = json.loads(cli("evaluate", folder, "--features", "colour_hist", "--json").stdout)
    cnn = json.loads(cli("evaluate", folder, "--features", "efficientnet_lite0", "--json").stdout)
    assert cnn["mAP"] > hist["mAP"] + 0.15, (cnn["mAP"], hist["mAP"])


def test_os_errors_name_the_path_and_bugs_offer_the_traceback(photos, tmp_path, monkeypatch, capsys):
    import os
    from helpers import cli, workflows
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:   # root ignores file permissions: make the write fail the way it would for a user
        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied", str(locked / "i.npz"))
        monkeypatch.setattr("helpers.retrieval.np.savez", refuse)
    else:
        locked.chmod(0o500)
    code = cli.main(["index", str(photos), "--features", "colour_hist", "--out", str(locked / "i.npz"),
                     "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == f"error: Permission denied: {locked / 'i.npz'}"
    monkeypatch.setattr(workflows, "evaluate_folder", lambda *a, **k: 1 / 0)
    assert cli.main(["evaluate", str(photos), "--features", "colour_hist"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unexpected ZeroDivisionError" in err and "--traceback" in err
    with pytest.raises(ZeroDivisionError):
        cli.main(["--traceback", "evaluate", str(photos), "--features", "colour_hist"])
    with pytest.raises(ZeroDivisionError):
        cli.main(["evaluate", str(photos), "--features", "colour_hist", "--traceback"])
    monkeypatch.setenv("CBIR_TRACEBACK", "1")
    with pytest.raises(ZeroDivisionError):
        cli.main(["evaluate", str(photos), "--features", "colour_hist"])


def test_trained_feature_missing_says_which_notebook(photos, tmp_path):
    result = cli("evaluate", str(photos), "--features", "small_cnn", data_dir=tmp_path)
    assert_one_line_error(result)
    assert "notebook 02_cnn_features" in result.stderr


def test_data_folder_from_the_environment(tmp_path):
    env = {**__import__("os").environ, "CBIR_DATA": str(tmp_path / "elsewhere")}
    result = subprocess.run([sys.executable, "-m", "helpers", "doctor", "--json"], capture_output=True, text=True,
                            env=env)
    report = json.loads(result.stdout)
    assert report["data_dir"] == str(tmp_path / "elsewhere") and report["data_dir_from"] == "CBIR_DATA"
