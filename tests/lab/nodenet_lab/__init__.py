"""The nodenet lab: real nmstate, a real Kubernetes API server and SSH nodes on one machine."""
