"""The seed document's service package, reduced to the one-line shims."""
