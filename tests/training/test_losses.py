"""The training losses against the reference metric: MSE, and minus the mean PSNR."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from recon.metrics import psnr
from recon.training import train
from recon.training.losses import training_loss
from tests.training.test_trainer import read_csv


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(0)
    target = torch.rand(3, 1, 9, 7, generator=generator)
    noise_levels = torch.tensor([0.01, 0.1, 0.3]).view(3, 1, 1, 1)
    output = target + noise_levels * torch.randn(target.shape, generator=generator)
    return output, target


def test_mse_is_the_batch_mean_squared_error(batch):
    output, target = batch
    torch.testing.assert_close(training_loss(output, target, "mse"), F.mse_loss(output, target))


def test_psnr_loss_is_minus_the_mean_psnr_at_unit_data_range(batch):
    output, target = batch
    expected = -psnr(output, target, data_range=1.0).mean()
    torch.testing.assert_close(training_loss(output, target, "psnr"), expected.float())


def test_psnr_loss_weighs_every_image_by_its_own_error(batch):
    # The MSE's gradient grows with an image's error (noise 30x larger, gradient 30x larger);
    # minus the mean PSNR's shrinks with it: a relative error counts the same in every image.
    output, target = batch
    output.requires_grad_(True)
    for kind in ("mse", "psnr"):
        (gradient,) = torch.autograd.grad(training_loss(output, target, kind), output)
        norms = gradient.flatten(1).norm(dim=1)
        if kind == "mse":
            assert norms[2] > 10 * norms[0]
        else:
            torch.testing.assert_close(norms[0] / norms[2], torch.tensor(30.0), rtol=0.5, atol=0)


def test_a_perfect_output_gives_a_finite_psnr_loss():
    target = torch.ones(2, 1, 4, 4)
    assert torch.isfinite(training_loss(target.clone(), target, "psnr"))


def test_unknown_losses_are_refused(batch, tiny_config):
    with pytest.raises(ValueError, match=r"loss: expected one of \('mse', 'psnr'\) with ground truths, got 'l1'"):
        training_loss(*batch, "l1")
    with pytest.raises(ValueError, match=r"loss: expected one of \('mse', 'psnr', 'noise2inverse', 'sure', 'ei'\), "
                                         "got 'l1'"):
        tiny_config(loss="l1")


def test_a_tiny_model_learns_with_the_psnr_loss(tiny_config):
    config = tiny_config(epochs=3, loss="psnr", grad_clip_norm=None,
                         model_args={"iterations": 3, "hidden_channels": 8, "initialization": "zero"})
    result = train(config)
    losses = [float(row["loss"]) for row in read_csv(result.output_dir / "steps.csv")]
    assert sum(losses[-4:]) / 4 < losses[0] - 1.5  # dB; measured: 2.4
