"""Readers for the capture layouts people already have (NeRF-synthetic,
instant-ngp, nerfstudio, COLMAP). Each reader turns a folder into a
`ParsedCapture` (plain frames with calibrated cameras); models.capture builds
the user-facing `Capture` from it."""
