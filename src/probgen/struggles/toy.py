"""DDPM and flow matching on 2-D toy data whose difficulty is one number: the sweep and the remedies.

A *toy model* is a `TimeMLP` trained on `n_train` exact samples of a `probgen.data.toy2d` set, either as
a DDPM's noise predictor (integer t, T steps) or as a flow-matching velocity (t in [0, 1], noise at 0),
with the same trainer as the image models (`train_diffusion`: EMA, atomic checkpoints, cache by config).
A *sampler* is a short string:

    "ancestral"      the DDPM's T-step ancestral sampler          (DDPM only)
    "ddim-50"        DDIM with η = 0 on 50 steps                   (DDPM only)
    "euler-100"      the flow's ODE with 100 Euler steps           (flow only)
    "heun-50"        the flow's ODE with 50 Heun steps (100 NFE)   (flow only)

Every (model, sampler, n, seed) draw is cached, so the notebook's tables and plots are recomputed from
stored samples in seconds. `toy_row` scores a draw with the metrics of `toy2d` against the truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch

from .. import checkpoints
from ..data import toy2d
from ..diffusion.ddpm import DDPM
from ..diffusion.schedules import NoiseSchedule, ScheduleConfig
from ..diffusion.study import model_key
from ..diffusion.training import TrainConfig, train_diffusion
from ..flows.matching import FlowMatching
from ..nets.mlp import TimeMLP, TimeMLPConfig
from ..runtime import ConfigError, FromDict, ProfileConfig, check_choice, resolve_device
from ..runtime import progress as progress_bar

MODELS = ("ddpm", "flow")
SCHEDULES = ("linear", "cosine")
EXACT_SEED_OFFSET = 20_000  # exact samples of the "truth" rows use seed + this: a seed no model uses


def _quiet(message: str) -> None:
    """The sweeps train and load hundreds of small models: their per-model cache messages are dropped."""


@dataclass(frozen=True)
class ToyModelConfig(FromDict):
    """What to train on one toy set: every field names the checkpoint (with the data's fingerprint)."""

    model: str = "ddpm"  # "ddpm" (ε-prediction, T integer steps) | "flow" (velocity, t in [0, 1])
    hidden: int = 128  # TimeMLP width
    layers: int = 3  # TimeMLP hidden layers
    steps: int = 2000  # Adam steps
    batch_size: int = 256
    lr: float = 2e-3
    lr_decay: float = 0.9995  # per step, after warm-up
    warmup_steps: int = 100
    ema_decay: float = 0.995
    schedule: str = "linear"  # DDPM only: "linear" (1e-4 → 0.02 at T = 1000) | "cosine"
    T: int = 1000  # DDPM only

    def __post_init__(self) -> None:
        check_choice("model", self.model, MODELS)
        check_choice("schedule", self.schedule, SCHEDULES)
        for name in ("hidden", "layers", "steps", "batch_size", "T"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}={value!r} must be a positive integer")
        if self.model == "flow" and (self.schedule != "linear" or self.T != 1000):
            raise ConfigError("schedule and T configure the DDPM only; leave them at 'linear' and 1000 for model='flow'")

    def net_config(self) -> TimeMLPConfig:
        # DDPM times are integers 0…T−1, flow times lie in [0, 1]: scale them to the same sinusoid range.
        return TimeMLPConfig(dim=2, hidden=self.hidden, layers=self.layers,
                             time_scale=1.0 if self.model == "ddpm" else 1000.0)

    def schedule_config(self) -> ScheduleConfig:
        return ScheduleConfig.reference(self.T, kind=self.schedule)

    def build(self, seed: int) -> DDPM | FlowMatching:
        """A fresh, seeded model on the CPU."""
        torch.manual_seed(seed)
        net = TimeMLP(self.net_config())
        if self.model == "ddpm":
            return DDPM(net, NoiseSchedule.from_config(self.schedule_config()))
        return FlowMatching(net, data_shape=(2,))

    def train_config(self, n_train: int, seed: int, device: str) -> TrainConfig:
        epochs = math.ceil(self.steps / math.ceil(n_train / self.batch_size))
        return TrainConfig(epochs=epochs, max_steps=self.steps, batch_size=self.batch_size, lr=self.lr,
                           lr_decay=self.lr_decay, warmup_steps=self.warmup_steps, ema_decay=self.ema_decay,
                           seed=seed, device=device)


def training_set(toy: toy2d.Toy2D, n_train: int, seed: int) -> torch.Tensor:
    """(n_train, 2) float32 exact samples of `toy`, drawn with `seed` (the same for both model kinds)."""
    return toy.sample(n_train, generator=torch.Generator().manual_seed(seed)).float()


def train_toy(toy: toy2d.Toy2D, mcfg: ToyModelConfig, *, n_train: int, seed: int, device: str = "auto",
              log=print) -> tuple[DDPM | FlowMatching, dict]:
    """Train (or load) one toy model; returns (model with EMA weights on the device, training record)."""
    device = resolve_device(device)
    data = training_set(toy, n_train, seed)
    key = {"toy": toy.describe(), "model": checkpoints.config_dict(mcfg), "n_train": n_train}
    return train_diffusion(f"toy-{mcfg.model}", key, lambda: mcfg.build(seed), mcfg.train_config(n_train, seed, device),
                           data, log=log, progress=False)


def parse_sampler(sampler: str, model: str) -> tuple[str, int | None]:
    """("ancestral", None) | ("ddim", steps) | ("euler", steps) | ("heun", steps), checked against the model kind."""
    allowed = {"ddpm": ("ancestral", "ddim"), "flow": ("euler", "heun")}[model]
    name, _, steps = sampler.partition("-")
    if name not in allowed or (name == "ancestral") != (steps == "") or (steps and not steps.isdigit()):
        examples = "'ancestral', 'ddim-50'" if model == "ddpm" else "'euler-100', 'heun-50'"
        raise ConfigError(f"sampler {sampler!r} does not fit a {model} model; use e.g. {examples}")
    n = int(steps) if steps else None
    if n is not None and n < 1:
        raise ConfigError(f"sampler {sampler!r}: the number of steps must be positive")
    return name, n


def sampler_nfe(sampler: str, model: str, T: int = 1000) -> int:
    """Network evaluations per sample of a sampler string."""
    name, steps = parse_sampler(sampler, model)
    return T if name == "ancestral" else 2 * steps if name == "heun" else steps


def draw(model: DDPM | FlowMatching, sampler: str, n: int, generator: torch.Generator) -> torch.Tensor:
    """(n, 2) samples of a trained toy model with a sampler string."""
    kind = "ddpm" if isinstance(model, DDPM) else "flow"
    name, steps = parse_sampler(sampler, kind)
    if name == "ancestral":
        return model.sample(n, generator=generator)
    if name == "ddim":
        return model.ddim_sample(n, steps=min(steps, model.T), eta=0.0, generator=generator)
    return model.sample(n, steps=steps, method=name, generator=generator).x


def cached_draw(model: DDPM | FlowMatching, record: dict, sampler: str, n: int, seed: int, *,
                log=print) -> torch.Tensor:
    """`draw` on the model's device with a generator seeded by `seed`, cached; (n, 2) float64 on the CPU."""
    device = next(model.network.parameters()).device

    def compute(resume, save):
        x = draw(model, sampler, n, torch.Generator(device=device).manual_seed(seed))
        return {"samples": x.float().cpu()}, n, {}

    key = {"model": model_key(record), "sampler": sampler, "n": n, "seed": seed}
    return checkpoints.train_or_load("toy-samples", key, compute, log=log)["state"]["samples"].double()


def toy_row(toy: toy2d.Toy2D, samples: torch.Tensor, *, seed: int, n_reference: int = 2000, **labels: Any) -> dict:
    """One table row: `labels` (model, sampler, seed, ...) then `toy2d.sample_metrics` against fresh true samples."""
    reference = toy.sample(n_reference, generator=torch.Generator().manual_seed(10_000 + seed))
    return {**labels, "seed": seed, **toy2d.sample_metrics(toy, samples, reference=reference)}


def exact_samples(toy: toy2d.Toy2D, n: int, seed: int) -> torch.Tensor:
    """(n, 2) exact samples for the "truth" rows, drawn with a seed no model uses."""
    return toy.sample(n, generator=torch.Generator().manual_seed(EXACT_SEED_OFFSET + seed))


def truth_row(toy: toy2d.Toy2D, samples: torch.Tensor, *, seed: int, n_reference: int = 2000) -> dict:
    """The floor of every metric: `toy_row` of exact samples (`exact_samples`), labelled model "truth"."""
    return toy_row(toy, samples, seed=seed, n_reference=n_reference, model="truth", sampler="exact")


def default_sampler(model: str) -> str:
    """The sweep's sampler: the DDPM's full ancestral chain, the flow's ODE with 100 Euler steps."""
    return "ancestral" if model == "ddpm" else "euler-100"


def evaluate(toy: toy2d.Toy2D, mcfg: ToyModelConfig, *, n_train: int, n_samples: int, seed: int,
             samplers: tuple[str, ...] | None = None, device: str = "auto", labels: dict | None = None,
             log: Callable[[str], None] = print) -> tuple[list[dict], dict[str, torch.Tensor]]:
    """Train (or load) one model and score each sampler's `n_samples` draws.

    Returns (rows of `toy_row` with labels family, difficulty, model, sampler, nfe, seed, + `labels`,
    {sampler: samples}).
    """
    model, record = train_toy(toy, mcfg, n_train=n_train, seed=seed, device=device, log=log)
    rows, draws = [], {}
    for sampler in samplers or (default_sampler(mcfg.model),):
        x = cached_draw(model, record, sampler, n_samples, seed, log=log)
        draws[sampler] = x
        rows.append(toy_row(toy, x, seed=seed, model=mcfg.model, sampler=sampler,
                            nfe=sampler_nfe(sampler, mcfg.model, mcfg.T), final_loss=_final_loss(record),
                            **(labels or {})))
    return rows, draws


def _final_loss(record: dict) -> float:
    losses = record["losses"]
    return float(losses[-1]) if losses else float(record["history"]["loss"][-1])


# ----- the chapter's experiments ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ToyStudyConfig(ProfileConfig):
    """The toy half of the chapter: a difficulty sweep of every family, then remedies at one difficulty.

    `quick` takes about 20 minutes on a 2-core CPU (sweep ≈ 12, remedies ≈ 9); `full` adds difficulties, seeds, samples
    and training (still small MLPs: a GPU helps little here, it runs them at the speed it launches kernels). Its 240
    sweep models train 5 000 steps (2.5× quick) and the "longer training" remedy 20 000 (4×, as in quick): about
    0.6 GPU-hours for the toy half (`python -m probgen.cost --gpu-items`), where 10 000 and 40 000 cost 1.2.
    """

    PROFILES = {
        "smoke": dict(difficulties=(0.0, 1.0), n_seeds=2, remedy_n_seeds=2, n_train=2000,
                      n_samples=300, steps=60, remedy_steps=120, remedy_hidden=64, remedy_families=("ring", "squares"),
                      ddpm_samplers=("ddim-10", "ancestral"), flow_samplers=("euler-10", "euler-100"), T=100),
        "quick": dict(remedy_families=("ring", "squares"), remedy_n_seeds=2, remedy_hidden=256),
        "full": dict(difficulties=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0), n_seeds=5, remedy_n_seeds=5, n_train=100_000, n_samples=10_000,
                     steps=5_000, remedy_steps=20_000, remedy_hidden=512,
                     ddpm_samplers=("ddim-10", "ddim-50", "ddim-200", "ancestral"),
                     flow_samplers=("euler-10", "euler-50", "euler-100", "euler-1000", "heun-50")),
    }

    families: tuple[str, ...] = ("ring", "imbalanced", "circle", "squares")
    difficulties: tuple[float, ...] = (0.0, 0.5, 1.0)
    n_seeds: int = 3  # seeds seed, seed + 1, …: training set, initialisation, batches and sampling noise
    n_train: int = 20_000  # exact samples to train on (a fresh set per seed)
    n_samples: int = 2000  # samples per model and sampler to score
    # the baseline model (ToyModelConfig)
    hidden: int = 128
    layers: int = 3
    steps: int = 2000
    batch_size: int = 256
    lr: float = 2e-3
    T: int = 1000
    # remedies, at one difficulty
    remedy_families: tuple[str, ...] = ("ring", "imbalanced", "circle", "squares")
    remedy_difficulty: float = 1.0
    remedy_n_seeds: int = 3  # the first seeds of the sweep's
    remedy_steps: int = 8000  # "longer training"
    remedy_hidden: int = 512  # "wider network"
    ddpm_samplers: tuple[str, ...] = ("ddim-10", "ddim-50", "ddim-200", "ancestral")
    flow_samplers: tuple[str, ...] = ("euler-10", "euler-50", "euler-100", "euler-1000")
    device: str = "auto"

    def validate(self) -> None:
        for name in ("families", "difficulties", "remedy_families", "ddpm_samplers", "flow_samplers"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for family in self.families + self.remedy_families:
            check_choice("family", family, tuple(toy2d.FAMILIES))
        for d in self.difficulties + (self.remedy_difficulty,):
            toy2d.check_difficulty(d)
        for name in ("n_seeds", "remedy_n_seeds", "n_train", "n_samples", "remedy_steps", "remedy_hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (2 if name == "n_samples" else 1):
                raise ConfigError(f"{name}={value!r} must be a positive integer")
        check_choice("device", self.device, ("auto", "cpu", "cuda"))
        for model, samplers in (("ddpm", self.ddpm_samplers), ("flow", self.flow_samplers)):
            for s in samplers:
                parse_sampler(s, model)
            if default_sampler(model) not in samplers:
                raise ConfigError(f"{model}_samplers={samplers!r} must include the sweep's sampler "
                                  f"{default_sampler(model)!r}")
        self.model_config("ddpm")  # raises for a bad network or schedule

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(range(self.seed, self.seed + self.n_seeds))

    def model_config(self, model: str, **changes: Any) -> ToyModelConfig:
        """The baseline ToyModelConfig of `model` ("ddpm" | "flow"), with `changes`."""
        base = dict(model=model, hidden=self.hidden, layers=self.layers, steps=self.steps,
                    batch_size=self.batch_size, lr=self.lr)
        if model == "ddpm":
            base["T"] = self.T
        return ToyModelConfig(**{**base, **changes})

    def remedies(self, model: str) -> dict[str, ToyModelConfig]:
        """{remedy name: model config}: the baseline and one change each (the schedule only for the DDPM)."""
        out = {"baseline": self.model_config(model)}
        if model == "ddpm":
            out["cosine schedule"] = self.model_config(model, schedule="cosine")
        out[f"{self.remedy_steps // self.steps}× training"] = self.model_config(model, steps=self.remedy_steps)
        out[f"width {self.remedy_hidden}"] = self.model_config(model, hidden=self.remedy_hidden)
        return out


def run_sweep(cfg: ToyStudyConfig, *, log=_quiet, progress: bool = True) -> tuple[list[dict], dict]:
    """Every family × difficulty × model × seed with the default samplers, and the truth's rows.

    Returns (rows, draws): rows as `evaluate` makes them (model "truth" for exact samples); draws
    {(family, difficulty, model): samples} for the first seed, for scatter plots.
    """
    grid = [(f, d, s) for f in cfg.families for d in cfg.difficulties for s in cfg.seeds]
    rows, draws = [], {}
    for family, d, seed in progress_bar(grid, enabled=progress, desc="toy sweep"):
        toy = toy2d.make_toy(family, d)
        exact = exact_samples(toy, cfg.n_samples, seed)
        rows.append({"family": family, "difficulty": d, "nfe": 0, **truth_row(toy, exact, seed=seed)})
        if seed == cfg.seed:
            draws[family, d, "truth"] = exact
        for model in MODELS:
            part, x = evaluate(toy, cfg.model_config(model), n_train=cfg.n_train, n_samples=cfg.n_samples, seed=seed,
                               device=cfg.device, labels={"family": family, "difficulty": d}, log=log)
            rows += part
            if seed == cfg.seed:
                draws[family, d, model] = x[default_sampler(model)]
    return rows, draws


def run_remedies(cfg: ToyStudyConfig, *, log=_quiet, progress: bool = True) -> tuple[list[dict], dict]:
    """At `remedy_difficulty`: each remedy of `cfg.remedies` and every sampler of the baseline, for every seed.

    Returns (rows with a "remedy" column, draws {(family, model, remedy, sampler): samples} for the first seed).
    Samplers are a remedy too: rows with remedy "baseline" cover all of `ddpm_samplers` / `flow_samplers`.
    """
    
    jobs = [(f, m, name, mcfg, s) for f in cfg.remedy_families for m in MODELS
            for name, mcfg in cfg.remedies(m).items() for s in cfg.seeds[:cfg.remedy_n_seeds]]
    rows, draws = [], {}
    for family, model, name, mcfg, seed in progress_bar(jobs, enabled=progress, desc="toy remedies"):
        toy = toy2d.make_toy(family, cfg.remedy_difficulty)
        samplers = ((cfg.ddpm_samplers if model == "ddpm" else cfg.flow_samplers) if name == "baseline"
                    else (default_sampler(model),))
        part, x = evaluate(toy, mcfg, n_train=cfg.n_train, n_samples=cfg.n_samples, seed=seed, samplers=samplers,
                           device=cfg.device, labels={"family": family, "difficulty": cfg.remedy_difficulty,
                                                       "remedy": name}, log=log)
        rows += part
        if seed == cfg.seed:
            draws.update({(family, model, name, s): v for s, v in x.items()})
    return rows, draws
