"""halfhour's AWS emulator, started as a script or imported: the package ``halfhour_emu`` beside
this file (its docstring lists what it adds to moto 5.2) is the emulator; this entry point keeps
the command line and ``install()`` where the harnesses look for them.

    python tests/emulator/halfhour_emulator.py --port 5000   (or ``make emulator``)
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from halfhour_emu.app import Emulator, install, main  # noqa: E402

__all__ = ["Emulator", "install", "main"]

if __name__ == "__main__":
    main()
