"""nmstate operator: Kubernetes objects in, runs of the nodenet.nmstate playbooks out."""
