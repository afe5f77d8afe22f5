"""The run: the executor's state machine, arming, its place in the fleet, the load tool's process, the work folder."""
