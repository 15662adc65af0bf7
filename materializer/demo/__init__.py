"""The demo: the fraud example on the embedded PostgreSQL, with live synthetic transactions.

``scenario`` generates the transactions; ``runner`` runs ``materializer demo``.
"""
