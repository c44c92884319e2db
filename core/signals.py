"""Signals one app sends and others act on, so that neither imports the other."""

from django.dispatch import Signal

# Flash reported an account's balance (a relayed balance read, a generation's balance
# check): keyword arguments `account` (accounts.models.Account) and `balance` (int).
# Sent on the request path: receivers must be quick (metering queues a low-credit check).
balance_seen = Signal()
