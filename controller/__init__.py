"""A node's machinery: share layout, event log, locks, elections, runtime port, monitor, loop."""
