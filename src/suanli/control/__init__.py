"""The control loop shared by the simulator and the live control plane."""
