"""Delivery: answers to finished jobs, and the status messages that follow jobs until then.

- ``loop``: :class:`~bot.delivery.loop.Delivery`, the loop that reads the database and hands
  each finished job to the sender and each open job to the status keeper;
- ``results``: :class:`~bot.delivery.results.ResultSender`, a job's answer (the picture, a
  full-quality file, or why it failed);
- ``status``: :class:`~bot.delivery.status.StatusMessages`, each job's status message (posted,
  kept up to date, brought to its last word) and :func:`~bot.delivery.status.status_text`,
  what it says, which submission uses too;
- ``limits``: what Telegram takes as a photo.
"""
