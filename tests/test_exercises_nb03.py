"""The checks of 03_autoencoders pass the solution, say "not answered yet" to the stub, and name the property each
typical wrong answer gets wrong, without giving the answer away."""
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers.exercises import ExerciseError
from helpers.exercises import nb03_autoencoders as ex


def stub(*args, **kwargs):
    raise NotImplementedError()


ANSWERS = ("linspace", "amax", "avg_pool", "lerp", "0.45", "pooled", "64-d")   # what no message may say


def refuses(check, words, *args):
    """The check raises an ExerciseError naming ``words``, and the message gives no answer away."""
    with pytest.raises(ExerciseError, match=words) as err:
        check(*args)
    assert not any(a in str(err.value) for a in ANSWERS), str(err.value)


# --- Exercise 1: make_decoder --------------------------------------------------------------------------------------
def decoder_ok(code_dim, act=nn.ReLU, end=()):
    return nn.Sequential(nn.Linear(code_dim, 128 * 6 * 6), act(), nn.Unflatten(1, (128, 6, 6)),
                         nn.ConvTranspose2d(128, 64, 4, 2, 1), act(), nn.ConvTranspose2d(64, 32, 4, 2, 1), act(),
                         nn.ConvTranspose2d(32, 16, 4, 2, 1), act(), nn.ConvTranspose2d(16, 3, 4, 2, 1), *end,
                         nn.Sigmoid())


def decoder_linear_to_pixels(code_dim):        # the right output shape, nothing else
    return nn.Sequential(nn.Linear(code_dim, 3 * 96 * 96), nn.Unflatten(1, (3, 96, 96)), nn.Sigmoid())


def decoder_kernel_3(code_dim):                # kernel 3 + output_padding 1 also doubles the size
    return nn.Sequential(nn.Linear(code_dim, 128 * 6 * 6), nn.ReLU(), nn.Unflatten(1, (128, 6, 6)),
                         *[m for c_in, c_out in [(128, 64), (64, 32), (32, 16)]
                           for m in (nn.ConvTranspose2d(c_in, c_out, 3, 2, 1, 1), nn.ReLU())],
                         nn.ConvTranspose2d(16, 3, 3, 2, 1, 1), nn.Sigmoid())


def decoder_huge(code_dim):
    return nn.Sequential(nn.Linear(code_dim, 512 * 6 * 6), nn.ReLU(), nn.Unflatten(1, (512, 6, 6)),
                         *[m for c_in, c_out in [(512, 512), (512, 512), (512, 256)]
                           for m in (nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.ReLU())],
                         nn.ConvTranspose2d(256, 3, 4, 2, 1), nn.Sigmoid())


DECODER_MISTAKES = [
    (lambda d: nn.Sequential(*list(decoder_ok(d))[:-1]), "sigmoid"),
    (decoder_linear_to_pixels, "no transposed convolution"),
    (decoder_kernel_3, "kernel 4, stride 2, padding 1"),
    (decoder_huge, "parameters, outside the plausible range"),
    (lambda d: decoder_ok(d, act=nn.Identity), "non-linearities"),
    (lambda d: decoder_ok(d, end=(nn.ReLU(),)), "cannot learn the images"),     # ReLU right before the sigmoid
]


def test_decoder_check_passes_the_solution_and_refuses_the_stub(capsys):
    ex.check_decoder(decoder_ok)
    assert "Correct" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="not answered yet"):
        ex.check_decoder(stub)


@pytest.mark.parametrize("mistake, words", DECODER_MISTAKES, ids=[w.split()[0] for _, w in DECODER_MISTAKES])
def test_decoder_check_names_what_is_wrong(mistake, words):
    refuses(ex.check_decoder, words, mistake)


# --- Exercise 2: interpolate ---------------------------------------------------------------------------------------
def interpolate_ok(model, x_a, x_b, n):
    with torch.no_grad():
        z_a, z_b = model.encode(torch.stack([x_a, x_b]))
        return model.decode(z_a + torch.linspace(0, 1, n)[:, None] * (z_b - z_a))


def interpolate_pixels(model, x_a, x_b, n):     # blends the two reconstructions
    with torch.no_grad():
        r = model(torch.stack([x_a, x_b]))
    t = torch.linspace(0, 1, n)[:, None, None, None]
    return (1 - t) * r[0] + t * r[1]


def interpolate_inputs_at_ends(model, x_a, x_b, n):
    out = interpolate_ok(model, x_a, x_b, n)
    out[0], out[-1] = x_a, x_b
    return out


def interpolate_no_end(model, x_a, x_b, n):     # off by one: the last point is short of x_b
    with torch.no_grad():
        z_a, z_b = model.encode(torch.stack([x_a, x_b]))
        return model.decode(z_a + torch.arange(n)[:, None] / n * (z_b - z_a))


