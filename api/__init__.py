"""The outermost layer: REST API, web UI, metrics, the `winsctl` client and the `winslow` command."""
