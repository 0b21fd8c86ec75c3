"""Several Rafiq nodes as one service, through Redis: each call's event log and fan-out on a Redis
Stream (``bus``), and the cluster's shared state (``state``): which node is alive and owns which live
call, call numbering, admission per tenant, knowledge-base notifications. PostgreSQL stays the
record of truth; what is here can be lost with Redis without losing a recorded call.

It depends on nothing of Rafiq's own: ``assistant`` wires it in when ``RAFIQ_REDIS_URL`` is set."""
