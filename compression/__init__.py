"""compression/: the MesonGS-style compression trainer's library.

Like ``training/`` and the top-level scripts it may import every package (scene, raht, quant,
gaussian_renderer, training, utils); train.py, render.py and scripts/ compose it.

Modules:
- ``importance``: Σ α·T per Gaussian via the renderer's colour gradient × volume term; pruning rule;
- ``attributes``: :class:`QuantizedGaussians` — attributes on frozen voxels, the QAT attribute pass
  (RAHT forward → per-block fake quantization of the AC → RAHT inverse), ``encode()`` to the payload;
- ``setup``: steps a–f (importance, prune, voxelize+merge, quaternion→Euler, plan, bank + calibration);
- ``finetune``: the QAT fine-tuning iteration (``ft_render``), optimizers (LSQ steps via LogAdam);
- ``evaluate``: PSNR/SSIM of quantized / decoded models with the training protocol;
- ``pipeline``: the whole compression run behind ``train.py --per_block_quant``.

The on-disk format is the ``codec`` package; the channel layout ``scene/attribute_layout.py``.
"""