def interpolate_with_grad(model, x_a, x_b, n):
    z_a, z_b = model.encode(torch.stack([x_a, x_b]))
    return model.decode(z_a + torch.linspace(0, 1, n)[:, None] * (z_b - z_a))


def interpolate_in_place(model, x_a, x_b, n):
    x_a.mul_(0.5)
    return interpolate_ok(model, x_a, x_b, n)


def interpolate_wrong_line(model, x_a, x_b, n):   # the right ends, but the points bunch up near x_a
    with torch.no_grad():
        z_a, z_b = model.encode(torch.stack([x_a, x_b]))
        return model.decode(z_a + torch.linspace(0, 1, n)[:, None] ** 2 * (z_b - z_a))


INTERPOLATE_MISTAKES = [
    (interpolate_pixels, "blends of pixels"),
    (interpolate_inputs_at_ends, "not the inputs themselves"),
    (interpolate_no_end, "both ends included"),
    (interpolate_with_grad, "gradients"),
    (interpolate_in_place, "in place"),
    (interpolate_wrong_line, "equally spaced points"),
    (lambda model, x_a, x_b, n: interpolate_ok(model, x_a, x_b, n).numpy(), "torch tensor"),
]


def test_interpolate_check(capsys):
    ex.check_interpolate(interpolate_ok)
    assert "Correct" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="not answered yet"):
        ex.check_interpolate(stub)
    for mistake, words in INTERPOLATE_MISTAKES:
        refuses(ex.check_interpolate, words, mistake)


# --- Exercise 3 (open): my_encode, scored on held-back images ---------------------------------------------------------
def pixels_8(images):                            # average-pooled pixels: 8 x 8 x 3 = 192 numbers, no training
    return F.avg_pool2d(images, 6).flatten(1).numpy()


def pixels_4(images):
    return F.avg_pool2d(images, 12).flatten(1).numpy()


def corner(images):                              # the top-left 2 x 2 pixels: background only
    return images[:, :, :2, :2].flatten(1).numpy()


@pytest.fixture(scope="module")
def val_maps():
    X, y, q, g = ex._validation_split()
    return {f.__name__: float(ex._cosine_map(f(X), y, q, g).mean()) for f in (pixels_8, pixels_4, corner)}


def test_code_design_check_scores_an_honest_design(val_maps, capsys):
    best = max(["pixels_8", "pixels_4"], key=val_maps.get)
    encode = {"pixels_8": pixels_8, "pixels_4": pixels_4}[best]
    score = ex.check_code_design(encode, lambda: {k: val_maps[k] for k in ("pixels_8", "pixels_4")})
    out = capsys.readouterr().out
    assert out.startswith("Correct (") and "held-back" in out and 0 <= score <= 1
    with pytest.raises(ExerciseError, match="not answered yet"):
        ex.check_code_design(stub, lambda: dict(val_maps))
    with pytest.raises(ExerciseError, match="not answered yet"):
        ex.check_code_design(pixels_8, stub)


def test_code_design_check_names_what_is_wrong(val_maps):
    scores = lambda: dict(val_maps)                                  # noqa: E731
    honest = lambda: {"corner": val_maps["corner"], "other": 0.0}   # noqa: E731

    def noisy(images):
        return pixels_8(images) + np.random.default_rng().normal(0, 0.1, (len(images), 192))

    def in_place(images):
        images -= 0.5
        return pixels_8(images + 0.5)

    mistakes = [
        (noisy, scores, "different codes"),
        (lambda X: X.flatten(1).numpy(), scores, "compact"),
        (in_place, scores, "in place"),
        (lambda X: np.ones((len(X), 8)), scores, "same code"),
        (lambda X: np.full((len(X), 8), np.nan), scores, "nan"),
        (lambda X: pixels_8(X[:10]), scores, "one code per image"),
        (pixels_8, lambda: {"a": 0.3, "b": 0.5, "c": 1.5}, "between 0 and 1"),
        (pixels_8, lambda: {"only one": 0.3}, "at least 2"),
        # chosen on something else than validation: a design the validation queries rank higher was reported
        (min((pixels_8, pixels_4), key=lambda f: val_maps[f.__name__]),
         lambda: {k: val_maps[k] for k in ("pixels_8", "pixels_4")}, "below the best design"),
        (pixels_8, lambda: {"made up": val_maps["pixels_8"] + 0.05, "other": 0.0}, "below the best design"),
        (pixels_8, lambda: {"made up": val_maps["pixels_8"] - 0.05, "other": 0.0}, "none of the numbers"),
        (corner, honest, "below the pass mark"),
    ]
    for encode, design_scores, words in mistakes:
        refuses(ex.check_code_design, words, encode, design_scores)
