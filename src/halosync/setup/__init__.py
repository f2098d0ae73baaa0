"""The setup wizard's rules: may a step move on, may setup finish."""
