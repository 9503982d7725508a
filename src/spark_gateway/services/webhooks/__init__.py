"""Completion webhooks: who is told when an application ends, what they get, and the sender loop."""
