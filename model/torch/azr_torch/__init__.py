"""azr's PyTorch engine worker: models, generation, scoring and training behind a msgpack pipe.

Imported by `python3 -m azr_torch.worker` with PYTHONPATH=model/torch (see ../engine.ts).
Needs torch and numpy; msgpack for the pipe; `safetensors` and `transformers` are optional.
"""
