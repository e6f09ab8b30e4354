"""On PYTHONPATH, this makes the interpreter behave as in the bot image, where torch is not
installed: importing torch or torchvision fails with ModuleNotFoundError (tests/deploy)."""

import sys
from importlib.abc import MetaPathFinder

BLOCKED = ("torch", "torchvision", "triton")


class NoTorch(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (the bot image has no torch)")
        return None


sys.meta_path.insert(0, NoTorch())
