"""The web page and HTTP API (``vividsound serve``); see docs/SERVER.md.

Modules: ``config`` (settings and limits), ``schemas`` (Pydantic request/response models),
``batcher`` (bounded queue + micro-batching worker), ``results`` (the output folder), ``middleware``
(body limit, security headers, error bodies), ``app`` (the FastAPI app), ``cli`` (the subcommand).
Importing this package imports nothing heavy; FastAPI is imported by ``app`` only.
"""
