"""Seed a cluster of the template's shape into a running emulator (its one seeder,
halfhour_emu/seed.py, behind POST /_halfhour/seed) and print the functions' environment as JSON.

    python seed.py --endpoint http://127.0.0.1:5000 --cluster prod
"""

from __future__ import annotations

import argparse
import json
import sys

from halfhour_emu.client import EmulatorClient


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="http://127.0.0.1:5000")
    parser.add_argument("--cluster", default="prod")
    parser.add_argument("--capacity", type=int, default=2, help="0 seeds the group empty (its first launches meet the hook)")
    args = parser.parse_args(argv)
    json.dump(EmulatorClient(args.endpoint).seed(args.cluster, capacity=args.capacity)["env"], sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
