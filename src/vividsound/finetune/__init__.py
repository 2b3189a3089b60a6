"""Fine-tuning a pipeline on a user's clips with low-rank adapters (``vividsound finetune``).

``finetune(data, out)`` trains adapters on the bundled default model (or a base pipeline) and writes a
small folder that :meth:`vividsound.TextToSound.from_pretrained` loads on top of its hash-checked base.
"""

from vividsound.finetune.trainer import FinetuneConfig, FinetuneResult, finetune

__all__ = ["FinetuneConfig", "FinetuneResult", "finetune"]
