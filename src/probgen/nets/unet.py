"""The U-Net noise (or velocity) predictor used by every pixel-space model in the book.

    x (B, C, 28, 28) ──conv──► [ResBlock ×n (+attn)] ─down─► … ─► mid: Res, Attn, (CrossAttn), Res
                                   │ skips                              │
    out (B, C, 28, 28) ◄──conv── [ResBlock ×(n+1) (+attn)] ◄─up── … ◄───┘

Time enters every residual block: a sinusoidal embedding of t goes through
an MLP and is added, per channel, between the block's two convolutions.
Labels (optional) enter in one of three ways (`cond_mode`):

- `"add"`: a learned class embedding is added to the time embedding, so every
  residual block gets a class-dependent per-channel shift;
- `"cross_attention"`: the mid-block's feature map (the lowest resolution)
  attends to a few learned tokens of the class; nothing else sees the label;
- `"input_channels"`: the one-hot label, broadcast over the image as
  `n_classes` constant maps, is concatenated to the input of the stem
  convolution; the null label is all zeros, so the conditional network with
  the null label *is* an unconditional U-Net (the stem's label weights drop out).

Label `NULL_LABEL` (−1), or `y=None`, is the "no class" token that
classifier-free guidance trains with.

On 28×28 MNIST with channel_mults (1, 2, 2) the resolutions are 28, 14, 7;
self-attention sits at the resolutions listed in `attention_resolutions`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..runtime import ConfigError, FromDict, check_choice

NULL_LABEL = -1
COND_MODES = ("add", "cross_attention", "input_channels")


def label_indices(y: torch.Tensor | None, batch: int, n_classes: int, device) -> torch.Tensor:
    """Rows of a class embedding with a null row: 0..k−1 for the classes, k for `NULL_LABEL` (−1) or y=None.

    Raises ValueError naming the offending labels if any is outside {−1, 0, …, k−1}.
    """
    if y is None:
        return torch.full((batch,), n_classes, dtype=torch.long, device=device)
    y = torch.as_tensor(y, device=device).long().expand(batch)
    if bool(((y < NULL_LABEL) | (y >= n_classes)).any()):
        raise ValueError(f"labels must be in 0..{n_classes - 1} or {NULL_LABEL} (null), "
                         f"got {sorted(set(y.tolist()))}")
    return torch.where(y == NULL_LABEL, torch.full_like(y, n_classes), y)


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Transformer-style embedding of (B,) float times: [cos(t ω_k), sin(t ω_k)], ω_k = max_period^(−k/(dim/2)).

    Returns (B, dim). Times are used as given: integer DDPM steps 0…T−1, or
    continuous times scaled by the network's `time_scale`.
    """
    if dim % 2:
        raise ConfigError(f"the time embedding dimension must be even, not {dim}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None, :]  # (B, half)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


@dataclass(frozen=True)
class UNetConfig(FromDict):
    """Shape of a `UNet`. The defaults are a small MNIST model (1.1 M parameters)."""

    in_channels: int = 1
    image_size: int = 28
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 1
    attention_resolutions: tuple[int, ...] = (7,)
    heads: int = 4
    groups: int = 8
    dropout: float = 0.0
    n_classes: int | None = None  # None: unconditional; k: labels 0..k−1 plus the null label
    # how labels enter: "add" (to the time embedding) | "cross_attention" (mid-block) | "input_channels" (stem)
    cond_mode: str = "add"
    context_tokens: int = 4  # learned tokens per class for cross-attention
    time_scale: float = 1.0  # t is multiplied by this before the sinusoidal embedding (1000 for t in [0, 1])
    patch_size: int = 1  # 2: space-to-depth first (1×28×28 → 4×14×14), four times cheaper per layer

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_mults", tuple(self.channel_mults))
        object.__setattr__(self, "attention_resolutions", tuple(self.attention_resolutions))
        check_choice("cond_mode", self.cond_mode, COND_MODES)
        if self.base_channels < 1 or not self.channel_mults or min(self.channel_mults) < 1:
            raise ConfigError("base_channels and every channel_mult must be positive integers")
        if self.base_channels % self.groups:  # then it also divides every width base_channels·mult
            raise ConfigError(f"groups={self.groups} must divide base_channels={self.base_channels}")
        if self.patch_size < 1 or self.image_size % self.patch_size:
            raise ConfigError(f"patch_size={self.patch_size!r} must be a positive divisor of image_size={self.image_size}")
        size = self.image_size // self.patch_size
        for _ in self.channel_mults[1:]:
            if size % 2:
                raise ConfigError(f"image_size={self.image_size} cannot be halved {len(self.channel_mults) - 1} "
                                  f"times; use fewer channel_mults")
            size //= 2
        if self.n_classes is not None and self.n_classes < 1:
            raise ConfigError(f"n_classes={self.n_classes!r} must be None or a positive integer")
        if self.num_res_blocks < 1:
            raise ConfigError(f"num_res_blocks={self.num_res_blocks!r} must be at least 1")

    @property
    def resolutions(self) -> tuple[int, ...]:
        """Feature-map side length at each level, e.g. (28, 14, 7), or (14, 7) with patch_size 2."""
        return tuple(self.image_size // self.patch_size // 2**i for i in range(len(self.channel_mults)))


class ResBlock(nn.Module):
    """GroupNorm → SiLU → Conv, + a per-channel shift from the embedding, GroupNorm → SiLU → Dropout → Conv, + skip."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, groups: int, dropout: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch)
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity (through its skip)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over the H·W positions of a feature map, with a residual connection."""

    def __init__(self, channels: int, heads: int, groups: int):
        super().__init__()
        if channels % heads:
            raise ConfigError(f"heads={heads} must divide the attention width {channels}")
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        # (B, heads, HW, c/heads) each; attention over the HW positions
        a = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.out(a.transpose(-1, -2).reshape(b, c, h, w))


class CrossAttention(nn.Module):
    """Feature-map positions attend to a (B, L, D) context (the class tokens); residual."""

    def __init__(self, channels: int, context_dim: int, heads: int, groups: int):
        super().__init__()
        if channels % heads:
            raise ConfigError(f"heads={heads} must divide the attention width {channels}")
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.kv = nn.Linear(context_dim, 2 * channels)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        d = c // self.heads
        q = self.q(self.norm(x)).reshape(b, self.heads, d, h * w).transpose(-1, -2)  # (B, heads, HW, d)
        k, v = self.kv(context).reshape(b, -1, 2, self.heads, d).permute(2, 0, 3, 1, 4)  # (B, heads, L, d) each
        a = F.scaled_dot_product_attention(q, k, v)  # (B, heads, HW, d)
        return x + self.out(a.transpose(-1, -2).reshape(b, c, h, w))


class UNet(nn.Module):
    """ε(x, t, y): a time- (and optionally class-) conditioned U-Net; see the module docstring."""

    def __init__(self, cfg: UNetConfig | None = None, **kwargs):
        super().__init__()
        cfg = cfg or UNetConfig.from_dict(kwargs)
        self.cfg = cfg
        ch = cfg.base_channels
        emb_dim = 4 * ch
        self.time_mlp = nn.Sequential(nn.Linear(ch, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        # the one-hot label maps of cond_mode="input_channels" (fixed, so no embedding to learn)
        self.label_channels = cfg.n_classes if cfg.n_classes is not None and cfg.cond_mode == "input_channels" else 0
        if cfg.n_classes is not None and not self.label_channels:
            n_tokens = cfg.context_tokens if cfg.cond_mode == "cross_attention" else 1
            # row n_classes is the null label; cross-attention gets `context_tokens` tokens per class
            self.class_emb = nn.Embedding(cfg.n_classes + 1, n_tokens * emb_dim)
        pixels = cfg.in_channels * cfg.patch_size**2  # channels after space-to-depth
        self.stem = nn.Sequential(nn.PixelUnshuffle(cfg.patch_size),
                                  nn.Conv2d(pixels + self.label_channels, ch, 3, padding=1))

        widths = [ch * m for m in cfg.channel_mults]
        self.down = nn.ModuleList()
        skip_widths = [ch]
        in_ch = ch
        for level, (width, res) in enumerate(zip(widths, cfg.resolutions)):
            for _ in range(cfg.num_res_blocks):
                self.down.append(self._stage(in_ch, width, res, emb_dim))
                in_ch = width
                skip_widths.append(in_ch)
            if level < len(widths) - 1:
                self.down.append(nn.Conv2d(in_ch, in_ch, 3, stride=2, padding=1))
                skip_widths.append(in_ch)

        self.mid1 = ResBlock(in_ch, in_ch, emb_dim, cfg.groups, cfg.dropout)
        self.mid_attn = SelfAttention(in_ch, cfg.heads, cfg.groups)
        self.mid_cross = (CrossAttention(in_ch, emb_dim, cfg.heads, cfg.groups)
                          if cfg.n_classes is not None and cfg.cond_mode == "cross_attention" else None)
        self.mid2 = ResBlock(in_ch, in_ch, emb_dim, cfg.groups, cfg.dropout)

        self.up = nn.ModuleList()
        for level in reversed(range(len(widths))):
            width, res = widths[level], cfg.resolutions[level]
            for _ in range(cfg.num_res_blocks + 1):
                self.up.append(self._stage(in_ch + skip_widths.pop(), width, res, emb_dim))
                in_ch = width
            if level > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                             nn.Conv2d(in_ch, in_ch, 3, padding=1)))
        self.out_norm = nn.GroupNorm(cfg.groups, in_ch)
        self.out = nn.Sequential(nn.Conv2d(in_ch, pixels, 3, padding=1), nn.PixelShuffle(cfg.patch_size))
        nn.init.zeros_(self.out[0].weight)
        nn.init.zeros_(self.out[0].bias)

    def _stage(self, in_ch: int, out_ch: int, res: int, emb_dim: int) -> nn.ModuleDict:
        cfg = self.cfg
        stage = nn.ModuleDict({"res": ResBlock(in_ch, out_ch, emb_dim, cfg.groups, cfg.dropout)})
        if res in cfg.attention_resolutions:
            stage["attn"] = SelfAttention(out_ch, cfg.heads, cfg.groups)
        return stage

    @staticmethod
    def _run_stage(stage: nn.Module, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if isinstance(stage, nn.ModuleDict):
            h = stage["res"](h, emb)
            return stage["attn"](h) if "attn" in stage else h
        return stage(h)  # down- or up-sampling

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Predict the noise (B, C, H, W) of images x (B, C, H, W) at float times t (B,), labels y (B,) or None."""
        cfg = self.cfg
        if x.ndim != 4 or x.shape[1] != cfg.in_channels or x.shape[-1] != cfg.image_size \
                or x.shape[-2] != cfg.image_size:
            raise ValueError(f"the U-Net takes (B, {cfg.in_channels}, {cfg.image_size}, {cfg.image_size}) images, "
                             f"not {tuple(x.shape)}")
        t = torch.as_tensor(t, device=x.device).expand(x.shape[0])
        emb = self.time_mlp(sinusoidal_embedding(t * cfg.time_scale, cfg.base_channels).to(x.dtype))
        context = label_map = None
        if cfg.n_classes is not None:
            labels = label_indices(y, x.shape[0], cfg.n_classes, x.device)
            if self.label_channels:
                # one-hot over k + 1 rows, the null row dropped: the null label is k zero maps
                label_map = F.one_hot(labels, cfg.n_classes + 1)[:, :cfg.n_classes].to(x.dtype)  # (B, k)
            else:
                tokens = self.class_emb(labels)  # (B, tokens·emb_dim)
                if cfg.cond_mode == "add":
                    emb = emb + tokens
                else:
                    context = tokens.view(x.shape[0], cfg.context_tokens, -1)  # (B, tokens, emb_dim)
        elif y is not None and bool((y != NULL_LABEL).any()):
            raise ValueError("this U-Net is unconditional (n_classes=None) but was given class labels")

        if label_map is None:
            h = self.stem(x)
        else:
            h = self.stem[0](x)  # (B, C·p², H/p, W/p)
            maps = label_map[:, :, None, None].expand(-1, -1, *h.shape[-2:])  # (B, k) -> (B, k, H/p, W/p)
            h = self.stem[1](torch.cat([h, maps], dim=1))
        skips = [h]
        for stage in self.down:
            h = self._run_stage(stage, h, emb)
            skips.append(h)
        h = self.mid_attn(self.mid1(h, emb))
        if self.mid_cross is not None:
            h = self.mid_cross(h, context)
        h = self.mid2(h, emb)
        for stage in self.up:
            if isinstance(stage, nn.ModuleDict):
                h = torch.cat([h, skips.pop()], dim=1)
            h = self._run_stage(stage, h, emb)
        return self.out(F.silu(self.out_norm(h)))

    def label_parameters(self) -> int:
        """How many parameters exist only to take in the label: the class embedding, the cross-attention block,
        or the stem's filters of the label maps (0 for an unconditional network)."""
        if self.cfg.n_classes is None:
            return 0
        if self.label_channels:
            return self.stem[1].weight[:, -self.label_channels:].numel()
        extra = self.mid_cross.parameters() if self.mid_cross is not None else ()
        return sum(p.numel() for p in (*self.class_emb.parameters(), *extra))

    def example_input(self) -> tuple[torch.Tensor, ...]:
        """Inputs of one forward pass, for architecture tables."""
        c = self.cfg
        x = torch.zeros(1, c.in_channels, c.image_size, c.image_size)
        return x, torch.zeros(1)


def unet_summary(net: UNet) -> "pd.DataFrame":
    """One row per stage of a `UNet` (stem, each down/up stage, mid-block, output), from one forward pass.

    Columns: stage, contents (the blocks in it), output shape, parameters; a total row at the end.
    """
    import pandas as pd

    stages: list[tuple[str, nn.Module]] = [("time embedding", net.time_mlp)]
    if hasattr(net, "class_emb"):
        stages.append(("class embedding", net.class_emb))
    stages.append(("stem", net.stem))
    stages += [(f"down {i}", m) for i, m in enumerate(net.down)]
    stages += [("mid: res", net.mid1), ("mid: self-attention", net.mid_attn)]
    if net.mid_cross is not None:
        stages.append(("mid: cross-attention", net.mid_cross))
    stages.append(("mid: res", net.mid2))
    stages += [(f"up {i}", m) for i, m in enumerate(net.up)]
    stages.append(("output", nn.ModuleList([net.out_norm, net.out])))
    shapes: dict[nn.Module, str] = {}

    def watch(stage: nn.Module, inner: nn.Module):
        return inner.register_forward_hook(lambda m, i, o: shapes.__setitem__(stage, "×".join(
            str(s) for s in o.shape[1:])))

    modules = [m for _, m in stages]
    handles = []
    for m in modules[:-1]:
        # a stage's output is its last block's: the attention if it has one, else the residual block
        inner = (m["attn"] if "attn" in m else m["res"]) if isinstance(m, nn.ModuleDict) else m
        handles.append(watch(m, inner))
    handles.append(watch(modules[-1], net.out))
    try:
        p = next(net.parameters())
        x, t = net.example_input()
        y = torch.zeros(1, dtype=torch.long, device=p.device) if net.cfg.n_classes is not None else None
        with torch.no_grad():
            net(x.to(p.device, p.dtype), t.to(p.device), y)
    finally:
        for h in handles:
            h.remove()

    def contents(m: nn.Module) -> str:
        if m is net.time_mlp:
            return "sinusoidal, Linear, SiLU, Linear"
        if isinstance(m, nn.ModuleDict):
            return " + ".join({"res": "ResBlock", "attn": "SelfAttention"}[k] for k in m.keys())
        if isinstance(m, nn.Conv2d) and m.stride == (2, 2):
            return "Conv 3×3 stride 2 (down)"
        if isinstance(m, nn.Sequential) and isinstance(m[0], nn.Upsample):
            return "Upsample ×2 + Conv 3×3"
        if isinstance(m, nn.Sequential) and isinstance(m[0], nn.PixelUnshuffle):
            conv = f"Conv 3×3 (+ {net.label_channels} one-hot label maps)" if net.label_channels else "Conv 3×3"
            return f"PixelUnshuffle({net.cfg.patch_size}) + {conv}" if net.cfg.patch_size > 1 else conv
        if m is modules[-1]:
            return "GroupNorm, SiLU, Conv 3×3" + (f", PixelShuffle({net.cfg.patch_size})"
                                                  if net.cfg.patch_size > 1 else "")
        return type(m).__name__
    rows = [{"stage": name, "contents": contents(m), "output": shapes.get(m, ""),
             "parameters": sum(q.numel() for q in m.parameters())} for name, m in stages]
    rows.append({"stage": "total", "contents": "", "output": "", "parameters": sum(q.numel() for q in net.parameters())})
    return pd.DataFrame(rows)
