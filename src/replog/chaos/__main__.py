"""`python -m replog.chaos ...`: the same as `replog chaos ...`."""

import argparse
import sys

from replog.chaos import add_arguments, run

parser = argparse.ArgumentParser(prog="replog chaos", description="Run a cluster under faults and check the history.")
add_arguments(parser)
sys.exit(run(parser.parse_args()))
