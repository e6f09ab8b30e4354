"""The job system: the schema, connections and migrations, the queue, the worker loop, health.
Imports neither torch nor Telegram."""
