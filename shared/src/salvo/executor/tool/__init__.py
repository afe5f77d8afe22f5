"""Inside the load tool's process: the start gate's protocol, the locust plugin, the files they write."""
