"""The only reads of private data. Each function charges the ledger before drawing noise."""
