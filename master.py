"""Classic entry point: `python3 master.py` runs the master with ./config.yaml."""

import sys

sys.path.insert(0, "src")

from replog.cli import main

if __name__ == "__main__":
    sys.exit(main(["master", *sys.argv[1:]]))
