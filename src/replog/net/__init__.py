"""Network helpers of the shells."""
