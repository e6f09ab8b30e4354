"""The style-transfer engine, in two halves that meet in one module.

- ``engine.style``: the algorithm (VGG-19, losses, the optimisation, quality presets,
  ``python -m engine stylize``). Imports neither the database nor Telegram.
- ``engine.jobs``: the job system (schema, connections and migrations, the queue, the worker
  loop, health). Imports neither torch nor Telegram, so the bot uses it as a client.
- ``engine.bridge``: runs a claimed job on the style engine (``python -m engine work``); the
  only module that imports both halves.

Beside them, leaf modules both halves and the bot share: ``engine.contract`` (job kinds and
parameters, the limits), ``engine.images`` (reading and writing pictures, Pillow only) and
``engine.env`` (reading settings from the environment).
"""
