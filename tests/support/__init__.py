"""What the tests (and bench/load) share, imported as ``tests.support.*`` from the repository
root (pytest's ``pythonpath``):

- ``fake_telegram``: our own Bot API server over real HTTP, and simulated people;
- ``bot_harness``: presets installed as an operator would, ``python -m bot`` as a subprocess,
  and waiting for a running bot's delivery passes;
- ``pgserver``: a PostgreSQL server (TEST_POSTGRES_URL, or a scratch one) and databases on it;
- ``backends``: the databases every database test runs on;
- ``pictures``: every picture the tests draw;
- ``jobs``: queueing, claiming and reading jobs, and a worker loop in the test's process.
"""
