"""Who may do what, and the record of what they did: the role policy, the audit log, HTTP hygiene."""
