"""The compiler: rolls of node XML and graph edges to per-host kickstart profiles."""
