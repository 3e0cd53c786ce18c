LAYER = "overrides"  # the later layer's file replaces the earlier one's
