"""The 3DGS training loop (Kerbl et al. 2023) as a reusable ``Trainer``.

One iteration ``k`` (1-based, as 3DGS numbers them):

1. position learning rate ← exponential decay at k (``training.optim``);
2. every ``sh_interval`` iterations the active SH degree rises by one (up to the model's max);
3. the training view ``camera_index(seed, k, n)`` (``training.sampling``) is rendered;
4. loss = (1 − λ)·L1 + λ·(1 − SSIM_train), λ = ``lambda_dssim`` (0.2); backward; Adam step;
5. densification statistics / clone / split / prune / opacity reset (``training.densify``).

Then, at the configured iterations: evaluation of the test views and 5 training views (TensorBoard
+ ``<out>/training_metrics.json``), ``point_cloud/iteration_<k>/point_cloud.ply`` and
``chkpnt<k>.pth``. Everything the loop writes is under ``out_dir``. Progress goes to the
``on_iteration`` callback (the scripts hang a tqdm bar on it); nothing is printed here.

Extension points for later stages (e.g. quantization-aware fine-tuning): pass ``render_fn`` to
render through another path, subclass and override :meth:`Trainer.compute_loss`,
:meth:`Trainer.save_outputs` or add optimizers to ``trainer.optimizers`` (every optimizer there is
stepped; only the Gaussian parameters go through densification).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch

from arguments import OptimizationParams, RunParams
from training.checkpoint import checkpoint_path, restore_rng_state, save_checkpoint
from training.densify import Densifier, DensifyEvent
from training.evaluate import EvalResult, evaluate_views, evenly_spaced
from training.optim import build_optimizers, update_learning_rates
from training.rendering import render_gaussians
from training.resources import memory_mib
from training.run_dir import ply_path
from training.sampling import camera_index
from training.tb_logger import TBLogger
from utils.files import write_text_atomic

LOGGER = logging.getLogger(__name__)

N_TRAIN_EVAL_VIEWS = 5  # 3DGS evaluates 5 training views beside the test split
METRICS_FILE = "training_metrics.json"


@dataclass
class IterationStats:
    """Scalars of one training iteration (given to ``on_iteration``)."""

    iteration: int
    loss: float
    l1: float
    psnr: float
    num_gaussians: int
    iter_time: float
    position_lr: float
    sh_degree: int
    densify: DensifyEvent = field(default_factory=DensifyEvent)


@dataclass
class TrainResult:
    """What a run did: per-iteration losses, evaluations and written files."""

    start_iteration: int
    final_iteration: int
    losses: dict[int, float] = field(default_factory=dict)
    evaluations: dict[int, dict[str, Any]] = field(default_factory=dict)
    ply_files: list[str] = field(default_factory=list)
    checkpoint_files: list[str] = field(default_factory=list)
    num_gaussians: int = 0
    seconds: float = 0.0


class Trainer:
    """Trains ``model`` (a ``scene.GaussianModel``) on ``scene`` (a ``scene.SceneData``).

    Args:
        model: Gaussians on ``device``; its ``params`` ParameterDict is optimized in place
            (densification replaces entries of it).
        scene: train/test cameras and ``extent`` (scales the position lr and densification sizes).
        opt: optimization config (``None`` schedule fields are resolved from ``iterations``).
        run: test/save/checkpoint iterations, seed, logging.
        device: where training runs; ``background``: [3] colour in [0, 1].
        backend: renderer backend already resolved (``"gsplat"`` or ``"torch"``).
        out_dir: run folder (PLYs, checkpoints, metrics, TensorBoard).
        tb: TensorBoard logger (``None`` = off).
        checkpoint: a dict from ``training.checkpoint.load_checkpoint`` to resume from; its
            parameters must already be in ``model`` (build it with ``from_arrays``).
        render_fn: ``(model, camera, background, backend) -> dict`` (default: ``render_gaussians``).
        on_iteration: called with :class:`IterationStats` after every iteration.
    """

    def __init__(
        self,
        model: Any,
        scene: Any,
        opt: OptimizationParams,
        run: RunParams,
        *,
        device: torch.device,
        background: torch.Tensor,
        backend: str,
        out_dir: str,
        tb: Optional[TBLogger] = None,
        checkpoint: Optional[dict[str, Any]] = None,
        render_fn: Optional[Callable[..., dict]] = None,
        on_iteration: Optional[Callable[[IterationStats], None]] = None,
    ):
        opt.validate()
        self.opt = opt.resolved()
        self.run_cfg = run
        self.model = model
        self.scene = scene
        self.device = torch.device(device)
        self.background = background.to(self.device, torch.float32)
        self.backend = backend
        self.out_dir = out_dir
        self.tb = tb
        self.render_fn = render_fn or render_gaussians
        self.on_iteration = on_iteration
        self.spatial_lr_scale = float(scene.extent)
        if not scene.train_cameras:
            raise ValueError(f"scene {scene.source_path!r} has no training views")

        self.optimizers: dict[str, torch.optim.Optimizer] = build_optimizers(model.params, self.opt, self.spatial_lr_scale)
        self.densifier = Densifier(self.opt, self.spatial_lr_scale)
        self.densifier.check(model.params, self.optimizers)
        self.start_iteration = 0
        self._pending_rng: Optional[dict[str, Any]] = None
        if checkpoint is not None:
            self._restore(checkpoint)

        last = self.opt.iterations
        self.test_iterations = {k for k in run.test_iterations if 0 <= k <= last} | {last}
        self.save_iterations = {k for k in run.save_iterations if 0 <= k <= last} | {last}
        self.checkpoint_iterations = {k for k in run.checkpoint_iterations if 0 < k <= last}
        self._metrics: dict[str, Any] = self._read_metrics_file() if checkpoint is not None else {}

    # ----------------------------------------------------------------- resume
    def _restore(self, ckpt: dict[str, Any]) -> None:
        """Optimizer, densification and RNG state from a checkpoint (parameters are already in the model)."""
        for key, tensor in ckpt["params"].items():
            have = tuple(self.model.params[key].shape)
            if have != tuple(tensor.shape):
                raise ValueError(
                    f"checkpoint parameter {key!r} has shape {tuple(tensor.shape)} but the model has {have}; "
                    "build the model from the checkpoint's parameters"
                )
        for key, opt in self.optimizers.items():
            opt.load_state_dict(ckpt["optimizers"][key])
        self.densifier.load_state_dict(ckpt["densify_state"], self.device)
        self.model.active_sh_degree = int(ckpt["active_sh_degree"])
        self.start_iteration = int(ckpt["iteration"])
        self._pending_rng = ckpt["rng"]
        if self.start_iteration > self.opt.iterations:
            raise ValueError(
                f"checkpoint is at iteration {self.start_iteration}, beyond --iterations {self.opt.iterations}; "
                "raise --iterations to continue training"
            )

    # ----------------------------------------------------------------- pieces
    def render(self, camera: Any) -> dict:
        return self.render_fn(self.model, camera, self.background, self.backend)

    def compute_loss(self, image: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss, l1)`` with loss = (1 − λ)·L1 + λ·(1 − SSIM_train) (3DGS, λ = lambda_dssim)."""
        from utils.image_metrics import l1_loss, ssim

        l1 = l1_loss(image, gt)
        lam = self.opt.lambda_dssim
        loss = (1.0 - lam) * l1 + lam * (1.0 - ssim(image, gt, mode="train")) if lam > 0 else l1
        return loss, l1

    def train_step(self, iteration: int) -> IterationStats:
        """One iteration (see the module docstring); returns its scalars."""
        from utils.image_metrics import psnr

        t0 = time.perf_counter()
        model = self.model
        lr = update_learning_rates(self.optimizers, iteration, self.opt, self.spatial_lr_scale)
        if iteration % self.opt.sh_interval == 0 and model.active_sh_degree < model.max_sh_degree:
            model.active_sh_degree += 1

        cams = self.scene.train_cameras
        cam = cams[camera_index(self.run_cfg.seed, iteration, len(cams))]
        out = self.render(cam)
        image = out["image"]
        gt = cam.image(device=self.device)
        self.densifier.pre_backward(model.params, self.optimizers, iteration, out["info"])
        loss, l1 = self.compute_loss(image, gt)
        loss.backward()
        for opt in self.optimizers.values():
            opt.step()
            opt.zero_grad(set_to_none=True)
        event = self.densifier.post_backward(model.params, self.optimizers, iteration, out["info"])

        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise RuntimeError(
                f"the training loss became {loss_value} at iteration {iteration}; lower the learning rates "
                "or check the scene images"
            )
        with torch.no_grad():
            train_psnr = float(psnr(image.detach().clamp(0.0, 1.0), gt))
        return IterationStats(
            iteration=iteration,
            loss=loss_value,
            l1=float(l1.detach()),
            psnr=train_psnr,
            num_gaussians=model.num_gaussians,
            iter_time=time.perf_counter() - t0,
            position_lr=lr,
            sh_degree=int(model.active_sh_degree),
            densify=event,
        )

    @torch.no_grad()
    def evaluate(self, iteration: int) -> dict[str, Any]:
        """PSNR/SSIM of the test views and of 5 training views; TensorBoard scalars and images."""
        test = self.scene.test_cameras
        train_views = evenly_spaced(self.scene.train_cameras, N_TRAIN_EVAL_VIEWS)
        n_images = self.run_cfg.tb_images if self.tb is not None else 0
        image_split = "test" if test else "train_views"

        def log_images(split: str) -> Callable[[int, Any, torch.Tensor, torch.Tensor], None]:
            def cb(i: int, cam: Any, image: torch.Tensor, gt: torch.Tensor) -> None:
                if split == image_split and i < n_images and self.tb is not None:
                    self.tb.image_pair(f"{split}_view_{i}/render_gt", image, gt, iteration)

            return cb

        report: dict[str, Any] = {"iteration": iteration, "num_gaussians": self.model.num_gaussians}
        for split, cams in (("test", test), ("train_views", train_views)):
            if not cams:
                continue
            result: EvalResult = evaluate_views(self.render, cams, self.device, on_view=log_images(split))
            report[split] = result.summary()
            if self.tb is not None:
                self.tb.scalars({f"{split}/psnr": result.psnr, f"{split}/ssim": result.ssim}, iteration)
        if self.tb is not None:
            self.tb.flush()
        LOGGER.info(
            "iteration %d: %s", iteration,
            ", ".join(f"{s} PSNR {report[s]['PSNR']:.2f} dB SSIM {report[s]['SSIM']:.4f}" for s in ("test", "train_views") if s in report),
        )
        return report

    def save_outputs(self, iteration: int) -> str:
        """Write the Gaussians as ``point_cloud/iteration_<k>/point_cloud.ply``; returns the path."""
        path = ply_path(self.out_dir, iteration)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.model.save_ply(path)
        LOGGER.info("iteration %d: saved %s", iteration, path)
        return path

    def save_checkpoint(self, iteration: int) -> str:
        path = checkpoint_path(self.out_dir, iteration)
        save_checkpoint(
            path,
            iteration=iteration,
            params=self.model.params,
            active_sh_degree=self.model.active_sh_degree,
            max_sh_degree=self.model.max_sh_degree,
            optimizers={k: o for k, o in self.optimizers.items() if k in self.model.params},
            densify_state=self.densifier.state_dict(),
            meta={"source_path": str(self.scene.source_path), "n_gaussians": self.model.num_gaussians},
        )
        LOGGER.info("iteration %d: checkpoint %s", iteration, path)
        return path

    # ----------------------------------------------------------------- metrics file
    def _metrics_path(self) -> str:
        return os.path.join(self.out_dir, METRICS_FILE)

    def _read_metrics_file(self) -> dict[str, Any]:
        try:
            with open(self._metrics_path(), "r", encoding="utf-8") as fh:
                data = json.load(fh)
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _write_metrics_file(self) -> None:
        write_text_atomic(self._metrics_path(), json.dumps(self._metrics, indent=2, sort_keys=True))

    # ----------------------------------------------------------------- driver
    def _events(self, iteration: int, result: TrainResult) -> None:
        if iteration in self.test_iterations:
            report = self.evaluate(iteration)
            result.evaluations[iteration] = report
            self._metrics[str(iteration)] = report
            self._write_metrics_file()
        if iteration in self.save_iterations:
            result.ply_files.append(self.save_outputs(iteration))
        if iteration in self.checkpoint_iterations:
            result.checkpoint_files.append(self.save_checkpoint(iteration))

    def _log_interval(self, window: list[IterationStats]) -> None:
        if self.tb is None or not window:
            return
        n = len(window)
        last = window[-1]
        values = {
            "train/loss": sum(s.loss for s in window) / n,
            "train/l1": sum(s.l1 for s in window) / n,
            "train/psnr": sum(s.psnr for s in window) / n,
            "train/iter_time": sum(s.iter_time for s in window) / n,
            "train/num_gaussians": last.num_gaussians,
            "train/position_lr": last.position_lr,
            "train/sh_degree": last.sh_degree,
        }
        mem = memory_mib(self.device)
        values["train/memory_rss_mib"] = mem["rss"]
        if "cuda_allocated" in mem:
            values["train/memory_cuda_mib"] = mem["cuda_allocated"]
            values["train/memory_cuda_peak_mib"] = mem["cuda_peak"]
        self.tb.scalars(values, last.iteration)

    def run(self) -> TrainResult:
        """Train from ``start_iteration + 1`` to ``opt.iterations``; returns a :class:`TrainResult`."""
        t_start = time.perf_counter()
        os.makedirs(self.out_dir, exist_ok=True)
        if self._pending_rng is not None:
            restore_rng_state(self._pending_rng)
            self._pending_rng = None
        result = TrainResult(start_iteration=self.start_iteration, final_iteration=self.start_iteration)
        if self.start_iteration == 0:
            self._events(0, result)
        window: list[IterationStats] = []
        log_every = max(1, self.run_cfg.log_interval)
        for iteration in range(self.start_iteration + 1, self.opt.iterations + 1):
            stats = self.train_step(iteration)
            result.losses[iteration] = stats.loss
            result.final_iteration = iteration
            window.append(stats)
            if iteration % log_every == 0:
                self._log_interval(window)
                window = []
            if self.on_iteration is not None:
                self.on_iteration(stats)
            self._events(iteration, result)
        self._log_interval(window)
        if self.tb is not None:
            self.tb.flush()
        result.num_gaussians = self.model.num_gaussians
        result.seconds = time.perf_counter() - t_start
        return result

