"""Settings of a material + light fit, as nested dataclasses.

Every field carries its meaning in the docstring below it. A FitConfig is
plain data: it round-trips through JSON (`to_dict` / `from_dict`), which is
how checkpoints and scene.json record it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from typing import Any, Literal

from models.errors import RelitError

ScheduleKind = Literal["cosine", "exponential", "constant"]
LossSpace = Literal["auto", "srgb", "log", "linear"]


@dataclass(frozen=True)
class LossWeights:
    """Photometric terms, compared in the loss space (see FitConfig.loss_space)."""

    l1: float = 1.0
    """Weight of the mean absolute error."""
    l2: float = 0.0
    """Weight of the mean squared error."""
    charbonnier: float = 0.0
    """Weight of the Charbonnier (smooth L1) error sqrt(d^2 + eps^2) - eps."""
    charbonnier_eps: float = 1e-3
    """Epsilon of the Charbonnier term."""
    ssim: float = 0.0
    """Weight of 1 - SSIM, computed on random fully covered square patches."""
    ssim_patch: int = 8
    """Side in pixels of an SSIM patch."""
    ssim_patches: int = 32
    """Number of SSIM patches per step."""


@dataclass(frozen=True)
class PriorWeights:
    """Regularisers on the recovered maps and light."""

    albedo_smoothness: float = 0.03
    """Total variation of the albedo map (stochastic: pairs of UVs
    `smoothness_radius` texels apart, and an eighth as many pairs across the
    atlas's seams, one point on each side of a cut edge, so the charts are
    fitted as one surface)."""
    roughness_smoothness: float = 0.05
    """Total variation of the roughness map."""
    metallic_smoothness: float = 0.05
    """Total variation of the metallic map."""
    smoothness_radius: float = 6.0
    """UV distance, in texels, between the two samples of the smoothness pairs.
    Wide pairs (6 rather than 1.5) see the slow brightness ramps of shading
    baked into the albedo, which a textured map's texel-to-texel noise hides
    from near pairs (benchmark, 2500 steps: Avocado relighting +2.0 dB,
    roughness error 0.15 -> 0.10)."""
    white_balance: float = 0.1
    """Pull the environment's mean colour towards grey (colour cast goes to albedo)."""
    metallic_sparsity: float = 0.0
    """L1 pull of metallic towards 0 (dielectric unless the data says metal).
    Off by default: with it, metals were fitted as dielectrics (WaterBottle
    metallic error 0.40; 0.13 without it and starting at 0.3)."""
    env_smoothness: float = 0.002
    """Total variation of the log environment (quiets unseen directions)."""
    env_saturation: float = 0.03
    """Pull each environment texel's colour towards the map's mean colour
    (natural light is rarely saturated; the object's colour stays in the albedo).
    Without it Avocado's light took up the albedo's colour (24.5 dB relit);
    at 0.1 it held WaterBottle's light away from the photos' (300 s pairs
    against 0.03: WaterBottle albedo 24.7 -> 26.5 dB, Avocado 27.1 -> 28.5,
    DamagedHelmet 18.5 -> 18.6; BENCHMARKS.md, seventeenth session)."""
    exposure: float = 0.01
    """Pull of per-image log2 exposures towards 0 (only with per_image_exposure)."""


