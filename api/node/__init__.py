"""The `winslow` command: wires a node from the layers below, and its admin commands."""
