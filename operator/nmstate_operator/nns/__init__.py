"""NodeNetworkState: applying a desired state patched onto it, and report rounds."""
