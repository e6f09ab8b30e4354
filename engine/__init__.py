"""The style-transfer engine: the algorithm, the job queue and the worker that serves it.

Importing this package is cheap: the queue modules (``engine.models``, ``engine.db``,
``engine.queue``, ``engine.settings``) import neither torch nor telegram, so the bot can use
them as a client. Only ``engine.vgg``, ``engine.transfer`` and the worker import torch.
"""
