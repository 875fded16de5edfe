"""Classic entry point: `python3 slave.py --slave_id 0` runs secondary 0 with ./config.yaml."""

import argparse
import sys

sys.path.insert(0, "src")

from replog.cli import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run one secondary (the classic name for `replog secondary`).")
    parser.add_argument("--slave_id", type=int, required=True)
    known, rest = parser.parse_known_args()
    sys.exit(main(["secondary", "--id", str(known.slave_id), *rest]))
