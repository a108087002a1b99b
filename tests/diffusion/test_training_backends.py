"""The trainer's GPU options, exercised on the CPU: bf16 autocast, torch.compile, and their checkpoints.

On CUDA the trainer uses bf16 autocast by default and torch.compile in the full profile. Both work on the
CPU too, so their code paths are proven here, where every session can run them, before a GPU is lent.
"""

import os
import shutil

import pytest
import torch

from probgen import checkpoints
from probgen.diffusion import DDPM, NoiseSchedule, TrainConfig, train_diffusion
from probgen.diffusion.training import autocast_dtype
from probgen.nets import UNet, UNetConfig
from probgen.runtime import ConfigError

from ..tolerances import rounding_tol

# A U-Net with every kind of layer of the chapters' models (convolutions, GroupNorm, attention, up and down
# sampling, time embedding) on 8×8 images: 9 000 parameters, a step takes milliseconds.
TINY_UNET = UNetConfig(in_channels=1, image_size=8, base_channels=8, channel_mults=(1, 2), num_res_blocks=1,
                       attention_resolutions=(4,), heads=2, groups=4)
KEY = {"net": "tiny-unet-8", "T": 50}
CFG = TrainConfig(epochs=1, batch_size=32, lr=2e-3, ema_decay=0.9, seed=0, device="cpu")


def build():
    torch.manual_seed(0)
    return DDPM(UNet(TINY_UNET), NoiseSchedule.linear(50, 1e-3, 0.2))


@pytest.fixture(scope="module")
def images():
    """Blobs at random places on 8×8 images, in [-1, 1]: something a U-Net can learn in a few hundred steps."""
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    centres = torch.randint(2, 6, (320, 2), generator=g).float()
    d2 = (yy - centres[:, 0, None, None]) ** 2 + (xx - centres[:, 1, None, None]) ** 2
    return (2 * torch.exp(-d2 / 2) - 1).unsqueeze(1)


def train(images, cfg, **kwargs):
    return train_diffusion("ddpm", KEY, build, cfg, images, log=lambda m: None, progress=False, **kwargs)


def test_precision_resolves_per_device_and_is_validated():
    assert autocast_dtype("auto", "cpu") is None and autocast_dtype("auto", "cuda") is torch.bfloat16
    assert autocast_dtype("auto", "cuda:1") is torch.bfloat16
    assert autocast_dtype("bf16", "cpu") is torch.bfloat16 and autocast_dtype("fp32", "cuda") is None
    with pytest.raises(ConfigError, match="precision='fp16'"):
        TrainConfig(precision="fp16")
    # "auto" keeps the cache keys every earlier run was saved under; an explicit precision names its checkpoint
    assert "precision" not in TrainConfig().cache_key()
    assert TrainConfig(precision="bf16").cache_key()["precision"] == "bf16"
    assert TrainConfig(compile=True).cache_key() == TrainConfig().cache_key()


def test_bf16_autocast_training_follows_the_fp32_loss_curve(images, monkeypatch, tmp_path):
    """200 steps in fp32 and under CPU bf16 autocast from the same weights and the same noise.

    bf16 keeps 8 significant bits (relative rounding 2^-8 ≈ 0.4 % per operation), so the two runs drift apart
    step by step; what must hold is that bf16 trains as well: every 50-step block of the loss within 10 % of
    fp32's (the blocks fall from 0.40 to 0.05; measured differences stay below 2 %), and really ran in bf16
    (the curves are not identical).
    """
    cfg = CFG.replace(epochs=20, max_steps=200)  # 10 steps per epoch
    _, fp32 = train(images, cfg.replace(precision="fp32"))
    _, bf16 = train(images, cfg.replace(precision="bf16"))
    a, b = torch.tensor(fp32["losses"]), torch.tensor(bf16["losses"])
    assert len(a) == len(b) == 4 and a[-1] < 0.5 * a[0]
    assert not torch.equal(a, b)
    torch.testing.assert_close(b, a, rtol=0.10, atol=0)


