"""Signals one app sends and others act on, so that neither imports the other."""

from django.dispatch import Signal

# Flash reported an account's balance (a relayed balance read, a generation's balance
# check): keyword arguments `account` (accounts.models.Account) and `balance` (int).
# Sent on the request path: receivers must be quick (metering queues a low-credit check).
balance_seen = Signal()

# Who keeps the record of what API keys spent, asked for it (apikeys rebuilds a key's
# monthly budget counter when the cache lost it): keyword arguments `key_ids` (API key
# ids) and `since` (an aware datetime). A receiver returns {key id: credits spent since
# then}; metering's reads its usage records, so apikeys never imports metering.
spending_asked = Signal()
