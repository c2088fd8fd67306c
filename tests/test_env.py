import numpy as np
import torch

from helpers.env import doctor, format_doctor, pick_device, seed_everything


def test_seed_everything_makes_numpy_and_torch_repeatable():
    rng = seed_everything(3)
    a, t = rng.random(3), torch.rand(3)
    rng = seed_everything(3)
    assert np.array_equal(a, rng.random(3)) and torch.equal(t, torch.rand(3))
    assert isinstance(rng, np.random.Generator)


def test_pick_device_is_a_real_device():
    assert pick_device() in {"cpu", "cuda", "mps"}
    assert pick_device("cpu") == "cpu"
    torch.zeros(1, device=pick_device())


def test_cbir_device_forces_a_device_and_gpu_loaders_keep_every_worker_busy(monkeypatch):
    from helpers.pipeline import loader_settings
    monkeypatch.setenv("CBIR_DEVICE", "cpu")
    assert pick_device() == "cpu" and pick_device("cuda") == "cuda"   # an argument wins over the variable
    assert loader_settings(3, "cpu") == (8, 0)                       # a handful of images: no worker processes
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert loader_settings(300, "cuda") == (16, 14)      # few photos: small batches, or workers sit idle (H100: 54 vs 32/s)
    assert loader_settings(1000, "cuda") == (17, 14)     # every worker gets at least 4 batches
    assert loader_settings(8000, "cuda") == (64, 14)     # many images: large batches feed the GPU (3,481 vs 1,828/s)


def test_doctor_reports_what_a_student_needs(tmp_path):
    report = doctor(tmp_path)
    assert report["datasets"] == {"shapes": False, "catalogue": False}
    assert report["efficientnet_lite0_weights"] is True
    assert report["versions"]["torch"] != "not installed"
    text = format_doctor(report)
    assert "python -m helpers datasets build shapes" in text
    from helpers.runner import notebooks
    assert set(report["estimated_seconds"]) == {p.stem for p in notebooks()}, "a time for every course notebook"
    assert all(t > 0 for t in report["estimated_seconds"].values()) and "min in all" in text


def test_importing_helpers_has_no_side_effects():
    import subprocess
    import sys
    code = ("import sys, helpers, helpers.metrics, helpers.datasets, helpers.plotting; "
            "assert 'torch' not in sys.modules and 'matplotlib.pyplot' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_data_dir_order_argument_environment_checkout_then_working_folder(tmp_path, monkeypatch):
    from helpers import env
    monkeypatch.delenv("CBIR_DATA", raising=False)
    assert env.data_dir() == env.CHECKOUT / "data"                       # a git checkout (editable install)
    assert env.data_dir(tmp_path) == tmp_path
    monkeypatch.setenv("CBIR_DATA", str(tmp_path / "d"))
    assert env.data_dir() == tmp_path / "d"
    monkeypatch.delenv("CBIR_DATA")
    monkeypatch.setattr(env, "CHECKOUT", tmp_path / "site-packages")    # `pip install .`: no checkout around
    course = tmp_path / "course"
    (course / "notebooks" / "sub").mkdir(parents=True)
    monkeypatch.chdir(course / "notebooks" / "sub")
    assert env.data_dir() == course / "data" and env.course_dir() == course   # the course folder above
    monkeypatch.chdir(tmp_path)
    assert env.data_dir() == tmp_path / "data"
