"""Exercise checks of 02_cnn_features."""
from __future__ import annotations

from helpers.exercises import ExerciseError, _call, _check_best_choice


def check_gem(func) -> None:
    """Exercise of 02_cnn_features: generalised-mean pooling (B, C, H, W) -> (B, C)."""
    import torch
    g = torch.Generator().manual_seed(0)
    maps = torch.rand(2, 5, 4, 3, generator=g) + 0.01
    out = _call(func, maps.clone(), 3.0)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, 5):
        raise ExerciseError(f"expected a tensor of shape (B, C) = (2, 5), got "
                            f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}: "
                            "pool over the two spatial dimensions")
    if not torch.allclose(_call(func, maps, 1.0), maps.mean(dim=(2, 3)), atol=1e-5):
        raise ExerciseError("with p = 1, GeM must equal global average pooling")
    big = _call(func, maps, 60.0)
    if not torch.allclose(big, maps.amax(dim=(2, 3)), atol=0.05):
        raise ExerciseError("as p grows, GeM must approach global max pooling: raise to the power p, average, "
                            "then take the 1/p-th root")
    if (out < maps.mean(dim=(2, 3)) - 1e-5).any() or (out > maps.amax(dim=(2, 3)) + 1e-5).any():
        raise ExerciseError("GeM with p = 3 must lie between average and max pooling")
    if torch.allclose(out, (maps ** 3).mean(dim=(2, 3)), atol=1e-6):
        raise ExerciseError("you forgot the 1/p-th root after averaging")
    if not torch.allclose(_call(func, maps * 2, 3.0), 2 * out, atol=1e-4):
        raise ExerciseError("GeM must scale with its input: doubling the maps doubles the output")
    print("Correct: GeM pooling passes every check.")


def check_best_layer(best_layer, layer_map: dict) -> None:
    """Exercise of 02_cnn_features: the feature layer with the highest retrieval mAP on validation data."""
    _check_best_choice(best_layer, layer_map, "best_layer", "layer_map", "layers")
    print(f"Correct: {best_layer} is the best of the {len(layer_map)} layers you tried on validation data; "
          "the test queries score only this choice.")


def check_cross_entropy(func) -> None:
    """Exercise of 02_cnn_features: Loss = -sum_i y_i log(p_i), averaged over the batch, from logits."""
    import torch
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 4, generator=g) * 3
    targets = torch.tensor([0, 3, 1, 1, 2, 0])
    out = _call(func, logits.clone(), targets.clone())
    if not isinstance(out, torch.Tensor) or out.numel() != 1:
        raise ExerciseError("return one number: the loss averaged over the batch")
    ref = F.cross_entropy(logits, targets)
    if torch.isclose(out, F.nll_loss(logits, targets)):
        raise ExerciseError("you used the logits as log-probabilities: apply log_softmax first")
    if torch.isclose(out, -ref):
        raise ExerciseError("the sign is off: cross-entropy is minus the log-probability of the true class")
    if torch.isclose(out, ref * len(targets)):
        raise ExerciseError("average over the batch instead of summing")
    if not torch.isclose(out, ref, atol=1e-5):
        raise ExerciseError("wrong value: take the log-softmax of the logits, pick each row's true class, "
                            "negate and average")
    big = torch.tensor([[1000.0, 0.0]])
    if not torch.isfinite(_call(func, big, torch.tensor([1]))):
        raise ExerciseError("large logits give inf or nan: use log_softmax, not log(softmax(...))")
    print("Correct: your cross-entropy matches torch.nn.functional.cross_entropy.")

