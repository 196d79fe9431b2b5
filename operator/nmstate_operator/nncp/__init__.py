"""NodeNetworkConfigurationPolicy rollouts: plan (pure), step (one step), scheduler."""
