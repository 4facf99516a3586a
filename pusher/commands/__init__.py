"""The CLI's commands, one module per family, registered in pusher.cli."""
