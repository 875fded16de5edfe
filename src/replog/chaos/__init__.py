"""`replog chaos`: a real cluster under a seeded fault schedule, with a recorded history and a checker.

Modules: proxy (TCP fault proxy), schedule (seeded faults), network_faults (cuts made by the proxies or,
on namespace hosts, by nftables), clients (appenders and a reader), injector (applies and heals faults;
the nodes are replog.processes), history (JSON-lines records),
checker (the rules, pure; failover_rules adds failover's), violation, convergence (failover mode's view
of leaders, final logs and rollback files), report (summary), timeline (what the HTML report draws, pure),
report_html (the one-file HTML report; its script and style in report_static/), runner (one run), cli (flags
and entry point).
"""

from replog.chaos.cli import add_arguments, run

__all__ = ["add_arguments", "run"]
