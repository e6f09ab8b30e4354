"""The style-transfer algorithm: VGG-19, the losses, colour, the optimisation, quality presets,
and ``python -m engine stylize``. Imports neither the database nor Telegram."""
