"""The fraud example: ``scenario`` generates its transactions and predictions, ``scaffold`` writes it
as a new project (``materializer init``), ``runner`` runs ``materializer demo`` on the embedded
PostgreSQL with live synthetic transactions.
"""