@pytest.fixture
def inductor_ok(monkeypatch):
    """torch.compile's default backend builds C++ kernels on the CPU; say so plainly where there is no compiler.

    Under ATEN_CPU_CAPABILITY=default (eager kernels without SIMD, how the suite checks that it passes on any
    CPU) inductor's vectorised kernels do not compile (its at::vec headers follow that capability), so its
    kernels are made scalar too (cpp.simdlen = 1)."""
    compiler = os.environ.get("CXX", "g++")
    if shutil.which(compiler) is None:
        pytest.skip(f"torch.compile needs a C++ compiler on the CPU and {compiler!r} is not on PATH")
    if os.environ.get("ATEN_CPU_CAPABILITY") == "default":
        import torch._inductor.config as inductor_config

        monkeypatch.setattr(inductor_config.cpp, "simdlen", 1)


@pytest.mark.slow
def test_a_compiled_network_computes_what_the_eager_one_does(inductor_ok):
    """Inductor's generated kernels against the eager network, with random weights (a fresh U-Net's last
    layer is zero, so its output would be 0 either way)."""
    net = UNet(TINY_UNET).eval()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    x = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(1)).contiguous(memory_format=torch.channels_last)
    t = torch.randint(0, 50, (16,), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        eager = net(x, t)
        compiled = torch.compile(net)(x, t)
    size = eager.abs().max()
    assert size > 0.1
    # Fused kernels sum in another order: a few dozen roundings of output-sized values (measured: 4.5 eps·|out|)
    torch.testing.assert_close(compiled, eager, rtol=0, atol=rounding_tol(torch.float32, size.item(), ops=64))


def test_a_compiled_run_checkpoints_a_plain_network_and_resumes_exactly(images, monkeypatch, tmp_path, interrupt_call):
    """The trainer's compile branch: the checkpoint of a compiled run has the plain network's names (no
    "_orig_mod."), loads into an uncompiled model, an interrupted compiled run resumes to the same weights as an
    uninterrupted one, and it trains the very weights the eager run trains.

    torch.compile runs here with the "aot_eager" backend: the same graph capture and autograd graphs as the
    default backend, without generating C++ kernels (which take most of a minute to build for the backward
    pass). The generated kernels' numerics are the test above's job.
    """
    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda module, **kw: real_compile(module, backend="aot_eager"))
    cfg = CFG.replace(epochs=3, compile=True, save_every_s=1e9)  # 10 steps per epoch, a checkpoint per epoch
    restore = interrupt_call(checkpoints, "save_checkpoint", 2)  # killed while saving epoch 2: resumes at step 10
    with pytest.raises(KeyboardInterrupt):
        train(images, cfg)
    restore()
    (partial,) = (tmp_path / "cache" / "ddpm").glob("ddpm-*.pt")
    state = torch.load(partial, weights_only=True)
    assert state["complete"] is False and state["step"] == 10
    for name in ("network", "optimizer"):
        assert not any("_orig_mod" in str(k) for k in state["state"][name]), name
    plain = build().network
    plain.load_state_dict(state["state"]["network"], strict=True)
    plain.load_state_dict(state["state"]["ema"]["shadow"], strict=True)

    resumed, record = train(images, cfg)
    assert record["step"] == 30
    monkeypatch.setenv("PROBGEN_CACHE", str(tmp_path / "straight"))
    straight, record_straight = train(images, cfg)
    monkeypatch.setenv("PROBGEN_CACHE", str(tmp_path / "eager"))
    eager, record_eager = train(images, cfg.replace(compile=False))
    for other in (straight, eager):  # aot_eager runs the eager kernels: the same weights, bit for bit
        for k, v in other.network.state_dict().items():
            assert torch.equal(resumed.network.state_dict()[k], v), k
    assert record["history"]["loss"] == record_straight["history"]["loss"] == record_eager["history"]["loss"]
