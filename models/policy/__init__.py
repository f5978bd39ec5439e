"""The lending and loss model of the points policy (``loss``): default probability per points band, who
qualifies, expected and simulated losses of banks and funds."""
