"""Log stores: the LogStore protocol, an in-memory twin and the segmented on-disk log."""
