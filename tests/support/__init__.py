"""What the tests (and bench/load) share: the fake Telegram server, the bot as a process, a
scratch PostgreSQL server."""
