"""Neural generators trained with DP-SGD (torch is imported only when one is used)."""
