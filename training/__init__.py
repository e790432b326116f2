"""3DGS training from a scene: optimizers and schedules, densification, checkpoints, monitoring,
evaluation and the training loop. Like the top-level scripts it may import every package
(scene, gaussian_renderer, utils); the scripts (train.py, render.py, scripts/*) compose it.

Modules: ``optim`` (Adam per parameter, position-lr decay), ``densify`` (gsplat DefaultStrategy +
the opacity reset 1.5.3 skips), ``checkpoint`` (resumable state), ``sampling`` (camera order from
seed + iteration), ``evaluate`` (PSNR/SSIM over views), ``tb_logger`` (TensorBoard),
``resources`` (memory), ``loop`` (the Trainer).
"""
