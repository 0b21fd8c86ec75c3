"""Supervisors' numbers and judgements on calls: sentiment, alerts, call history search,
post-call summaries, quality scoring and the dashboard's figures. It reads transcript events
and call records; it never touches audio or the network (``assistant`` wires it in as
``CallObserver``s and routers)."""
