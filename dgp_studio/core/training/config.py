"""Training settings. Architecture fields are fixed by a run's first start; the rest may change on resume."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

# Fields that define the networks and the data pipeline: a resumed run keeps the saved values.
ARCH_FIELDS = ("resolution", "G_ch", "D_ch", "dim_z", "shared_dim", "G_attn", "D_attn", "min_scale")


@dataclass
class TrainConfig:
    data_dir: str = ""
    out_dir: str = "train_out"
    name: str = ""                   # model name written into config.json (default: out folder name)
    # networks (BigGAN; see core/biggan.py)
    resolution: int = 64
    G_ch: int = 32
    D_ch: int = 32
    dim_z: int = 120
    shared_dim: int = 128
    G_attn: tuple = (32,)
    D_attn: tuple = (32,)
    # optimisation (BigGAN: hinge loss, Adam betas (0, 0.999), 2 D steps per G step, D lr 4x G lr)
    steps: int = 10000               # total G steps (a resumed run continues up to this)
    batch_size: int = 32
    D_steps: int = 2
    G_lr: float = 1e-4
    D_lr: float = 4e-4
    betas: tuple = (0.0, 0.999)
    adam_eps: float = 1e-6
    ema_decay: float = 0.999
    ema_warmup: int = 10
    # data
    augment: str = "color,translation,cutout"
    min_scale: float = 0.4           # smallest crop side as a fraction of the image's short side
    flip: bool = True
    # bookkeeping
    sample_every: int = 500
    checkpoint_every: int = 500
    log_every: int = 10
    max_minutes: float | None = None  # stop (checkpoint + export) after this much wall time
    samples_per_class: int = 8
    standing_batches: int = 16       # train-mode batches averaged into the exported BN statistics
    export_dtype: str = "float32"     # float32, float16 or bfloat16 for the exported model
    seed: int = 0
    device: str = "cpu"
    precision: str = "auto"          # auto (bf16 autocast on GPUs with bf16 units, else fp32), fp32, bf16
    command: str = ""                 # the command line, recorded in the model card
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.G_attn = tuple(int(a) for a in self.G_attn)
        self.D_attn = tuple(int(a) for a in self.D_attn)
        self.betas = tuple(float(b) for b in self.betas)
        if self.export_dtype not in ("float32", "float16", "bfloat16"):
            raise ValueError(f"export_dtype must be float32, float16 or bfloat16, not {self.export_dtype}")
        if self.D_steps < 1 or self.batch_size < 2 or self.steps < 0:
            raise ValueError("need D_steps >= 1, batch_size >= 2 and steps >= 0")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["G_attn"], d["D_attn"], d["betas"] = list(self.G_attn), list(self.D_attn), list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
