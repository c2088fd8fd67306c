"""The store: file hashes and trained models saved with their config, loaded by name."""
import json

import pytest
import torch

from helpers.env import KitError
from helpers.models import ConvAutoencoder, SmallCNN
from helpers.store import dataset_id, fingerprint, load_model, model_record, save_model, sha256_file


def test_hashes_change_with_content_and_name(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"x" * 3_000_000)          # larger than one read block
    b.write_bytes(b"x" * 3_000_000)
    import hashlib
    assert sha256_file(a) == hashlib.sha256(a.read_bytes()).hexdigest()
    assert fingerprint([a]) != fingerprint([b])            # same bytes, another name
    before = fingerprint([a, b])
    b.write_bytes(b"y")
    assert fingerprint([a, b]) != before


def test_dataset_id_needs_a_built_dataset(tmp_path):
    with pytest.raises(KitError, match="datasets build shapes"):
        dataset_id("shapes", tmp_path)
    (tmp_path / "shapes").mkdir()
    (tmp_path / "shapes" / "manifest.json").write_text("{}")
    assert len(dataset_id("shapes", tmp_path)) == 64


def test_save_then_load_by_config_and_by_name(tmp_path):
    torch.manual_seed(0)
    model = SmallCNN(n_classes=4, dropout=0.1, embedding_dim=16).eval()
    config = {"epochs": 2, "seed": 0}
    save_model(model, "tiny", config, {"loss": [1.0, 0.5]}, notebook="02_cnn_features", extra={"size": 48},
               data_dir=tmp_path)
    x = torch.rand(2, 3, 48, 48)
    for found in (load_model("tiny", config, data_dir=tmp_path), load_model("tiny", data_dir=tmp_path)):
        loaded, record = found
        assert type(loaded) is SmallCNN and loaded.hparams == model.hparams
        assert torch.equal(loaded.embed(x), model.embed(x))
        assert record["history"] == {"loss": [1.0, 0.5]} and record["extra"] == {"size": 48}
    assert load_model("tiny", {"epochs": 3, "seed": 0}, data_dir=tmp_path, missing_ok=True) is None
    other = {"epochs": 9}                       # a later save is what "the latest tiny" means
    save_model(SmallCNN(n_classes=4, embedding_dim=16), "tiny", other, data_dir=tmp_path)
    assert model_record("tiny", data_dir=tmp_path)["config"] == other
    assert json.loads((tmp_path / "models" / "tiny.json").read_text())["class"] == "SmallCNN"


def test_missing_or_damaged_models_say_what_to_do(tmp_path):
    with pytest.raises(KitError, match="notebook 03_autoencoders trains it"):
        load_model("autoencoder", data_dir=tmp_path, notebook="03_autoencoders")
    path = save_model(ConvAutoencoder(8), "ae", {"a": 1}, notebook="03_autoencoders", data_dir=tmp_path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(KitError, match="damaged.*re-run notebook 03_autoencoders"):
        load_model("ae", data_dir=tmp_path)


def test_models_have_readable_reprs_and_module_level_classes():
    assert "Conv2d(3, 32" in repr(SmallCNN()) and SmallCNN.__module__ == "helpers.models"
    assert ConvAutoencoder(16).hparams == {"code_dim": 16}


def test_a_model_class_outside_helpers_is_refused_unless_helpers_models_has_its_twin(tmp_path):
    import torch.nn as nn
    from helpers.env import KitError

    class Local(nn.Module):          # defined here, in a test: the store could not rebuild it later
        def __init__(self):
            super().__init__()
            self.hparams = {}
            self.lin = nn.Linear(2, 2)
    with pytest.raises(KitError, match="not in a helpers module"):
        save_model(Local(), "local", {"a": 1}, data_dir=tmp_path)

    from helpers import models

    class SmallCNN(models.SmallCNN):   # the class as a notebook types it: same name and code as the helper's
        pass
    save_model(SmallCNN(n_classes=3, embedding_dim=8), "typed", {"a": 1}, data_dir=tmp_path)
    loaded, record = load_model("typed", data_dir=tmp_path)
    assert record["module"] == "helpers.models" and type(loaded) is models.SmallCNN
