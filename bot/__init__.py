"""The Telegram front end of the style-transfer service.

It talks to Telegram and to the database, never to torch: jobs go into the queue
(``engine.jobs.queue``) and results come back from it. ``python -m bot`` runs it.
"""
