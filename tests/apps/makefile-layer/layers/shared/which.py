LAYER = "shared"