@dataclass(frozen=True)
class LearningRates:
    """Adam learning rates per parameter group (all parameters are unbounded:
    maps are logits of a sigmoid, the environment is log radiance)."""

    albedo: float = 0.2
    """Albedo logits."""
    roughness: float = 0.2
    """Roughness logits."""
    metallic: float = 0.2
    """Metallic logits."""
    environment: float = 0.05
    """Log radiance of the environment texels."""
    exposure: float = 0.005
    """Per-image log2 exposure offsets."""


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate schedule over the fit's progress (steps, or the time
    budget when that ends the fit first)."""

    warmup: float = 0.02
    """Fraction of the fit spent ramping the rate up linearly from 0."""
    kind: ScheduleKind = "cosine"
    """Decay after warm-up: cosine, exponential, or constant."""
    final_fraction: float = 0.05
    """Rate at the end, as a fraction of the peak rate."""


@dataclass(frozen=True)
class FitConfig:
    """Everything that decides a fit. Defaults target a few minutes on a CPU."""

    iterations: int = 3000
    """Optimiser steps (the fit also ends at `time_budget_s` if that comes first)."""
    time_budget_s: float | None = None
    """Wall-clock budget in seconds for the steps (None: steps only)."""
    texture_resolution: int = 256
    """Side of the square albedo/roughness/metallic maps."""
    env_height: int = 64
    """Rows of the recovered environment map (columns are twice that). 64
    rather than 32: the mirror-like parts of an object (DamagedHelmet's
    visor) show reflections a 32-row light cannot hold. 300 s benchmark
    fits (one thread each, side by side): relight +0.36 dB Avocado, +0.25
    DamagedHelmet, -0.02 WaterBottle, albedo +0.02-0.08, for 3-10% slower
    steps (BENCHMARKS.md, fourteenth session)."""
    batch_size: int = 8192
    """Random covered pixels shaded per step."""
    lobe_samples: int = 0
    """Environment lookups per pixel across the specular lobe while fitting
    (renderer/specular_lobe.py; still frames use 32). 0, the classic split
    sum's single lookup, measured best: on a 32x64 fitted light a few
    fixed samples alias (8: roughness error 0.50), 16 make a CPU step ~5x
    slower, and few random samples per step bias the fit towards smooth
    surfaces (4: roughness error 0.54); BENCHMARKS.md has the runs."""
    lobe_refreshes: int = 6
    """Times per metallic start (evenly spread) the fit works out, per
    training pixel, how the sampled lobe (`lobe_ratio_samples` lookups dimmed
    by the visibility maps) differs from the step's single lookup under the
    current light and maps; steps multiply their specular light by that
    ratio until the next refresh (0: never). Fitted against the single
    lookup alone, the maps absorbed its error (rough metal ~14% too dark):
    WaterBottle relit 28.4 -> 30.5 dB (BENCHMARKS.md). Each refresh costs
    about as much as 500-800 steps."""
    lobe_ratio_samples: int = 128
    """Lookups per metallic pixel (models/fitter.py: LOBE_RATIO_METALLIC) of
    the sampled lobe each refresh measures the single lookup against (still
    frames, and dielectric pixels here, use 32). The fit follows that ratio,
    so its errors become the maps': under a light with compact bright
    sources 32 fixed lookups are off by -12..+25% (10th..90th percentile,
    WaterBottle's rough metal body against brute-force Monte Carlo), 128 by
    -9..+17%, and the albedo took those errors as bands. 300 s CPU fits of
    WaterBottle: 32 lookups 30.50 dB relit / 25.52 albedo; 128, 31.40 /
    26.73, though refreshes then take longer (10400 steps, not 14000);
    128 with refreshes kept at their old cost (covering a quarter of the
    pixels) 30.60 / 25.48: stale ratios cost what accurate ones gain."""
    loss: LossWeights = field(default_factory=LossWeights)
    """Photometric loss terms."""
    priors: PriorWeights = field(default_factory=PriorWeights)
    """Regularisers."""
    lr: LearningRates = field(default_factory=LearningRates)
    """Learning rates per parameter group."""
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    """Learning-rate schedule."""
    loss_space: LossSpace = "auto"
    """Where images are compared: 'srgb' (LDR photos), 'log' (HDR), 'linear';
    'auto' picks srgb for LDR captures and log for HDR ones."""
    per_image_exposure: bool = False
    """Fit a log2 exposure offset per image (for photos with varying exposure)."""
    light_first: float = 0.0
    """Fraction of the fit at the start during which only the light moves and
    the maps stay at their (uniform) starting values: the light then has to
    explain the shading before the albedo can absorb it."""
    albedo_init: Literal["backproject", "mean"] = "backproject"
    """Starting albedo: the photos projected into the texture under a uniform
    light ('backproject'), or their mean colour everywhere ('mean')."""
    initial_roughness: float = 0.6
    """Starting roughness everywhere."""
    initial_metallic: float = 0.6
    """Starting metallic everywhere: where the sigmoid still has slope, so
    metal and dielectric are both reachable (at 0.05 metallic never moved).
    Leaning metal: from 0.3 DamagedHelmet's polished metal settled as a
    rough dielectric (metallic error 0.45, 19.1 dB relit; from 0.6: 0.24,
    21.7 dB), while WaterBottle and Avocado did not change (BENCHMARKS.md)."""
    metallic_trials: tuple[float, ...] = (0.45,)
    """Further starting metallic values. `initial_metallic` and these are
    each fitted from scratch for a trial (`start_trial`), and the one with
    the lowest loss on a fixed set of pixels (photometric and priors: the
    objective the fit minimises) goes on to the end; () fits once.
    Why: from one start a fit can settle in a basin it never leaves. On a
    reconstructed WaterBottle, from 0.6 the rough metal body became a mirror
    under a blurred environment (15.9 dB relit) and from 0.45 it did not
    (25.5 dB, and the better photometric fit), while DamagedHelmet needs 0.6
    (BENCHMARKS.md). The priors are counted because the starts can fit the
    photos alike: on that WaterBottle, given two threads, 0.6's photometric
    loss came within 1.4% of 0.45's (the trials' maps relit at 22.5 against
    26.4 dB), so the margin kept 0.6 (23.2 dB at the end); with the priors
    0.6's loss was 2.4% higher, and the fit kept 0.45 (27.6 dB)."""
    start_trial: float = 0.25
    """Share of the fit (steps and time) each metallic start gets before the
    starts are compared; the best one then goes on to the end, so it gets
    1 - (starts - 1) * start_trial of the fit. At most 1 / starts is used;
    that (or more) fits each start to the end before comparing them. Each
    start's learning-rate schedule spans the share it would get if kept.
    Why: on a CPU the fits are short of steps (DamagedHelmet's relighting
    rose from 21.9 to 25.1 dB between 2500 and 9600 steps), and half of
    them went to a start that was thrown away (BENCHMARKS.md)."""
    start_margin: float = 0.02
    """A later metallic start is kept only when its validation loss is at
    least this fraction lower than the best earlier one's. Why: after short
    trials the starts can differ by less than the fits' noise
    (DamagedHelmet: 0.2%, when it then kept 0.45 and lost 1 dB; the
    reconstructed WaterBottle's starts differ by 5%), and `initial_metallic`
    is the start the assets need (BENCHMARKS.md)."""
    mask_threshold: float = 0.99
    """Pixels whose mask value is below this are not fitted (edges, background)."""
    erode_pixels: int = 1
    """Covered pixels this close to the silhouette are not fitted (mixed colours)."""
    downscale: int = 1
    """Integer factor by which the capture images are shrunk before fitting."""
    max_views: int | None = None
    """Use at most this many views, evenly spread (None: all)."""
    ao_rays: int = 64
    """Rays per vertex when baking ambient occlusion."""
    ao_max_edge: float = 0.02
    """Before baking AO, subdivide the mesh (flat midpoint splits, same
    surface) until its median edge is at most this fraction of the bounding
    radius, so AO is not smeared over large triangles (0: never)."""
    ao_max_faces: int = 400_000
    """Face budget of that subdivision."""
    specular_visibility: bool = True
    """Bake where each vertex sees the environment (renderer/visibility.py)
    and dim the specular light by it, instead of guessing from AO. Needs
    Embree; without it the AO guess is used."""
    interreflection: bool = True
    """With specular_visibility: the directions the mesh blocks bring the
    light of what blocks them, one bounce (renderer/interreflection.py),
    and the diffuse light follows where each vertex is open
    (renderer/diffuse_occlusion.py); both worked out again at each lobe
    refresh under the current light and maps."""
    device: str | None = None
    """Torch device ('cpu', 'cuda', 'cuda:1'); None picks cuda when present."""
    seed: int = 0
    """Seed of the pixel sampling and of every random choice of the fit."""
    progress_every: int = 10
    """Deliver a FitProgress snapshot every this many steps."""
    preview_size: int = 64
    """Side of the preview maps in progress snapshots."""
    threads: int | None = None
    """CPU threads for torch (None: 1 on the CPU, where a step's tensors are
    small and more threads measured several times slower on 2 cores)."""

    def __post_init__(self) -> None:
        # JSON (scene.json, checkpoints, --set) gives lists: keep a tuple.
        if isinstance(self.metallic_trials, list):
            object.__setattr__(self, "metallic_trials", tuple(self.metallic_trials))

    @property
    def metallic_starts(self) -> tuple[float, ...]:
        """Every starting metallic value, in the order they are fitted."""
        return (self.initial_metallic, *self.metallic_trials)

    @property
    def trial_share(self) -> float:
        """The share of the fit each metallic start gets before they are
        compared (`start_trial`, at most 1 / starts)."""
        return min(self.start_trial, 1.0 / len(self.metallic_starts))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able nested dict."""
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "FitConfig":
        """Inverse of `to_dict`; unknown keys are an error (RelitError)."""
        return _build(FitConfig, data, "fit config")

    def resolved_device(self) -> str:
        """`device`, or 'cuda' when a CUDA device is present, else 'cpu'."""
        if self.device:
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def with_overrides(self, **changes: Any) -> "FitConfig":
        """A copy with top-level fields changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def validate(self) -> "FitConfig":
        """Raise RelitError on settings that cannot work; returns self."""
        problems = []
        if self.iterations < 0:
            problems.append("iterations must be >= 0")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            problems.append("time budget must be positive")
        if not 4 <= self.texture_resolution <= 8192:
            problems.append("texture resolution must be within 4..8192")
        if not 2 <= self.env_height <= 256:
            problems.append("environment height must be within 2..256")
        if self.batch_size < 16:
            problems.append("batch size must be >= 16")
        if self.lobe_refreshes < 0:
            problems.append("lobe refreshes must be >= 0")
        if not 0 <= self.lobe_samples <= 256:
            problems.append("lobe samples must be within 0..256")
        if not 1 <= self.lobe_ratio_samples <= 1024:
            problems.append("lobe ratio samples must be within 1..1024")
        if self.downscale < 1:
            problems.append("downscale must be >= 1")
        trials = self.metallic_trials
        if not isinstance(trials, tuple) or not all(isinstance(m, (int, float)) for m in trials):
            problems.append("metallic_trials must be a list of numbers")
        elif not all(0.0 < m < 1.0 for m in self.metallic_starts):
            problems.append("starting metallic values must be within (0, 1)")
        if not 0.0 < self.start_trial <= 1.0:
            problems.append("start_trial must be within (0, 1]")
        if not 0.0 <= self.start_margin < 1.0:
            problems.append("start_margin must be within [0, 1)")
        if self.progress_every < 1:
            problems.append("progress_every must be >= 1")
        if problems:
            raise RelitError(None, "invalid fit settings: " + "; ".join(problems))
        return self


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    if not isinstance(data, dict):
        raise RelitError(None, f"{where}: expected an object, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise RelitError(None, f"{where}: unknown setting(s) {', '.join(unknown)}")
    kwargs = {}
    defaults = cls()
    for name, value in data.items():
        current = getattr(defaults, name)
        kwargs[name] = _build(type(current), value, f"{where}.{name}") if is_dataclass(current) else value
    return cls(**kwargs)
